import numpy as np
import tensorflow as tf

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
    settings = {"time_shift_s": 0.005, "speed": 0.1}
    run = augment.augmented(dataset, settings, seed=7)
    epoch_one = [x["input_values"].numpy() for x, _ in run]
    epoch_two = [x["input_values"].numpy() for x, _ in run]
    again = [x["input_values"].numpy() for x, _ in augment.augmented(dataset, settings, seed=7)]
    np.testing.assert_array_equal(np.concatenate(epoch_one), np.concatenate(again))
    assert not np.allclose(np.concatenate(epoch_one), np.concatenate(epoch_two))
    assert augment.augmented(dataset, {"time_shift_s": 0.0, "speed": 0.0}, seed=7) is dataset
