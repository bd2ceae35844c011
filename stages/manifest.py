"""Manifests: CSV tables with one row per clip (path relative to the manifest, label, speaker…)."""

from __future__ import annotations

import csv
from pathlib import Path

from stages.errors import PipelineError

REQUIRED = ("path", "label", "speaker")


def write(path: Path, rows: list[dict[str, str]]) -> None:
    """Write rows (all with the same keys) as CSV, the required columns first."""
    fields = list(REQUIRED) + [key for key in rows[0] if key not in REQUIRED] if rows else list(REQUIRED)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def read(path: Path) -> list[dict[str, str]]:
    """Read a manifest, checking that it has the required columns and no blank ones."""
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in REQUIRED if name not in (reader.fieldnames or [])]
            if missing:
                raise PipelineError(f"{path}: missing column(s) {', '.join(missing)}")
            rows = list(reader)
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found; run the stage that writes it (dvc repro)") from None
    for line, row in enumerate(rows, start=2):
        for name in REQUIRED:
            if not row.get(name):
                raise PipelineError(f"{path}, line {line}: empty {name!r}")
    return rows
