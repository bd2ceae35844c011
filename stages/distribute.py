"""Which devices train shares its work across (`train.strategy`), and which process writes.

`train.batch_size` is the GLOBAL batch: Keras splits every batch across the replicas (each
device of each worker), so N replicas each compute gradients on batch_size / N clips and
apply their mean, one update per global batch as on one device. The learning-rate schedule,
the epoch length and the results therefore stay comparable however many devices train;
raise batch_size to give more devices more work.

- `auto`: MirroredStrategy over the local GPUs when there are two or more, else the default
  (one device) strategy.
- `mirrored`: MirroredStrategy over every local GPU, or over every local CPU device when there
  is no GPU (logical CPU devices included: a correctness check more than a speed-up).
- `multi_worker`: MultiWorkerMirroredStrategy over the cluster that the TF_CONFIG environment
  variable describes. Every worker runs `python -m stages.train` in the project (a shared
  checkout, or copies with the same params and features); only the chief (task 0) writes
  outputs, the others write into a temporary directory that is removed when they finish.
  Resuming needs the chief's models/train_state on a file system every worker reads, as
  Keras' BackupAndRestore does.

Across replicas, each batch must give every replica a clip (train.py keeps full batches
only), gradient accumulation is unavailable, and on CPU devices so is XLA.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import tensorflow as tf

from stages.errors import PipelineError


def strategy(name: str) -> tf.distribute.Strategy:
    """The distribution strategy that `train.strategy` names."""
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise PipelineError("train.strategy: multi_worker needs the TF_CONFIG environment variable "
                                "(cluster and task)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(gpus or [device.name for device in tf.config.list_logical_devices("CPU")])
    return tf.distribute.MirroredStrategy(gpus) if len(gpus) > 1 else tf.distribute.get_strategy()


def describe(chosen: tf.distribute.Strategy) -> str:
    """One line for the log: how many replicas share each batch, under which strategy."""
    return f"{chosen.num_replicas_in_sync} replica(s) ({type(chosen).__name__})"


def check(settings: dict[str, Any], chosen: tf.distribute.Strategy) -> None:
    """Refuse what cannot train across replicas: a batch smaller than the replicas (one would get
    no clip), and gradient accumulation (AccumulatingAdamW applies the update inside a tf.cond,
    which cannot hold the cross-replica reduction of the gradients)."""
    replicas = chosen.num_replicas_in_sync
    if settings["batch_size"] < replicas:
        raise PipelineError(f"train.batch_size: {settings['batch_size']} is fewer clips than "
                            f"train.strategy's {describe(chosen)}")
    if settings["gradient_accumulation"] > 1 and replicas > 1:
        raise PipelineError(
            f"train.gradient_accumulation: must be 1 when train.strategy trains on {describe(chosen)}; "
            "raise train.batch_size instead"
        )


def device_types(chosen: tf.distribute.Strategy) -> set[str]:
    """The kinds of device ("CPU", "GPU", "TPU") the strategy trains on."""
    try:
        devices = chosen.extended.worker_devices
    except RuntimeError:  # the default strategy: TensorFlow's own placement, on the first GPU if any
        return {"GPU"} if tf.config.list_logical_devices("GPU") else {"CPU"}
    return {tf.DeviceSpec.from_string(device).device_type for device in devices}


def jit_compile(setting: str | bool, chosen: tf.distribute.Strategy, spec_augment: bool = False) -> bool:
    """Whether to compile with XLA, for `train.jit_compile`: `auto` is on for GPUs and TPUs only.
    On CPUs XLA made training steps slower (bench/RESULTS.md: 2.2× the small model's, 1.15×
    wav2vec2-base's), and across CPU replicas it cannot run at all: it has no collectives
    there (and cannot reach another logical CPU's variables). It is off with SpecAugment,
    whose random mask sizes XLA cannot compile ("Tile must be a compile-time constant");
    `true` is refused in both cases."""
    cpus = device_types(chosen) == {"CPU"}
    on_cpus = chosen.num_replicas_in_sync > 1 and cpus
    if setting is True and on_cpus:
        raise PipelineError(f"train.jit_compile: XLA cannot train across the CPU devices of train.strategy's "
                            f"{describe(chosen)}; set it to auto or false")
    if setting is True and spec_augment:
        raise PipelineError("train.jit_compile: XLA cannot compile SpecAugment (model.mask_time_prob or mask_feature_prob > 0); "
                            "set it to auto or false")
    return setting is True or (setting == "auto" and not cpus and not spec_augment)


def is_chief(chosen: tf.distribute.Strategy) -> bool:
    """Whether this process writes the outputs: the chief of a multi-worker cluster, or the only process."""
    return chosen.extended.should_checkpoint


def from_chief(chosen: tf.distribute.Strategy, compute: Callable[[], int]) -> int:
    """`compute()` run on the chief only, its result handed to every worker.

    Replica 0 lives on the chief; the sum over replicas of its value and zeros is that value.
    The collective also makes every worker wait until the chief has run `compute`, so a
    worker reads the files the chief prepares only once they are ready.
    """
    local = float(compute()) if is_chief(chosen) else 0.0

    def share() -> tf.Tensor:
        first = tf.distribute.get_replica_context().replica_id_in_sync_group == 0
        return tf.where(first, local, 0.0)

    @tf.function
    def gather() -> tf.Tensor:
        return chosen.reduce(tf.distribute.ReduceOp.SUM, chosen.run(share), axis=None)

    return round(float(gather()))


@contextmanager
def output_root(chosen: tf.distribute.Strategy) -> Iterator[Path]:
    """The directory this process writes its outputs under: the project (the current directory)
    for the chief, a temporary directory, removed afterwards, for other workers.

    Every worker runs the same saving code, as Keras expects of multi-worker training, but
    only the chief's copy is kept.
    """
    if is_chief(chosen):
        yield Path(".")
        return
    scratch = Path(tempfile.mkdtemp(prefix="kws-worker-"))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def shardable(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` with auto-sharding by element: its batches come from .npy files through
    tf.numpy_function, so there are no files to shard by. Every worker builds the same
    sequence (the shuffle and augmentation are seeded) and keeps its part of each batch."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
