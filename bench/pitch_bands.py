"""Probe, not part of `make bench`: a trained model's keyword accuracy on a folder of real
clips, by the speaker's pitch (median F0 of the clip, by Praat), to see which voices it
fails on; then the median pitch of each synthetic engine's keyword clips in data/raw, the
voices it learnt from:

    python -m bench.pitch_bands ../shared/data/speech_commands_sample
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.keywords import keyword_clips
from stages import params
from stages.decode import decode
from stages.inference import Classifier
from stages.params import SILENCE, UNKNOWN
from stages.praat import median_pitch
from stages.sources import folder

BANDS_HZ = (0.0, 140.0, 180.0, 230.0, float("inf"))
ENGINES = ("pico", "flite", "kokoro", "festival")
"""Voice name prefixes in the synthetic manifest; every other voice is eSpeak NG's."""
CLIPS_PER_ENGINE = 300


def engine_clips(raw: Path) -> dict[str, list[Path]]:
    """The first keyword clips of each engine in a synthetic download, by engine."""
    paths = defaultdict(list)
    with open(raw / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["label"] not in (SILENCE, UNKNOWN):
                engine = next((name for name in ENGINES if row["voice"].startswith(name)), "espeak")
                paths[engine].append(raw / row["path"])
    return {engine: found[:CLIPS_PER_ENGINE] for engine, found in sorted(paths.items())}


def real_and_engine_clips(description: str) -> dict[str, list[Path]]:
    """The keyword clips of the folder named on the command line ("real") and each engine's in
    `--raw`: the sets the spectra and durations probes compare."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("folder", type=Path, help="real clips in the Speech Commands layout")
    parser.add_argument("--raw", type=Path, default=Path("data/raw"), help="the synthetic download")
    args = parser.parse_args()
    rows = folder.scan(args.folder, params.load()["data"]["keywords"])
    return {"real": [args.folder / row["path"] for row in rows], **engine_clips(args.raw)}


def engine_pitches(raw: Path) -> dict[str, float]:
    """Median pitch of the first keyword clips of each engine in a synthetic download."""
    return {engine: float(np.nanmedian([median_pitch(decode(path)) for path in found]))
            for engine, found in engine_clips(raw).items()}


def main() -> None:
    """Print accuracy and clip count for each pitch band of the folder's keyword clips."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="clips in the Speech Commands layout")
    parser.add_argument("--model", type=Path, default=Path("models/kws"))
    parser.add_argument("--raw", type=Path, default=Path("data/raw"), help="the synthetic download")
    args = parser.parse_args()
    classifier = Classifier.load(args.model)
    clips, truth = keyword_clips(args.folder, classifier.labels)
    right = classifier.probabilities(clips, 64).argmax(axis=1) == truth
    pitch = np.array([median_pitch(clip) for clip in clips])
    print(f"all keyword clips: {right.mean():.3f} of {len(clips)}")
    for low, high in zip(BANDS_HZ, BANDS_HZ[1:]):
        band = (pitch >= low) & (pitch < high)
        if band.any():
            print(f"{low:.0f}-{high:.0f} Hz: {right[band].mean():.3f} of {band.sum()}")
    if np.isnan(pitch).any():
        print(f"no pitch found: {right[np.isnan(pitch)].mean():.3f} of {np.isnan(pitch).sum()}")
    for engine, hz in engine_pitches(args.raw).items():
        print(f"training clips, {engine}: median pitch {hz:.0f} Hz")


if __name__ == "__main__":
    main()
