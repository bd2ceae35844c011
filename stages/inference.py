"""A trained model with its feature extractor: raw waveforms in, class probabilities out.

Used by evaluate (extra test sets), train (watch sets) and predict, so all prepare audio
exactly as preprocess did for training: crop to the trained clip length, then the feature
extractor's normalisation and padding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from transformers import AutoFeatureExtractor, FeatureExtractionMixin, TFAutoModelForAudioClassification, TFPreTrainedModel

from stages import audio
from stages import model as _mends  # noqa: F401  its mends to transformers' TF Wav2Vec2 apply to every model loaded here
from stages.errors import PipelineError


class Classifier:
    """A model with its feature extractor, ready to score waveforms: a saved one (`load`) or
    one still training (the watch sets of `stages.watch`)."""

    def __init__(self, model: TFPreTrainedModel, extractor: FeatureExtractionMixin) -> None:
        self.model, self.extractor = model, extractor
        config = model.config
        self.labels = [config.id2label[i] for i in range(config.num_labels)]
        self.clip_samples = int(round(getattr(extractor, "max_duration_s", 1.0) * audio.SAMPLE_RATE))
        self._softmax = tf.function(lambda inputs: tf.nn.softmax(self.model(inputs, training=False).logits),
                                    reduce_retracing=True)

    @classmethod
    def load(cls, model_dir: Path) -> Classifier:
        """models/kws, or any directory in that layout."""
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").exists():
            raise PipelineError(f"{model_dir}: no trained model here (run `dvc repro` first)")
        return cls(TFAutoModelForAudioClassification.from_pretrained(model_dir),
                   AutoFeatureExtractor.from_pretrained(model_dir))

    def score(self, inputs: dict[str, np.ndarray | tf.Tensor]) -> np.ndarray:
        """Softmax probabilities for a batch of model inputs, through a traced graph: calling
        the Keras model eagerly costs about six times as much per batch."""
        return self._softmax(inputs).numpy()

    def inputs(self, clips: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Model inputs for 16 kHz mono clips, as preprocess makes them."""
        features = self.extractor(
            [audio.crop(clip, self.clip_samples) for clip in clips],
            sampling_rate=audio.SAMPLE_RATE, padding="max_length", max_length=self.clip_samples,
            return_attention_mask=self.extractor.return_attention_mask, return_tensors="np",
        )
        return {key: features[key] for key in ("input_values", "attention_mask") if key in features}

    def probabilities(self, clips: list[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """Softmax probabilities, clips × labels."""
        batches = [self.score(self.inputs(clips[start : start + batch_size])) for start in range(0, len(clips), batch_size)]
        return np.concatenate(batches) if batches else np.zeros((0, len(self.labels)), dtype=np.float32)
