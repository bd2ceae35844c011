"""Stage 3: decode, resample, crop and normalise every clip into memory-mapped arrays.

Per split it writes input_values.npy (float32, clips × samples), labels.npy (int32) and,
only where the checkpoint's feature extractor returns one, attention_mask.npy (int8). The
arrays are filled in chunks through `open_memmap`, so memory stays bounded by the chunk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap
from tqdm import tqdm
from transformers import AutoFeatureExtractor, Wav2Vec2FeatureExtractor

from stages import atomic, audio, manifest, params
from stages.cli import run
from stages.decode import decode
from stages.paths import FEATURES_DIR, LABELS_FILE, RAW_DIR, SPLITS, SPLITS_DIR

CHUNK = 256


def feature_extractor(model: dict[str, Any], max_duration_s: float) -> Wav2Vec2FeatureExtractor:
    """The checkpoint's own feature extractor, or a normalising one for the small model.

    It also records the clip length, so whoever loads the model crops input as training did.
    """
    if model["checkpoint"]:
        extractor = AutoFeatureExtractor.from_pretrained(model["checkpoint"])
    else:
        extractor = Wav2Vec2FeatureExtractor(
            feature_size=1,
            sampling_rate=audio.SAMPLE_RATE,
            padding_value=0.0,
            do_normalize=True,
            return_attention_mask=model["return_attention_mask"],
        )
    extractor.max_duration_s = max_duration_s
    return extractor


def load_clip(path: Path, length: int) -> np.ndarray:
    """Decode one clip to 16 kHz mono, cropped to `length` samples."""
    return audio.crop(decode(path), length)


def write_split(rows: list[dict[str, str]], labels: list[str], extractor: Wav2Vec2FeatureExtractor,
                length: int, out: Path, name: str) -> None:
    """Fill the split's arrays chunk by chunk."""
    out.mkdir(parents=True)
    ids = {label: i for i, label in enumerate(labels)}
    values = open_memmap(out / "input_values.npy", mode="w+", dtype=np.float32, shape=(len(rows), length))
    mask = None
    if extractor.return_attention_mask:
        mask = open_memmap(out / "attention_mask.npy", mode="w+", dtype=np.int8, shape=(len(rows), length))
    np.save(out / "labels.npy", np.array([ids[row["label"]] for row in rows], dtype=np.int32))
    with tqdm(total=len(rows), desc=f"preprocess {name}", unit="clip") as progress:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            clips = [load_clip(RAW_DIR / row["path"], length) for row in chunk]
            features = extractor(
                clips, sampling_rate=audio.SAMPLE_RATE, padding="max_length", max_length=length,
                return_attention_mask=extractor.return_attention_mask, return_tensors="np",
            )
            values[start : start + len(chunk)] = features["input_values"]
            if mask is not None:
                mask[start : start + len(chunk)] = features["attention_mask"]
            progress.update(len(chunk))
    values.flush()
    if mask is not None:
        mask.flush()


def main() -> None:
    """Write data/features/<split>/*.npy, labels.json and the feature extractor's config."""
    config = params.load()
    labels = params.class_names(config["data"])
    length = int(round(config["data"]["max_duration_s"] * audio.SAMPLE_RATE))
    extractor = feature_extractor(config["model"], config["data"]["max_duration_s"])
    with atomic.output_dir(FEATURES_DIR) as out:
        for name in SPLITS:
            rows = manifest.read(SPLITS_DIR / f"{name}.csv")
            write_split(rows, labels, extractor, length, out / name, name)
        (out / LABELS_FILE.name).write_text(json.dumps({"id2label": dict(enumerate(labels))}, indent=2) + "\n")
        extractor.save_pretrained(out)


if __name__ == "__main__":
    run(main)
