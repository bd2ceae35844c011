"""Export models/kws for serving: a TF SavedModel that takes raw waveforms, and TFLite models.

The SavedModel's graph does all of `Classifier`'s work (crop or pad to the trained clip
length, the feature extractor's normalisation, the model, softmax), so a server or a phone
needs no Python preprocessing and cannot drift from what the model was trained on. The
TFLite models are converted from that SavedModel, with builtin ops only (no Flex delegate to
ship): float, float16 weights, and dynamic-range quantised (int8 weights; its int8 kernels
also quantise activations on the fly, which can cost accuracy: see `TFLITE_MODELS`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import tensorflow as tf
from transformers import Wav2Vec2FeatureExtractor

from stages import atomic
from stages.cli import run
from stages.errors import PipelineError
from stages.inference import Classifier
from stages.paths import EXPORT_DIR, MODEL_DIR

SIGNATURE = "serving_default"
NORM_EPSILON = 1e-7
"""Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm's constant."""


def model_inputs(waveforms: tf.Tensor, clip_samples: int, extractor: Wav2Vec2FeatureExtractor) -> dict[str, tf.Tensor]:
    """`Classifier.inputs` as TF ops, for a batch of same-length 16 kHz waveforms.

    Longer clips are cropped around their centre (`audio.crop`), shorter ones padded on the
    right. With an attention mask the extractor normalises over the real samples and sets the
    padding to `padding_value`; without one it pads first and normalises the padded clip, zeros
    included (transformers 4.57 `Wav2Vec2FeatureExtractor.__call__`).
    """
    if extractor.padding_side != "right":
        raise PipelineError(f"feature extractor pads on the {extractor.padding_side}; export supports right only")
    length = tf.shape(waveforms)[1]
    start = tf.maximum(length - clip_samples, 0) // 2
    kept = waveforms[:, start : start + clip_samples]
    real = tf.shape(kept)[1]
    padding = [[0, 0], [0, clip_samples - real]]
    if extractor.return_attention_mask:
        if extractor.do_normalize:
            kept = _normalise(kept)
        values = tf.pad(kept, padding, constant_values=extractor.padding_value)
        mask = tf.sequence_mask(tf.fill(tf.shape(kept)[:1], real), clip_samples, dtype=tf.int32)
        return {"input_values": _static(values, clip_samples), "attention_mask": mask}
    values = tf.pad(kept, padding, constant_values=extractor.padding_value)
    if extractor.do_normalize:
        values = _normalise(values)
    return {"input_values": _static(values, clip_samples)}


def _static(values: tf.Tensor, clip_samples: int) -> tf.Tensor:
    """The same tensor with its length known while tracing (a reshape: TFLite has no EnsureShape)."""
    return tf.reshape(values, [-1, clip_samples])


def _normalise(values: tf.Tensor) -> tf.Tensor:
    mean, variance = tf.nn.moments(values, axes=[1], keepdims=True)
    return (values - mean) / tf.sqrt(variance + NORM_EPSILON)


class Serving(tf.Module):
    """The SavedModel's contents: the Keras model, its labels and one serving function."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.model = classifier.model
        self.extractor = classifier.extractor
        self.clip_samples = classifier.clip_samples
        self.label_names = tf.constant(classifier.labels)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveforms")])
    def serve(self, waveforms: tf.Tensor) -> dict[str, tf.Tensor]:
        """Probabilities and top label for 16 kHz mono waveforms, all the same length."""
        inputs = model_inputs(waveforms, self.clip_samples, self.extractor)
        probabilities = tf.nn.softmax(self.model(inputs, training=False).logits)
        return {"probabilities": probabilities,
                "labels": tf.gather(self.label_names, tf.argmax(probabilities, axis=-1))}


TFLITE_MODELS = {"model.tflite": None, "model_float16.tflite": "float16", "model_dynamic_range.tflite": "dynamic_range"}
"""File name → weight quantisation. float16 halves the size and stays within 0.003 of the float
model on the default model; dynamic-range (int8 weights) is smallest, but on the default model
its conv-layer rounding is amplified by the layer norm after the feature encoder and it changes
the top label of about a fifth of real clips: measure before shipping it."""


def to_tflite(saved_model: Path, quantisation: str | None) -> bytes:
    """Convert the serving signature with TFLite builtin ops only."""
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantisation:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantisation == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        return converter.convert()
    except Exception as error:  # TFLite's ConverterError is not public API
        reason = str(error).splitlines()[0]
        raise PipelineError(f"{saved_model}: no TFLite conversion with builtin ops only ({reason})") from None


def size(path: Path) -> int:
    """Bytes in a file, or in all files under a directory."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def main(argv: list[str] | None = None) -> None:
    """Write <out>/saved_model/, model.tflite, model_dynamic_range.tflite and labels.txt."""
    parser = argparse.ArgumentParser(prog="python -m stages.export", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL_DIR, help="trained model directory (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=EXPORT_DIR, help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    classifier = Classifier(args.model)
    with atomic.output_dir(args.out) as out:
        serving = Serving(classifier)
        tf.saved_model.save(serving, str(out / "saved_model"), signatures={SIGNATURE: serving.serve})
        for name, quantisation in TFLITE_MODELS.items():
            (out / name).write_bytes(to_tflite(out / "saved_model", quantisation))
        (out / "labels.txt").write_text("".join(f"{label}\n" for label in classifier.labels))
    for name in ("saved_model", *TFLITE_MODELS, "labels.txt"):
        print(f"export: {args.out / name}: {size(args.out / name):,} bytes")


if __name__ == "__main__":
    run(main)
