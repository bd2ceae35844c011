"""Label audio files with the trained model, or find the keywords spoken in a recording (--stream).

Every file goes through `Classifier`, so it is decoded, cropped and normalised exactly as the
training clips were. A file that cannot be scored is reported on stderr and the others are
still scored; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
from tqdm import tqdm

from stages import audio
from stages.cli import run
from stages.decode import decode
from stages.errors import PipelineError
from stages.inference import Classifier
from stages.params import SILENCE, UNKNOWN
from stages.paths import MODEL_DIR
from stages.sources.folder import AUDIO_SUFFIXES

GLOB_CHARACTERS = "*?["


@dataclass(frozen=True)
class Event:
    """A keyword heard in a recording, times in seconds from its start."""

    label: str
    start: float
    end: float
    probability: float
    """The highest probability of the keyword in the windows that heard it."""


Result = tuple[Path, list[tuple[str, float]] | list[Event] | PipelineError]
"""A file with its top labels or keyword events, or the error that stopped it."""


def detect(probabilities: np.ndarray, labels: list[str], hop_s: float, window_s: float, threshold: float = 0.7,
           refractory_s: float = 0.5, duration_s: float | None = None, min_heard_s: float = 0.2) -> list[Event]:
    """Keyword events, in time order, from the probabilities of windows starting every `hop_s`.

    A keyword is heard in each run of consecutive windows where its probability is at least
    `threshold`: one event per run (placed by `locate`), with the run's highest probability.
    A whole word stays in view while the window slides by `window_s` minus its length, so its
    run spans several hops; a run spanning less than `min_heard_s` (one window that caught the
    start or end of some word) is not an event. A repeat of the keyword starting less than `refractory_s` after its last reported event
    (typically a run broken by one doubtful window) is dropped. `_silence_` and `_unknown_`
    are never events.
    """
    events = []
    for index, label in enumerate(labels):
        if label in (SILENCE, UNKNOWN):
            continue
        scores = probabilities[:, index]
        previous = -math.inf
        for first, last in runs(scores >= threshold):
            if (last - first) * hop_s < min_heard_s - 1e-9:
                continue
            start, end = locate(first, last, hop_s, window_s, duration_s)
            if start - previous >= refractory_s:
                events.append(Event(label, start, end, float(scores[first : last + 1].max())))
                previous = start
    return sorted(events, key=lambda event: (event.start, event.label))


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of consecutive true values."""
    edges = np.flatnonzero(np.diff(np.concatenate([[False], flags, [False]]).astype(np.int8)))
    return [(int(first), int(after) - 1) for first, after in zip(edges[0::2], edges[1::2])]


def locate(first: int, last: int, hop_s: float, window_s: float,
           duration_s: float | None = None) -> tuple[float, float]:
    """Start and end (seconds) of a word heard by windows `first` to `last`.

    A model trained on whole words hears a word while all of it is in view, so the word lies
    where every window of the run overlaps: from the start of the last window to the end of
    the first (their union would start up to a window early and be up to two windows long).
    The longer the run, the smaller the overlap; once it is under a hop (the model also heard
    part of the word, or the word fills a window) the event is the hop around the run's
    centre, where the middle of the word is. Times stay within the recording: `[0, duration_s]`.
    """
    centre = ((first + last) * hop_s + window_s) / 2
    width = max(window_s - (last - first) * hop_s, hop_s)
    end = centre + width / 2
    return max(centre - width / 2, 0.0), end if duration_s is None else min(end, duration_s)


def expand(arguments: list[str]) -> tuple[list[Path], list[str]]:
    """The files that the arguments name, in order without repeats, and an error per argument naming none.

    A folder stands for the audio files anywhere below it, a pattern with `*`, `?` or `[` for
    what it matches (`**` crosses folders); a file named outright, or matched, is scored
    whatever it is, so that a wrong one is reported rather than quietly left out.
    """
    files: dict[Path, None] = {}
    errors = []
    for argument in arguments:
        if Path(argument).exists():
            matches = [Path(argument)]
        elif any(character in argument for character in GLOB_CHARACTERS):
            matches = [Path(match) for match in sorted(glob.glob(argument, recursive=True))]
            if not matches:
                errors.append(f"{argument}: no files match")
        else:
            matches = []
            errors.append(f"{argument}: no such file or folder")
        for match in matches:
            if match.is_dir():
                files.update((file, None) for file in sorted(match.rglob("*")) if file.is_file() and is_audio(file))
            else:
                files[match] = None
    return list(files), errors


def is_audio(path: Path) -> bool:
    """Whether a file found in a folder is audio: by suffix (a corrupt .wav is then reported
    rather than skipped), or else because soundfile can open it."""
    if path.suffix.lower() in AUDIO_SUFFIXES:
        return True
    try:
        sf.info(str(path))
    except (sf.SoundFileError, OSError):
        return False
    return True


def windows(samples: np.ndarray, length: int, hop: int) -> list[np.ndarray]:
    """Views of `length` samples every `hop` samples, until the recording is covered.

    The last window may run past the end and come out shorter (as may the only one, for a
    recording shorter than a window); the feature extractor pads it with zeros, as it padded
    short training clips.
    """
    count = 1 + max(0, math.ceil((len(samples) - length) / hop))
    return [samples[i * hop : i * hop + length] for i in range(count)]


