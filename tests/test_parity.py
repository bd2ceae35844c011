"""PyTorch parity: wav2vec2 checkpoints with PyTorch weights load into our TF model, and back.

Tiny random `Wav2Vec2ForSequenceClassification` checkpoints stand in for hub checkpoints
such as facebook/wav2vec2-base (group norm, no attention mask) and the large/XLS-R family
(layer norm, attention mask), which no machine here can download.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import (
    AutoModelForAudioClassification,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2ForSequenceClassification,
)

from stages import audio, model, preprocess, pytorch
from stages.errors import PipelineError
from tests.conftest import REPO, SAMPLE
from tests.test_model import model_params

LABELS = ["yes", "no", "up"]
PROJECTION = 16
"""The checkpoints' classifier_proj_size: `model.classifier_proj_size` must match to keep their head."""
TOLERANCE = 1e-4
HEAD_SCALE = 100.0
"""transformers' random PyTorch head gives logits of about 0.01, which 1e-4 would barely test;
scaled, they are about 1, as the TF head's (Glorot) initialisation gives."""

NORMS = {
    "group": {"feat_extract_norm": "group", "do_stable_layer_norm": False},
    "layer": {"feat_extract_norm": "layer", "do_stable_layer_norm": True},
}
"""The two wav2vec2 families; the layer-norm one takes an attention mask, the group-norm one none."""

WEIGHTS = {
    "safetensors": {},
    "bin": {"safe_serialization": False},
    "sharded": {"max_shard_size": "20KB"},
}
"""How each stand-in checkpoint is saved: `save_pretrained` arguments."""


def pytorch_checkpoint(directory: Path, norm: str, **save: Any) -> Path:
    """A tiny random PyTorch classifier for `LABELS`, saved with its feature extractor; its conv
    layers differ in width (transformers' TF layers once built them for the wrong one)."""
    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=[16, 24, 32], conv_stride=[5, 4, 4], conv_kernel=[10, 4, 4],
        num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, classifier_proj_size=PROJECTION,
        num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id={w: i for i, w in enumerate(LABELS)},
        **NORMS[norm],
    )
    pt_model = Wav2Vec2ForSequenceClassification(config)
    with torch.no_grad():
        pt_model.classifier.weight.mul_(HEAD_SCALE)
    pt_model.save_pretrained(directory, **save)
    Wav2Vec2FeatureExtractor(return_attention_mask=norm == "layer").save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """(norm, weights) → a checkpoint directory; the same random weights for every format of a norm."""
    root = tmp_path_factory.mktemp("checkpoints")
    return {
        (norm, weights): pytorch_checkpoint(root / f"{norm}-{weights}", norm, **save)
        for norm in NORMS for weights, save in WEIGHTS.items()
    }


def clips(padded: bool) -> list[np.ndarray]:
    """Four real Speech Commands clips: all one second, or of three different lengths."""
    files = {"yes": 0, "no": 0, "up": 0}
    if padded:
        files = {"yes": 2, "no": 2, "up": 1}  # 11,606, 14,118 and 16,000 samples
    chosen = [audio.read(sorted((SAMPLE / word).glob("*.wav"))[index]) for word, index in files.items()]
    chosen.append(audio.read(sorted((SAMPLE / "up").glob("*.wav"))[0]))
    assert len({len(clip) for clip in chosen}) == (3 if padded else 1)
    return chosen


def inputs(checkpoint: Path, padded: bool) -> dict[str, np.ndarray]:
    """What the checkpoint's own feature extractor makes of the clips, padded to the longest."""
    extractor = Wav2Vec2FeatureExtractor.from_pretrained(checkpoint)
    features = extractor(clips(padded), sampling_rate=audio.SAMPLE_RATE, padding=True, return_tensors="np")
    assert ("attention_mask" in features) == extractor.return_attention_mask
    return dict(features)


def load(checkpoint: Path):
    """`model.build` for the checkpoint's own labels and head size, so its head is kept."""
    return model.build(model_params(checkpoint=str(checkpoint), classifier_proj_size=PROJECTION), LABELS)


