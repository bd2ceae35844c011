"""Benchmark 5: inference latency and throughput, Keras vs SavedModel vs TFLite (float).

For each model config a random-init classifier is saved as the train stage saves one
(`save_pretrained` + the preprocess stage's feature extractor), then scored three ways on
one-second 16 kHz waveforms, each way doing all the work from waveform to probabilities:
Keras through `stages.inference.Classifier` (what predict and evaluate use), the export
stage's SavedModel (`stages.export.Serving`), and its float TFLite conversion
(`stages.export.to_tflite`, run by `tf.lite.Interpreter` with the benchmark's thread count).
Latency is the median of single-clip calls; throughput is clips per second in batches of 32.
Each way's probabilities are compared with Keras', to show the three compute the same thing.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from bench.clips import clip
from bench.project import labels, repo_params
from bench.timing import median, rounded, seconds
from stages import export, preprocess
from stages.inference import Classifier
from stages.model import build

BATCH = 32
WARM_UP_CALLS = 2

Scorer = Callable[[np.ndarray], np.ndarray]
"""Waveforms (batch × samples) → probabilities (batch × labels)."""


def saved_classifier(model_config: dict[str, Any] | None, directory: Path) -> Classifier:
    """A random-init model of `model_config` (None: params.yaml's), saved as train saves one."""
    config = repo_params() if model_config is None else repo_params({"model.config": model_config})
    model = build(config["model"], labels(config))
    model.build_in_name_scope()
    model.save_pretrained(directory)
    preprocess.feature_extractor(config["model"], config["data"]["max_duration_s"]).save_pretrained(directory)
    return Classifier.load(directory)


def scorers(classifier: Classifier, directory: Path, threads: int) -> tuple[dict[str, Scorer], dict[str, float]]:
    """The three ways to score waveforms, and the seconds taken to export and convert."""
    saved_model = directory / "saved_model"
    serving = export.Serving(classifier)
    export_s = seconds(lambda: tf.saved_model.save(serving, str(saved_model),
                                                   signatures={export.SIGNATURE: serving.serve}))
    serve = tf.saved_model.load(str(saved_model)).signatures[export.SIGNATURE]
    converted: list[bytes] = []
    convert_s = seconds(lambda: converted.append(export.to_tflite(saved_model, None)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        interpreter = tf.lite.Interpreter(model_content=converted[0], num_threads=threads)
    runner = interpreter.get_signature_runner(export.SIGNATURE)
    ways = {
        "keras": lambda waves: classifier.probabilities(list(waves), BATCH),
        "saved_model": lambda waves: serve(waveforms=tf.constant(waves))["probabilities"].numpy(),
        "tflite": lambda waves: runner(waveforms=waves)["probabilities"],
    }
    return ways, {"saved_model_export_s": round(export_s, 2), "tflite_convert_s": round(convert_s, 2),
                  "tflite_bytes": len(converted[0])}


def measure(ways: dict[str, Scorer], latency_repeats: int, throughput_repeats: int) -> dict[str, Any]:
    """Median latency (batch 1) and throughput (batch 32) of each way, the ways taking turns."""
    rng = np.random.default_rng(0)
    batch = np.stack([clip(rng) for _ in range(BATCH)])
    reference = ways["keras"](batch)
    difference = {name: float(np.abs(way(batch) - reference).max()) for name, way in ways.items()}
    for way in ways.values():
        for _ in range(WARM_UP_CALLS):
            way(batch[:1])
    single: dict[str, list[float]] = {name: [] for name in ways}
    for index in range(latency_repeats):
        for name, way in ways.items():
            single[name].append(seconds(lambda: way(batch[index % BATCH:][:1])))
    batched: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(throughput_repeats):
        for name, way in ways.items():
            batched[name].append(seconds(lambda: way(batch)))
    return {
        "latency_ms": {name: round(1000 * median(times), 3) for name, times in single.items()},
        "throughput_clips_per_s": {name: round(BATCH / median(times), 1) for name, times in batched.items()},
        "latency_s_all": {name: rounded(times) for name, times in single.items()},
        "batch_s_all": {name: rounded(times) for name, times in batched.items()},
        "max_abs_difference_vs_keras": difference,
    }


def run(configs: dict[str, dict[str, Any] | None], latency_repeats: int, throughput_repeats: int, threads: int,
        work: Path) -> dict[str, Any]:
    """Latency and throughput per config and way."""
    results = {}
    for name, model_config in configs.items():
        directory = work / f"predict-{name}"
        classifier = saved_classifier(model_config, directory / "model")
        ways, conversion = scorers(classifier, directory, threads)
        results[name] = {"parameters": classifier.model.count_params(), **conversion,
                         **measure(ways, latency_repeats, throughput_repeats)}
    return {"batch": BATCH, "clip_s": 1.0, "configs": results}
