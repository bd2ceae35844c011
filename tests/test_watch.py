import csv
import json
import shutil

import pytest

from tests.conftest import run_stage, write_params


def history(project):
    with open(project / "metrics/training.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def trained_copy(features, directory, overrides):
    shutil.copytree(features, directory)
    write_params(directory, {"train.epochs": 2, **overrides})
    result = run_stage("train", directory)
    assert result.returncode == 0, result.stderr
    return directory


def test_watched_folders_are_scored_every_epoch_and_change_nothing_else(features, sample, tmp_path):
    watched = trained_copy(features, tmp_path / "watched", {"train.watch_sets": {"real": str(sample)}})
    plain = trained_copy(features, tmp_path / "plain", {})
    rows, plain_rows = history(watched), history(plain)
    assert len(rows) == 2
    for row in rows:
        assert 0 <= float(row["real_accuracy"]) <= 1 and 0 <= float(row["real_keyword_accuracy"]) <= 1
    assert [{k: v for k, v in row.items() if not k.startswith("real_")} for row in rows] == plain_rows

    write_params(watched, {"train.epochs": 2, "train.watch_sets": {"real": str(sample)},
                           "evaluate.extra_sets": {"real": str(sample)}})
    result = run_stage("evaluate", watched)
    assert result.returncode == 0, result.stderr
    scored = json.loads((watched / "metrics/metrics.json").read_text())["extra_sets"]["real"]
    best = json.loads((watched / "metrics/training.json").read_text())["best_epoch"] - 1
    assert float(rows[best]["real_keyword_accuracy"]) == pytest.approx(scored["keyword_accuracy"])
    assert float(rows[best]["real_accuracy"]) == pytest.approx(scored["accuracy"])


def test_a_watch_set_that_is_not_a_folder_stops_train_naming_the_key(features, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(features, project)
    write_params(project, {"train.watch_sets": {"people": str(tmp_path / "nowhere")}})
    result = run_stage("train", project)
    assert result.returncode != 0
    assert "train.watch_sets.people" in result.stderr and "not a directory" in result.stderr
    assert not (project / "models/kws").exists()
