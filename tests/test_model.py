import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from stages import model
from stages.errors import PipelineError
from tests.conftest import TINY

DEFAULTS: dict[str, Any] = {
    "checkpoint": "",
    "return_attention_mask": False,
    "freeze_feature_encoder": False,
    "use_weighted_layer_sum": False,
    "classifier_proj_size": 256,
    "dropout": {"hidden": 0.1, "attention": 0.1, "activation": 0.1, "feat_proj": 0.0, "final": 0.1},
    "mask_time_prob": 0.0,
    "mask_feature_prob": 0.0,
    "layerdrop": 0.0,
    "config": TINY["model.config"],
}
"""params.yaml's `model` section with its default fine-tuning settings and the tiny architecture."""


def model_params(**overrides: Any) -> dict[str, Any]:
    """A full `model` section: `DEFAULTS` with top-level keys replaced."""
    return {**copy.deepcopy(DEFAULTS), **overrides}


def saved_checkpoint(directory: Path, labels: list[str], **overrides: Any) -> Path:
    """A tiny TF model saved with `save_pretrained`, as a local checkpoint."""
    source = model.build(model_params(**overrides), labels)
    source(np.zeros((1, 8000), dtype=np.float32))
    source.save_pretrained(directory)
    return directory


def test_small_model_has_the_labels_and_classifies():
    labels = ["yes", "no", "_silence_"]
    classifier = model.build(model_params(), labels)
    assert classifier.config.id2label == {0: "yes", 1: "no", 2: "_silence_"}
    assert classifier.config.label2id == {"yes": 0, "no": 1, "_silence_": 2}
    logits = classifier(np.zeros((2, 8000), dtype=np.float32)).logits
    assert logits.shape == (2, 3)


def test_unknown_config_key_is_named():
    with pytest.raises(PipelineError, match="model.config.hiden_size: not a Wav2Vec2Config argument"):
        model.small_config({"hiden_size": 16}, ["yes"], model.knobs(DEFAULTS))


@pytest.mark.parametrize(("key", "owner"), [
    ("layerdrop", "model.layerdrop"),
    ("hidden_dropout", "model.dropout.hidden"),
    ("apply_spec_augment", "model.mask_time_prob and model.mask_feature_prob"),
    ("mask_feature_prob", "model.mask_feature_prob"),
])
def test_config_keys_the_model_section_owns_are_refused(key, owner):
    with pytest.raises(PipelineError, match=f"model.config.{key}: set by {owner}"):
        model.small_config({**TINY["model.config"], key: 0.0}, ["yes"], model.knobs(DEFAULTS))


def test_checkpoint_directory_gets_a_new_head(tmp_path):
    saved_checkpoint(tmp_path, ["a", "b"])
    source = model.build(model_params(checkpoint=str(tmp_path)), ["a", "b"])
    loaded = model.build(model_params(checkpoint=str(tmp_path), config={}), ["yes", "no", "up", "down"])
    assert loaded.config.num_labels == 4
    assert loaded(np.zeros((1, 8000), dtype=np.float32)).logits.shape == (1, 4)
    np.testing.assert_array_equal(
        loaded.wav2vec2.feature_extractor.conv_layers[0].conv.kernel.numpy(),
        source.wav2vec2.feature_extractor.conv_layers[0].conv.kernel.numpy(),
    )


TUNED = {
    "dropout": {"hidden": 0.11, "attention": 0.12, "activation": 0.13, "feat_proj": 0.14, "final": 0.15},
    "classifier_proj_size": 24,
    "use_weighted_layer_sum": True,
    "mask_time_prob": 0.05,
    "mask_feature_prob": 0.1,
    "layerdrop": 0.2,
}
TUNED_CONFIG = {
    "hidden_dropout": 0.11, "attention_dropout": 0.12, "activation_dropout": 0.13, "feat_proj_dropout": 0.14,
    "final_dropout": 0.15, "classifier_proj_size": 24, "use_weighted_layer_sum": True, "mask_time_prob": 0.05,
    "mask_feature_prob": 0.1, "apply_spec_augment": True, "layerdrop": 0.2,
}


