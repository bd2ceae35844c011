import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from stages import optimization

SETTINGS = {"epochs": 2, "gradient_accumulation": 1, "learning_rate": 0.01, "warmup_ratio": 0.1, "decay": "linear",
            "weight_decay": 0.0, "max_grad_norm": 0.0}


def rates(schedule, steps):
    return [float(schedule(step)) for step in steps]


def test_warmup_then_linear_decay_to_zero():
    schedule = optimization.schedule(1e-3, warmup_steps=10, total_steps=110, decay="linear")
    assert rates(schedule, [0, 5, 10, 60, 110, 200]) == pytest.approx([0.0, 5e-4, 1e-3, 5e-4, 0.0, 0.0], abs=1e-9)


def test_warmup_then_cosine_decay_to_zero():
    schedule = optimization.schedule(2e-3, warmup_steps=20, total_steps=220, decay="cosine")
    assert rates(schedule, [0, 10, 20, 120, 220, 300]) == pytest.approx([0.0, 1e-3, 2e-3, 1e-3, 0.0, 0.0], abs=1e-9)


def test_optimizer_counts_steps_after_accumulation():
    built = optimization.optimizer({**SETTINGS, "gradient_accumulation": 4}, batches_per_epoch=100)
    schedule = built._learning_rate
    assert (schedule.total_steps, schedule.warmup_steps) == (2 * 25, 5)
    assert built.accumulation == 4


def regression(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    hidden = keras.layers.LayerNormalization(name="layer_norm")(keras.layers.Dense(5, activation="tanh")(inputs))
    return keras.Model(inputs, keras.layers.Dense(1)(hidden))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_accumulating_k_batches_equals_one_k_times_larger_batch(jit_compile):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 6)).astype(np.float32), rng.standard_normal((16, 1)).astype(np.float32)
    settings = {**SETTINGS, "epochs": 1, "warmup_ratio": 0.0, "decay": "linear", "weight_decay": 0.01}

    def train(batch_size: int, accumulation: int) -> tuple[keras.Model, optimization.AccumulatingAdamW]:
        model = regression()
        built = optimization.optimizer({**settings, "gradient_accumulation": accumulation}, batches_per_epoch=16 // batch_size)
        model.compile(optimizer=built, loss="mse", jit_compile=jit_compile)
        model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        return model, built

    big, big_optimizer = train(batch_size=8, accumulation=1)
    small, small_optimizer = train(batch_size=2, accumulation=4)
    assert int(big_optimizer.iterations) == int(small_optimizer.iterations) == 2
    for expected, got in zip(big.get_weights(), small.get_weights()):
        np.testing.assert_allclose(got, expected, atol=1e-6)
    initial = regression().get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(initial, small.get_weights()))


def test_no_update_until_the_last_accumulated_batch():
    model = regression()
    built = optimization.optimizer({**SETTINGS, "gradient_accumulation": 3, "warmup_ratio": 0.0}, batches_per_epoch=3)
    model.compile(optimizer=built, loss="mse")
    before = model.get_weights()
    x, y = np.ones((2, 6), np.float32), np.ones((2, 1), np.float32)
    for count in (1, 2):
        model.train_on_batch(x, y)
        assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights())), f"updated after {count} batches"
        assert int(built.iterations) == 0
    model.train_on_batch(x, y)
    assert int(built.iterations) == 1
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_weight_decay_spares_layer_norms_and_biases():
    model = regression()
    built = optimization.optimizer({**SETTINGS, "weight_decay": 0.1}, batches_per_epoch=10)
    decayed = {variable.name for variable in model.trainable_variables if built._use_weight_decay(variable)}
    assert decayed == {variable.name for variable in model.trainable_variables if variable.name.endswith("kernel:0")}
    assert len(decayed) == 2 and math.isclose(built.weight_decay, 0.1)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_fused_update_follows_keras_adamw(weight_decay):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((32, 6)).astype(np.float32), rng.standard_normal((32, 1)).astype(np.float32)
    settings = {**SETTINGS, "epochs": 1, "warmup_ratio": 0.0, "weight_decay": weight_decay}
    trained = []
    for built in (optimization.optimizer(settings, batches_per_epoch=8),
                  keras.optimizers.AdamW(learning_rate=optimization.schedule(0.01, 0, 8, "linear"),
                                         weight_decay=weight_decay)):
        built.exclude_from_weight_decay(var_names=optimization.NO_WEIGHT_DECAY)
        model = regression()
        model.compile(optimizer=built, loss="mse")
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        trained.append(model.get_weights())
    fused, keras_own = trained
    assert any(not np.allclose(a, b) for a, b in zip(regression().get_weights(), fused))
    for expected, got in zip(keras_own, fused):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("max_grad_norm, expected_norm", [(0.0, 10.0), (1.0, 1.0)])
def test_the_gradient_is_clipped_to_max_grad_norm(max_grad_norm, expected_norm):
    variable = tf.Variable(tf.zeros(4))
    built = optimization.optimizer({**SETTINGS, "max_grad_norm": max_grad_norm}, batches_per_epoch=10)
    built.apply_gradients([(tf.constant([6.0, 8.0, 0.0, 0.0]), variable)])
    momentum = built._momentums[0].numpy() / (1 - built.beta_1)  # Adam's first moment after one step
    assert math.isclose(np.linalg.norm(momentum), expected_norm, rel_tol=1e-5)
    np.testing.assert_allclose(momentum / np.linalg.norm(momentum), [0.6, 0.8, 0.0, 0.0], rtol=1e-5)
