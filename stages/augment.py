"""Training-time augmentation inside tf.data: clips cut short, time shift, speed change,
polarity, microphone, overlapping speech, noise and gain.

Each batch draws its own random numbers from a seeded stream that differs between epochs,
so training sees new variants every epoch yet is reproducible for a seed. Evaluation never
goes through here.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from stages.audio import SAMPLE_RATE


SHORTEST_S = 0.6
"""The shortest stretch `truncate` keeps, in seconds: the sample's 21 short keyword clips last 0.64-0.98 s."""

AROUND_S = 0.15
"""How much `truncate` keeps either side of a clip's energy centroid, so the word stays heard."""


def truncate(inputs: dict[str, tf.Tensor], seed: tf.Tensor, share: float) -> dict[str, tf.Tensor]:
    """Cut `share` of the clips to a random stretch of `SHORTEST_S` up to the whole clip about
    their word, moved to the start and zero-padded, the level kept.

    People's recordings start late or stop early, often inside the word, and are padded
    after; every synthetic clip is a whole word in a full window. Cut short in training, a
    word's edges stop being a cue the model can count on.
    """
    values = inputs["input_values"]
    batch, length = tf.shape(values)[0], tf.shape(values)[1]
    size = tf.cast(length, tf.float32)
    which_seed, kept_seed, where_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    chosen = tf.random.stateless_uniform([batch, 1], which_seed) < share
    kept = tf.random.stateless_uniform([batch, 1], kept_seed, SHORTEST_S * SAMPLE_RATE, size)
    position = tf.range(length, dtype=tf.float32)[tf.newaxis, :]
    energy = values**2 * speech(inputs)
    power = tf.reduce_sum(energy, axis=1, keepdims=True)
    centre = tf.reduce_sum(energy * position, axis=1, keepdims=True) / (power + 1e-12)
    earliest = tf.clip_by_value(centre + AROUND_S * SAMPLE_RATE - kept, 0.0, size - kept)
    latest = tf.clip_by_value(centre - AROUND_S * SAMPLE_RATE, earliest, size - kept)
    start = earliest + tf.random.stateless_uniform([batch, 1], where_seed) * (latest - earliest)
    source = tf.minimum(tf.cast(position + tf.floor(start), tf.int32), length - 1)
    inside = position < kept
    cut = at_level(tf.where(inside, tf.gather(values, source, batch_dims=1), 0.0), power)
    truncated = {"input_values": tf.where(chosen, cut, values)}
    if "attention_mask" in inputs:
        mask = inputs["attention_mask"]
        cut_mask = tf.where(inside, tf.gather(mask, source, batch_dims=1), tf.zeros_like(mask))
        truncated["attention_mask"] = tf.where(chosen, cut_mask, mask)
    return truncated


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


def speech(inputs: dict[str, tf.Tensor]) -> tf.Tensor:
    """1.0 where a clip holds audio, 0.0 over its padding (all audio without an attention mask)."""
    values = inputs["input_values"]
    return tf.cast(inputs["attention_mask"], tf.float32) if "attention_mask" in inputs else tf.ones_like(values)


def at_level(values: tf.Tensor, power: tf.Tensor) -> tf.Tensor:
    """`values` scaled, clip by clip, to the summed `power` (shape [batch, 1]) they had before."""
    return values * tf.sqrt(power / (tf.reduce_sum(values**2, axis=1, keepdims=True) + 1e-12))


def polarity(inputs: dict[str, tf.Tensor], seed: tf.Tensor, share: float) -> dict[str, tf.Tensor]:
    """Flip the sign of `share` of the clips.

    A recording's polarity is an accident of its microphone and wiring, while each synthesiser
    always makes its waves one way up; a model trained without the flips changed its answer on
    25 of the sample's 200 real keyword clips when their sign was flipped (`bench.polarity`).
    """
    values = inputs["input_values"]
    flipped = tf.random.stateless_uniform([tf.shape(values)[0], 1], seed) < share
    return {**inputs, "input_values": tf.where(flipped, -values, values)}