def top_labels(classifier: Classifier, files: list[Path], k: int, batch_size: int) -> Iterator[Result]:
    """Each file's `k` most probable labels with their probabilities, best first, or its error."""
    with tqdm(total=len(files), desc="predict", unit="file", disable=None) as progress:
        for batch_start in range(0, len(files), batch_size):
            batch = files[batch_start : batch_start + batch_size]
            scored, clips = [], []
            for path in batch:
                try:  # cropped as Classifier would, so long recordings do not pile up in memory
                    clips.append(audio.crop(decode(path), classifier.clip_samples))
                    scored.append(path)
                except PipelineError as error:
                    yield path, error
            for path, row in zip(scored, classifier.probabilities(clips, batch_size)):
                best = np.argsort(-row, kind="stable")[:k]
                yield path, [(classifier.labels[i], float(row[i])) for i in best]
            progress.update(len(batch))


def keywords(classifier: Classifier, files: list[Path], args: argparse.Namespace) -> Iterator[Result]:
    """The keyword events of each file, or its error; windows are scored a batch at a time."""
    hop = round(args.hop_s * audio.SAMPLE_RATE)
    for path in files:
        try:
            samples = decode(path)
        except PipelineError as error:
            yield path, error
            continue
        views = windows(samples, classifier.clip_samples, hop)
        scores = [
            classifier.probabilities(views[start : start + args.batch_size], args.batch_size)
            for start in tqdm(range(0, len(views), args.batch_size), desc=str(path), unit="batch",
                              disable=None, leave=False)
        ]
        yield path, detect(
            np.concatenate(scores), classifier.labels, hop / audio.SAMPLE_RATE,
            classifier.clip_samples / audio.SAMPLE_RATE, args.threshold, args.refractory_s,
            len(samples) / audio.SAMPLE_RATE, args.min_heard_s,
        )


class Printer:
    """Writes results to stdout as an aligned table or as JSON lines."""

    def __init__(self, style: str, paths: list[Path], labels: list[str]) -> None:
        self.style = style
        self.path_width = max((len(str(path)) for path in paths), default=0)
        self.label_width = max(len(label) for label in labels)

    def top(self, path: Path, ranked: list[tuple[str, float]]) -> None:
        """One file's most probable labels, best first."""
        if self.style == "jsonl":
            items = [{"label": label, "probability": round(probability, 6)} for label, probability in ranked]
            print(json.dumps({"path": str(path), "predictions": items}), flush=True)
        else:
            self._row(path, "  ".join(f"{label:<{self.label_width}} {p:.4f}" for label, p in ranked))

    def events(self, path: Path, events: list[Event]) -> None:
        """The keywords heard in one file, in time order."""
        if self.style == "jsonl":
            items = [{"label": event.label, "start": round(event.start, 2), "end": round(event.end, 2),
                      "probability": round(event.probability, 6)} for event in events]
            print(json.dumps({"path": str(path), "events": items}), flush=True)
            return
        if not events:
            self._row(path, "(no keywords)")
        for event in events:
            self._row(path, f"{event.start:7.2f} {event.end:7.2f}  {event.label:<{self.label_width}} "
                            f"{event.probability:.4f}")

    def _row(self, path: Path, text: str) -> None:
        print(f"{str(path):<{self.path_width}}  {text}", flush=True)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    """Parsed and checked command-line options."""
    parser = argparse.ArgumentParser(prog="python -m stages.predict", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="audio files, folders (searched recursively) or glob patterns")
    parser.add_argument("--model", type=Path, default=MODEL_DIR, help="trained model directory (default: %(default)s)")
    parser.add_argument("--format", choices=("table", "jsonl"), default="table", help="output (default: %(default)s)")
    parser.add_argument("--top-k", type=int, default=1, help="labels shown per file (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="clips scored at once (default: %(default)s)")
    spotting = parser.add_argument_group("keyword spotting in recordings")
    spotting.add_argument("--stream", action="store_true",
                          help="slide a window over each file and print the keywords heard, with their times")
    spotting.add_argument("--hop-s", type=float, default=0.1, help="seconds between windows (default: %(default)s)")
    spotting.add_argument("--threshold", type=float, default=0.7,
                          help="probability at which a keyword is heard (default: %(default)s)")
    spotting.add_argument("--refractory-s", type=float, default=0.5,
                          help="drop a repeat of a keyword starting this soon after it (default: %(default)s)")
    spotting.add_argument("--min-heard-s", type=float, default=0.2,
                          help="a keyword must be heard by windows spanning this long (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error("--top-k must be at least 1")
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if round(args.hop_s * audio.SAMPLE_RATE) < 1:
        parser.error(f"--hop-s must be at least one sample (1/{audio.SAMPLE_RATE} s)")
    return args


def main(argv: list[str] | None = None) -> None:
    """Score every file the arguments name; fail at the end if any could not be scored."""
    args = arguments(argv)
    files, errors = expand(args.paths)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    classifier = Classifier.load(args.model)
    if args.top_k > len(classifier.labels):
        raise PipelineError(f"--top-k {args.top_k}: the model has {len(classifier.labels)} labels")
    printer = Printer(args.format, files, classifier.labels)
    if args.stream:
        results, show = keywords(classifier, files, args), printer.events
    else:
        results, show = top_labels(classifier, files, args.top_k, args.batch_size), printer.top
    failed = len(errors)
    for path, result in results:
        if isinstance(result, PipelineError):
            print(f"error: {result}", file=sys.stderr)
            failed += 1
        else:
            show(path, result)
    if failed:
        raise PipelineError(f"{failed} of {len(files) + len(errors)} inputs could not be scored")


if __name__ == "__main__":
    run(main)
