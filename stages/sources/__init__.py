"""Data sources: each materialises clips in the Speech Commands layout plus a manifest."""