def microphone(inputs: dict[str, tf.Tensor], seed: tf.Tensor, share: float) -> dict[str, tf.Tensor]:
    """Pass `share` of the clips through a random microphone: a band from 60–400 Hz up to
    3–7.5 kHz (fourth-order Butterworth slopes) tilted by up to ±3 dB an octave about 1 kHz,
    applied to the spectrum, the clip's level kept.

    The download stage gives each clip one fixed microphone, and putting it on more clips
    lifted the real-voice score; drawn afresh every epoch, each word is heard through a new
    one each time.
    """
    values = inputs["input_values"]
    real = speech(inputs)
    batch, length = tf.shape(values)[0], tf.shape(values)[1]
    which_seed, low_seed, high_seed, tilt_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    chosen = tf.random.stateless_uniform([batch, 1], which_seed) < share
    low = tf.exp(tf.random.stateless_uniform([batch, 1], low_seed, tf.math.log(60.0), tf.math.log(400.0)))
    high = tf.exp(tf.random.stateless_uniform([batch, 1], high_seed, tf.math.log(3000.0), tf.math.log(7500.0)))
    tilt = tf.random.stateless_uniform([batch, 1], tilt_seed, -3.0, 3.0)
    frequency = tf.maximum(tf.linspace(0.0, SAMPLE_RATE / 2, length // 2 + 1)[tf.newaxis, :], 1.0)
    gain = (tf.math.rsqrt(1.0 + (frequency / high) ** 8) * tf.math.rsqrt(1.0 + (low / frequency) ** 8)
            * 10.0 ** (tilt * tf.math.log(frequency / 1000.0) / tf.math.log(2.0) / 20.0))
    heard = tf.signal.irfft(tf.signal.rfft(values) * tf.cast(gain, tf.complex64), fft_length=[length]) * real
    heard = at_level(heard, tf.reduce_sum(values**2, axis=1, keepdims=True))
    return {**inputs, "input_values": tf.where(chosen, heard, values)}


def overlap(inputs: dict[str, tf.Tensor], seed: tf.Tensor, below_db: list[float]) -> dict[str, tf.Tensor]:
    """Add to each clip the next clip of the batch, `below_db` (drawn per clip) quieter, the
    label and level kept: someone else talking in the background, the noise synthetic
    clips never have."""
    values = inputs["input_values"]
    real = speech(inputs)
    below = tf.random.stateless_uniform([tf.shape(values)[0], 1], seed, below_db[0], below_db[1])
    power = tf.reduce_sum(values**2, axis=1, keepdims=True)
    other = tf.roll(values, 1, axis=0)
    other_power = tf.roll(power, 1, axis=0)
    scale = tf.sqrt(power / (other_power + 1e-12)) * 10.0 ** (-below / 20.0)
    return {**inputs, "input_values": at_level(values + other * scale * real, power)}


def mix(inputs: dict[str, tf.Tensor], seed: tf.Tensor, snr_db: list[float], gain_db: list[float]) -> dict[str, tf.Tensor]:
    """Add white noise at a random SNR in `snr_db` (none when empty), keeping the clip's level,
    then scale by a random gain in `gain_db` (none when empty). Padding stays silent.

    The level is kept because the clips are already normalised as the model expects; gain
    therefore only teaches something to a checkpoint whose extractor does not normalise.
    """
    values = inputs["input_values"]
    real = speech(inputs)
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
    """`dataset` of (inputs, labels) batches with `truncate`, `warp`, `polarity`, `microphone`, `overlap` and `mix`
    applied, where switched on."""
    warping = bool(settings["time_shift_s"] or settings["speed"])
    mixing = bool(settings["noise_snr_db"] or settings["gain_db"])
    if not (settings["truncate"] or warping or mixing or settings["polarity"] or settings["microphone"] or settings["overlap_db"]):
        return dataset
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def apply(batch, batch_seed):
        inputs, labels = batch
        if settings["truncate"]:
            inputs = truncate(inputs, tf.random.experimental.stateless_fold_in(batch_seed, 5), settings["truncate"])
        if warping:
            inputs = warp(inputs, batch_seed, settings["time_shift_s"], settings["speed"])
        if settings["polarity"]:
            inputs = polarity(inputs, tf.random.experimental.stateless_fold_in(batch_seed, 4), settings["polarity"])
        if settings["microphone"]:
            inputs = microphone(inputs, tf.random.experimental.stateless_fold_in(batch_seed, 2), settings["microphone"])
        if settings["overlap_db"]:
            inputs = overlap(inputs, tf.random.experimental.stateless_fold_in(batch_seed, 3), settings["overlap_db"])
        if mixing:
            mix_seed = tf.random.experimental.stateless_fold_in(batch_seed, 1)
            inputs = mix(inputs, mix_seed, settings["noise_snr_db"], settings["gain_db"])
        return inputs, labels

    return tf.data.Dataset.zip((dataset, seeds)).map(apply, num_parallel_calls=tf.data.AUTOTUNE)
