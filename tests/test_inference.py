from __future__ import annotations

import subprocess
import sys

from transformers import Wav2Vec2FeatureExtractor

from tests.conftest import REPO, TINY
from tests.test_model import saved_checkpoint

TRAINING_CALL = """
import sys
import numpy as np
from stages.inference import Classifier
classifier = Classifier.load(sys.argv[1])
clips = [np.random.default_rng(0).standard_normal(8000).astype(np.float32)] * 2
print(classifier.model(classifier.inputs(clips), training=True).logits.shape)
"""


def test_loading_applies_the_models_mends(tmp_path):
    """Export traces the model in training mode too, in a process that imports stages.inference
    and not stages.model; a model with SpecAugment's feature masks failed there."""
    config = {**TINY["model.config"], "mask_feature_length": 2}
    saved_checkpoint(tmp_path, ["yes", "no"], mask_feature_prob=0.5, config=config)
    Wav2Vec2FeatureExtractor(return_attention_mask=False).save_pretrained(tmp_path)
    result = subprocess.run([sys.executable, "-c", TRAINING_CALL, str(tmp_path)], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("(2, 2)")
