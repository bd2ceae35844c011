"""What each benchmark runs at `--size full` (the figures to report) and `--size tiny` (a
check that everything runs, in minutes; its figures mean nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BASE: dict[str, Any] = {}
"""wav2vec2-base (95M parameters): `Wav2Vec2Config()`'s defaults."""

SMALL: dict[str, Any] = {
    "hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 512,
    "conv_dim": [128] * 7,
}
"""The small model of STACK.md's train-step table: base's conv strides and kernels, 128 wide."""

TINY: dict[str, Any] = {
    "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
    "conv_dim": [8, 8, 8], "conv_stride": [5, 4, 4], "conv_kernel": [10, 4, 4],
    "feat_extract_norm": "layer", "do_stable_layer_norm": True,
    "num_conv_pos_embeddings": 8, "num_conv_pos_embedding_groups": 2,
}
"""The tests' tiny model (tests/conftest.py): the scratch projects train it in seconds."""

DEFAULT = None
"""Stands for params.yaml's own `model.config` (the default model)."""


@dataclass(frozen=True)
class TrainCase:
    """One train-step comparison: a model config, a batch of 1 s clips, steps timed."""

    config: dict[str, Any]
    batch: int
    steps: int
    warmup: int


@dataclass(frozen=True)
class Size:
    """Every benchmark's scale at one size."""

    name: str
    train: dict[str, TrainCase]
    """`base` and `small`: the keys of `train_step_ratio_<name>`."""
    preprocess_clips: int
    preprocess_repeats: int
    memory_clips: tuple[int, int]
    """Few and many: `memory_ratio_50k_over_5k` is many ÷ few."""
    noop_clips: int
    noop_repeats: int
    predict_configs: dict[str, dict[str, Any] | None]
    predict_latency_repeats: int
    predict_throughput_repeats: int

    @property
    def pool_clips(self) -> int:
        """Clips to generate once for the benchmarks that read audio."""
        return max(self.preprocess_clips, *self.memory_clips, self.noop_clips)


SIZES = {
    "full": Size(
        name="full",
        train={"base": TrainCase(BASE, batch=8, steps=7, warmup=2), "small": TrainCase(SMALL, batch=32, steps=10, warmup=2)},
        preprocess_clips=10_000, preprocess_repeats=5,
        memory_clips=(5_000, 50_000),
        noop_clips=60_000, noop_repeats=3,
        predict_configs={"default": DEFAULT, "base": BASE},
        predict_latency_repeats=50, predict_throughput_repeats=5,
    ),
    "tiny": Size(
        name="tiny",
        train={"base": TrainCase(TINY, batch=2, steps=2, warmup=1), "small": TrainCase(TINY, batch=4, steps=2, warmup=1)},
        preprocess_clips=100, preprocess_repeats=2,
        memory_clips=(50, 500),
        noop_clips=600, noop_repeats=3,
        predict_configs={"default": DEFAULT},
        predict_latency_repeats=5, predict_throughput_repeats=2,
    ),
}
