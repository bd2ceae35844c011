"""Audio in and out: decode anything soundfile reads to 16 kHz mono float32, write 16-bit WAV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16_000
"""Wav2Vec 2.0 checkpoints are trained on 16 kHz audio; every stage works at this rate."""


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels of a (frames, channels) array; a 1-D array passes through."""
    return samples.mean(axis=1) if samples.ndim == 2 else samples


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Resample with soxr's high-quality polyphase filter (deterministic, no aliasing)."""
    if rate == target:
        return samples.astype(np.float32, copy=False)
    return soxr.resample(samples, rate, target, quality="HQ").astype(np.float32)


def read(path: Path) -> np.ndarray:
    """Decode a file to mono float32 samples at `SAMPLE_RATE`."""
    samples, rate = sf.read(str(path), dtype="float32", always_2d=False)
    return resample(to_mono(samples), rate)


def crop(samples: np.ndarray, length: int) -> np.ndarray:
    """Keep at most `length` samples, centred, so a late word is not cut away entirely."""
    if len(samples) <= length:
        return samples
    start = (len(samples) - length) // 2
    return samples[start : start + length]


def cut_quiet_ends(samples: np.ndarray, rate: int, quiet_db: float = 40.0) -> np.ndarray:
    """Cut the 10 ms frames at either end that are quieter than `quiet_db` below the loudest.

    Neural and concatenative synthesisers leave a faint noise floor around a word, where eSpeak
    leaves digital silence: without the cut, each engine's words would carry their own floor
    under the background noise `synthetic.place` adds.
    """
    frame = rate // 100
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame)
    energy = np.mean(frames**2, axis=1)
    loud = np.flatnonzero(energy > energy.max(initial=0.0) * 10 ** (-quiet_db / 10))
    return samples[loud[0] * frame : (loud[-1] + 1) * frame] if len(loud) else samples


def write(path: Path, samples: np.ndarray) -> None:
    """Write 16 kHz mono 16-bit PCM WAV, the Speech Commands format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(samples, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")
