"""Word folders of people's recordings, scored beside the test split.

`evaluate.extra_sets` scores them once, after training; `train.watch_sets` after every epoch.
Both read a folder and count keyword accuracy the same way, so the last epoch's watched
figure is the one evaluate reports for a model of that epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stages.decode import decode
from stages.errors import PipelineError
from stages.params import SILENCE, UNKNOWN
from stages.sources import folder


@dataclass
class Recordings:
    """A folder's clips (16 kHz, decoded), their paths relative to it and their label indices."""

    paths: list[str]
    clips: list[np.ndarray]
    truth: np.ndarray


def read(key: str, location: str, labels: list[str]) -> Recordings:
    """The clips of the word folder that params.yaml's `key` names, labelled for `labels`."""
    root = Path(location)
    if not root.is_dir():
        raise PipelineError(f"params.yaml: {key}: {root} is not a directory")
    rows = folder.scan(root, labels)
    if not rows:
        raise PipelineError(f"params.yaml: {key}: no clips of {labels} in {root}")
    clips = [decode(root / row["path"]) for row in tqdm(rows, desc=f"read {root}", unit="clip")]
    return Recordings([row["path"] for row in rows], clips, np.array([labels.index(row["label"]) for row in rows]))


def keyword_accuracy(labels: list[str], truth: np.ndarray, predicted: np.ndarray) -> float | None:
    """Accuracy over the clips of keywords alone (not `_silence_` or `_unknown_`); None without any."""
    keyword = np.array([labels[t] not in (SILENCE, UNKNOWN) for t in truth], dtype=bool)
    return float(np.mean(predicted[keyword] == truth[keyword])) if keyword.any() else None
