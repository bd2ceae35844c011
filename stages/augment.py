"""Training-time augmentation inside tf.data: time shift, speed change, noise and gain.

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


def mix(inputs: dict[str, tf.Tensor], seed: tf.Tensor, snr_db: list[float], gain_db: list[float]) -> dict[str, tf.Tensor]:
    """Add white noise at a random SNR in `snr_db` (none when empty), keeping the clip's level,
    then scale by a random gain in `gain_db` (none when empty). Padding stays silent.

    The level is kept because the clips are already normalised as the model expects; gain
    therefore only teaches something to a checkpoint whose extractor does not normalise.
    """
    values = inputs["input_values"]
    real = tf.cast(inputs["attention_mask"], tf.float32) if "attention_mask" in inputs else tf.ones_like(values)
    noise_seed, snr_seed, gain_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    batch = tf.shape(values)[0]
    if snr_db:
        snr = tf.random.stateless_uniform([batch, 1], snr_seed, snr_db[0], snr_db[1])
        power = tf.reduce_sum(values**2 * real, axis=1, keepdims=True) / tf.maximum(tf.reduce_sum(real, 1, keepdims=True), 1.0)
        noise_power = power * 10.0 ** (-snr / 10.0)
        noise = tf.random.stateless_normal(tf.shape(values), noise_seed) * tf.sqrt(noise_power) * real
        values = (values + noise) * tf.sqrt(power / (power + noise_power + 1e-12))
    if gain_db:
        values *= 10.0 ** (tf.random.stateless_uniform([batch, 1], gain_seed, gain_db[0], gain_db[1]) / 20.0)
    return {**inputs, "input_values": values}


def augmented(dataset: tf.data.Dataset, settings: dict[str, Any], seed: int) -> tf.data.Dataset:
    """`dataset` of (inputs, labels) batches with `warp` and `mix` applied, where switched on."""
    warping = bool(settings["time_shift_s"] or settings["speed"])
    mixing = bool(settings["noise_snr_db"] or settings["gain_db"])
    if not warping and not mixing:
        return dataset
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def apply(batch, batch_seed):
        inputs, labels = batch
        if warping:
            inputs = warp(inputs, batch_seed, settings["time_shift_s"], settings["speed"])
        if mixing:
            mix_seed = tf.random.experimental.stateless_fold_in(batch_seed, 1)
            inputs = mix(inputs, mix_seed, settings["noise_snr_db"], settings["gain_db"])
        return inputs, labels

    return tf.data.Dataset.zip((dataset, seeds)).map(apply, num_parallel_calls=tf.data.AUTOTUNE)
