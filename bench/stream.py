"""Probe, not part of `make bench`: what `stages.predict --stream` finds in recordings of people.

Every word clip of a folder of real recordings, cut to its word, is placed once, in a seeded
order, into recordings of `--words` words `--gap-s` apart over pink noise `--snr-db` below the
words. Each recording goes through predict's own streaming path (windows, scores, events).
A keyword is heard when an event of its label lies within `--slack-s` of it, misheard when only
events of other keywords do, missed when none does. Another word (one that is no keyword)
with any event near it is a false alarm, and so is each event near no word at all.

    python -m bench.stream ../shared/data/speech_commands_sample
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages import audio, predict
from stages.decode import decode
from stages.inference import Classifier
from stages.params import UNKNOWN
from stages.paths import MODEL_DIR
from stages.sources.layout import BACKGROUND
from stages.sources.synthetic import coloured_noise


@dataclass(frozen=True)
class Placed:
    """A word put into a recording, times in seconds."""

    label: str
    start: float
    end: float


def recording(words: list[tuple[str, np.ndarray]], gap_s: float, snr_db: float,
              rng: np.random.Generator) -> tuple[np.ndarray, list[Placed]]:
    """The words one after another, the first at `gap_s / 2`, over pink noise `snr_db` below
    their median RMS."""
    rate = audio.SAMPLE_RATE
    samples = np.zeros(int(gap_s * len(words) * rate), dtype=np.float32)
    placed = []
    for index, (label, word) in enumerate(words):
        start = int((index + 0.5) * gap_s * rate)
        samples[start : start + len(word)] += word
        placed.append(Placed(label, start / rate, (start + len(word)) / rate))
    level = np.median([np.sqrt(np.mean(word**2)) for _, word in words]) * 10 ** (-snr_db / 20)
    return samples + level * coloured_noise(rng, len(samples), 1.0).astype(np.float32), placed


def tally(events: list[predict.Event], placed: list[Placed], slack_s: float) -> Counter:
    """Counts of heard, misheard and missed keywords, and of false alarms, for one recording."""
    counts = Counter()
    near_a_word = set()
    for word in placed:
        near = [event for event in events if event.start < word.end + slack_s and event.end > word.start - slack_s]
        near_a_word.update(near)
        if word.label == UNKNOWN:
            counts["false alarms on other words"] += bool(near)
        elif any(event.label == word.label for event in near):
            counts["heard"] += 1
            counts[f"heard {word.label}"] += 1
        else:
            counts["misheard" if near else "missed"] += 1
        counts[f"said {word.label}"] += 1
    counts["false alarms in the noise"] += len(set(events) - near_a_word)
    return counts


def word_clips(folder: Path, labels: list[str]) -> list[tuple[str, np.ndarray]]:
    """Every clip of the folder's word subfolders, cut to the word and labelled as the model
    would be right to call it (a word that is no keyword is `_unknown_`), in path order."""
    return [(word.name if word.name in labels else UNKNOWN, audio.cut_quiet_ends(decode(path), audio.SAMPLE_RATE))
            for word in sorted(folder.iterdir()) if word.is_dir() and word.name != BACKGROUND
            for path in sorted(word.glob("*.wav"))]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.stream", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="real recordings in the Speech Commands layout")
    parser.add_argument("--model", type=Path, default=MODEL_DIR, help="trained model (default: %(default)s)")
    parser.add_argument("--words", type=int, default=9, help="words per recording (default: %(default)s)")
    parser.add_argument("--gap-s", type=float, default=3.1, help="seconds between words (default: %(default)s)")
    parser.add_argument("--snr-db", type=float, default=30.0, help="noise below the words (default: %(default)s)")
    parser.add_argument("--slack-s", type=float, default=0.3,
                        help="how far from a word an event still counts for it (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="order of the words and noise (default: %(default)s)")
    parser.add_argument("--threshold", type=float, default=0.7, help="predict's --threshold (default: %(default)s)")
    return parser.parse_args()


def main() -> None:
    """Print how many keywords predict --stream heard, misheard and missed, and its false alarms."""
    args = arguments()
    classifier = Classifier.load(args.model)
    rng = np.random.default_rng(args.seed)
    clips = word_clips(args.folder, classifier.labels)
    clips = [clips[i] for i in rng.permutation(len(clips))]
    counts, minutes = Counter(), 0.0
    with tempfile.TemporaryDirectory() as scratch:
        for first in range(0, len(clips), args.words):
            samples, placed = recording(clips[first : first + args.words], args.gap_s, args.snr_db, rng)
            path = Path(scratch) / f"recording_{first}.wav"
            audio.write(path, samples)
            ((_, events),) = predict.keywords(classifier, [path], predict.arguments([str(path), "--stream", "--threshold", str(args.threshold)]))
            counts += tally(events, placed, args.slack_s)
            minutes += len(samples) / audio.SAMPLE_RATE / 60
    keywords = sorted({label for label, _ in clips} - {UNKNOWN})
    said = sum(counts[f"said {label}"] for label in keywords)
    print(f"{said} keywords and {len(clips) - said} other words in {minutes:.1f} min: heard {counts['heard']} "
          f"({counts['heard'] / said:.3f}), misheard {counts['misheard']}, missed {counts['missed']}; false alarms: "
          f"{counts['false alarms on other words']} of the other words, {counts['false alarms in the noise']} in the noise")
    for label in keywords:
        print(f"  {label:8} {counts[f'heard {label}']:3d} of {counts[f'said {label}']:3d}")


if __name__ == "__main__":
    main()
