"""The keyword classifier: a Hugging Face TF Wav2Vec2 with a sequence-classification head.

`build` makes a small model from `model.config`, or loads `model.checkpoint` (a hub id or a
local directory) with a new head for the keywords. Most wav2vec2 checkpoints hold PyTorch
weights only; they are read here rather than through `from_pretrained(..., from_pt=True)`,
which in transformers 4.57.6 ignores `ignore_mismatched_sizes` (a new head fails with "cannot
reshape array"), reads `pytorch_model.bin` even where a `model.safetensors` lies beside it,
and needs torch for safetensors files too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tensorflow as tf
import tf_keras as keras
from safetensors import safe_open
from safetensors.tensorflow import load_file
from transformers import (
    AutoConfig,
    PretrainedConfig,
    TFAutoModelForAudioClassification,
    TFPreTrainedModel,
    TFWav2Vec2ForSequenceClassification,
    Wav2Vec2Config,
)
from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model
from transformers.models.wav2vec2.modeling_tf_wav2vec2 import (
    TFWav2Vec2GroupNormConvLayer,
    TFWav2Vec2LayerNormConvLayer,
    TFWav2Vec2MainLayer,
    TFWav2Vec2NoLayerNormConvLayer,
    TFWav2Vec2WeightNormConv1D,
    _compute_mask_indices,
)
from transformers.tf_utils import shape_list
from transformers.utils import (
    SAFE_WEIGHTS_INDEX_NAME,
    SAFE_WEIGHTS_NAME,
    TF2_WEIGHTS_INDEX_NAME,
    TF2_WEIGHTS_NAME,
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
    cached_file,
    has_file,
)
from transformers.utils.hub import get_checkpoint_shard_files

from stages.errors import PipelineError

TORCH = "torch==2.13.0"
"""The PyTorch release pinned in requirements.in (its CPU wheel)."""

KNOBS = {
    "hidden_dropout": "dropout.hidden",
    "attention_dropout": "dropout.attention",
    "activation_dropout": "dropout.activation",
    "feat_proj_dropout": "dropout.feat_proj",
    "final_dropout": "dropout.final",
    "classifier_proj_size": "classifier_proj_size",
    "use_weighted_layer_sum": "use_weighted_layer_sum",
    "mask_time_prob": "mask_time_prob",
    "mask_feature_prob": "mask_feature_prob",
    "layerdrop": "layerdrop",
}
"""Wav2Vec2Config argument → the key under params.yaml's `model` that sets it, for any checkpoint."""

DERIVED = {"apply_spec_augment": "mask_time_prob and model.mask_feature_prob"}
"""Wav2Vec2Config arguments that follow from another `model` key rather than having their own."""

WEIGHT_FILES = (
    SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME,
    TF2_WEIGHTS_NAME, TF2_WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME, WEIGHTS_INDEX_NAME,
)
"""Weight files in order of preference: safetensors (no code runs on load) before TF's h5,
and PyTorch's pickled `.bin` only when nothing else is there."""


def _normalize_kernel_in_compute_dtype(self: TFWav2Vec2WeightNormConv1D) -> None:
    """The positional convolution's weight-norm kernel, in the layer's compute dtype.

    transformers 4.57 keeps `weight_v` a plain float32 variable while `weight_g` is a Keras
    weight that mixed precision reads as bfloat16/float16, so every mixed-precision forward
    pass failed with "Input 'y' of 'Mul' Op has type bfloat16 that does not match type
    float32". In float32 this computes exactly what the original does.
    """
    weight_v = tf.cast(self.weight_v, self.compute_dtype)
    weight_g = tf.cast(self.weight_g, self.compute_dtype)
    self.kernel = tf.transpose(tf.nn.l2_normalize(weight_v, axis=self.kernel_norm_axes) * tf.transpose(weight_g))


TFWav2Vec2WeightNormConv1D._normalize_kernel = _normalize_kernel_in_compute_dtype


