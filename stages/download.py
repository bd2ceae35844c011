"""Stage 1: materialise the configured data source as data/raw/<label>/*.wav + manifest.csv."""

from __future__ import annotations

from collections import Counter
from stages import atomic, manifest, params
from stages.cli import run
from stages.paths import DOWNLOADS_DIR, MANIFEST, RAW_DIR
from stages.sources import speech_commands, synthetic


def main() -> None:
    """Build data/raw from `data.source`."""
    config = params.load()
    with atomic.output_dir(RAW_DIR) as out:
        if config["data"]["source"] == "speech_commands":
            rows = speech_commands.materialise(config["data"], DOWNLOADS_DIR, out)
        else:
            rows = synthetic.synthesise(config, out)
        manifest.write(out / MANIFEST.name, rows)
    speakers = len({row["speaker"] for row in rows})
    per_label = ", ".join(f"{label} {n}" for label, n in sorted(Counter(r["label"] for r in rows).items()))
    print(f"download: {len(rows)} clips from {speakers} speakers ({per_label}) in {RAW_DIR}")


if __name__ == "__main__":
    run(main)
