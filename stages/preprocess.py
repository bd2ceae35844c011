"""Stage 3: decode, resample, crop and normalise every clip into arrays on disk.

Per split it writes input_values.npy (float32, clips × samples), labels.npy (int32) and,
only where the checkpoint's feature extractor returns one, attention_mask.npy (int8). Worker
processes, one per core, each take a chunk of clips at a time: decode, apply the feature
extractor, and write the chunk's rows in place in the arrays. No clip passes through this
process, so memory stays bounded by a chunk per worker and both cores do all of the work.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm
from transformers import AutoFeatureExtractor, Wav2Vec2FeatureExtractor

from stages import atomic, audio, manifest, params
from stages.arrays import RowSlots, RowWriter
from stages.cli import run
from stages.decode import decode_cropped
from stages.paths import FEATURES_DIR, LABELS_FILE, RAW_DIR, SPLITS, SPLITS_DIR

CHUNK = 256
"""Clips per worker task."""


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


def features_of(clips: list[np.ndarray], extractor: Wav2Vec2FeatureExtractor, length: int) -> dict[str, np.ndarray]:
    """The extractor's input values (and attention mask, if it returns one), padded to `length`."""
    return extractor(clips, sampling_rate=audio.SAMPLE_RATE, padding="max_length", max_length=length,
                     return_attention_mask=extractor.return_attention_mask, return_tensors="np")


def chunk_features(paths: list[Path], length: int, extractor: Wav2Vec2FeatureExtractor, start: int,
                   values: RowSlots, mask: RowSlots | None) -> int:
    """Decode and normalise a chunk of clips, and write them as rows `start`, … of the arrays;
    return the number of clips. Runs in a worker process."""
    clips = decode_cropped(paths, length)
    features = features_of(clips, extractor, length)
    values.put(start, features["input_values"])
    if mask is not None:
        mask.put(start, features["attention_mask"])
    return len(clips)


def workers(processes: int, extractor: Wav2Vec2FeatureExtractor) -> ProcessPoolExecutor:
    """A pool of processes forked from this one. The extractor runs once here first: its first
    call imports TensorFlow (to recognise TF tensors), seconds that each worker would pay
    again. Fresh processes ("spawn", "forkserver") would import the main module again too."""
    extractor([np.zeros(1, np.float32)], sampling_rate=audio.SAMPLE_RATE, return_tensors="np")
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"))


def write_split(rows: list[dict[str, str]], labels: list[str], extractor: Wav2Vec2FeatureExtractor,
                length: int, out: Path, name: str, processes: int = os.cpu_count() or 1) -> None:
    """Write the split's arrays, a chunk of clips per task of `processes` worker processes."""
    out.mkdir(parents=True)
    ids = {label: i for i, label in enumerate(labels)}
    np.save(out / "labels.npy", np.array([ids[row["label"]] for row in rows], dtype=np.int32))
    with (
        RowWriter(out / "input_values.npy", np.float32, (len(rows), length)) as values,
        RowWriter(out / "attention_mask.npy", np.int8, (len(rows), length)) if extractor.return_attention_mask else nullcontext() as mask,
        workers(processes, extractor) as pool,
        tqdm(total=len(rows), desc=f"preprocess {name}", unit="clip") as progress,
    ):
        tasks = [pool.submit(chunk_features, [RAW_DIR / row["path"] for row in rows[start : start + CHUNK]], length,
                             extractor, start, values.slots, mask.slots if mask is not None else None)
                 for start in range(0, len(rows), CHUNK)]
        for task in as_completed(tasks):
            if task.exception():
                for waiting in tasks:
                    waiting.cancel()
            done = task.result()
            values.filled(done)
            if mask is not None:
                mask.filled(done)
            progress.update(done)


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