def _positional_conv_as_plain_convs(self: TFWav2Vec2WeightNormConv1D, inputs: tf.Tensor) -> tf.Tensor:
    """The positional convolution's grouped conv as `groups` plain convs, side by side.

    tf-keras runs every grouped Conv1D through an XLA-compiled function (its workaround for
    grouped convs on CPU), and XLA's CPU gradient of a grouped conv is very slow: for the
    wav2vec2-base positional conv (kernel 128, 16 groups) it took 6.8 s of a 10-20 s training
    step on 2 cores, where PyTorch's takes 0.3 s. Plain convs, one per group, give the same
    result (to float rounding) and a fast gradient, with or without oneDNN, inside or outside
    XLA, on CPU and GPU. The layer's variables, hence checkpoints, are unchanged.
    """
    self._normalize_kernel()
    padded = tf.pad(inputs, ((0, 0), (self.explicit_padding, self.explicit_padding), (0, 0)))
    kernel = tf.convert_to_tensor(self.kernel)
    if self.groups == 1:
        outputs = tf.nn.conv1d(padded, kernel, stride=1, padding="VALID")
    else:
        outputs = tf.concat(
            [tf.nn.conv1d(group, weights, stride=1, padding="VALID")
             for group, weights in zip(tf.split(padded, self.groups, axis=-1),
                                       tf.split(kernel, self.groups, axis=-1))],
            axis=-1,
        )
    return tf.nn.bias_add(outputs, self.bias)


TFWav2Vec2WeightNormConv1D.call = _positional_conv_as_plain_convs

FRAMED_CONV_MIN_CHANNELS = 256
"""Feature-encoder convs with this many input channels or more run as framed matmuls on CPUs."""


def _feature_conv(conv: keras.layers.Conv1D, inputs: tf.Tensor) -> tf.Tensor:
    """A feature-encoder conv; on CPUs, a wide one as a matmul over strided frames.

    oneDNN's gradient of a wide strided Conv1D is slow on CPUs: for wav2vec2-base's second
    conv (512 → 512 channels, kernel 3, stride 2, 3,199 steps, batch 8) forward + backward
    took 325 ms on 2 cores, the same as frames of the input times the kernel 182 ms, and
    PyTorch's conv 270 ms. Below 256 input channels oneDNN's conv is the faster one (128
    channels: 66 vs 93 ms), and on GPUs cuDNN's. Same weights, same result to float rounding.
    """
    kernel = conv.kernel
    if kernel.shape[1] < FRAMED_CONV_MIN_CHANNELS or tf.config.list_physical_devices("GPU"):
        return conv(inputs)
    frames = tf.signal.frame(inputs, conv.kernel_size[0], conv.strides[0], axis=1)
    outputs = tf.einsum("btkc,kcd->btd", frames, tf.cast(kernel, inputs.dtype))
    return tf.nn.bias_add(outputs, tf.cast(conv.bias, outputs.dtype)) if conv.use_bias else outputs


def _conv_layer_call(self: keras.layers.Layer, hidden_states: tf.Tensor) -> tf.Tensor:
    """transformers' feature-encoder layer (conv, optional norm, activation) with `_feature_conv`."""
    hidden_states = _feature_conv(self.conv, hidden_states)
    if hasattr(self, "layer_norm"):
        hidden_states = self.layer_norm(hidden_states)
    return self.activation(hidden_states)


def _reading_the_previous_layers_width(init: Any) -> Any:
    """A feature-encoder layer's `__init__` that builds its conv for the previous layer's width.

    transformers 4.57's TF layers take `conv_dim[layer_id]` input channels where the layer
    before gives `conv_dim[layer_id - 1]` (PyTorch's layers read the right one), so any config
    whose conv layers differ in width failed to build: "expected axis -1 of input shape to
    have value 48, but received input with shape (32, 1599, 32)".
    """
    def fixed(self: keras.layers.Layer, config: Wav2Vec2Config, layer_id: int = 0, **kwargs: Any) -> None:
        init(self, config, layer_id=layer_id, **kwargs)
        self.in_conv_dim = config.conv_dim[layer_id - 1] if layer_id > 0 else 1
    return fixed


for _layer in (TFWav2Vec2NoLayerNormConvLayer, TFWav2Vec2LayerNormConvLayer, TFWav2Vec2GroupNormConvLayer):
    _layer.call = _conv_layer_call
    _layer.__init__ = _reading_the_previous_layers_width(_layer.__init__)


