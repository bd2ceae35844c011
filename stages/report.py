"""A one-page picture of a run (curves, confusion matrix, per-class F1) for the README."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402


def render(history_file: Path, labels: list[str], truth: np.ndarray, predicted: np.ndarray,
           per_class: list[dict], out: Path) -> None:
    """Write a PNG with the training curves (watched sets' keyword accuracy dotted), the
    row-normalised confusion matrix and F1 per class."""
    with open(history_file, newline="") as handle:
        history = list(csv.DictReader(handle))
    epochs = [int(row["epoch"]) + 1 for row in history]
    figure, (curves, confusion, f1) = plt.subplots(1, 3, figsize=(18, 5.5), gridspec_kw={"width_ratios": [1, 1.2, 0.8]})
    watched = [key for key in history[0] if key.endswith("_keyword_accuracy")]
    for key, style in (("accuracy", "-"), ("val_accuracy", "-"), ("loss", "--"), ("val_loss", "--"),
                       *((key, ":") for key in watched)):
        curves.plot(epochs, [float(row[key]) for row in history], style, marker="o", label=key)
    curves.set(title="Training curves", xlabel="epoch", ylim=(0, max(1.05, curves.get_ylim()[1])))
    curves.legend()
    curves.grid(alpha=0.3)
    matrix = confusion_matrix(truth, predicted, labels=range(len(labels)), normalize="true")
    confusion.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    confusion.set(title="Confusion matrix (test, row-normalised)", xlabel="predicted", ylabel="actual",
                  xticks=range(len(labels)), yticks=range(len(labels)))
    confusion.set_xticklabels(labels, rotation=60, ha="right")
    confusion.set_yticklabels(labels)
    for (row, column), value in np.ndenumerate(matrix):
        if value >= 0.005:
            confusion.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=7,
                           color="white" if value > 0.5 else "black")
    scores = [float(row["f1"]) for row in per_class]
    f1.barh(labels[::-1], scores[::-1], color="tab:blue")
    f1.set(title="F1 per class (test)", xlim=(0, 1))
    figure.tight_layout()
    figure.savefig(out, dpi=90, format="png")
    plt.close(figure)
