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
    why = unusable(samples)
    if why:
        raise PipelineError(f"{path}: {why}")
    return samples


def decode_cropped(paths: list[Path], length: int) -> list[np.ndarray]:
    """Decode clips and keep at most `length` samples of each, centred.

    Preprocess runs this in worker processes, which import the module of the function they
    run: here, that is one that imports no machine-learning framework (seconds per worker).
    """
    return [audio.crop(decode(path), length) for path in paths]


def unusable(samples: np.ndarray) -> str | None:
    """Why decoded samples cannot be scored or trained on (empty, NaN, inf), or None."""
    if not len(samples):
        return "no audio samples"
    if not np.isfinite(samples).all():
        return "NaN or infinite samples"
    return None
