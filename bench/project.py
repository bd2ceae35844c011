"""Scratch copies of the project: params, data laid out as the stages expect, and commands
run the way `dvc repro` runs them."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from bench.sizes import TINY
from stages import manifest, params
from stages.paths import SPLITS_DIR

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

SCRATCH = {
    "data.keywords": ["yes", "no", "up"],
    "model.config": TINY,
    "train.epochs": 1,
    "train.batch_size": 32,
    "train.jit_compile": False,
}
"""Overrides for the scratch projects whose stages are measured, not their model: three
keywords (five classes), the tests' tiny model, one epoch."""


def repo_params(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The repository's params.yaml with dotted keys (`train.epochs`) set."""
    config = yaml.safe_load((REPO / "params.yaml").read_text())
    for dotted, value in (overrides or {}).items():
        *parents, last = dotted.split(".")
        node = config
        for key in parents:
            node = node[key]
        node[last] = copy.deepcopy(value)
    return config


def labels(config: dict[str, Any]) -> list[str]:
    """The classes the pipeline trains for these params."""
    return params.class_names(config["data"])


def write_params(directory: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """Write params.yaml into `directory`: the repository's with `overrides`."""
    config = repo_params(overrides)
    (directory / "params.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config


def write_splits(directory: Path, rows: list[dict[str, str]]) -> None:
    """data/splits/*.csv of `rows` by speaker, 80 / 10 / 10, as the split stage would write them
    (every split gets every label: each speaker says each one)."""
    splits: dict[str, list[dict[str, str]]] = {"train": [], "validation": [], "test": []}
    for row in rows:
        bucket = int(row["speaker"], 16) % 10
        splits["validation" if bucket == 8 else "test" if bucket == 9 else "train"].append(row)
    (directory / SPLITS_DIR).mkdir(parents=True)
    for name, split_rows in splits.items():
        manifest.write(directory / SPLITS_DIR / f"{name}.csv", split_rows)


def environment() -> dict[str, str]:
    """What `dvc repro` gives a stage: the venv first on PATH, this repository importable; no
    analytics, and a git identity for scratch repositories."""
    return {
        **os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(REPO),
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
    }


def command(args: list[str], cwd: Path) -> str:
    """Run a command; its output, or an error carrying the end of it."""
    result = subprocess.run(args, cwd=cwd, env=environment(), capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}")
    return result.stdout + result.stderr


def dvc(*args: str, cwd: Path) -> str:
    """Run the venv's dvc."""
    return command([str(BIN / "dvc"), *args], cwd)


def scratch_repo(directory: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """A git + DVC repository in `directory` with the project's code, dvc.yaml and these
    params, committed; the params returned."""
    directory.mkdir(parents=True)
    shutil.copytree(REPO / "stages", directory / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(REPO / name, directory / name)
    config = write_params(directory, overrides)
    command(["git", "init", "-q"], directory)
    dvc("init", "-q", cwd=directory)
    command(["git", "add", "-A"], directory)
    command(["git", "commit", "-qm", "project"], directory)
    return config
