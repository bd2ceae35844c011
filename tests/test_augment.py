import numpy as np
import tensorflow as tf
from scipy import signal

from stages import augment


def batch(length=1600, with_mask=True):
    values = np.zeros((4, length), dtype=np.float32)
    values[:, 700:900] = np.sin(np.arange(200) / 5.0)
    inputs = {"input_values": tf.constant(values)}
    if with_mask:
        mask = np.ones((4, length), dtype=np.int32)
        mask[:, 1500:] = 0
        inputs["attention_mask"] = tf.constant(mask)
    return inputs


def test_no_shift_no_speed_is_identity():
    inputs = batch()
    warped = augment.warp(inputs, tf.constant([1, 2], tf.int64), 0.0, 0.0)
    np.testing.assert_allclose(warped["input_values"], inputs["input_values"], atol=1e-6)
    np.testing.assert_array_equal(warped["attention_mask"], inputs["attention_mask"])


def test_shift_moves_the_word_and_pads_with_zeros():
    inputs = batch(with_mask=False)
    warped = augment.warp(inputs, tf.constant([3, 4], tf.int64), 0.03, 0.0)["input_values"].numpy()
    onsets = {int(np.argmax(np.abs(row) > 1e-3)) for row in warped}
    assert len(onsets) == 4 and all(abs(o - 700) <= 480 for o in onsets)


def test_speed_changes_the_word_length_and_mask_follows():
    inputs = batch()
    warped = augment.warp(inputs, tf.constant([5, 6], tf.int64), 0.0, 0.3)
    lengths = (np.abs(warped["input_values"].numpy()) > 1e-3).sum(axis=1)
    assert len(set(lengths.tolist())) > 1
    assert all(150 <= n <= 290 for n in lengths)
    assert set(np.unique(warped["attention_mask"].numpy())) <= {0, 1}


def test_augmented_is_reproducible_and_differs_between_epochs():
    values = np.random.default_rng(0).standard_normal((8, 400)).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(({"input_values": values}, np.arange(8))).batch(4)
    settings = {"truncate": 0.5, "time_shift_s": 0.005, "speed": 0.1, "polarity": 0.5, "microphone": 0.5, "overlap_db": [10.0, 20.0], "noise_snr_db": [10.0, 20.0], "gain_db": []}
    run = augment.augmented(dataset, settings, seed=7)
    epoch_one = [x["input_values"].numpy() for x, _ in run]
    epoch_two = [x["input_values"].numpy() for x, _ in run]
    again = [x["input_values"].numpy() for x, _ in augment.augmented(dataset, settings, seed=7)]
    np.testing.assert_array_equal(np.concatenate(epoch_one), np.concatenate(again))
    assert not np.allclose(np.concatenate(epoch_one), np.concatenate(epoch_two))
    off = {"truncate": 0.0, "time_shift_s": 0.0, "speed": 0.0, "polarity": 0.0, "microphone": 0.0, "overlap_db": [], "noise_snr_db": [], "gain_db": []}
    assert augment.augmented(dataset, off, seed=7) is dataset


def measured_snr_db(clean: np.ndarray, mixed: np.ndarray) -> np.ndarray:
    """Per clip, from the correlation of mixed and clean: r² = snr / (1 + snr) for independent noise."""
    r = (clean * mixed).sum(axis=1) / np.sqrt((clean**2).sum(axis=1) * (mixed**2).sum(axis=1))
    return 10 * np.log10(r**2 / (1 - r**2))


