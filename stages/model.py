"""The keyword classifier: a Hugging Face TF Wav2Vec2 with a sequence-classification head."""

from __future__ import annotations

from typing import Any

from transformers import (
    TFAutoModelForAudioClassification,
    TFPreTrainedModel,
    TFWav2Vec2ForSequenceClassification,
    Wav2Vec2Config,
)

from stages.errors import PipelineError


def small_config(arguments: dict[str, Any], labels: list[str]) -> Wav2Vec2Config:
    """A Wav2Vec2Config from `model.config`, refusing keys transformers would silently ignore."""
    known = Wav2Vec2Config().to_dict()
    for key in arguments:
        if key not in known:
            raise PipelineError(f"params.yaml: model.config.{key}: not a Wav2Vec2Config argument")
    return Wav2Vec2Config(
        **arguments,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )


def build(model: dict[str, Any], labels: list[str]) -> TFPreTrainedModel:
    """A fresh small model from `model.config`, or `model.checkpoint` with a new head for `labels`."""
    if not model["checkpoint"]:
        return TFWav2Vec2ForSequenceClassification(small_config(model["config"], labels))
    return TFAutoModelForAudioClassification.from_pretrained(
        model["checkpoint"],
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        ignore_mismatched_sizes=True,
    )