def tuned_config(built) -> dict[str, Any]:
    return {key: getattr(built.config, key) for key in TUNED_CONFIG}


def test_each_setting_lands_in_the_small_models_config():
    assert tuned_config(model.build(model_params(**TUNED), ["yes", "no"])) == TUNED_CONFIG


def test_each_setting_overrides_the_checkpoints_config(tmp_path):
    saved_checkpoint(tmp_path, ["yes", "no"])
    loaded = model.build(model_params(checkpoint=str(tmp_path), **TUNED), ["yes", "no"])
    assert tuned_config(loaded) == TUNED_CONFIG
    assert loaded.classifier.kernel.shape == (24, 2)


def test_no_time_masking_turns_spec_augment_off_even_where_the_checkpoint_had_it(tmp_path):
    saved_checkpoint(tmp_path, ["yes", "no"], mask_time_prob=0.05)
    loaded = model.build(model_params(checkpoint=str(tmp_path), mask_time_prob=0.0), ["yes", "no"])
    assert loaded.config.mask_time_prob == 0.0
    assert loaded.config.apply_spec_augment is False


def one_training_step(classifier) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Conv feature encoder and classifier weights before and after two Adam steps."""
    encoder = classifier.wav2vec2.feature_extractor
    classifier(np.zeros((1, 8000), dtype=np.float32))
    before = [w.numpy() for w in encoder.weights], [w.numpy() for w in classifier.classifier.weights]
    classifier.compile(optimizer=tf_keras.optimizers.Adam(1e-2),
                       loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    classifier.fit(rng.standard_normal((4, 8000)).astype(np.float32), np.array([0, 1, 0, 1]),
                   batch_size=2, epochs=1, verbose=0)
    after = [w.numpy() for w in encoder.weights], [w.numpy() for w in classifier.classifier.weights]
    return before, after


def changed(before: list[np.ndarray], after: list[np.ndarray]) -> bool:
    return any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))


def test_frozen_feature_encoder_is_not_trained():
    classifier = model.build(model_params(freeze_feature_encoder=True), ["yes", "no"])
    (encoder_before, head_before), (encoder_after, head_after) = one_training_step(classifier)
    trainable = {id(w) for w in classifier.trainable_variables}
    assert encoder_before and not any(id(w) in trainable for w in classifier.wav2vec2.feature_extractor.weights)
    assert not changed(encoder_before, encoder_after)
    assert changed(head_before, head_after)


def test_unfrozen_feature_encoder_is_trained():
    classifier = model.build(model_params(), ["yes", "no"])
    (encoder_before, head_before), (encoder_after, head_after) = one_training_step(classifier)
    assert changed(encoder_before, encoder_after)
    assert changed(head_before, head_after)


def test_frozen_checkpoint_keeps_its_encoder_frozen(tmp_path):
    saved_checkpoint(tmp_path, ["yes", "no"])
    loaded = model.build(model_params(checkpoint=str(tmp_path), freeze_feature_encoder=True), ["yes", "no"])
    loaded(np.zeros((1, 8000), dtype=np.float32))
    trainable = {id(w) for w in loaded.trainable_variables}
    assert not any(id(w) in trainable for w in loaded.wav2vec2.feature_extractor.weights)
    assert any(id(w) in trainable for w in loaded.classifier.weights)


def test_missing_checkpoint_is_one_line_naming_the_key(tmp_path):
    with pytest.raises(PipelineError, match=r"model.checkpoint: '.*nowhere'"):
        model.build(model_params(checkpoint=str(tmp_path / "nowhere")), ["yes"])


def test_checkpoint_without_weights_is_named(tmp_path):
    saved_checkpoint(tmp_path, ["yes", "no"])
    (tmp_path / "tf_model.h5").unlink()
    with pytest.raises(PipelineError, match="holds none of model.safetensors"):
        model.build(model_params(checkpoint=str(tmp_path)), ["yes"])


@pytest.mark.parametrize("groups", [1, 4])
def test_the_positional_conv_and_its_gradient_equal_the_grouped_conv(groups):
    """stages.model computes transformers' weight-norm grouped conv as one plain conv per group."""
    import tensorflow as tf
    from transformers.models.wav2vec2.modeling_tf_wav2vec2 import TFWav2Vec2WeightNormConv1D

    layer = TFWav2Vec2WeightNormConv1D(filters=8, kernel_size=6, groups=groups, explicit_padding=3)
    inputs = tf.random.stateless_normal((2, 13, 8), seed=(0, 1))
    with tf.GradientTape(persistent=True) as tape:
        ours = layer(inputs)
        padded = tf.pad(inputs, ((0, 0), (3, 3), (0, 0)))
        reference = tf_keras.layers.Conv1D.call(layer, padded)
    assert ours.shape == reference.shape == (2, 14, 8)
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), atol=1e-5)
    for ours_gradient, reference_gradient in zip(tape.gradient(ours, layer.trainable_weights),
                                                 tape.gradient(reference, layer.trainable_weights)):
        np.testing.assert_allclose(ours_gradient.numpy(), reference_gradient.numpy(), atol=1e-4)


