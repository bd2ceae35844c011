"""Stage 5: score the saved model on the held-out test split and on any extra test sets.

Writes metrics/metrics.json (accuracy, macro and weighted F1, loss, clips; one entry per
extra set under `extra_sets`), metrics/per_class.csv (precision, recall, F1, support per
label), metrics/predictions.csv (actual, predicted per clip: the confusion matrices of
`dvc plots`), metrics/misclassified.csv (the most confident mistakes, every set),
metrics/report.png (curves, confusion matrix and F1 per class in one picture) and, for each
extra set, the same per-class scores and predictions under metrics/extra_sets/.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_recall_fscore_support

from stages import atomic, manifest, params, recordings, report
from stages.cli import run
from stages.features import Split
from stages.inference import Classifier
from stages.paths import EXTRA_SETS_DIR, FEATURES_DIR, HISTORY_FILE, METRICS_DIR, MODEL_DIR, SPLITS_DIR

MISTAKES_KEPT = 20


def predict_split(classifier: Classifier, split: Split, batch_size: int) -> np.ndarray:
    """Softmax probabilities for every clip of a preprocessed split, in order."""
    return np.concatenate([classifier.score(inputs) for inputs, _ in split.dataset(batch_size)])


def scores(labels: list[str], truth: np.ndarray, probabilities: np.ndarray) -> tuple[dict, list[dict]]:
    """Summary metrics and per-class precision / recall / F1 / support."""
    predicted = probabilities.argmax(axis=1)
    ids = list(range(len(labels)))
    summary = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, labels=ids, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(truth, predicted, labels=ids, average="weighted", zero_division=0)),
        "keyword_accuracy": recordings.keyword_accuracy(labels, truth, predicted),
        "loss": float(log_loss(truth, probabilities, labels=ids)),
        "clips": int(len(truth)),
    }
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=ids, zero_division=0)
    per_class = [
        {"label": label, "precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support)
    ]
    return summary, per_class


def mistakes(name: str, paths: list[str], labels: list[str], truth: np.ndarray, probabilities: np.ndarray) -> list[dict]:
    """The wrong predictions made with the highest confidence, most confident first."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != truth)
    wrong = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:MISTAKES_KEPT]
    return [
        {"set": name, "path": paths[i], "actual": labels[truth[i]], "predicted": labels[predicted[i]],
         "probability": round(float(probabilities[i, predicted[i]]), 4)}
        for i in wrong
    ]


def write_csv(path: Path, rows: list[dict], fields: list[str]) -> None:
    """Write rows as CSV through a temporary file."""
    with atomic.output_file(path) as partial, open(partial, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def evaluate_extra_sets(classifier: Classifier, extra_sets: dict[str, str], batch_size: int, out: Path) -> tuple[dict[str, Any], list[dict]]:
    """The test report for each folder in `evaluate.extra_sets`: summary metrics returned,
    per-class scores and per-clip predictions written to `out/<name>_*.csv`."""
    summaries, wrong = {}, []
    for name, location in extra_sets.items():
        found = recordings.read(f"evaluate.extra_sets.{name}", location, classifier.labels)
        probabilities = classifier.probabilities(found.clips, batch_size)
        summaries[name], per_class = scores(classifier.labels, found.truth, probabilities)
        write_reports(out, f"{name}_", classifier.labels, found.truth, probabilities.argmax(axis=1), per_class,
                      found.paths)
        wrong += mistakes(name, found.paths, classifier.labels, found.truth, probabilities)
    return summaries, wrong


def write_reports(out: Path, prefix: str, labels: list[str], truth: np.ndarray, predicted: np.ndarray,
                  per_class: list[dict], paths: list[str]) -> None:
    """`<prefix>per_class.csv` and `<prefix>predictions.csv` (path, actual, predicted) in `out`."""
    write_csv(out / f"{prefix}per_class.csv", per_class, ["label", "precision", "recall", "f1", "support"])
    write_csv(out / f"{prefix}predictions.csv",
              [{"path": path, "actual": labels[t], "predicted": labels[p]} for path, t, p in zip(paths, truth, predicted)],
              ["path", "actual", "predicted"])


def main() -> None:
    """Evaluate models/kws on data/features/test and the extra sets; write metrics/."""
    config = params.load()["evaluate"]
    classifier = Classifier.load(MODEL_DIR)
    labels = classifier.labels
    test = Split(FEATURES_DIR / "test")
    probabilities = predict_split(classifier, test, config["batch_size"])
    truth, predicted = np.asarray(test.labels), probabilities.argmax(axis=1)
    summary, per_class = scores(labels, truth, probabilities)
    test_paths = [row["path"] for row in manifest.read(SPLITS_DIR / "test.csv")]
    wrong = mistakes("test", test_paths, labels, truth, probabilities)
    with atomic.output_dir(EXTRA_SETS_DIR) as extra_out:
        if config["extra_sets"]:
            summary["extra_sets"], extra_wrong = evaluate_extra_sets(
                classifier, config["extra_sets"], config["batch_size"], extra_out
            )
            wrong += extra_wrong
        write_csv(extra_out / "index.csv", [
            {"name": name, "path": config["extra_sets"][name], "clips": result["clips"], "accuracy": round(result["accuracy"], 4)}
            for name, result in summary.get("extra_sets", {}).items()
        ], ["name", "path", "clips", "accuracy"])
        write_reports(METRICS_DIR, "", labels, truth, predicted, per_class, test_paths)
        write_csv(METRICS_DIR / "misclassified.csv", wrong, ["set", "path", "actual", "predicted", "probability"])
        with atomic.output_file(METRICS_DIR / "report.png") as partial:
            report.render(HISTORY_FILE, labels, truth, predicted, per_class, partial)
        with atomic.output_file(METRICS_DIR / "metrics.json") as partial:
            partial.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    run(main)
