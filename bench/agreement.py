"""Probe, not part of `make bench`: are a folder's misheard keywords the same for every model?

Scores several trained models on a folder's real keyword clips and counts, for each clip, how
many of them get it right. Clips that no model gets right point at what the training data
lacks; clips that some do are the spread of one run, which averaging the models' probabilities
(an ensemble, also reported) removes. So the ensemble's accuracy is about the most that more
runs of the same kind of training can give on that folder.

    python -m bench.agreement ../shared/data/speech_commands_sample models/kws other/model ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.keywords import keyword_clips
from stages.inference import Classifier


def agreement(probabilities: list[np.ndarray], truth: np.ndarray) -> dict[str, object]:
    """Each model's accuracy, how many clips exactly k of the models get right (k = 0 … models),
    and the accuracy of the models' probabilities (clips × labels, one array a model) averaged."""
    right = np.array([found.argmax(1) == truth for found in probabilities])
    counts = right.sum(axis=0)
    return {
        "accuracies": right.mean(axis=1).tolist(),
        "right_by": [int(np.sum(counts == k)) for k in range(len(probabilities) + 1)],
        "ensemble": float(np.mean(np.mean(probabilities, axis=0).argmax(1) == truth)),
    }


def main() -> None:
    """Print each model's keyword accuracy, the clips right by k models, and the ensemble's accuracy."""
    parser = argparse.ArgumentParser(prog="python -m bench.agreement", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="clips in the Speech Commands layout")
    parser.add_argument("models", type=Path, nargs="+", help="trained model directories with the same labels")
    args = parser.parse_args()
    classifiers = [Classifier.load(model) for model in args.models]
    labels = classifiers[0].labels
    if any(classifier.labels != labels for classifier in classifiers):
        parser.error("the models do not share one label list")
    clips, truth = keyword_clips(args.folder, labels)
    found = agreement([classifier.probabilities(clips, 64) for classifier in classifiers], truth)
    for model, accuracy in zip(args.models, found["accuracies"]):
        print(f"{model}: {accuracy:.3f}")
    print(f"{len(clips)} keyword clips, right by k of {len(args.models)} models: "
          + ", ".join(f"{k}: {n}" for k, n in enumerate(found["right_by"])))
    print(f"the models' probabilities averaged: {found['ensemble']:.3f}")


if __name__ == "__main__":
    main()
