from __future__ import annotations

import contextlib
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as tflite_schema
from tensorflow.lite.tools import flatbuffer_utils

from stages import audio, export, preprocess
from stages.errors import PipelineError
from stages.inference import Classifier
from stages.model import build
from tests.conftest import TINY, repo_params

pytestmark = pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
"""TF 2.21 still ships the interpreter; ai_edge_litert, its successor, is not a dependency."""

TOLERANCES = {"saved_model": 1e-5, "model.tflite": 1e-5, "model_float16.tflite": 0.01, "model_dynamic_range.tflite": 0.05}
"""Largest difference from the Keras model's probabilities: float graphs differ only by rounding;
dynamic-range quantisation stores weights as int8."""
NEAR_TIE = 0.01
"""A top-two gap under which int8 weights may swap the top label: the tiny test model is barely
trained, and 38 of the 266 sample clips are that close (the closest 0.00006 apart)."""


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory) -> tuple[Path, str]:
    """The trained tiny model exported, and what the stage printed."""
    out = tmp_path_factory.mktemp("export") / "export"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        export.main(["--model", str(trained / "models/kws"), "--out", str(out)])
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def classifier(trained) -> Classifier:
    return Classifier.load(trained / "models/kws")


@pytest.fixture(scope="module")
def clips(sample, classifier) -> list[np.ndarray]:
    """Every sample recording (1 s words, 15 s noise: all longer than the 0.5 s the model takes), one
    exactly as long and one shorter."""
    recordings = [audio.read(path) for path in sorted(sample.rglob("*.wav"))]
    assert all(len(clip) > classifier.clip_samples for clip in recordings)
    word = recordings[-1]
    return recordings + [word[4_000 : 4_000 + classifier.clip_samples], word[5_000:8_000]]


