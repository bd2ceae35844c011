"""Benchmark 2: preprocess throughput, WAV files on disk → arrays, ours ÷ the seed recipe's.

Ours is the preprocess stage's `write_split` (worker processes, one per core, each decoding a
chunk with soundfile, applying the feature extractor and writing the chunk's rows in place in
the .npy files). The seed recipe's way is a `datasets.Dataset` of paths and labels, `.map(batched=True)`
reading each clip with soundfile and applying the same `Wav2Vec2FeatureExtractor` (padding to
max_length, truncation), then `.with_format("numpy")[:]` to materialise the arrays in memory.
The seed recipe runs its map in one process; its time with `num_proc` = the machine's cores is
recorded too. Each way first runs once on a few clips, untimed (imports done, and the arrays
compared: the ways must agree); then the ways take turns, repeat by repeat, each writing fresh
output.

Beside them, where the time goes, each part alone in one process: the floor (the same .npy
file written from memory, nothing decoded: no way can beat it), decoding every clip with the
stages' `decode` (soundfile), and the feature extractor on clips already in memory. Decoding
plus extracting ÷ the cores bounds any way that uses these two libraries.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from datasets import Dataset, disable_progress_bars
from transformers import Wav2Vec2FeatureExtractor

from bench.clips import Pool
from bench.project import repo_params
from bench.timing import median, rounded, seconds
from stages import audio, preprocess
from stages.arrays import RowWriter
from stages.decode import decode_cropped

CLIP_SAMPLES = audio.SAMPLE_RATE
"""params.yaml's data.max_duration_s (1 s) at 16 kHz."""
WARM_UP_CLIPS = 16


def ours(pool: Pool, rows: list[dict[str, str]], labels: list[str], extractor: Wav2Vec2FeatureExtractor,
         out: Path) -> np.ndarray:
    """The preprocess stage's writer (it reads data/raw relative to the working directory)."""
    with contextlib.chdir(pool.root):
        preprocess.write_split(rows, labels, extractor, CLIP_SAMPLES, out, "bench")
    return np.load(out / "input_values.npy", mmap_mode="r")  # not read back: not timed


def arrays_alone(rows: int, out: Path) -> None:
    """The input_values file of `rows` clips written from a chunk of zeros: the output's cost alone."""
    out.mkdir(parents=True)
    chunk = np.zeros((preprocess.CHUNK, CLIP_SAMPLES), np.float32)
    with RowWriter(out / "input_values.npy", np.float32, (rows, CLIP_SAMPLES)) as values:
        for start in range(0, rows, len(chunk)):
            values.write(chunk[: rows - start])


def extract_alone(clips: list[np.ndarray], extractor: Wav2Vec2FeatureExtractor) -> None:
    """The feature extractor over decoded clips in preprocess's chunks, nothing else."""
    for start in range(0, len(clips), preprocess.CHUNK):
        preprocess.features_of(clips[start : start + preprocess.CHUNK], extractor, CLIP_SAMPLES)


def seed_recipe(paths: list[str], label_ids: list[int], extractor: Wav2Vec2FeatureExtractor,
                processes: int | None) -> dict[str, np.ndarray]:
    """A Dataset of paths mapped to features in batches, materialised as numpy arrays."""

    def features(batch: dict[str, list]) -> dict[str, Any]:
        clips = [sf.read(path, dtype="float32")[0] for path in batch["path"]]
        return extractor(clips, sampling_rate=audio.SAMPLE_RATE, padding="max_length", max_length=CLIP_SAMPLES,
                         truncation=True)

    dataset = Dataset.from_dict({"path": paths, "label": label_ids})
    dataset = dataset.map(features, batched=True, remove_columns=["path"], num_proc=processes)
    return dataset.with_format("numpy")[:]


def run(pool: Pool, clips: int, repeats: int, work: Path) -> dict[str, Any]:
    """Clips per second each way, and the seed recipe's time ÷ ours."""
    disable_progress_bars()
    config = repo_params()
    rows = pool.rows[:clips]
    labels = sorted({row["label"] for row in rows})
    ids = {label: index for index, label in enumerate(labels)}
    paths = [str(pool.raw / row["path"]) for row in rows]
    label_ids = [ids[row["label"]] for row in rows]
    extractor = preprocess.feature_extractor(config["model"], config["data"]["max_duration_s"])
    cores = os.cpu_count() or 1
    ways = {
        "ours": lambda out, n: ours(pool, rows[:n], labels, extractor, out),
        "seed": lambda out, n: seed_recipe(paths[:n], label_ids[:n], extractor, None)["input_values"],
        f"seed_num_proc_{cores}": lambda out, n: seed_recipe(paths[:n], label_ids[:n], extractor, cores)["input_values"],
    }
    warm_up = {name: np.array(way(work / f"preprocess-{name}-warm-up", WARM_UP_CLIPS)) for name, way in ways.items()}
    decoded = decode_cropped([Path(path) for path in paths], CLIP_SAMPLES)
    ways["floor"] = lambda out, n: arrays_alone(n, out)
    ways["decode_alone"] = lambda out, n: decode_cropped([Path(path) for path in paths[:n]], CLIP_SAMPLES)
    ways["extractor_alone"] = lambda out, n: extract_alone(decoded[:n], extractor)
    times: dict[str, list[float]] = {name: [] for name in ways}
    for repeat in range(repeats):
        for name, way in ways.items():
            out = work / f"preprocess-{name}-{repeat}"
            times[name].append(seconds(lambda: way(out, len(rows))))
            shutil.rmtree(out, ignore_errors=True)
    medians = {name: median(values) for name, values in times.items()}
    return {
        "clips": len(rows), "repeats": repeats,
        "seconds": medians, "seconds_all": {name: rounded(values) for name, values in times.items()},
        "clips_per_s": {name: round(len(rows) / value, 1) for name, value in medians.items()},
        "ours_processes": os.cpu_count() or 1,
        "max_abs_difference": max(float(np.abs(values - warm_up["ours"]).max()) for values in warm_up.values()),
        "speedup_vs_seed": round(medians["seed"] / medians["ours"], 3),
        "speedup_bound": round(medians["seed"] / medians["floor"], 3),
        "speedup_bound_with_these_libraries": round(
            medians["seed"] * cores / (medians["decode_alone"] + medians["extractor_alone"]), 3),
    }