def test_noise_arrives_at_the_drawn_snr_and_keeps_the_level():
    clean = np.sin(np.arange(16_000) / 7.0)[None].repeat(64, 0).astype(np.float32) * 2.0
    mask = np.ones_like(clean, dtype=np.int32)
    mask[:, 12_000:] = 0
    clean[:, 12_000:] = 0.0
    inputs = {"input_values": tf.constant(clean), "attention_mask": tf.constant(mask)}
    mixed = augment.mix(inputs, tf.constant([1, 2], tf.int64), [10.0, 10.0], [])["input_values"].numpy()
    assert np.all(mixed[:, 12_000:] == 0.0), "padding stays silent"
    level = np.sqrt((mixed[:, :12_000] ** 2).mean(axis=1))
    np.testing.assert_allclose(level, np.sqrt(2.0), rtol=0.02)
    np.testing.assert_allclose(measured_snr_db(clean[:, :12_000], mixed[:, :12_000]), 10.0, atol=0.3)
    spread = augment.mix(inputs, tf.constant([3, 4], tf.int64), [0.0, 30.0], [])["input_values"].numpy()
    snrs = measured_snr_db(clean[:, :12_000], spread[:, :12_000])
    assert snrs.min() > -0.5 and snrs.max() < 31 and np.ptp(snrs) > 15


def test_gain_scales_each_clip_within_its_range():
    values = np.ones((32, 100), dtype=np.float32)
    gained = augment.mix({"input_values": tf.constant(values)}, tf.constant([5, 6], tf.int64), [], [-6.0, 6.0])
    factors = gained["input_values"].numpy()[:, 0]
    assert np.all((factors >= 10 ** (-6 / 20) - 1e-6) & (factors <= 10 ** (6 / 20) + 1e-6)) and np.ptp(factors) > 0.5
    np.testing.assert_allclose(gained["input_values"].numpy(), factors[:, None] * values)


def tone(frequency: float, length: int = 16_000) -> np.ndarray:
    return np.sin(2 * np.pi * frequency * np.arange(length) / 16_000).astype(np.float32)


def amplitude(clips: np.ndarray, frequency: float) -> np.ndarray:
    """Each clip's spectral magnitude at `frequency` (whole cycles in a 1 s clip: one bin)."""
    return np.abs(np.fft.rfft(clips, axis=1))[:, int(frequency)]


def test_microphone_cuts_below_its_band_and_keeps_the_level():
    clean = (tone(1000) + tone(20))[None].repeat(32, 0)
    heard = augment.microphone({"input_values": tf.constant(clean)}, tf.constant([1, 2], tf.int64), 1.0)["input_values"].numpy()
    before = amplitude(clean, 20) / amplitude(clean, 1000)
    after = amplitude(heard, 20) / amplitude(heard, 1000)
    assert np.all(after < 0.1 * before), "20 Hz lies below every band's 60-400 Hz low cut"
    np.testing.assert_allclose((heard**2).sum(axis=1), (clean**2).sum(axis=1), rtol=1e-3)
    assert len(np.unique(heard.round(5), axis=0)) == 32, "every clip draws its own microphone"


def test_microphone_hears_only_its_share_of_clips_and_keeps_padding_silent():
    clean = np.random.default_rng(1).standard_normal((200, 1600)).astype(np.float32)
    mask = np.ones_like(clean, dtype=np.int32)
    mask[:, 1200:] = 0
    clean[:, 1200:] = 0.0
    inputs = {"input_values": tf.constant(clean), "attention_mask": tf.constant(mask)}
    heard = augment.microphone(inputs, tf.constant([3, 4], tf.int64), 0.3)["input_values"].numpy()
    changed = ~np.all(heard == clean, axis=1)
    assert 0.2 < changed.mean() < 0.4
    assert np.all(heard[:, 1200:] == 0.0)
    assert np.array_equal(augment.microphone(inputs, tf.constant([3, 4], tf.int64), 0.0)["input_values"].numpy(), clean)


def test_polarity_flips_whole_clips_and_only_its_share_of_them():
    clean = np.random.default_rng(2).standard_normal((200, 400)).astype(np.float32)
    inputs = {"input_values": tf.constant(clean)}
    heard = augment.polarity(inputs, tf.constant([5, 6], tf.int64), 0.3)["input_values"].numpy()
    flipped = np.all(heard == -clean, axis=1)
    assert np.all(flipped | np.all(heard == clean, axis=1)), "a clip is kept or flipped whole"
    assert 0.2 < flipped.mean() < 0.4
    assert np.array_equal(augment.polarity(inputs, tf.constant([5, 6], tf.int64), 0.0)["input_values"].numpy(), clean)
    assert np.array_equal(augment.polarity(inputs, tf.constant([5, 6], tf.int64), 1.0)["input_values"].numpy(), -clean)


