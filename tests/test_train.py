import csv
import json

import numpy as np
from transformers import AutoFeatureExtractor, TFAutoModelForAudioClassification

from stages.features import Split


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
