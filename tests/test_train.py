import csv
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from transformers import AutoFeatureExtractor, TFAutoModelForAudioClassification

from stages import train
from stages.features import Split
from tests.conftest import REPO


def test_saved_model_loads_with_the_auto_classes(trained):
    model = TFAutoModelForAudioClassification.from_pretrained(trained / "models/kws")
    extractor = AutoFeatureExtractor.from_pretrained(trained / "models/kws")
    assert model.config.id2label == {0: "yes", 1: "no", 2: "up", 3: "_silence_", 4: "_unknown_"}
    assert extractor.return_attention_mask is False and extractor.sampling_rate == 16_000
    test = Split(trained / "data/features/test")
    inputs, _ = next(iter(test.dataset(4)))
    logits = model(inputs).logits.numpy()
    assert logits.shape == (4, 5) and np.isfinite(logits).all()
    assert not (trained / "models/kws.partial").exists()


def test_history_has_a_row_per_epoch(trained):
    with open(trained / "metrics/training.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(rows[0])
    assert float(rows[1]["learning_rate"]) < float(rows[0]["learning_rate"])
    assert all(0 <= float(row["val_accuracy"]) <= 1 for row in rows)


def test_config_records_the_small_model(trained):
    config = json.loads((trained / "models/kws/config.json").read_text())
    assert config["hidden_size"] == 16 and config["conv_dim"] == [8, 8, 8]


def test_model_card_and_clip_length_travel_with_the_model(trained):
    card = (trained / "models/kws/README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers\npipeline_tag: audio-classification")
    assert "`yes`, `no`, `up`, `_silence_`, `_unknown_`" in card
    assert "synthetic" in card and "| val_accuracy |" in card
    extractor = AutoFeatureExtractor.from_pretrained(trained / "models/kws")
    assert extractor.max_duration_s == 0.5


def test_training_summary_holds_the_last_epoch(trained):
    summary = json.loads((trained / "metrics/training.json").read_text())
    with open(trained / "metrics/training.csv", newline="") as handle:
        last = list(csv.DictReader(handle))[-1]
    assert summary["epochs"] == 2
    assert summary["val_accuracy"] == round(float(last["val_accuracy"]), 6)


def test_class_weights_make_every_class_count_alike():
    labels = np.array([0] * 10 + [1] * 30 + [3] * 60)
    weights = train.class_weights(labels, 4)
    assert weights == {0: pytest.approx(2.5), 1: pytest.approx(100 / 120), 2: 0.0, 3: pytest.approx(100 / 240)}
    totals = [weights[label] * count for label, count in enumerate(np.bincount(labels, minlength=4)) if count]
    assert totals == pytest.approx([25.0] * 3)


def test_precision_policy_follows_the_device():
    assert train.precision_policy("off") == "float32"
    assert train.precision_policy("bf16") == "mixed_bfloat16" and train.precision_policy("fp16") == "mixed_float16"
    assert train.precision_policy("auto") == "float32", "no GPU here: auto trains in float32"


def test_a_bf16_training_step_runs(tmp_path):
    """Mixed precision is meant for GPUs; this checks the model and optimizer accept it at all."""
    import subprocess
    import sys

    script = (
        "import numpy as np, tf_keras as keras; from stages import optimization; from stages.model import build; "
        "from tests.conftest import TINY, repo_params; "
        "keras.mixed_precision.set_global_policy('mixed_bfloat16'); "
        "model = build({**repo_params()['model'], 'config': TINY['model.config']}, ['a', 'b']); "
        "settings = {**repo_params()['train'], 'epochs': 1}; "
        "model.compile(optimizer=optimization.optimizer(settings, 2), "
        "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)); "
        "x = {'input_values': np.random.default_rng(0).standard_normal((4, 8000)).astype('float32')}; "
        "history = model.fit(x, np.array([0, 1, 0, 1]), batch_size=2, epochs=1, verbose=0); "
        "assert np.isfinite(history.history['loss'][0]); print(model.wav2vec2.encoder.layer[0].attention.q_proj.compute_dtype)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "bfloat16"


def test_smoothed_crossentropy_is_plain_crossentropy_at_zero_and_spreads_the_target_above():
    labels = tf.constant([0, 2, 1])
    logits = tf.constant([[4.0, 0.0, -1.0], [0.5, 0.2, 3.0], [1.0, 1.0, 1.0]])
    plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    np.testing.assert_allclose(train.SmoothedCrossentropy(3, 0.0)(labels, logits), plain, rtol=1e-6)
    log_p = tf.nn.log_softmax(logits).numpy()
    targets = np.full((3, 3), 0.3 / 3) + 0.7 * np.eye(3)[[0, 2, 1]]
    np.testing.assert_allclose(train.SmoothedCrossentropy(3, 0.3)(labels, logits), -(targets * log_p).sum(1).mean(), rtol=1e-5)
