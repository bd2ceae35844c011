import csv
import json

import numpy as np
import pytest

from stages import evaluate
from tests.conftest import run_stage, write_params


def test_scores_by_hand():
    labels = ["yes", "no", "up"]
    truth = np.array([0, 0, 1, 1, 2, 2])
    probabilities = np.array([
        [0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.6, 0.3], [0.1, 0.1, 0.8], [0.5, 0.2, 0.3],
    ])
    summary, per_class = evaluate.scores(labels, truth, probabilities)
    assert summary["accuracy"] == pytest.approx(4 / 6)
    assert summary["clips"] == 6
    assert summary["keyword_accuracy"] == pytest.approx(4 / 6)
    assert summary["loss"] == pytest.approx(-np.mean(np.log([0.8, 0.2, 0.8, 0.6, 0.8, 0.3])))
    f1 = {"yes": 2 * 0.5 * 0.5 / 1.0, "no": 2 * (2 / 3) * 1 / (2 / 3 + 1), "up": 2 * 1 * 0.5 / 1.5}
    assert summary["macro_f1"] == pytest.approx(np.mean(list(f1.values())))
    assert [row["label"] for row in per_class] == labels
    assert [row["support"] for row in per_class] == [2, 2, 2]
    assert per_class[1]["precision"] == pytest.approx(2 / 3, abs=1e-4)


def test_stage_writes_metrics_consistent_with_predictions(trained):
    result = run_stage("evaluate", trained)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((trained / "metrics/metrics.json").read_text())
    assert {"accuracy", "macro_f1", "weighted_f1", "keyword_accuracy", "loss", "clips"} <= set(metrics)
    assert "extra_sets" not in metrics
    assert (trained / "metrics/extra_sets/index.csv").read_text() == "name,path,clips,accuracy\n"
    with open(trained / "metrics/predictions.csv", newline="") as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == metrics["clips"] == len(np.load(trained / "data/features/test/labels.npy"))
    correct = sum(row["actual"] == row["predicted"] for row in predictions)
    assert metrics["accuracy"] == pytest.approx(correct / len(predictions))
    with open(trained / "metrics/per_class.csv", newline="") as handle:
        per_class = list(csv.DictReader(handle))
    assert [row["label"] for row in per_class] == ["yes", "no", "up", "_silence_", "_unknown_"]
    assert sum(int(row["support"]) for row in per_class) == metrics["clips"]


def test_mistakes_are_the_most_confident_wrong_predictions():
    labels = ["yes", "no"]
    truth = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.05, 0.95]])
    rows = evaluate.mistakes("test", ["a", "b", "c", "d"], labels, truth, probabilities)
    assert [(r["path"], r["actual"], r["predicted"], r["probability"]) for r in rows] == [
        ("b", "yes", "no", 0.7), ("c", "no", "yes", 0.6),
    ]


def test_extra_sets_add_their_metrics_and_mistakes(trained, sample):
    write_params(trained, {"train.epochs": 2, "evaluate.extra_sets": {"real": str(sample)}})
    result = run_stage("evaluate", trained)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((trained / "metrics/metrics.json").read_text())
    real = metrics["extra_sets"]["real"]
    words = ("yes", "no", "up")
    expected = sum(len(list((sample / w).glob("*.wav"))) for w in words)
    others = [p for p in sample.iterdir() if p.is_dir() and not p.name.startswith("_") and p.name not in words]
    expected += sum(len(list(p.glob("*.wav"))) for p in others)
    assert real["clips"] == expected
    assert 0 <= real["accuracy"] <= 1 and 0 <= real["keyword_accuracy"] <= 1
    with open(trained / "metrics/misclassified.csv", newline="") as handle:
        sets = {row["set"] for row in csv.DictReader(handle)}
    assert "real" in sets
    extra = trained / "metrics/extra_sets"
    with open(extra / "real_predictions.csv", newline="") as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == expected
    assert sum(r["actual"] == r["predicted"] for r in predictions) == round(real["accuracy"] * expected)
    with open(extra / "real_per_class.csv", newline="") as handle:
        assert sum(int(row["support"]) for row in csv.DictReader(handle)) == expected
    with open(extra / "index.csv", newline="") as handle:
        assert [(r["name"], r["clips"]) for r in csv.DictReader(handle)] == [("real", str(expected))]


def test_missing_extra_set_folder_is_named(trained, tmp_path):
    write_params(trained, {"train.epochs": 2, "evaluate.extra_sets": {"mine": str(tmp_path / "absent")}})
    result = run_stage("evaluate", trained)
    write_params(trained, {"train.epochs": 2})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: params.yaml: evaluate.extra_sets.mine: {tmp_path / 'absent'} is not a directory"
    )


def test_report_picture_is_written(trained):
    assert run_stage("evaluate", trained).returncode == 0
    png = (trained / "metrics/report.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