def pytorch_logits(pt_model: torch.nn.Module, features: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return pt_model.eval()(**{key: torch.from_numpy(value) for key, value in features.items()}).logits.numpy()


def tf_logits(tf_model, features: dict[str, np.ndarray]) -> np.ndarray:
    return tf_model(features, training=False).logits.numpy()


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("norm", NORMS)
def test_pytorch_checkpoint_loads_with_pytorchs_logits(checkpoints, norm, weights):
    checkpoint = checkpoints[norm, weights]
    assert (checkpoint / "model.safetensors.index.json").is_file() == (weights == "sharded")
    tf_model = load(checkpoint)
    pt_model = Wav2Vec2ForSequenceClassification.from_pretrained(checkpoint)
    np.testing.assert_array_equal(tf_model.classifier.kernel.numpy(), pt_model.classifier.weight.detach().numpy().T)
    np.testing.assert_array_equal(tf_model.projector.kernel.numpy(), pt_model.projector.weight.detach().numpy().T)
    for padded in (False, True):
        features = inputs(checkpoint, padded)
        np.testing.assert_allclose(tf_logits(tf_model, features), pytorch_logits(pt_model, features),
                                   rtol=0, atol=TOLERANCE, err_msg=f"padded={padded}")


def test_safetensors_is_read_rather_than_a_pickle_beside_it(checkpoints, tmp_path):
    checkpoint = checkpoints["group", "safetensors"]
    for file in checkpoint.iterdir():
        (tmp_path / file.name).write_bytes(file.read_bytes())
    (tmp_path / "pytorch_model.bin").write_bytes(b"not a pickle: reading this file fails")
    assert load(tmp_path).config.num_labels == 3


NO_TORCH_SCRIPT = """
import sys
sys.modules["torch"] = None  # as if PyTorch were not installed: `import torch` raises ImportError
from stages import model
from stages.errors import PipelineError
from tests.test_model import model_params
for checkpoint in sys.argv[1:]:
    try:
        print("labels:", model.build(model_params(checkpoint=checkpoint), ["yes", "no", "up"]).config.num_labels)
    except PipelineError as error:
        print("error:", error)
"""


def test_without_torch_safetensors_load_and_a_pickle_says_what_to_install(checkpoints, tmp_path):
    """Run where torch cannot be imported from the start, as transformers then sees no PyTorch."""
    result = subprocess.run(
        [sys.executable, "-c", NO_TORCH_SCRIPT, str(checkpoints["layer", "safetensors"]), str(checkpoints["group", "bin"])],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == [
        "labels: 3",
        f"error: params.yaml: model.checkpoint: '{checkpoints['group', 'bin']}' holds PyTorch weights only"
        " (pytorch_model.bin); reading them needs PyTorch: pip install torch==2.13.0",
    ]


HUB_SCRIPT = """
import sys
import numpy as np
from stages import model
from tests.test_model import model_params
features = dict(np.load(sys.argv[1]))
for number, checkpoint in enumerate(sys.argv[2:]):
    classifier = model.build(model_params(checkpoint=checkpoint, classifier_proj_size=16), ["yes", "no", "up"])  # PROJECTION, LABELS
    np.save(f"{sys.argv[1]}.{number}.npy", classifier(features, training=False).logits.numpy())
"""


def test_hub_ids_load_from_the_cache_offline(checkpoints, tmp_path):
    """A hub id resolves through the Hugging Face cache with HF_HUB_OFFLINE=1, as after a download."""
    cache = tmp_path / "hub"
    commit = "0" * 40
    for weights in ("safetensors", "bin"):
        repo = cache / f"models--local--tiny-{weights}"
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text(commit)
        (repo / "snapshots" / commit).mkdir(parents=True)
        for file in checkpoints["group", weights].iterdir():
            (repo / "snapshots" / commit / file.name).write_bytes(file.read_bytes())
    features = inputs(checkpoints["group", "safetensors"], padded=True)
    np.savez(tmp_path / "features.npz", **features)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", HUB_SCRIPT, str(tmp_path / "features.npz"), "local/tiny-safetensors", "local/tiny-bin"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    expected = pytorch_logits(Wav2Vec2ForSequenceClassification.from_pretrained(checkpoints["group", "bin"]), features)
    for number in range(2):
        np.testing.assert_allclose(np.load(tmp_path / f"features.npz.{number}.npy"), expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize(("norm", "attention_mask"), [("group", False), ("layer", True)])
def test_preprocess_takes_the_checkpoints_feature_extractor(checkpoints, norm, attention_mask):
    checkpoint = checkpoints[norm, "safetensors"]
    extractor = preprocess.feature_extractor(model_params(checkpoint=str(checkpoint)), max_duration_s=1.0)
    assert extractor.return_attention_mask is attention_mask


def saved_tf_model(directory: Path, source: dict[str, Any]):
    """A model built by `model.build`, saved as the train stage saves models/kws."""
    tf_model = model.build(model_params(**source), LABELS)
    tf_model(np.zeros((1, 8000), dtype=np.float32))
    tf_model.save_pretrained(directory)
    if source.get("checkpoint"):
        Wav2Vec2FeatureExtractor.from_pretrained(source["checkpoint"]).save_pretrained(directory)
    else:
        Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(directory)
    return tf_model


TF_MODELS = {
    "small": {},
    "small, weighted layer sum, SpecAugment": {"use_weighted_layer_sum": True, "mask_time_prob": 0.05,
                                               "classifier_proj_size": 24},
    "from group-norm checkpoint": {"checkpoint": "group"},
}


@pytest.mark.parametrize("name", TF_MODELS)
def test_our_tf_model_converts_to_pytorch_with_its_logits(checkpoints, tmp_path, name):
    source = dict(TF_MODELS[name])
    if "checkpoint" in source:
        source["checkpoint"] = str(checkpoints[source["checkpoint"], "safetensors"])
    tf_model = saved_tf_model(tmp_path / "tf", source)
    pytorch.main([str(tmp_path / "tf"), str(tmp_path / "pt")])
    assert (tmp_path / "pt" / "model.safetensors").is_file()
    pt_model, info = AutoModelForAudioClassification.from_pretrained(tmp_path / "pt", output_loading_info=True)
    assert not any(info.values()), info
    for padded in (False, True):
        features = inputs(tmp_path / "pt", padded)
        np.testing.assert_allclose(pytorch_logits(pt_model, features), tf_logits(tf_model, features),
                                   rtol=0, atol=TOLERANCE, err_msg=f"padded={padded}")


def test_conversion_needs_a_model_directory(tmp_path):
    with pytest.raises(PipelineError, match="no config.json here"):
        pytorch.to_pytorch(tmp_path, tmp_path / "pt")


def test_from_tf_is_still_broken_in_this_transformers(tmp_path):
    """transformers issue 37786: when this fails, `stages.pytorch`'s workaround can go.

    `from_tf=True` loads without an error but leaves the weights on the "meta" device (empty),
    so the model fails on its first input.
    """
    saved_tf_model(tmp_path / "tf", {})
    with pytest.warns(UserWarning, match="to a meta parameter in the current model, which is a no-op"):
        pt_model = AutoModelForAudioClassification.from_pretrained(tmp_path / "tf", from_tf=True)
    with pytest.raises(RuntimeError, match="Tensor on device meta is not on the expected device cpu"):
        pytorch_logits(pt_model, {"input_values": np.zeros((1, 8000), dtype=np.float32)})
