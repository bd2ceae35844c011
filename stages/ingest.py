"""A source's clips into data/raw: decoded, checked, written as 16 kHz WAV, or rejected.

Every source (synthetic, Speech Commands, folder, hub) describes its clips as `Clip`s; this
module is the one place that decides what is fit to train on. Bad input is never dropped
silently: each refused clip becomes a row of the rejects report (origin, reason), and the
stage fails when more than `data.max_reject_fraction` of the clips are refused.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from tqdm import tqdm

from stages import atomic, audio
from stages.decode import unusable
from stages.errors import PipelineError

REJECT_FIELDS = ("origin", "reason")
SHOWN_REJECTS = 10
"""How many rejects a failing stage lists in its error message."""
SLACK_SAMPLES = audio.SAMPLE_RATE // 100
"""10 ms over the limit pass (and are cropped later): resampling a 1 s file can add a sample."""


@dataclass(frozen=True)
class Clip:
    """One clip a source offers.

    `origin` names it in reports (a file path, or dataset/split/row); `read` returns its
    samples at 16 kHz mono and raises on audio it cannot decode; `split` is "" where the split
    stage's speaker-hash rule decides; `columns` are extra manifest columns (word, text…).
    """

    origin: str
    label: str
    speaker: str
    name: str
    read: Callable[[], np.ndarray]
    split: str = ""
    columns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reject:
    """A clip left out, and why."""

    origin: str
    reason: str


def fingerprint(samples: np.ndarray) -> str:
    """sha256 of the clip as written (16-bit PCM): equal for the same audio in any container."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    return hashlib.sha256(pcm.tobytes()).hexdigest()


def problem(samples: np.ndarray, max_samples: int) -> str | None:
    """Why decoded samples cannot be a training clip, or None when they can."""
    why = unusable(samples)
    if why:
        return why
    if len(samples) > max_samples + SLACK_SAMPLES:
        return (f"{len(samples) / audio.SAMPLE_RATE:.2f} s, longer than data.max_duration_s "
                f"({max_samples / audio.SAMPLE_RATE:g} s)")
    return None


def write_clips(clips: Iterable[Clip], out_dir: Path, labels: list[str],
                max_samples: int) -> tuple[list[dict[str, str]], list[Reject]]:
    """Write every acceptable clip under `out_dir/<label>/<name>` and return the manifest rows
    (path, label, speaker, duration_s, sha256, split, extra columns) and the rejects."""
    rows: list[dict[str, str]] = []
    rejects: list[Reject] = []
    written: dict[str, str] = {}
    for clip in tqdm(clips, desc="clips", unit="clip"):
        if clip.label not in labels:
            rejects.append(Reject(clip.origin, f"label {clip.label!r} is not one of {labels}"))
            continue
        try:
            samples = clip.read()
        except Exception as error:
            reason = " ".join(str(error).split()) or type(error).__name__
            rejects.append(Reject(clip.origin, f"cannot decode audio ({reason})"))
            continue
        why = problem(samples, max_samples)
        if why:
            rejects.append(Reject(clip.origin, why))
            continue
        relative = f"{clip.label}/{clip.name}"
        if relative in written:
            raise PipelineError(f"{written[relative]} and {clip.origin} would both be written to {relative}")
        written[relative] = clip.origin
        audio.write(Path(out_dir) / relative, samples)
        rows.append({
            "path": relative, "label": clip.label, "speaker": clip.speaker,
            "duration_s": f"{len(samples) / audio.SAMPLE_RATE:.3f}", "sha256": fingerprint(samples),
            "split": clip.split, **clip.columns,
        })
    return rows, rejects


def report(rejects: list[Reject], total: int, path: Path, max_fraction: float, stage: str) -> str:
    """Write the rejects report, and return its one-line summary; fail over the threshold.

    The report is written first, so a failing stage still leaves the list of what it refused.
    """
    with atomic.output_file(path) as partial, open(partial, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(REJECT_FIELDS)
        writer.writerows((reject.origin, reject.reason) for reject in rejects)
    if not rejects:
        return f"{stage}: no clips rejected"
    reasons = Counter(reject.reason.split(" (")[0] for reject in rejects)
    summary = (f"{stage}: {len(rejects)} of {total} clips rejected ("
               + "; ".join(f"{reason}: {count}" for reason, count in reasons.most_common()) + f"), listed in {path}")
    if len(rejects) > max_fraction * total:
        shown = "; ".join(f"{reject.origin}: {reject.reason}" for reject in rejects[:SHOWN_REJECTS])
        raise PipelineError(
            f"{summary}; that is {len(rejects) / total:.1%}, over data.max_reject_fraction "
            f"({max_fraction:.1%}). First {min(len(rejects), SHOWN_REJECTS)}: {shown}"
        )
    return summary
