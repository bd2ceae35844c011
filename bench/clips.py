"""Synthetic one-second clips on disk, in the layout the download stage writes.

Each clip is a tone (its pitch drawn per clip) in white noise, 16 kHz 16-bit PCM WAV: what
the benchmarks measure does not depend on what the audio says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages import audio, manifest
from stages.paths import MANIFEST, RAW_DIR


@dataclass(frozen=True)
class Pool:
    """Clips under `root`/data/raw and their manifest rows (paths relative to data/raw)."""

    root: Path
    rows: list[dict[str, str]]

    @property
    def raw(self) -> Path:
        return self.root / RAW_DIR


def clip(rng: np.random.Generator) -> np.ndarray:
    """One second of a tone in noise, peak well under full scale."""
    time = np.arange(audio.SAMPLE_RATE, dtype=np.float32) / audio.SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * rng.uniform(150.0, 2000.0) * time)
    return (tone + 0.05 * rng.standard_normal(audio.SAMPLE_RATE)).astype(np.float32)


def generate(root: Path, count: int, labels: list[str], seed: int = 0) -> Pool:
    """Write `count` clips under `root`/data/raw and its manifest.csv.

    Labels cycle, so speaker `i` says every label once (speaker ids are hex, as in Speech
    Commands) and any split by speaker holds every label.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        label, speaker = labels[index % len(labels)], f"{index // len(labels):08x}"
        path = f"{label}/{speaker}_nohash_0.wav"
        audio.write(root / RAW_DIR / path, clip(rng))
        rows.append({"path": path, "label": label, "speaker": speaker, "duration_s": "1.000"})
    manifest.write(root / MANIFEST, rows)
    return Pool(root, rows)
