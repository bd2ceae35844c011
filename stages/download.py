"""Stage 1: materialise the configured data source as data/raw/<label>/*.wav + manifest.csv.

Every source describes its clips; `stages.ingest` decodes, checks and writes them, and lists
what it refused in data/rejects/download.csv.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from stages import atomic, audio, ingest, manifest, params
from stages.cli import run
from stages.paths import DOWNLOADS_DIR, MANIFEST, RAW_DIR, REJECTS_DIR
from stages.sources import folder, hub, speech_commands, synthetic


def clips(config: dict[str, Any]) -> Iterable[ingest.Clip]:
    """The clips of `data.source`."""
    data = config["data"]
    labels = params.class_names(data)
    source = data["source"]
    if source == "speech_commands":
        return speech_commands.materialise(data, DOWNLOADS_DIR)
    if source == "folder":
        return folder.clips(data, labels)
    if source == "hub":
        return hub.clips(data, labels)
    return synthetic.synthesise(config)


def main() -> None:
    """Build data/raw from `data.source`."""
    config = params.load()
    data = config["data"]
    max_samples = int(round(data["max_duration_s"] * audio.SAMPLE_RATE))
    with atomic.output_dir(RAW_DIR) as out:
        rows, rejects = ingest.write_clips(clips(config), out, params.class_names(data), max_samples)
        summary = ingest.report(rejects, len(rows) + len(rejects), REJECTS_DIR / "download.csv",
                                data["max_reject_fraction"], "download")
        manifest.write(out / MANIFEST.name, rows)
    speakers = len({row["speaker"] for row in rows})
    per_label = ", ".join(f"{label} {n}" for label, n in sorted(Counter(r["label"] for r in rows).items()))
    print(f"download: {len(rows)} clips from {speakers} speakers ({per_label}) in {RAW_DIR}")
    print(summary)


if __name__ == "__main__":
    run(main)