def _spec_augment(self: TFWav2Vec2MainLayer, hidden_states: tf.Tensor,
                  mask_time_indices: tf.Tensor | None = None) -> tf.Tensor:
    """transformers' SpecAugment for the TF Wav2Vec2, with its feature-axis masks mended.

    In transformers 4.57 the TF version selects with the int32 feature mask itself, so training
    any config with `mask_feature_prob > 0` failed ("SelectV2 ... expected to be a bool
    tensor"), and its `tf.where` would keep the chosen channels and zero the others, the
    opposite of PyTorch's `hidden_states[mask_feature_indices] = 0`. Time masks are as before.
    """
    if not getattr(self.config, "apply_spec_augment", True):
        return hidden_states
    batch_size, sequence_length, hidden_size = shape_list(hidden_states)
    if mask_time_indices is None and self.config.mask_time_prob > 0:
        mask_time_indices = _compute_mask_indices((batch_size, sequence_length), mask_prob=self.config.mask_time_prob,
                                                  mask_length=self.config.mask_time_length, min_masks=2)
    if mask_time_indices is not None:
        hidden_states = tf.where(tf.cast(mask_time_indices[:, :, tf.newaxis], tf.bool),
                                 self.masked_spec_embed[tf.newaxis, tf.newaxis, :], hidden_states)
    if self.config.mask_feature_prob > 0:
        mask_feature_indices = _compute_mask_indices((batch_size, hidden_size), mask_prob=self.config.mask_feature_prob,
                                                     mask_length=self.config.mask_feature_length)
        hidden_states = tf.where(tf.cast(mask_feature_indices[:, tf.newaxis, :], tf.bool),
                                 tf.zeros_like(hidden_states), hidden_states)
    return hidden_states


TFWav2Vec2MainLayer._mask_hidden_states = _spec_augment


def knobs(model: dict[str, Any]) -> dict[str, Any]:
    """The fine-tuning settings of params.yaml's `model` section as Wav2Vec2Config arguments.

    SpecAugment is switched by its masking shares alone, so both at 0 turn it off rather than
    leaving a checkpoint's own `apply_spec_augment` in force.
    """
    arguments = {}
    for argument, dotted in KNOBS.items():
        value: Any = model
        for key in dotted.split("."):
            value = value[key]
        arguments[argument] = value
    arguments["apply_spec_augment"] = spec_augment(model)
    return arguments


def spec_augment(model: dict[str, Any]) -> bool:
    """Whether params.yaml's `model` section masks anything in training."""
    return model["mask_time_prob"] > 0 or model["mask_feature_prob"] > 0


def label_arguments(labels: list[str]) -> dict[str, Any]:
    """Config arguments that size the classification head and name its outputs."""
    return {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {label: i for i, label in enumerate(labels)},
    }


def small_config(arguments: dict[str, Any], labels: list[str], tuning: dict[str, Any]) -> Wav2Vec2Config:
    """A Wav2Vec2Config from `model.config` and the `tuning` knobs.

    Refuses keys transformers would silently ignore, and keys that the `model` section's own
    fine-tuning settings own, so no setting has two places that could disagree.
    """
    known = Wav2Vec2Config().to_dict()
    owners = {**KNOBS, **DERIVED}
    for key in arguments:
        if key not in known:
            raise PipelineError(f"params.yaml: model.config.{key}: not a Wav2Vec2Config argument")
        if key in owners:
            raise PipelineError(f"params.yaml: model.config.{key}: set by model.{owners[key]}, not in model.config")
    return Wav2Vec2Config(**arguments, **tuning, **label_arguments(labels))


def build(model: dict[str, Any], labels: list[str]) -> TFPreTrainedModel:
    """A fresh small model from `model.config`, or `model.checkpoint` with a new head for `labels`.

    The `model` section's fine-tuning settings (dropouts, SpecAugment, layerdrop, head size,
    weighted layer sum) apply to both; `freeze_feature_encoder` keeps the convolutional
    feature encoder's weights out of `trainable_variables`.
    """
    tuning = knobs(model)
    if model["checkpoint"]:
        classifier = from_checkpoint(model["checkpoint"], tuning, labels)
    else:
        classifier = TFWav2Vec2ForSequenceClassification(small_config(model["config"], labels, tuning))
    if model["freeze_feature_encoder"]:
        classifier.freeze_feature_encoder()
    return classifier


