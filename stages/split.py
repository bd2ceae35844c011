"""Stage 2: speaker-disjoint train / validation / test manifests by the Speech Commands rule.

A clip's split depends only on its speaker id, hashed, so a voice never appears in two
splits and adding data never moves an existing clip to another split. The same audio in
two splits would leak the answer into the score: the copies outside the most held-out split
are rejected (data/rejects/split.csv). `_unknown_` and `_silence_` can be capped relative to
the keywords in train and validation, so they do not dominate.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from stages import atomic, ingest, manifest, params
from stages.cli import run
from stages.errors import PipelineError
from stages.params import SILENCE, UNKNOWN
from stages.paths import MANIFEST, REJECTS_DIR, SPLITS, SPLITS_DIR

MAX_NUM_WAVS_PER_CLASS = 2**27 - 1


def which_set(speaker: str, validation_percent: float, test_percent: float) -> str:
    """The split of a speaker: the Speech Commands `which_set` hash rule."""
    hashed = int(hashlib.sha1(speaker.encode()).hexdigest(), 16)
    percentage = (hashed % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)
    if percentage < validation_percent:
        return "validation"
    if percentage < validation_percent + test_percent:
        return "test"
    return "train"


def assign(rows: list[dict[str, str]], validation_fraction: float, test_fraction: float) -> dict[str, list[dict[str, str]]]:
    """Group manifest rows by split: the source's own split where the manifest has one (the
    Speech Commands lists), otherwise the speaker-hash rule."""
    splits: dict[str, list[dict[str, str]]] = {name: [] for name in SPLITS}
    for line, row in enumerate(rows, start=2):
        name = row.get("split") or which_set(row["speaker"], validation_fraction * 100, test_fraction * 100)
        if name not in splits:
            raise PipelineError(f"{MANIFEST}, line {line}: split {name!r} is not one of {', '.join(SPLITS)}")
        splits[name].append(row)
    return splits


def deduplicate(splits: dict[str, list[dict[str, str]]]) -> list[ingest.Reject]:
    """Remove clips whose audio (sha256) is also in a more held-out split: test, then validation."""
    kept: dict[str, tuple[str, str]] = {}
    for name in reversed(SPLITS):
        for row in splits[name]:
            kept.setdefault(row.get("sha256") or row["path"], (name, row["path"]))
    rejects = []
    for name, rows in splits.items():
        keep = []
        for row in rows:
            owner, path = kept[row.get("sha256") or row["path"]]
            if owner == name:
                keep.append(row)
            else:
                rejects.append(ingest.Reject(row["path"], f"same audio as {path} ({owner})"))
        splits[name] = keep
    return rejects


def cap(rows: list[dict[str, str]], label: str, per_keyword: float, keywords: list[str], seed: int) -> list[dict[str, str]]:
    """Keep at most `per_keyword` × the mean keyword count of `label`'s clips (0 keeps all).

    The clips kept are those whose path hashes lowest with the seed: the choice is stable, and
    adding clips changes it only where a new clip hashes lower.
    """
    of_label = [row for row in rows if row["label"] == label]
    mean_keyword = sum(row["label"] in keywords for row in rows) / max(1, len(keywords))
    limit = round(per_keyword * mean_keyword)
    if not per_keyword or len(of_label) <= limit:
        return rows
    ranked = sorted(of_label, key=lambda row: hashlib.sha1(f"{seed}:{row['path']}".encode()).hexdigest())
    dropped = {row["path"] for row in ranked[limit:]}
    return [row for row in rows if row["path"] not in dropped]


def check(splits: dict[str, list[dict[str, str]]], labels: list[str]) -> None:
    """Fail when a split is empty or lacks a label: its metrics would be meaningless."""
    for name, rows in splits.items():
        if not rows:
            raise PipelineError(
                f"split {name!r} is empty: add data (more speakers) "
                "or change split.validation_fraction / split.test_fraction"
            )
        present = {row["label"] for row in rows}
        missing = [label for label in labels if label not in present]
        if missing:
            raise PipelineError(
                f"split {name!r} has no clips of {', '.join(missing)}: add data (more speakers) "
                "or change split.validation_fraction / split.test_fraction"
            )


def table(splits: dict[str, list[dict[str, str]]], labels: list[str]) -> str:
    """Counts per label and split, as a fixed-width text table."""
    counts = {name: Counter(row["label"] for row in rows) for name, rows in splits.items()}
    width = max(len(label) for label in [*labels, "total"]) + 2
    lines = ["label".ljust(width) + "".join(name.rjust(12) for name in SPLITS)]
    for label in labels:
        lines.append(label.ljust(width) + "".join(str(counts[name][label]).rjust(12) for name in SPLITS))
    lines.append("total".ljust(width) + "".join(str(len(splits[name])).rjust(12) for name in SPLITS))
    return "\n".join(lines)


def main() -> None:
    """Write data/splits/{train,validation,test}.csv with paths relative to data/raw."""
    config = params.load()
    labels = params.class_names(config["data"])
    rows = manifest.read(MANIFEST)
    for line, row in enumerate(rows, start=2):
        if row["label"] not in labels:
            raise PipelineError(f"{MANIFEST}, line {line}: label {row['label']!r} is not one of {labels}")
    data = config["data"]
    splits = assign(rows, config["split"]["validation_fraction"], config["split"]["test_fraction"])
    rejects = deduplicate(splits)
    summary = ingest.report(rejects, len(rows), REJECTS_DIR / "split.csv", data["max_reject_fraction"], "split")
    for name in ("train", "validation"):
        for label, key in ((UNKNOWN, "unknown_per_keyword"), (SILENCE, "silence_per_keyword")):
            splits[name] = cap(splits[name], label, data[key], data["keywords"], config["seed"])
    check(splits, labels)
    with atomic.output_dir(SPLITS_DIR) as out:
        for name, split_rows in splits.items():
            manifest.write(out / f"{name}.csv", split_rows)
    print(table(splits, labels))
    print(summary)


if __name__ == "__main__":
    run(main)
