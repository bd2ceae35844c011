"""Training-time augmentation inside tf.data: random time shift and speed change.

Each batch draws its own random numbers from a seeded stream that differs between epochs,
so training sees new variants every epoch yet is reproducible for a seed. Evaluation never
goes through here.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from stages.audio import SAMPLE_RATE


def warp(inputs: dict[str, tf.Tensor], seed: tf.Tensor, time_shift_s: float, speed: float) -> dict[str, tf.Tensor]:
    """Resample each clip by a random factor in [1 - speed, 1 + speed] about its centre and
    shift it by up to ±time_shift_s; samples from outside the clip become padding."""
    values = inputs["input_values"]
    batch, length = tf.shape(values)[0], tf.shape(values)[1]
    factor_seed, shift_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    factor = tf.random.stateless_uniform([batch, 1], factor_seed, 1.0 - speed, 1.0 + speed)
    max_shift = time_shift_s * SAMPLE_RATE
    shift = tf.random.stateless_uniform([batch, 1], shift_seed, -max_shift, max_shift)
    centre = tf.cast(length - 1, tf.float32) / 2.0
    position = tf.range(length, dtype=tf.float32)[tf.newaxis, :]
    source = (position - shift - centre) * factor + centre
    inside = (source >= 0.0) & (source <= tf.cast(length - 1, tf.float32))
    source = tf.clip_by_value(source, 0.0, tf.cast(length - 1, tf.float32))
    low = tf.cast(tf.floor(source), tf.int32)
    high = tf.minimum(low + 1, length - 1)
    fraction = source - tf.cast(low, tf.float32)
    interpolated = (tf.gather(values, low, batch_dims=1) * (1.0 - fraction)
                    + tf.gather(values, high, batch_dims=1) * fraction)
    warped = {"input_values": tf.where(inside, interpolated, 0.0)}
    if "attention_mask" in inputs:
        nearest = tf.cast(tf.round(source), tf.int32)
        mask = tf.gather(inputs["attention_mask"], nearest, batch_dims=1)
        warped["attention_mask"] = tf.where(inside, mask, tf.zeros_like(mask))
    return warped


def augmented(dataset: tf.data.Dataset, settings: dict[str, Any], seed: int) -> tf.data.Dataset:
    """`dataset` of (inputs, labels) batches with `warp` applied, when any augmentation is on."""
    if not settings["time_shift_s"] and not settings["speed"]:
        return dataset
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def apply(batch, batch_seed):
        inputs, labels = batch
        return warp(inputs, batch_seed, settings["time_shift_s"], settings["speed"]), labels

    return tf.data.Dataset.zip((dataset, seeds)).map(apply, num_parallel_calls=tf.data.AUTOTUNE)
