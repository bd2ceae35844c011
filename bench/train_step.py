"""Benchmark 1: one training step, TensorFlow as the train stage trains ÷ PyTorch.

Same config, batch and threads (bench.run sets both frameworks' thread pools once per
process), random init, layerdrop 0, SpecAugment off (XLA needs it off). TensorFlow's model is
built and compiled by the train stage's own `stages.train.compiled` (its model builder,
AdamW with the warm-up schedule, the loss, the accuracy metric), with and without
`jit_compile`, and stepped as `fit` steps it (see `fit_step`); PyTorch's is transformers'
`Wav2Vec2ForSequenceClassification` from the same config, stepped with AdamW at the same
learning rate. The variants take turns step by step, so a change of load on a shared machine
hits them alike; the warm-up steps (tracing, XLA compilation) are not timed.

Where the time goes: forward passes in training mode without gradients are timed the same
way, and backward + optimizer update is the step's median minus the forward's.
"""

from __future__ import annotations

import copy
import gc
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import tensorflow as tf
import tf_keras as keras

from bench.project import labels, repo_params
from bench.sizes import TrainCase
from bench.timing import median, rounded, seconds
from stages import train
from stages.audio import SAMPLE_RATE


@dataclass
class Variant:
    """One framework's model, ready to step on the benchmark's batch."""

    step: Callable[[], object]
    forward: Callable[[], object]
    parameters: int


def params_for(case: TrainCase, jit: bool) -> dict[str, Any]:
    """params.yaml with the case's model, layerdrop and SpecAugment off, XLA on or off."""
    return repo_params({"model.config": case.config, "model.layerdrop": 0.0, "model.mask_time_prob": 0.0,
                        "train.jit_compile": jit})


def fit_step(model: keras.Model, features: dict[str, tf.Tensor], truth: tf.Tensor) -> Callable[[], object]:
    """One training step as `model.fit` takes it: Keras' train function on a tf.data iterator
    that lives across steps (the train stage's batches come the same way).

    Not `train_on_batch`: it builds a fresh one-batch dataset and iterator at every call, which
    made every third or so step ~0.24 s slower on the small config (TF 2.21, 2 cores), a cost
    training never pays.
    """
    batches = iter(tf.data.Dataset.from_tensors((features, truth)).repeat())
    train_function = model.make_train_function()
    return lambda: float(train_function(batches)["loss"])


def tensorflow(config: dict[str, Any], inputs: np.ndarray, targets: np.ndarray) -> tuple[Variant, Any]:
    """The train stage's compiled model; also its transformers config, for PyTorch."""
    jit = config["train"]["jit_compile"]
    model = train.compiled(config, labels(config), batches=1000)
    features, truth = {"input_values": tf.constant(inputs)}, tf.constant(targets)
    forward = tf.function(lambda: model(features, training=True).logits, jit_compile=jit)
    return Variant(fit_step(model, features, truth), lambda: forward().numpy(), model.count_params()), model.config


def pytorch(model_config: Any, learning_rate: float, weight_decay: float, inputs: np.ndarray,
            targets: np.ndarray) -> tuple[Variant, str]:
    """transformers' PyTorch classifier for the same config, with AdamW; also its attention kernel."""
    import torch
    from transformers import Wav2Vec2ForSequenceClassification

    model = Wav2Vec2ForSequenceClassification(copy.deepcopy(model_config))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    features, truth = torch.from_numpy(inputs), torch.from_numpy(targets).long()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model(input_values=features, labels=truth).loss.backward()
        optimizer.step()

    def forward() -> None:
        with torch.no_grad():
            model(input_values=features)

    parameters = sum(parameter.numel() for parameter in model.parameters())
    return Variant(step, forward, parameters), model.config._attn_implementation


def turns(variants: dict[str, Variant], part: str, count: int) -> dict[str, list[float]]:
    """`count` timings of each variant's `part` ("step" or "forward"), the variants taking turns."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(count):
        for name, variant in variants.items():
            times[name].append(seconds(getattr(variant, part)))
    return times


def run(case: TrainCase) -> dict[str, Any]:
    """Median step and forward times per variant, and TF's best ÷ PyTorch's step time."""
    config = params_for(case, jit=False)
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((case.batch, SAMPLE_RATE)).astype(np.float32)
    targets = rng.integers(len(labels(config)), size=case.batch).astype(np.int32)
    variants: dict[str, Variant] = {}
    errors: dict[str, str] = {}
    variants["tf"], model_config = tensorflow(config, inputs, targets)
    variants["tf_xla"], _ = tensorflow(params_for(case, jit=True), inputs, targets)
    attention = None
    try:
        variants["pytorch"], attention = pytorch(model_config, config["train"]["learning_rate"],
                                                 config["train"]["weight_decay"], inputs, targets)
    except ImportError as error:
        errors["pytorch"] = f"{error} (pip install torch==2.13.0)"
    for name, variant in list(variants.items()):
        try:
            for _ in range(case.warmup):
                variant.step()
            variant.forward()
        except Exception as error:  # XLA may refuse a graph: the others are still measured
            errors[name] = " ".join(str(error).split())[:500]
            del variants[name]
    steps = turns(variants, "step", case.steps)
    forwards = turns(variants, "forward", case.steps)
    step_s = {name: median(times) for name, times in steps.items()}
    forward_s = {name: median(times) for name, times in forwards.items()}
    best = min((name for name in ("tf", "tf_xla") if name in step_s), key=step_s.get, default=None)
    result = {
        "config": {key: model_config.to_dict()[key] for key in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                                                 "intermediate_size", "conv_dim")},
        "parameters": {name: variant.parameters for name, variant in variants.items()},
        "batch": case.batch, "clip_s": 1.0, "steps_timed": case.steps, "warmup_steps": case.warmup,
        "pytorch_attention": attention,
        "step_s": step_s, "forward_s": forward_s,
        "backward_and_update_s": {name: round(step_s[name] - forward_s[name], 6) for name in step_s},
        "step_s_all": {name: rounded(times) for name, times in steps.items()},
        "tf_best": best,
        "ratio": round(step_s[best] / step_s["pytorch"], 4) if best and "pytorch" in step_s else None,
        "errors": errors,
    }
    del variants
    keras.backend.clear_session()
    gc.collect()
    return result
