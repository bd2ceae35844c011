import numpy as np
import pytest

from stages import model
from stages.errors import PipelineError
from tests.conftest import TINY


def test_small_model_has_the_labels_and_classifies():
    labels = ["yes", "no", "_silence_"]
    classifier = model.build({"checkpoint": "", "config": TINY["model.config"]}, labels)
    assert classifier.config.id2label == {0: "yes", 1: "no", 2: "_silence_"}
    assert classifier.config.label2id == {"yes": 0, "no": 1, "_silence_": 2}
    logits = classifier(np.zeros((2, 8000), dtype=np.float32)).logits
    assert logits.shape == (2, 3)


def test_unknown_config_key_is_named():
    with pytest.raises(PipelineError, match="model.config.hiden_size: not a Wav2Vec2Config argument"):
        model.small_config({"hiden_size": 16}, ["yes"])


def test_checkpoint_directory_gets_a_new_head(tmp_path):
    source = model.build({"checkpoint": "", "config": TINY["model.config"]}, ["a", "b"])
    source(np.zeros((1, 8000), dtype=np.float32))
    source.save_pretrained(tmp_path)
    loaded = model.build({"checkpoint": str(tmp_path), "config": {}}, ["yes", "no", "up", "down"])
    assert loaded.config.num_labels == 4
    assert loaded(np.zeros((1, 8000), dtype=np.float32)).logits.shape == (1, 4)
    np.testing.assert_array_equal(
        loaded.wav2vec2.feature_extractor.conv_layers[0].conv.kernel.numpy(),
        source.wav2vec2.feature_extractor.conv_layers[0].conv.kernel.numpy(),
    )
