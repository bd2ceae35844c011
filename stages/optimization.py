"""How train updates the weights: the learning-rate schedule, AdamW, gradient accumulation.

The Hugging Face recipe for wav2vec2 keyword spotting is AdamW, a linear warm-up over the
first 10% of optimizer steps, then linear decay to zero, with gradients accumulated over
several batches; a model trained from scratch does better with cosine decay. Both are one
schedule here, counted in optimizer steps (one per `gradient_accumulation` batches).
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf
import tf_keras as keras
from tf_keras.src.optimizers import utils as optimizer_utils

NO_WEIGHT_DECAY = ["layer_norm", "bias"]
"""Variables AdamW leaves undecayed, as the Hugging Face recipe does."""


class LinearWarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `peak` over `warmup_steps`, then linear decay to 0 at
    `total_steps`: the Hugging Face Trainer's default schedule."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int) -> None:
        self.peak, self.warmup_steps, self.total_steps = peak, warmup_steps, total_steps

    def __call__(self, step: tf.Tensor) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        warmup = tf.cast(self.warmup_steps, tf.float32)
        progress = tf.clip_by_value((step - warmup) / float(max(1, self.total_steps - self.warmup_steps)), 0.0, 1.0)
        return self.peak * tf.where(step < warmup, step / tf.maximum(warmup, 1.0), 1.0 - progress)

    def get_config(self) -> dict[str, Any]:
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}


def schedule(peak: float, warmup_steps: int, total_steps: int, decay: str) -> keras.optimizers.schedules.LearningRateSchedule:
    """Warm-up then `decay` ("cosine": Keras' CosineDecay with its linear warm-up; "linear")."""
    if decay == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0, decay_steps=max(1, total_steps - warmup_steps),
            warmup_target=peak, warmup_steps=warmup_steps,
        )
    return LinearWarmupDecay(peak, warmup_steps, total_steps)


class AccumulatingAdamW(keras.optimizers.AdamW):
    """AdamW that sums the gradients of `accumulation` batches and applies their mean once.

    Each update then sees a batch `accumulation` times larger than fits in memory; moments,
    weight decay and the step count (hence the schedule) advance once per update.

    The update itself is TensorFlow's fused Adam kernel: Keras' AdamW spells it as a dozen
    element-wise ops, each a pass over every weight, which took twice PyTorch's time for
    wav2vec2-base on a CPU (bench/train_profile.py).
    """

    def __init__(self, accumulation: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.accumulation = accumulation

    def build(self, var_list: list[tf.Variable]) -> None:
        super().build(var_list)
        if self.accumulation > 1 and not hasattr(self, "_sums"):
            self._sums = [self.add_variable_from_reference(variable, "gradient_sum") for variable in var_list]
            self._batches = self.add_variable(shape=(), dtype=tf.int64, name="accumulated_batches")

    def update_step(self, gradient, variable):  # noqa: ANN001, ANN201 (Keras signature)
        if isinstance(gradient, tf.IndexedSlices) or self.amsgrad:
            return super().update_step(gradient, variable)
        index = self._index_dict[self._var_key(variable)]
        step = tf.cast(self.iterations + 1, variable.dtype)
        return tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].handle, v=self._velocities[index].handle,
            beta1_power=tf.pow(tf.cast(self.beta_1, variable.dtype), step),
            beta2_power=tf.pow(tf.cast(self.beta_2, variable.dtype), step),
            lr=tf.cast(self.learning_rate, variable.dtype), beta1=tf.cast(self.beta_1, variable.dtype),
            beta2=tf.cast(self.beta_2, variable.dtype), epsilon=tf.cast(self.epsilon, variable.dtype),
            grad=gradient, use_locking=False,
        )

    def _apply_weight_decay(self, variables):  # noqa: ANN001, ANN202 (Keras signature)
        if self.weight_decay:
            super()._apply_weight_decay(variables)

    def apply_gradients(self, grads_and_vars, name=None, **kwargs):  # noqa: ANN001, ANN201 (Keras signature)
        if self.accumulation == 1:
            return super().apply_gradients(grads_and_vars, name=name, **kwargs)
        grads_and_vars = optimizer_utils.filter_empty_gradients(list(grads_and_vars))
        variables = [variable for _, variable in grads_and_vars]
        with tf.init_scope():
            self.build(variables)
        self._compute_current_learning_rate()  # creates its variable here, not inside the tf.cond below
        sums = [self._sums[self._index_dict[self._var_key(variable)]] for variable in variables]
        for total, (gradient, _) in zip(sums, grads_and_vars):
            total.assign_add(tf.cast(gradient, total.dtype))
        self._batches.assign_add(1)

        def update() -> tf.Tensor:
            mean = [total / self.accumulation for total in sums]
            super(AccumulatingAdamW, self).apply_gradients(zip(mean, variables), name=name, **kwargs)
            for total in sums:
                total.assign(tf.zeros_like(total))
            return tf.constant(True)

        return tf.cond(self._batches % self.accumulation == 0, update, lambda: tf.constant(False))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "accumulation": self.accumulation}


def optimizer(settings: dict[str, Any], batches_per_epoch: int) -> AccumulatingAdamW:
    """AdamW with the `train` section's schedule, weight decay, gradient clipping and
    gradient accumulation."""
    accumulation = settings["gradient_accumulation"]
    total = math.ceil(batches_per_epoch / accumulation) * settings["epochs"]
    warmup = math.ceil(total * settings["warmup_ratio"])
    built = AccumulatingAdamW(
        accumulation=accumulation,
        learning_rate=schedule(settings["learning_rate"], warmup, total, settings["decay"]),
        weight_decay=settings["weight_decay"],
        global_clipnorm=settings["max_grad_norm"] or None,
    )
    built.exclude_from_weight_decay(var_names=NO_WEIGHT_DECAY)
    return built