@pytest.mark.parametrize("channels, framed", [(model.FRAMED_CONV_MIN_CHANNELS, True), (8, False)])
@pytest.mark.parametrize("norm", ["none", "layer", "group"])
def test_a_feature_encoder_layer_and_its_gradient_equal_the_keras_conv(channels, framed, norm):
    """Wide feature-encoder convs run as framed matmuls: same outputs and gradients as Conv1D."""
    import tensorflow as tf
    from transformers import Wav2Vec2Config
    from transformers.models.wav2vec2 import modeling_tf_wav2vec2 as tfw2v

    config = Wav2Vec2Config(conv_dim=[channels, channels], conv_kernel=[3, 3], conv_stride=[2, 2], conv_bias=True)
    kind = {"none": tfw2v.TFWav2Vec2NoLayerNormConvLayer, "layer": tfw2v.TFWav2Vec2LayerNormConvLayer,
            "group": tfw2v.TFWav2Vec2GroupNormConvLayer}[norm]
    layer = kind(config, layer_id=1)
    layer.build((None, None, channels))
    layer.conv.bias.assign(tf.random.stateless_normal((channels,), seed=(0, 2)))
    inputs = tf.random.stateless_normal((2, 41, channels), seed=(0, 1))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(inputs)
        ours = layer(inputs)
        hidden = layer.conv(inputs)
        reference = layer.activation(layer.layer_norm(hidden) if norm != "none" else hidden)
    assert ours.shape == reference.shape == (2, 20, channels)
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), atol=1e-5)
    sources = [inputs, *layer.trainable_weights]
    for ours_gradient, reference_gradient in zip(tape.gradient(ours, sources), tape.gradient(reference, sources)):
        np.testing.assert_allclose(ours_gradient.numpy(), reference_gradient.numpy(), atol=1e-4)
    traced = tf.function(layer.call).get_concrete_function(tf.TensorSpec((2, 41, channels))).graph
    assert any(op.type == "Einsum" for op in traced.get_operations()) is framed


def test_feature_masks_alone_zero_whole_channels_and_train():
    config = {**TINY["model.config"], "mask_feature_length": 2}
    classifier = model.build(model_params(mask_feature_prob=0.5, config=config), ["yes", "no"])
    assert classifier.config.apply_spec_augment
    masked = classifier.wav2vec2._mask_hidden_states(tf.ones([8, 6, 16])).numpy()
    zeroed = (masked == 0).all(axis=1)
    assert ((masked == 0) | (masked == 1)).all()
    assert ((masked == 0).any(axis=1) == zeroed).all()
    assert 0.2 < zeroed.mean() < 0.8
    classifier.compile(optimizer="adam", loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss = classifier.train_on_batch(np.random.default_rng(0).standard_normal((4, 8000)).astype(np.float32),
                                     np.array([0, 1, 0, 1]))
    assert np.isfinite(loss)
