"""The model card (models/kws/README.md, Hugging Face format) written beside the weights."""

from __future__ import annotations

from typing import Any

import yaml

LIMITS = {
    "synthetic": (
        "Trained only on synthetic voices made offline (eSpeak NG, SVOX Pico, CMU Flite, Kokoro). "
        "Accuracy is measured on held-out *synthetic* voices; on real human speech a model trained "
        "this way scores lower (the project's README gives the real-voice figures). Train on real "
        "recordings before relying on it for people."
    ),
}


def render(params: dict[str, Any], labels: list[str], clips: dict[str, int], history: dict[str, list[float]]) -> str:
    """Markdown with YAML front matter: what the model is, what it was trained on, how it scored."""
    data, train = params["data"], params["train"]
    front = {
        "library_name": "transformers",
        "pipeline_tag": "audio-classification",
        "tags": ["keyword-spotting", "wav2vec2", "tensorflow", "speech-commands"],
        "language": ["en"],
    }
    base = params["model"]["checkpoint"] or "none: a small Wav2Vec2 trained from scratch (config below)"
    last = {name: values[-1] for name, values in history.items()}
    lines = [
        "---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
        "# Keyword spotter (Wav2Vec 2.0)", "",
        f"Classifies one-second 16 kHz clips into {len(labels)} classes: {', '.join(f'`{l}`' for l in labels)}.",
        "Made by the keyword-spotting DVC pipeline (`dvc repro`); the test-set report is in `metrics/metrics.json`.", "",
        "## Use", "", "```python",
        "from transformers import AutoFeatureExtractor, TFAutoModelForAudioClassification",
        'model = TFAutoModelForAudioClassification.from_pretrained("models/kws")',
        'extractor = AutoFeatureExtractor.from_pretrained("models/kws")', "```", "",
        "## Training data", "",
        f"- source: `{data['source']}`; clips cropped or padded to {data['max_duration_s']} s",
        f"- clips: {clips['train']} train, {clips['validation']} validation, {clips['test']} test, split by speaker",
        "", "## Training", "",
        f"- base checkpoint: {base}",
        f"- {train['epochs']} epochs, batch {train['batch_size']}, peak learning rate {train['learning_rate']}, "
        f"augmentation {train['augment']}, seed {params['seed']}",
        "", "## Results (last epoch)", "",
        "| metric | value |", "|---|---|",
        *(f"| {name} | {value:.4f} |" for name, value in last.items() if name != "epoch"),
        "", "## Intended use and limits", "",
        "Spotting a small fixed vocabulary in short clips, or in a stream through a sliding window. "
        "Not for open-vocabulary recognition or speaker identification.",
        "", LIMITS.get(data["source"], "Accuracy holds for recordings like the training data; check it on your own."), "",
    ]
    if not params["model"]["checkpoint"]:
        lines += ["## Model config", "", "```yaml", yaml.safe_dump(params["model"]["config"], sort_keys=False).strip(), "```", ""]
    return "\n".join(lines)