def from_checkpoint(checkpoint: str, tuning: dict[str, Any], labels: list[str]) -> TFPreTrainedModel:
    """Load a hub id or local directory, PyTorch or TF weights, replacing its head for `labels`.

    A checkpoint head of another size than the new one is dropped and the new one initialised.
    Transformers' OSErrors (unknown hub id, offline with nothing cached) become one-line
    errors naming `model.checkpoint`.
    """
    try:
        config = AutoConfig.from_pretrained(
            checkpoint, trust_remote_code=False, **tuning, **label_arguments(labels)
        )
        files = weight_files(checkpoint)
        if framework(files) == "pt":
            return with_pytorch_weights(config, pytorch_state_dict(checkpoint, files))
        return TFAutoModelForAudioClassification.from_pretrained(
            checkpoint, config=config, ignore_mismatched_sizes=True,
            use_safetensors=files[0].endswith(".safetensors"), trust_remote_code=False,
        )
    except OSError as error:
        raise PipelineError(f"params.yaml: model.checkpoint: {checkpoint!r}: {first_line(error)}") from None


def first_line(error: Exception) -> str:
    """An error's message cut to one line, for a one-line report."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def weight_files(checkpoint: str) -> list[str]:
    """Local paths of the checkpoint's weights (all shards), of the first kind in `WEIGHT_FILES`.

    `has_file` looks in a local directory, or for a hub id on the Hub, or in the Hugging Face
    cache when offline; `cached_file` then downloads what is not cached yet.
    """
    for name in WEIGHT_FILES:
        if has_file(checkpoint, name):
            found = cached_file(checkpoint, name)
            return get_checkpoint_shard_files(checkpoint, found)[0] if name.endswith(".index.json") else [found]
    raise PipelineError(
        f"params.yaml: model.checkpoint: {checkpoint!r}: holds none of {', '.join(WEIGHT_FILES)}"
        " (a hub id must be reachable, or in the Hugging Face cache when offline)"
    )


def framework(files: list[str]) -> str:
    """"pt" or "tf": who wrote the weights (a safetensors file records it in its metadata)."""
    if files[0].endswith(".h5"):
        return "tf"
    if files[0].endswith(".bin"):
        return "pt"
    with safe_open(files[0], framework="np") as weights:
        return (weights.metadata() or {}).get("format", "pt")


def pytorch_state_dict(checkpoint: str, files: list[str]) -> dict[str, tf.Tensor]:
    """PyTorch weights as TF tensors: safetensors without torch, a pickled `.bin` with it.

    A `.bin` is only read where the checkpoint has no safetensors file, and with
    `weights_only=True`, so loading it cannot run code. TF tensors rather than numpy arrays:
    transformers recognises a head of the wrong size by the TF error reshaping one raises.
    """
    if files[0].endswith(".safetensors"):
        return {name: array for file in files for name, array in load_file(file).items()}
    try:
        import torch
    except ImportError:
        raise PipelineError(
            f"params.yaml: model.checkpoint: {checkpoint!r} holds PyTorch weights only"
            f" ({Path(files[0]).name}); reading them needs PyTorch: pip install {TORCH}"
        ) from None
    state: dict[str, tf.Tensor] = {}
    for file in files:
        for name, tensor in torch.load(file, map_location="cpu", weights_only=True).items():
            state[name] = tf.constant((tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy())
    return state


def with_pytorch_weights(config: PretrainedConfig, state: dict[str, tf.Tensor]) -> TFPreTrainedModel:
    """The TF model for `config`, with every PyTorch weight whose name and shape fit loaded in.

    This is what `from_pretrained(from_pt=True)` does for a safetensors file, with the head's
    size mismatch allowed; heads a checkpoint lacks (a pre-training checkpoint has none) start
    newly initialised.
    """
    model = TFAutoModelForAudioClassification.from_config(config)
    return load_pytorch_state_dict_in_tf2_model(
        model, state, allow_missing_keys=True, ignore_mismatched_sizes=True,
        tf_to_pt_weight_rename=getattr(model, "tf_to_pt_weight_rename", None),
    )
