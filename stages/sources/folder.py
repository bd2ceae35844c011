"""Clips in the Speech Commands layout: one folder per word, any format soundfile reads."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from stages.params import UNKNOWN

AUDIO_SUFFIXES = {f".{name.lower()}" for name in sf.available_formats()} | {".oga", ".opus"}


def scan(root: Path, labels: list[str]) -> list[dict[str, str]]:
    """Rows (path relative to `root`, label) for every audio file under a word folder.

    A folder named after a label gives that label; other words become `_unknown_` when the
    model has that class and are left out otherwise; folders starting with `_` that are not
    labels (`_background_noise_`) hold no clips. Audio files are recognised by suffix, so a
    corrupt one is reported when decoded rather than silently skipped here.
    """
    rows = []
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        if folder.name in labels:
            label = folder.name
        elif folder.name.startswith("_") or UNKNOWN not in labels:
            continue
        else:
            label = UNKNOWN
        rows += [
            {"path": str(path.relative_to(root)), "label": label}
            for path in sorted(folder.iterdir())
            if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES
        ]
    return rows
