"""Benchmark 3: peak memory of the preprocess, train and evaluate stages, few clips vs many.

Each stage runs as `dvc repro` would run it (`python -m stages.<name>`, in a scratch project
whose params.yaml is the repository's with `bench.project.SCRATCH`: the tests' tiny model, one
epoch), on synthetic clips with data/splits written directly, started through `bench.peak`
(why: see there). Peak RSS is the kernel's `ru_maxrss` for the stage's process. It would count the
pages of memory-mapped files the stage touched as well as its own allocations, so the peak of
anonymous memory alone (RssAnon, sampled: what the stage allocated) is recorded too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.clips import Pool
from bench.project import SCRATCH, environment, write_params, write_splits
from stages.paths import RAW_DIR

STAGES = ("preprocess", "train", "evaluate")


def peak(stage: str, cwd: Path) -> dict[str, float]:
    """Run `python -m stages.<stage>` through bench.peak; its wall time and peak memory (MiB)."""
    log, result = cwd / f"{stage}.log", cwd / f"{stage}.peak.json"
    start = time.perf_counter()
    with open(log, "w") as output:
        code = subprocess.run([sys.executable, "-m", "bench.peak", str(result), sys.executable, "-m", f"stages.{stage}"],
                              cwd=cwd, env=environment(), stdout=output, stderr=subprocess.STDOUT).returncode
    if code:
        raise RuntimeError(f"stages.{stage} failed ({code}):\n{log.read_text()[-3000:]}")
    measured = json.loads(result.read_text())
    return {"wall_s": round(time.perf_counter() - start, 2), "peak_rss_mib": round(measured["peak_rss_kib"] / 1024, 1),
            "peak_anon_mib": round(measured["peak_anon_kib"] / 1024, 1),
            "launcher_peak_rss_mib": round(measured["launcher_peak_rss_kib"] / 1024, 1)}


def project(pool: Pool, clips: int, directory: Path) -> None:
    """A scratch project over the pool's first `clips` clips (data/raw links to the pool)."""
    (directory / RAW_DIR).parent.mkdir(parents=True)
    (directory / RAW_DIR).symlink_to(pool.raw, target_is_directory=True)
    write_params(directory, SCRATCH)
    write_splits(directory, pool.rows[:clips])


def run(pool: Pool, sizes: tuple[int, int], work: Path) -> dict[str, Any]:
    """Each stage's peak memory at both sizes, and many ÷ few per stage."""
    measured: dict[int, dict[str, dict[str, float]]] = {}
    for clips in sizes:
        directory = work / f"memory-{clips}"
        project(pool, clips, directory)
        measured[clips] = {stage: peak(stage, directory) for stage in STAGES}
    few, many = sizes
    return {
        "clips": list(sizes), "stages": {str(clips): stages for clips, stages in measured.items()},
        "ratio": {stage: round(measured[many][stage]["peak_rss_mib"] / measured[few][stage]["peak_rss_mib"], 3)
                  for stage in STAGES},
        "anon_ratio": {stage: round(measured[many][stage]["peak_anon_mib"] / measured[few][stage]["peak_anon_mib"], 3)
                       for stage in STAGES},
    }
