"""The Speech Commands file layout, which the archive, folder and hub sources all read."""

from __future__ import annotations

BACKGROUND = "_background_noise_"
"""The folder of long background recordings that `_silence_` clips are cut from."""
NOHASH = "_nohash_"


def speaker(file_name: str) -> str | None:
    """The speaker id in `[<word>_]<speaker>_nohash_<n>.wav`, or None for other names.

    The ids are hex digits, so the id is the part just before `_nohash_`, also in the test
    archive's `_unknown_/bed_0a7c2a8d_nohash_0.wav`.
    """
    if NOHASH not in file_name:
        return None
    return file_name.split(NOHASH)[0].rsplit("_", 1)[-1]
