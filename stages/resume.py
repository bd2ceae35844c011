"""Resuming an interrupted train stage from its last complete epoch.

At the end of every epoch train leaves in models/train_state/ (a DVC output with
`persist: true`, so DVC keeps it when it reruns the stage):

- `backup/`: Keras' BackupAndRestore checkpoint: weights, optimizer state (its step count,
  hence the learning-rate schedule, and AccumulatingAdamW's gradient sums) and the epoch;
- `training.csv`: the curve so far, one row per finished epoch;
- `best_weights.npz`: the weights of the best epoch so far, which the saved model gets;
- `fingerprint.json`: what the backup was made from (params, features, code).

A rerun with the same fingerprint continues after the last backed-up epoch and ends with the
configured number of epochs; any other rerun starts fresh. A finished run clears everything
but the fingerprint. The data stream is skipped forward to where it stood, so a resumed run
sees the same batches and augmentations as an uninterrupted one; dropout masks are drawn
anew (Keras keeps their random state out of checkpoints).

Within an epoch's end the curve row is written first, then the backup, then the best
weights, so whatever instant the run dies at, the files agree on resume: rows past the
backup are dropped, and a best epoch whose weights were not yet written is the backed-up
epoch itself.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
import tf_keras as keras

from stages import atomic
from stages.errors import PipelineError
from stages.features import Split
from stages.paths import FEATURES_DIR, LABELS_FILE

STATE_DIR = Path("models/train_state")
FINGERPRINT = "fingerprint.json"
BACKUP = "backup"
HISTORY = "training.csv"
BEST_WEIGHTS = "best_weights.npz"
SAMPLED_ROWS = 64
"""Rows of each input_values array hashed into the fingerprint: enough to notice any change
of preprocessing, without reading gigabytes at every start."""


def fingerprint(config: dict[str, Any]) -> str:
    """A digest of everything that makes a backup usable: the `seed`, `model` and `train`
    params, the labels and features train reads, and the code of the stage's modules."""
    sections = {key: config[key] for key in ("seed", "model", "train")}
    digest = hashlib.sha256(json.dumps(sections, sort_keys=True).encode())
    digest.update(LABELS_FILE.read_bytes())
    for name in ("train", "validation"):
        split = Split(FEATURES_DIR / name)
        digest.update(np.ascontiguousarray(split.labels).tobytes())
        rows = np.unique(np.linspace(0, len(split) - 1, SAMPLED_ROWS).astype(int))
        for array in (split.input_values, split.attention_mask):
            if array is not None:
                digest.update(str(array.shape).encode() + array.take(rows).tobytes())
    for path in stage_code():
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def stage_code() -> list[Path]:
    """The pipeline's modules this process has imported: the code that made a backup."""
    package = Path(__file__).resolve().parent
    files = {Path(module.__file__).resolve() for module in list(sys.modules.values()) if getattr(module, "__file__", None)}
    return sorted(path for path in files if path.is_relative_to(package))


def completed_epochs(state: Path = STATE_DIR) -> int:
    """How many epochs the Keras backup in `state` holds (0 when there is none)."""
    checkpoint = tf.train.latest_checkpoint(str(state / BACKUP / "chief"))
    if checkpoint is None:
        return 0
    return int(tf.train.load_checkpoint(checkpoint).get_tensor("ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE")) + 1


def prepare(config: dict[str, Any], state: Path = STATE_DIR) -> int:
    """The number of epochs to resume after: those backed up in `state` if the backup was made
    with the same fingerprint, else 0 after emptying `state` and recording the new fingerprint."""
    current = fingerprint(config)
    recorded = state / FINGERPRINT
    same = recorded.exists() and json.loads(recorded.read_text()).get("sha256") == current
    done = completed_epochs(state) if same else 0
    if done:
        keep_rows(state / HISTORY, done)
        print(f"train: resuming from epoch {done} of {config['train']['epochs']} ({state})")
        return done
    if (state / BACKUP).exists() and not same:
        print(f"train: starting fresh ({state} held a backup made from other params, features or code)")
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    with atomic.output_file(recorded) as partial:
        partial.write_text(json.dumps({"sha256": current}, indent=2) + "\n")
    return 0


def keep_rows(history: Path, rows: int) -> None:
    """Cut the curve back to its first `rows` epochs: a run that dies between writing an epoch's
    row and backing it up redoes that epoch."""
    lines = history.read_text().splitlines(keepends=True) if history.exists() else []
    if len(lines) - 1 < rows:
        raise PipelineError(f"{history}: holds fewer epochs than the backup beside it; "
                            f"delete {history.parent} to start fresh")
    with atomic.output_file(history) as partial:
        partial.write_text("".join(lines[:rows + 1]))


def read_history(history: Path) -> list[dict[str, str]]:
    """The rows of a training curve written by CSVLogger (none if it does not exist)."""
    if not history.exists():
        return []
    with open(history, newline="") as handle:
        return list(csv.DictReader(handle))


def finish(state: Path) -> None:
    """Clear a finished run's backup, keeping the fingerprint so the DVC output still exists."""
    for path in state.iterdir():
        if path.is_dir():
            shutil.rmtree(path)
        elif path.name != FINGERPRINT:
            path.unlink()


def backup(state: Path = STATE_DIR) -> keras.callbacks.BackupAndRestore:
    """Keras' per-epoch backup in `state`; removed by `finish` only once the outputs are written,
    so a run killed while saving resumes with nothing left to train."""
    return keras.callbacks.BackupAndRestore(str(state / BACKUP), save_freq="epoch", delete_checkpoint=False)


class KeepBest(keras.callbacks.EarlyStopping):
    """EarlyStopping that restores the best epoch's weights at the end, and whose state (best
    value, best epoch, epochs without improvement, best weights) survives a resume.

    The state is replayed from the curve of the epochs already trained, read from
    `history`; the best weights come from `read` unless the best epoch is the backed-up one,
    whose weights the model holds once restored. New best weights are written to `write`.
    """

    def __init__(self, settings: dict[str, Any], history: Path, read: Path, write: Path) -> None:
        stopping = settings["early_stopping"]
        super().__init__(monitor=stopping["monitor"], patience=stopping["patience"] or settings["epochs"],
                         restore_best_weights=True, verbose=1)
        self.rows, self.read, self.write = read_history(history), read, write

    def replay(self) -> None:
        """Set the state as it stood after the epochs in the curve."""
        super().on_train_begin()
        for epoch, row in enumerate(self.rows):
            self.wait += 1
            if self._is_improvement(float(row[self.monitor]), self.best):
                self.best, self.best_epoch, self.wait = float(row[self.monitor]), epoch, 0

    @property
    def stopped(self) -> bool:
        """Whether the replayed epochs had already stopped training early."""
        return len(self.rows) > 1 and self.wait >= self.patience

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.replay()
        if not self.rows:
            return
        if self.best_epoch == len(self.rows) - 1:
            self.best_weights = self.model.get_weights()
            return
        try:
            with np.load(self.read) as saved:
                self.best_weights = [saved[f"arr_{index}"] for index in range(len(saved.files))]
        except FileNotFoundError:
            raise PipelineError(f"{self.read}: missing; delete {self.read.parent} to start fresh") from None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.best_epoch == epoch and self.best_weights is not None:
            with atomic.output_file(self.write) as partial, open(partial, "wb") as handle:
                np.savez(handle, *self.best_weights)
