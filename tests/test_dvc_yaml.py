"""dvc.yaml lists as deps exactly the project code each stage imports, so edits rerun the right stages."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from tests.conftest import REPO


def module_file(name: str) -> Path:
    path = REPO / Path(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def imported_modules(name: str) -> set[str]:
    """`stages.*` modules that `name` imports, directly or through others, with their packages."""
    seen: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        parts = current.split(".")
        pending += [".".join(parts[:i]) for i in range(1, len(parts))]
        for node in ast.walk(ast.parse(module_file(current).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "stages":
                pending.append(node.module)
                pending += [f"{node.module}.{alias.name}" for alias in node.names
                            if module_file(f"{node.module}.{alias.name}").exists()]
            elif isinstance(node, ast.Import):
                pending += [alias.name for alias in node.names if alias.name.split(".")[0] == "stages"]
    return seen


def test_each_stage_depends_on_exactly_the_code_it_imports():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert list(stages) == ["download", "split", "preprocess", "train", "evaluate", "export"]
    for name, stage in stages.items():
        assert stage["cmd"] == f"python -m stages.{name}"
        code = {dep for dep in stage["deps"] if dep.endswith(".py")}
        expected = {str(module_file(m).relative_to(REPO)) for m in imported_modules(f"stages.{name}")}
        assert code == expected, f"{name}: missing {sorted(expected - code)}, extra {sorted(code - expected)}"


def test_metrics_and_plots_are_declared():
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    assert pipeline["stages"]["evaluate"]["metrics"] == [{"metrics/metrics.json": {"cache": False}}]
    titles = [next(iter(plot)) for plot in pipeline["plots"]]
    assert titles == [
        "Loss per epoch", "Accuracy per epoch", "Learning rate per epoch", "Confusion matrix (test)",
        "Confusion matrix, row-normalised (test)", "F1 per class (test)",
    ]
