"""Shared fixtures: the repository's params, real Speech Commands clips, a scratch project."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "data" / "speech_commands_sample"

# Kokoro keeps no words between tests (and none in the user's cache) unless a test says where.
os.environ["KWS_KOKORO_CACHE"] = ""

TINY = {
    "data.keywords": ["yes", "no", "up"],
    "data.synthetic.speakers": 24,
    "data.synthetic.pico_speakers": 0,
    "data.synthetic.kokoro_speakers": 0,
    "data.synthetic.flite_speakers": 0,
    "data.synthetic.festival_speakers": 0,
    "data.synthetic.takes": 1,
    "data.max_duration_s": 0.5,
    "split.validation_fraction": 0.25,
    "split.test_fraction": 0.25,
    "model.config": {
        "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
        "conv_dim": [8, 8, 8], "conv_stride": [5, 4, 4], "conv_kernel": [10, 4, 4],
        "feat_extract_norm": "layer", "do_stable_layer_norm": True,
        "num_conv_pos_embeddings": 8, "num_conv_pos_embedding_groups": 2,
    },
    "train.epochs": 1,
    "train.batch_size": 8,
    "train.jit_compile": False,
}
"""Overrides that make the whole pipeline run in seconds: 3 keywords, 24 voices, a tiny model."""


def repo_params() -> dict[str, Any]:
    """The repository's params.yaml, parsed."""
    return yaml.safe_load((REPO / "params.yaml").read_text())


def with_overrides(params: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of `params` with dotted keys (`train.epochs`) set."""
    params = copy.deepcopy(params)
    for dotted, value in overrides.items():
        *parents, last = dotted.split(".")
        node = params
        for key in parents:
            node = node[key]
        node[last] = value
    return params


def write_params(directory: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write params.yaml into `directory`: the repository's, tiny, plus `overrides`."""
    params = with_overrides(with_overrides(repo_params(), TINY), overrides or {})
    (directory / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory with tiny params.yaml, made the current directory."""
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def sample() -> Path:
    """Real human Speech Commands clips shipped in ../shared."""
    assert SAMPLE.is_dir(), f"{SAMPLE} is missing: the tests need the shared Speech Commands sample"
    return SAMPLE


BIN = Path(sys.executable).parent


def command(args: list[str], cwd: Path) -> str:
    env = {
        **os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def dvc(*args: str, cwd: Path) -> str:
    return command([str(BIN / "dvc"), *args], cwd)


def scratch_repo(work: Path, overrides: dict[str, Any] | None = None) -> Path:
    """A git + DVC repository in `work` holding the project's code and tiny params, committed."""
    shutil.copytree(REPO / "stages", work / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(REPO / name, work / name)
    write_params(work, overrides)
    command(["git", "init", "-q"], work)
    dvc("init", "-q", cwd=work)
    command(["git", "add", "-A"], work)
    command(["git", "commit", "-qm", "project"], work)
    return work


def run_stage(name: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `python -m stages.<name>` in `cwd` as dvc would, capturing its output."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", f"stages.{name}"], capture_output=True, text=True, env=env, cwd=cwd)


@pytest.fixture(scope="session")
def features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny project taken through download, split and preprocess, to copy from."""
    directory = tmp_path_factory.mktemp("features")
    write_params(directory)
    for stage in ("download", "split", "preprocess"):
        result = run_stage(stage, directory)
        assert result.returncode == 0, f"{stage} failed:\n{result.stderr}"
    return directory


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch project taken through download, split, preprocess and train with tiny params."""
    directory = tmp_path_factory.mktemp("trained")
    write_params(directory, {"train.epochs": 2})
    for stage in ("download", "split", "preprocess", "train"):
        result = run_stage(stage, directory)
        assert result.returncode == 0, f"{stage} failed:\n{result.stderr}"
    return directory
