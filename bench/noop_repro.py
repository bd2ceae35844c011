"""Benchmark 4: a no-op `dvc repro` with many clips' audio and features on disk.

A scratch git + DVC repository holds the project's code, dvc.yaml and the scratch params
(`bench.project.SCRATCH`). Its data/raw is the download stage's output laid out directly
(synthetic clips, manifest.csv, an empty rejects report: eSpeak would take hours for 60,000
clips) and recorded with `dvc commit download`, which hashes it as the stage would have; every
later stage (split, preprocess, train, evaluate, export) then runs for real with `dvc repro`,
and the result is committed to git. What is timed is then `dvc repro` when nothing changed:
DVC checking every stage's deps and outs (the 60,000 WAV files, the feature arrays) against
dvc.lock. The median of several runs is reported; each must run no stage.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from bench.clips import Pool
from bench.project import SCRATCH, command, dvc, scratch_repo
from bench.timing import median, rounded, seconds
from stages import ingest, manifest
from stages.paths import MANIFEST, RAW_DIR, REJECTS_DIR

RAN = re.compile(r"Running stage '(\w+)'")


def lay_out_download(pool: Pool, clips: int, repo: Path) -> None:
    """data/raw as the download stage writes it: the pool's first clips (hard links, no copy),
    their manifest, and an empty rejects report."""
    rows = pool.rows[:clips]
    for label in {row["label"] for row in rows}:
        (repo / RAW_DIR / label).mkdir(parents=True)
    for row in rows:
        os.link(pool.raw / row["path"], repo / RAW_DIR / row["path"])
    manifest.write(repo / MANIFEST, rows)
    ingest.report([], len(rows), repo / REJECTS_DIR / "download.csv", 0.0, "download")


def timed_repro(repo: Path) -> tuple[float, list[str]]:
    """Seconds `dvc repro` takes, and the stages it ran."""
    start = time.perf_counter()
    output = dvc("repro", cwd=repo)
    return time.perf_counter() - start, RAN.findall(output)


def run(pool: Pool, clips: int, repeats: int, work: Path) -> dict[str, Any]:
    """Seconds to commit the download, to run the rest of the pipeline, and no-op `dvc repro`s."""
    repo = work / "noop-repo"
    scratch_repo(repo, SCRATCH)
    lay_out_download(pool, clips, repo)
    commit_s = seconds(lambda: dvc("commit", "-f", "download", cwd=repo))
    materialise_s, ran = timed_repro(repo)
    command(["git", "add", "-A"], repo)
    command(["git", "commit", "-qm", "materialised"], repo)
    noop: list[float] = []
    for _ in range(repeats):
        elapsed, rerun = timed_repro(repo)
        if rerun:
            raise RuntimeError(f"dvc repro was not a no-op: it ran {', '.join(rerun)}")
        noop.append(elapsed)
    return {
        "clips": clips, "dvc_commit_download_s": round(commit_s, 2),
        "materialise_s": round(materialise_s, 2), "materialise_ran": ran,
        "noop_s": median(noop), "noop_s_all": rounded(noop), "repeats": repeats,
    }
