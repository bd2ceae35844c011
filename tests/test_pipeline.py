"""End to end: the real `dvc repro` in a scratch git + DVC copy of the project, tiny params."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, command, dvc, scratch_repo

STAGES = ["download", "split", "preprocess", "train", "evaluate", "export"]


def ran(output: str) -> list[str]:
    return re.findall(r"Running stage '(\w+)'", output)


def rerun_after(output: str, first: str) -> bool:
    """Whether exactly `first` and every stage after it ran, `first` before the rest."""
    stages = ran(output)
    return stages[:1] == [first] and set(stages) == set(STAGES[STAGES.index(first):])


def stale(cwd: Path) -> set[str]:
    """Stages whose own deps or params changed; `dvc repro` also reruns those downstream."""
    return set(json.loads(dvc("status", "--json", cwd=cwd)))


def set_param(cwd: Path, dotted: str, value) -> None:
    params = yaml.safe_load((cwd / "params.yaml").read_text())
    *parents, last = dotted.split(".")
    node = params
    for key in parents:
        node = node[key]
    node[last] = value
    (cwd / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def lock_md5s(cwd: Path, stages: list[str]) -> dict:
    lock = yaml.safe_load((cwd / "dvc.lock").read_text())["stages"]
    return {stage: [out["md5"] for out in lock[stage]["outs"]] for stage in stages}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git + DVC repository holding the project's code with tiny params, reproduced once."""
    work = scratch_repo(tmp_path_factory.mktemp("pipeline"))
    output = dvc("repro", cwd=work)
    assert rerun_after(output, "download")
    command(["git", "add", "-A"], work)
    command(["git", "commit", "-qm", "first run"], work)
    return work


def test_second_repro_is_a_fast_no_op(repo):
    start = time.perf_counter()
    output = dvc("repro", cwd=repo)
    elapsed = time.perf_counter() - start
    assert ran(output) == []
    assert all(f"Stage '{stage}' didn't change, skipping" in output for stage in STAGES)
    assert elapsed < 5, f"no-op dvc repro took {elapsed:.1f} s"


def test_training_params_rerun_only_train_and_what_follows_and_diffs_show_it(repo):
    set_param(repo, "train.epochs", 2)
    assert stale(repo) == {"train"}
    assert rerun_after(dvc("repro", cwd=repo), "train")
    command(["git", "add", "-A"], repo)
    command(["git", "commit", "-qm", "two epochs"], repo)
    params_diff = json.loads(dvc("params", "diff", "HEAD~1", "--json", cwd=repo))
    assert params_diff["params.yaml"]["train.epochs"]["old"] == 1
    assert params_diff["params.yaml"]["train.epochs"]["new"] == 2
    metrics_diff = json.loads(dvc("metrics", "diff", "HEAD~1", "--json", cwd=repo))
    assert "loss" in metrics_diff["metrics/metrics.json"]
    learning_rate = yaml.safe_load((repo / "params.yaml").read_text())["train"]["learning_rate"]
    set_param(repo, "train.learning_rate", learning_rate * 2)
    assert stale(repo) == {"train"}
    command(["git", "checkout", "params.yaml"], repo)
    assert stale(repo) == set()


def test_keywords_rerun_every_stage(repo):
    set_param(repo, "data.keywords", ["yes", "no", "down"])
    assert stale(repo) == {"download", "split", "preprocess"}
    assert rerun_after(dvc("repro", cwd=repo), "download")
    command(["git", "checkout", "params.yaml"], repo)
    dvc("repro", cwd=repo)
    assert stale(repo) == set()


def test_editing_the_preprocess_module_reruns_preprocess_and_what_follows(repo):
    module = repo / "stages" / "preprocess.py"
    original = module.read_text()
    edit = ('values.put(start, features["input_values"])', 'values.put(start, features["input_values"] * 0.5)')
    assert edit[0] in original
    module.write_text(original.replace(*edit))
    assert stale(repo) == {"preprocess"}
    assert rerun_after(dvc("repro", cwd=repo), "preprocess")
    module.write_text(original)
    dvc("repro", cwd=repo)
    module.write_text(original + "\n# a comment changes the code but not the features\n")
    assert ran(dvc("repro", cwd=repo)) == ["preprocess"]
    module.write_text(original)
    dvc("repro", cwd=repo)
    assert stale(repo) == set()


def test_plots_show_writes_the_confusion_matrix_and_curves(repo):
    dvc("plots", "show", "-o", "plots_html", cwd=repo)
    page = (repo / "plots_html" / "index.html").read_text()
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    for title in (next(iter(plot)) for plot in pipeline["plots"]):
        assert title in page


def test_data_stages_are_byte_identical_from_scratch(repo):
    data_stages = ["download", "split", "preprocess"]
    before = lock_md5s(repo, data_stages)
    shutil.rmtree(repo / "data")
    assert ran(dvc("repro", "--force", "preprocess", cwd=repo)) == data_stages
    assert lock_md5s(repo, data_stages) == before