def test_truncate_keeps_the_word_moves_it_to_the_start_and_pads_after():
    length, word = 16000, 4800
    rng = np.random.default_rng(3)
    clips = 0.01 * rng.standard_normal((64, length)).astype(np.float32)
    onsets = rng.integers(0, length - word, 64)
    for row, onset in zip(clips, onsets):
        row[onset : onset + word] += np.sin(np.arange(word) / 3.0)
    cut = augment.truncate({"input_values": tf.constant(clips)}, tf.constant([7, 8], tf.int64), 1.0)["input_values"].numpy()
    for row, clip, onset in zip(cut, clips, onsets):
        kept = int(np.flatnonzero(row)[-1]) + 1
        assert kept >= 0.6 * length - 1
        start = int(np.argmax(signal.correlate(clip, row[:kept], mode="valid", method="fft")))
        source = clip[start : start + kept]
        np.testing.assert_allclose(row[:kept] / np.linalg.norm(row), source / np.linalg.norm(source), atol=1e-5)
        centre = onset + word // 2
        assert start + 0.15 * 16000 - 1 <= centre <= start + kept - 0.15 * 16000 + 1, "the word's centre and 0.15 s about it stay"
    np.testing.assert_allclose((cut**2).sum(axis=1), (clips**2).sum(axis=1), rtol=1e-3)
    lengths = np.count_nonzero(cut, axis=1)
    assert lengths.min() < 0.7 * length and lengths.max() > 0.9 * length, "lengths spread over 0.6-1 s"


def test_truncate_cuts_only_its_share_and_the_mask_with_its_clip():
    clips = np.random.default_rng(4).standard_normal((200, 16000)).astype(np.float32)
    mask = np.ones_like(clips, dtype=np.int32)
    clips[:, 14000:], mask[:, 14000:] = 0.0, 0
    cut = augment.truncate({"input_values": tf.constant(clips), "attention_mask": tf.constant(mask)},
                           tf.constant([9, 10], tf.int64), 0.3)
    values, cut_mask = cut["input_values"].numpy(), cut["attention_mask"].numpy()
    changed = ~np.all(values == clips, axis=1)
    assert 0.2 < changed.mean() < 0.4
    assert np.all(cut_mask[~changed] == mask[~changed])
    assert np.all(cut_mask[changed].sum(axis=1) < 14000)
    assert np.all(values[cut_mask == 0] == 0.0) and np.all(values[cut_mask == 1] != 0.0)


def test_truncate_leaves_clips_no_longer_than_its_shortest_stretch_whole():
    clips = np.random.default_rng(5).standard_normal((16, 8000)).astype(np.float32)
    cut = augment.truncate({"input_values": tf.constant(clips)}, tf.constant([11, 12], tf.int64), 1.0)["input_values"].numpy()
    np.testing.assert_allclose(cut, clips, atol=1e-5)


def test_overlap_adds_the_next_clip_at_the_drawn_level():
    clips = np.stack([tone(500), tone(1000), tone(2000)]) * np.array([[1.0], [3.0], [0.5]], dtype=np.float32)
    heard = augment.overlap({"input_values": tf.constant(clips)}, tf.constant([1, 2], tf.int64), [12.0, 12.0])
    heard = heard["input_values"].numpy()
    own, neighbour = amplitude(heard, 1000)[1], amplitude(heard, 500)[1]
    np.testing.assert_allclose(20 * np.log10(own / neighbour), 12.0, atol=0.05)
    np.testing.assert_allclose((heard**2).sum(axis=1), (clips**2).sum(axis=1), rtol=1e-3)
