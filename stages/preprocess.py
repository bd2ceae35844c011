"""Stage 3: decode, resample, crop and normalise every clip into arrays on disk.

Per split it writes input_values.npy (float32, clips × samples), labels.npy (int32) and,
only where the checkpoint's feature extractor returns one, attention_mask.npy (int8). Worker
processes decode chunks of clips ahead; this process normalises each chunk with the feature
extractor and appends it to the arrays, so memory stays bounded by a few chunks.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm
from transformers import AutoFeatureExtractor, Wav2Vec2FeatureExtractor

from stages import atomic, audio, manifest, params
from stages.arrays import RowWriter
from stages.cli import run
from stages.decode import decode_cropped
from stages.paths import FEATURES_DIR, LABELS_FILE, RAW_DIR, SPLITS, SPLITS_DIR

CHUNK = 256
CHUNKS_AHEAD = 2
"""Decoded chunks waiting per worker, at most: enough to keep the workers busy."""


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


def decoded_chunks(rows: list[dict[str, str]], length: int, workers: Executor, ahead: int) -> Iterator[list[np.ndarray]]:
    """The rows' clips decoded by `workers`, chunk by chunk in order, at most `ahead` chunks early."""
    pending: deque = deque()
    for start in range(0, len(rows), CHUNK):
        pending.append(workers.submit(decode_cropped, [RAW_DIR / row["path"] for row in rows[start : start + CHUNK]], length))
        if len(pending) > ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def decoding_workers(processes: int) -> ProcessPoolExecutor:
    """A pool of processes forked from this one. They only decode (soundfile and numpy), so
    TensorFlow having been imported here does not matter; fresh processes ("spawn",
    "forkserver") import the main module again, seconds per worker and per split."""
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"))


def write_split(rows: list[dict[str, str]], labels: list[str], extractor: Wav2Vec2FeatureExtractor,
                length: int, out: Path, name: str, processes: int = os.cpu_count() or 1) -> None:
    """Write the split's arrays, chunk by chunk, decoding in `processes` worker processes."""
    out.mkdir(parents=True)
    ids = {label: i for i, label in enumerate(labels)}
    np.save(out / "labels.npy", np.array([ids[row["label"]] for row in rows], dtype=np.int32))
    with (
        RowWriter(out / "input_values.npy", np.float32, (len(rows), length)) as values,
        RowWriter(out / "attention_mask.npy", np.int8, (len(rows), length)) if extractor.return_attention_mask else nullcontext() as mask,
        decoding_workers(processes) as workers,
        tqdm(total=len(rows), desc=f"preprocess {name}", unit="clip") as progress,
    ):
        for clips in decoded_chunks(rows, length, workers, CHUNKS_AHEAD * processes):
            features = extractor(
                clips, sampling_rate=audio.SAMPLE_RATE, padding="max_length", max_length=length,
                return_attention_mask=extractor.return_attention_mask, return_tensors="np",
            )
            values.write(features["input_values"])
            if mask is not None:
                mask.write(features["attention_mask"])
            progress.update(len(clips))


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
