"""Stage 5: score the saved model on the held-out test split.

Writes metrics/metrics.json (accuracy, macro_f1, loss, clips), metrics/per_class.csv
(precision, recall, F1, support per label) and metrics/predictions.csv (actual, predicted
per clip) that `dvc plots` draws as a confusion matrix.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_recall_fscore_support
from transformers import TFAutoModelForAudioClassification

from stages import atomic, params
from stages.cli import run
from stages.features import Split
from stages.paths import FEATURES_DIR, METRICS_DIR, MODEL_DIR


def predict_probabilities(model, split: Split, batch_size: int) -> np.ndarray:
    """Softmax probabilities for every clip of the split, in order."""
    batches = [tf.nn.softmax(model(inputs, training=False).logits).numpy() for inputs, _ in split.dataset(batch_size)]
    return np.concatenate(batches)


def scores(labels: list[str], truth: np.ndarray, probabilities: np.ndarray) -> tuple[dict, list[dict]]:
    """Summary metrics and per-class precision / recall / F1 / support."""
    predicted = probabilities.argmax(axis=1)
    ids = list(range(len(labels)))
    summary = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, labels=ids, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(truth, predicted, labels=ids, average="weighted", zero_division=0)),
        "loss": float(log_loss(truth, probabilities, labels=ids)),
        "clips": int(len(truth)),
    }
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=ids, zero_division=0)
    per_class = [
        {"label": label, "precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support)
    ]
    return summary, per_class


def write_csv(path: Path, rows: list[dict]) -> None:
    """Write rows as CSV through a temporary file."""
    with atomic.output_file(path) as partial, open(partial, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    """Evaluate models/kws on data/features/test and write the reports under metrics/."""
    config = params.load()
    model = TFAutoModelForAudioClassification.from_pretrained(MODEL_DIR)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    test = Split(FEATURES_DIR / "test")
    probabilities = predict_probabilities(model, test, config["evaluate"]["batch_size"])
    truth = np.asarray(test.labels)
    summary, per_class = scores(labels, truth, probabilities)
    predicted = probabilities.argmax(axis=1)
    write_csv(METRICS_DIR / "per_class.csv", per_class)
    write_csv(METRICS_DIR / "predictions.csv", [
        {"actual": labels[t], "predicted": labels[p]} for t, p in zip(truth, predicted)
    ])
    with atomic.output_file(METRICS_DIR / "metrics.json") as partial:
        partial.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    run(main)
