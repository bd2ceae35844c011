"""Benchmark 6: the default pipeline (`make repro`'s `dvc repro`): wall time and accuracy.

By default nothing is run: the accuracy is read from the committed metrics/metrics.json (the
last `dvc repro` someone committed) and the wall time is whatever is passed in
(`--repro-seconds`, e.g. timed by the integrator). With `--repro` (`make bench BENCH_REPRO=1`)
the pipeline runs from scratch in a scratch git + DVC copy of the working tree (its code,
dvc.yaml, params.yaml), one stage at a time with `dvc repro -s <stage>`, so each stage's time
is known; the copy's own metrics are then reported.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from bench.project import REPO, dvc, scratch_repo
from bench.timing import seconds
from stages.paths import METRICS_DIR

METRICS = METRICS_DIR / "metrics.json"
SCORES = ("accuracy", "macro_f1", "clips")


def committed() -> dict[str, Any]:
    """Scores of the committed metrics.json, and the commit that last changed it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout

    metrics = json.loads(git("show", f"HEAD:{METRICS}"))
    return {
        **{key: metrics.get(key) for key in SCORES},
        "commit": git("log", "-1", "--format=%h %s", "--", str(METRICS)).strip(),
        "working_tree_differs": json.loads((REPO / METRICS).read_text()) != metrics,
    }


def timed_run(work: Path) -> dict[str, Any]:
    """Run every stage of dvc.yaml in order in a fresh copy; seconds per stage and the scores."""
    repo = work / "repro-repo"
    scratch_repo(repo, {})
    stages = list(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])
    stage_s = {stage: round(seconds(lambda: dvc("repro", "-s", stage, cwd=repo)), 2) for stage in stages}
    metrics = json.loads((repo / METRICS).read_text())
    return {"wall_s": round(sum(stage_s.values()), 2), "stage_s": stage_s, **{key: metrics.get(key) for key in SCORES}}


def run(timed: bool, passed_seconds: float | None, work: Path) -> dict[str, Any]:
    """What is known of the default run: committed scores, a passed-in time, a timed run if asked."""
    result: dict[str, Any] = {"committed": committed(), "passed_wall_s": passed_seconds}
    if timed:
        result["timed"] = timed_run(work)
    return result
