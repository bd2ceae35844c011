"""Decoding one clip for the model, refusing what it cannot score with an error naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stages import audio
from stages.errors import PipelineError


def decode(path: Path) -> np.ndarray:
    """16 kHz mono float32 samples of `path`; undecodable, empty or non-finite audio is an error."""
    try:
        samples = audio.read(path)
    except Exception as error:
        raise PipelineError(f"{path}: cannot decode audio ({error})") from None
    if not len(samples):
        raise PipelineError(f"{path}: no audio samples")
    if not np.isfinite(samples).all():
        raise PipelineError(f"{path}: NaN or infinite samples")
    return samples
