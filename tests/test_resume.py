"""A train run killed mid-epoch resumes from its last complete epoch and ends as an uninterrupted one."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from stages import resume
from tests.conftest import REPO, run_stage, write_params

RESUMABLE = {
    "train.epochs": 4,
    "train.batch_size": 1,
    "model.dropout": {"hidden": 0.0, "attention": 0.0, "activation": 0.0, "feat_proj": 0.0, "final": 0.0},
}
"""Four epochs of 40 one-clip steps: long enough to be killed inside an epoch. Dropout is off
because its masks are the one random stream a resumed run does not continue (Keras keeps it
out of checkpoints); everything else is restored or replayed, so the runs should then agree."""

TOLERANCE = 1e-5
"""Resumed and uninterrupted runs are bit-identical on this machine; the margin only allows
for floating-point sums that a different thread schedule could order differently."""


def project(features: Path, directory: Path, overrides: dict) -> Path:
    """A project holding `features`' data, with tiny params plus `overrides`."""
    shutil.copytree(features / "data", directory / "data")
    write_params(directory, overrides)
    return directory


def kill_in_epoch(directory: Path, epoch: int) -> None:
    """Start train in `directory` and SIGKILL it as soon as it starts epoch `epoch` (1-based)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "stages.train"], cwd=directory, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        started = any(line.startswith(f"Epoch {epoch}/") for line in process.stdout)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert started, f"train ended before epoch {epoch}"


def history(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def weights(directory: Path) -> dict[str, np.ndarray]:
    arrays = {}
    with h5py.File(directory / "models/kws/tf_model.h5") as saved:
        saved.visititems(lambda name, item: arrays.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
    return arrays


def test_a_killed_run_resumes_and_ends_as_an_uninterrupted_one(features, tmp_path):
    whole = project(features, tmp_path / "whole", RESUMABLE)
    assert run_stage("train", whole).returncode == 0

    broken = project(features, tmp_path / "broken", RESUMABLE)
    kill_in_epoch(broken, 3)
    assert not (broken / "models/kws").exists() and not (broken / "metrics/training.json").exists()
    assert not (broken / "metrics/training.csv").exists()
    assert [row["epoch"] for row in history(broken / "models/train_state/training.csv")] == ["0", "1"]

    result = run_stage("train", broken)
    assert result.returncode == 0, result.stderr
    assert "train: resuming from epoch 2 of 4 (models/train_state)" in result.stdout
    assert "Epoch 1/4" not in result.stdout and "Epoch 3/4" in result.stdout

    rows, expected = history(broken / "metrics/training.csv"), history(whole / "metrics/training.csv")
    assert [row["epoch"] for row in rows] == ["0", "1", "2", "3"]
    for row, reference in zip(rows, expected):
        assert {name: float(value) for name, value in row.items()} == pytest.approx(
            {name: float(value) for name, value in reference.items()}, abs=TOLERANCE)
    summary, reference = (json.loads((d / "metrics/training.json").read_text()) for d in (broken, whole))
    assert summary["epochs"] == 4 and summary["best_epoch"] == reference["best_epoch"]
    assert summary["val_loss"] == pytest.approx(reference["val_loss"], abs=TOLERANCE)
    assert summary["val_accuracy"] == pytest.approx(reference["val_accuracy"], abs=TOLERANCE)
    resumed, uninterrupted = weights(broken), weights(whole)
    assert resumed.keys() == uninterrupted.keys()
    for name, array in resumed.items():
        np.testing.assert_allclose(array, uninterrupted[name], atol=TOLERANCE, err_msg=name)
    assert sorted(path.name for path in (broken / "models/train_state").iterdir()) == ["fingerprint.json"]


def test_changed_training_params_discard_the_backup(features, tmp_path):
    directory = project(features, tmp_path / "changed", RESUMABLE)
    kill_in_epoch(directory, 2)
    assert (directory / "models/train_state/backup").is_dir()
    write_params(directory, {**RESUMABLE, "train.learning_rate": 0.001})

    result = run_stage("train", directory)
    assert result.returncode == 0, result.stderr
    assert "train: starting fresh (models/train_state held a backup made from other params" in result.stdout
    assert "resuming" not in result.stdout and "Epoch 1/4" in result.stdout
    rows = history(directory / "metrics/training.csv")
    assert [row["epoch"] for row in rows] == ["0", "1", "2", "3"]
    assert json.loads((directory / "metrics/training.json").read_text())["epochs"] == 4


def curve(path: Path, values: list[float]) -> Path:
    path.write_text("epoch,val_accuracy\n" + "".join(f"{epoch},{value}\n" for epoch, value in enumerate(values)))
    return path


@pytest.mark.parametrize(("patience", "stopped"), [(2, True), (3, False)])
def test_early_stopping_state_is_replayed_from_the_curve(tmp_path, patience, stopped):
    settings = {"epochs": 8, "early_stopping": {"monitor": "val_accuracy", "patience": patience}}
    best = resume.KeepBest(settings, curve(tmp_path / "training.csv", [0.2, 0.5, 0.4, 0.3]),
                           read=tmp_path / "best.npz", write=tmp_path / "best.npz")
    best.replay()
    assert (best.best, best.best_epoch, best.wait) == (0.5, 1, 2)
    assert best.stopped is stopped


def test_rows_past_the_backup_are_dropped(tmp_path):
    path = curve(tmp_path / "training.csv", [0.2, 0.5, 0.4])
    resume.keep_rows(path, 2)
    assert path.read_text() == "epoch,val_accuracy\n0,0.2\n1,0.5\n"


def test_dvc_keeps_the_backup_between_runs():
    outs = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["train"]["outs"]
    assert {str(resume.STATE_DIR): {"persist": True}} in outs
