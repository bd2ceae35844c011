"""Probe, not part of `make bench`: does the model's answer depend on which way up the waves are?

A recording's polarity is an accident of its microphone and wiring. For a folder's real keyword
clips, the model's keyword accuracy on the clips as they are, with their sign flipped, and with
the two probabilities averaged, and how many clips change their top label when flipped.

    python -m bench.polarity ../shared/data/speech_commands_sample
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.keywords import keyword_clips
from stages.inference import Classifier
from stages.paths import MODEL_DIR


def compare(plain: np.ndarray, flipped: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Accuracies of the probabilities (clips × labels) of the clips as they are, flipped and
    averaged against the true label indices, and the count of clips whose top label changed."""
    return {
        "as they are": float(np.mean(plain.argmax(1) == truth)),
        "flipped": float(np.mean(flipped.argmax(1) == truth)),
        "averaged": float(np.mean((plain + flipped).argmax(1) == truth)),
        "changed": int(np.sum(plain.argmax(1) != flipped.argmax(1))),
    }


def main() -> None:
    """Print the three accuracies and the count of changed answers."""
    parser = argparse.ArgumentParser(prog="python -m bench.polarity", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="clips in the Speech Commands layout")
    parser.add_argument("--model", type=Path, default=MODEL_DIR, help="trained model (default: %(default)s)")
    args = parser.parse_args()
    classifier = Classifier.load(args.model)
    clips, truth = keyword_clips(args.folder, classifier.labels)
    found = compare(classifier.probabilities(clips, 64), classifier.probabilities([-clip for clip in clips], 64), truth)
    print(f"{len(clips)} keyword clips: " + ", ".join(f"{name} {value:.3f}" for name, value in list(found.items())[:3])
          + f"; top label changed by the flip on {found['changed']}")


if __name__ == "__main__":
    main()
