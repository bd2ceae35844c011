"""Export models/kws for serving: a TF SavedModel that takes raw waveforms, and TFLite models.

The SavedModel's graph does all of `Classifier`'s work (crop or pad to the trained clip
length, the feature extractor's normalisation, the model, softmax), so a server or a phone
needs no Python preprocessing and cannot drift from what the model was trained on. The
TFLite models are converted from that SavedModel, with builtin ops only (no Flex delegate to
ship): float, float16 weights, and dynamic-range quantised (int8 weights; see `TFLITE_MODELS`).
`pytorch/` is the same model for transformers' PyTorch-only tools (`stages.pytorch`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as tflite_schema
from tensorflow.lite.tools import flatbuffer_utils
from transformers import Wav2Vec2FeatureExtractor

from stages import atomic, pytorch
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
"""File name → weight quantisation. float16 halves the size; dynamic-range stores int8 weights
(a third of the size), with the convolutions computing in float (`float_convolutions`)."""


def to_tflite(saved_model: Path, quantisation: str | None) -> bytes:
    """Convert the serving signature with TFLite builtin ops only."""
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantisation:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantisation == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        model = converter.convert()
    except Exception as error:  # TFLite's ConverterError is not public API
        reason = str(error).splitlines()[0]
        raise PipelineError(f"{saved_model}: no TFLite conversion with builtin ops only ({reason})") from None
    return float_convolutions(model) if quantisation == "dynamic_range" else model


def float_convolutions(model: bytes) -> bytes:
    """The same TFLite model with each int8 convolution filter dequantised once at load time.

    Dynamic-range kernels also quantise their input activations, per tensor, on the fly. In the
    conv feature encoder that rounds quiet frames to almost nothing, and the layer norm after it
    divides those frames by their tiny spread: on the default model a fifth of real clips changed
    their top label. Fed float filters (TFLite's DEQUANTIZE, as float16 models do), the
    convolutions compute in float, the file keeps int8 weights, and the transformer's
    fully-connected layers stay dynamic-range.
    """
    flatbuffer = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    dequantize = _opcode(flatbuffer, tflite_schema.BuiltinOperator.DEQUANTIZE)
    for graph in flatbuffer.subgraphs:
        operators = []
        for operator in graph.operators:
            code = flatbuffer.operatorCodes[operator.opcodeIndex]
            filter_index = operator.inputs[1] if len(operator.inputs) > 1 else -1
            if (max(code.builtinCode, code.deprecatedBuiltinCode) == tflite_schema.BuiltinOperator.CONV_2D
                    and graph.tensors[filter_index].type == tflite_schema.TensorType.INT8):
                weights = graph.tensors[filter_index]
                dequantized = tflite_schema.TensorT()
                dequantized.name, dequantized.shape = weights.name + b"/dequantized", weights.shape
                dequantized.type, dequantized.buffer = tflite_schema.TensorType.FLOAT32, 0
                graph.tensors.append(dequantized)
                load = tflite_schema.OperatorT()
                load.opcodeIndex, load.inputs, load.outputs = dequantize, [filter_index], [len(graph.tensors) - 1]
                operators.append(load)
                operator.inputs[1] = len(graph.tensors) - 1
            operators.append(operator)
        graph.operators = operators
    return bytes(flatbuffer_utils.convert_object_to_bytearray(flatbuffer))


def _opcode(flatbuffer: tflite_schema.ModelT, builtin: int) -> int:
    """The index of an operator code in the model, added if the model has none."""
    for index, code in enumerate(flatbuffer.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return index
    code = tflite_schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
    flatbuffer.operatorCodes.append(code)
    return len(flatbuffer.operatorCodes) - 1


def size(path: Path) -> int:
    """Bytes in a file, or in all files under a directory."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def main(argv: list[str] | None = None) -> None:
    """Write <out>/saved_model/, the TFLite models, pytorch/ and labels.txt."""
    parser = argparse.ArgumentParser(prog="python -m stages.export", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL_DIR, help="trained model directory (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=EXPORT_DIR, help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    classifier = Classifier.load(args.model)
    with atomic.output_dir(args.out) as out:
        serving = Serving(classifier)
        tf.saved_model.save(serving, str(out / "saved_model"), signatures={SIGNATURE: serving.serve})
        for name, quantisation in TFLITE_MODELS.items():
            (out / name).write_bytes(to_tflite(out / "saved_model", quantisation))
        (out / "labels.txt").write_text("".join(f"{label}\n" for label in classifier.labels))
        pytorch.to_pytorch(args.model, out / "pytorch")
    for name in ("saved_model", *TFLITE_MODELS, "pytorch", "labels.txt"):
        print(f"export: {args.out / name}: {size(args.out / name):,} bytes")


if __name__ == "__main__":
    run(main)