def run(path: Path, batches: list[np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Probabilities and top labels from an exported SavedModel or TFLite model, batch by batch."""
    if path.is_dir():
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        outputs = [{key: value.numpy() for key, value in serve(waveforms=tf.constant(batch)).items()}
                   for batch in batches]
    else:
        runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("serving_default")
        outputs = [runner(waveforms=batch) for batch in batches]
    return (np.concatenate([output["probabilities"] for output in outputs]),
            [label.decode() for output in outputs for label in output["labels"]])


@pytest.mark.parametrize("artefact", list(TOLERANCES))
def test_exported_models_agree_with_keras(exported, classifier, clips, artefact):
    probabilities, labels = run(exported[0] / artefact, [clip[None] for clip in clips])
    expected = classifier.probabilities(clips)
    assert probabilities.shape == expected.shape == (len(clips), 5)
    assert np.abs(probabilities - expected).max() <= TOLERANCES[artefact]
    swapped = probabilities.argmax(axis=1) != expected.argmax(axis=1)
    if artefact == "model_dynamic_range.tflite":
        ranked = np.sort(expected[swapped], axis=1)
        assert (ranked[:, -1] - ranked[:, -2] < NEAR_TIE).all() and swapped.mean() < 0.02
    else:
        assert not swapped.any()
    assert labels == [classifier.labels[i] for i in probabilities.argmax(axis=1)]


@pytest.mark.parametrize("artefact", ["saved_model", "model.tflite"])
def test_a_batch_scores_like_its_clips_one_by_one(exported, classifier, clips, artefact):
    batch = np.stack([clip for clip in clips if len(clip) == audio.SAMPLE_RATE][:4])
    probabilities, labels = run(exported[0] / artefact, [batch])
    assert probabilities.shape == (4, 5) and len(labels) == 4
    assert np.abs(probabilities - classifier.probabilities(list(batch))).max() <= 1e-5


def test_labels_file_sizes_and_no_partial_output(exported, classifier):
    out, printed = exported
    assert (out / "labels.txt").read_text() == "yes\nno\nup\n_silence_\n_unknown_\n"
    assert (out / "labels.txt").read_text().split() == classifier.labels
    for name in ("saved_model", "model.tflite", "model_float16.tflite", "model_dynamic_range.tflite", "pytorch",
                 "labels.txt"):
        assert f"export: {out / name}: {export.size(out / name):,} bytes" in printed
    assert (out / "saved_model" / "saved_model.pb").is_file()
    assert export.size(out / "model_dynamic_range.tflite") < export.size(out / "model.tflite")
    assert not out.with_name("export.partial").exists()


def test_pytorch_export_loads_plainly_and_gives_the_same_logits(exported, classifier, clips):
    import torch
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    directory = exported[0] / "pytorch"
    model = AutoModelForAudioClassification.from_pretrained(directory).eval()
    extractor = AutoFeatureExtractor.from_pretrained(directory)
    batch = [clip[: classifier.clip_samples] for clip in clips[:8] if len(clip) >= classifier.clip_samples]
    inputs = extractor(batch, sampling_rate=16_000, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits.numpy()
    expected = classifier.model(classifier.inputs(batch), training=False).logits.numpy()
    assert model.config.id2label == classifier.model.config.id2label
    assert np.abs(logits - expected).max() <= 1e-4


def test_dynamic_range_convolutions_read_dequantised_filters(tmp_path):
    """The conv encoder computes in float from int8-stored filters; dense layers stay dynamic-range.

    The default model's shapes (random weights): the tiny test model's layers are too small for
    the converter to quantise."""
    model = build(repo_params()["model"], ["a", "b", "c"])
    model(model.dummy_inputs)
    model.save_pretrained(tmp_path / "kws")
    preprocess.feature_extractor({"checkpoint": "", "return_attention_mask": False}, 0.5).save_pretrained(tmp_path / "kws")
    serving = export.Serving(Classifier.load(tmp_path / "kws"))
    tf.saved_model.save(serving, str(tmp_path / "saved_model"), signatures={export.SIGNATURE: serving.serve})
    (tmp_path / "model.tflite").write_bytes(export.to_tflite(tmp_path / "saved_model", "dynamic_range"))
    model = flatbuffer_utils.read_model(str(tmp_path / "model.tflite"))
    graph = model.subgraphs[0]
    producers = {int(output): operator for operator in graph.operators for output in operator.outputs}
    kinds = {}
    for operator in graph.operators:
        kind = flatbuffer_utils.opcode_to_name(model, operator.opcodeIndex)
        if kind in ("CONV_2D", "FULLY_CONNECTED"):
            kinds.setdefault(kind, []).append(graph.tensors[operator.inputs[1]].type)
        if kind == "CONV_2D":
            loader = producers.get(int(operator.inputs[1]))
            if loader is not None:
                assert flatbuffer_utils.opcode_to_name(model, loader.opcodeIndex) == "DEQUANTIZE"
                assert graph.tensors[loader.inputs[0]].type == tflite_schema.TensorType.INT8
    assert set(kinds["CONV_2D"]) == {tflite_schema.TensorType.FLOAT32}
    assert tflite_schema.TensorType.INT8 in kinds["FULLY_CONNECTED"]


@pytest.mark.parametrize("attention_mask, normalise", [(False, True), (True, True), (False, False), (True, False)])
@pytest.mark.parametrize("length", [3_000, 8_000, 12_345])
def test_model_inputs_are_the_feature_extractors(attention_mask, normalise, length):
    extractor = preprocess.feature_extractor({"checkpoint": "", "return_attention_mask": attention_mask}, 0.5)
    extractor.do_normalize = normalise
    rng = np.random.default_rng(length)
    waveforms = (0.05 + 0.2 * rng.standard_normal((3, length))).astype(np.float32)
    waveforms[:, length // 2 :] *= 3
    expected = Classifier.inputs(SimpleNamespace(extractor=extractor, clip_samples=8_000), list(waveforms))
    got = export.model_inputs(tf.constant(waveforms), 8_000, extractor)
    assert set(got) == set(expected) == ({"input_values", "attention_mask"} if attention_mask else {"input_values"})
    np.testing.assert_allclose(got["input_values"].numpy(), expected["input_values"], atol=2e-5)
    if attention_mask:
        np.testing.assert_array_equal(got["attention_mask"].numpy(), expected["attention_mask"])


def test_serving_passes_the_attention_mask(tmp_path):
    model = build({**repo_params()["model"], "config": TINY["model.config"]}, ["a", "b", "c"])
    model(model.dummy_inputs)
    model.save_pretrained(tmp_path)
    preprocess.feature_extractor({"checkpoint": "", "return_attention_mask": True}, 0.5).save_pretrained(tmp_path)
    masked = Classifier.load(tmp_path)
    serving = export.Serving(masked)
    waveforms = np.random.default_rng(0).standard_normal((2, 3_000)).astype(np.float32)
    expected = masked.probabilities(list(waveforms))
    unmasked = tf.nn.softmax(masked.model(masked.inputs(list(waveforms))["input_values"]).logits).numpy()
    assert np.abs(unmasked - expected).max() > 1e-3, "the mask should matter for a padded clip"
    assert np.abs(serving.serve(tf.constant(waveforms))["probabilities"].numpy() - expected).max() <= 1e-5


def test_left_padding_extractors_are_refused():
    extractor = preprocess.feature_extractor({"checkpoint": "", "return_attention_mask": False}, 0.5)
    extractor.padding_side = "left"
    with pytest.raises(PipelineError, match="pads on the left"):
        export.model_inputs(tf.zeros([1, 100]), 8_000, extractor)
