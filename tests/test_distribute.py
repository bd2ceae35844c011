"""train.strategy: mirrored over two logical CPUs, and two local workers, each train a model that evaluates."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import tensorflow as tf

from stages import distribute
from stages.errors import PipelineError
from tests.conftest import REPO, run_stage, write_params

TWO_CPUS = (
    "import tensorflow as tf; "
    "tf.config.set_logical_device_configuration(tf.config.list_physical_devices('CPU')[0], "
    "[tf.config.LogicalDeviceConfiguration()] * 2); "
    "import runpy; runpy.run_module('stages.train', run_name='__main__')"
)
"""Runs the train stage with the one CPU split into two logical devices, which must happen
before TensorFlow initialises: a launcher rather than a product setting made for tests."""


def project(features: Path, directory: Path, strategy: str) -> Path:
    """A project holding `features`' data, set to train one epoch with `strategy` (and XLA left
    to `auto`, which must turn it off: it cannot train across CPU devices)."""
    shutil.copytree(features / "data", directory / "data")
    write_params(directory, {"train.epochs": 1, "train.strategy": strategy, "train.jit_compile": "auto"})
    return directory


def train(directory: Path, *launcher: str, tf_config: dict | None = None) -> subprocess.Popen:
    """Start the train stage in `directory` (through `launcher` if given), with TF_CONFIG if given."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen([sys.executable, *(launcher or ("-m", "stages.train"))], cwd=directory, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finished(process: subprocess.Popen) -> str:
    """The output of `process`, once it has exited successfully."""
    try:
        output, _ = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 0, output
    return output


def evaluates(directory: Path) -> None:
    result = run_stage("evaluate", directory)
    assert result.returncode == 0, result.stderr
    assert 0 <= json.loads((directory / "metrics/metrics.json").read_text())["accuracy"] <= 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_mirrored_trains_on_two_logical_cpus(features, tmp_path):
    directory = project(features, tmp_path, "mirrored")
    output = finished(train(directory, "-c", TWO_CPUS))
    assert "train: 2 replica(s) (MirroredStrategy)" in output
    evaluates(directory)


def test_two_workers_train_together_and_only_the_chief_writes(features, tmp_path):
    workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    directories = [project(features, tmp_path / f"worker{index}", "multi_worker") for index in range(2)]
    processes = [train(directory, tf_config={"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
                 for i, directory in enumerate(directories)]
    try:
        outputs = [finished(process) for process in processes]
    finally:
        for process in processes:
            process.kill()
    assert all("train: 2 replica(s) (CollectiveAllReduceStrategy)" in output for output in outputs)
    chief, other = directories
    evaluates(chief)
    written = [path for path in other.rglob("*") if path.is_file() and path.parts[len(other.parts)] != "data"]
    assert written == [other / "params.yaml"]


def test_auto_is_one_device_without_gpus():
    assert distribute.strategy("auto") is tf.distribute.get_strategy()


def test_multi_worker_needs_a_cluster(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(PipelineError, match="train.strategy: multi_worker needs the TF_CONFIG"):
        distribute.strategy("multi_worker")


def test_gradient_accumulation_is_refused_across_replicas():
    replicas = SimpleNamespace(num_replicas_in_sync=2)
    with pytest.raises(PipelineError, match=r"train.gradient_accumulation: .* train.strategy"):
        distribute.check({"batch_size": 8, "gradient_accumulation": 2}, replicas)
    with pytest.raises(PipelineError, match=r"train.batch_size: 1 .* train.strategy"):
        distribute.check({"batch_size": 1, "gradient_accumulation": 1}, replicas)
    distribute.check({"batch_size": 8, "gradient_accumulation": 2}, SimpleNamespace(num_replicas_in_sync=1))


def test_xla_is_on_for_accelerators_only_unless_forced():
    one = tf.distribute.get_strategy()
    assert not distribute.jit_compile("auto", one) and distribute.jit_compile(True, one)
    assert not distribute.jit_compile(False, one)
    gpu = SimpleNamespace(num_replicas_in_sync=1, extended=SimpleNamespace(worker_devices=("/job:localhost/replica:0/task:0/device:GPU:0",)))
    assert distribute.jit_compile("auto", gpu)
    assert not distribute.jit_compile("auto", gpu, spec_augment=True)
    cpus = SimpleNamespace(num_replicas_in_sync=2, extended=SimpleNamespace(
        worker_devices=("/job:localhost/replica:0/task:0/device:CPU:0", "/job:localhost/replica:0/task:0/device:CPU:1")))
    assert not distribute.jit_compile("auto", cpus)
    with pytest.raises(PipelineError, match="train.jit_compile: XLA cannot train across the CPU devices of train.strategy"):
        distribute.jit_compile(True, cpus)
    gpus = SimpleNamespace(num_replicas_in_sync=2, extended=SimpleNamespace(worker_devices=("/gpu:0", "/gpu:1")))
    assert distribute.jit_compile("auto", gpus)


def test_xla_is_off_with_spec_augment_unless_forced():
    one = tf.distribute.get_strategy()
    assert not distribute.jit_compile("auto", one, spec_augment=True)
    assert not distribute.jit_compile(False, one, spec_augment=True)
    with pytest.raises(PipelineError, match=r"train.jit_compile: XLA cannot compile SpecAugment \(model.mask_time_prob or mask_feature_prob > 0\)"):
        distribute.jit_compile(True, one, spec_augment=True)
