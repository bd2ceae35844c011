"""Where each stage reads and writes: the same paths dvc.yaml declares as deps and outs."""

from pathlib import Path

DOWNLOADS_DIR = Path("data/downloads")
"""Verified archives and their unpacked copies: kept between runs, not a DVC output."""
RAW_DIR = Path("data/raw")
MANIFEST = RAW_DIR / "manifest.csv"
REJECTS_DIR = Path("data/rejects")
"""What download and split refused, and why: <stage>.csv, written even when the stage fails."""
SPLITS_DIR = Path("data/splits")
SPLITS = ("train", "validation", "test")
FEATURES_DIR = Path("data/features")
LABELS_FILE = FEATURES_DIR / "labels.json"
MODEL_DIR = Path("models/kws")
EXPORT_DIR = Path("models/export")
METRICS_DIR = Path("metrics")
HISTORY_FILE = METRICS_DIR / "training.csv"
TRAINING_SUMMARY = METRICS_DIR / "training.json"
EXTRA_SETS_DIR = METRICS_DIR / "extra_sets"
