"""Reads params.yaml and checks it against the schema before any stage does work.

Every error names the offending key, so a typo fails in one line instead of an hour into
training.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from stages.cli import run
from stages.errors import PipelineError

PARAMS_FILE = Path("params.yaml")
SOURCES = ("synthetic", "speech_commands", "folder", "hub")
SILENCE, UNKNOWN = "_silence_", "_unknown_"

FREE_FORM = dict
"""A mapping whose keys are checked where it is used (model.config by transformers)."""


class Choice(tuple):
    """One of a fixed set of values (strings or booleans)."""



SCHEMA: dict[str, Any] = {
    "seed": int,
    "data": {
        "source": str,
        "keywords": [str],
        "unknown": bool,
        "silence": bool,
        "max_duration_s": float,
        "max_reject_fraction": float,
        "unknown_per_keyword": float,
        "silence_per_keyword": float,
        "synthetic": {
            "speakers": int, "pico_speakers": int, "kokoro_speakers": int, "flite_speakers": int, "festival_speakers": int,
            "takes": int, "fragments": int, "unknown_words": [str],
            "snr_db": [float], "reverb": float, "band_limit": float, "band_top_hz": [float], "equaliser": float,
            "questions": float, "voice_change": float, "accent_weights": FREE_FORM,
        },
        "speech_commands": {
            "version": str, "url": str, "sha256": str, "test_url": str, "test_sha256": str,
        },
        "folder": {"path": str},
        "hub": {"path": str, "name": str},
    },
    "split": {"validation_fraction": float, "test_fraction": float},
    "model": {
        "checkpoint": str, "return_attention_mask": bool, "freeze_feature_encoder": bool,
        "use_weighted_layer_sum": bool, "classifier_proj_size": int,
        "dropout": {"hidden": float, "attention": float, "activation": float, "feat_proj": float, "final": float},
        "mask_time_prob": float, "mask_feature_prob": float, "layerdrop": float, "config": FREE_FORM,
    },
    "train": {
        "epochs": int, "batch_size": int, "gradient_accumulation": int, "learning_rate": float,
        "warmup_ratio": float, "decay": Choice(("cosine", "linear")), "weight_decay": float, "max_grad_norm": float,
        "early_stopping": {"monitor": Choice(("val_accuracy", "val_loss")), "patience": int},
        "jit_compile": Choice(("auto", True, False)), "mixed_precision": Choice(("auto", "off", "bf16", "fp16")),
        "strategy": Choice(("auto", "mirrored", "multi_worker")), "balance": Choice(("none", "class_weights")),
        "label_smoothing": float, "watch_sets": FREE_FORM,
        "augment": {"truncate": float, "time_shift_s": float, "speed": float, "polarity": float, "microphone": float, "overlap_db": [float], "noise_snr_db": [float], "gain_db": [float]},
    },
    "evaluate": {"batch_size": int, "extra_sets": FREE_FORM},
}


def load(path: Path = PARAMS_FILE) -> dict[str, Any]:
    """Parse and validate a params file; raise `PipelineError` naming the first bad key."""
    try:
        params = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise PipelineError(f"{path}: file not found (run from the repository root)") from None
    except yaml.YAMLError as error:
        raise PipelineError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    try:
        _check_shape(params, SCHEMA, "")
        _check_values(params)
    except PipelineError as error:
        raise PipelineError(f"{path}: {error}") from None
    return params


def class_names(data: dict[str, Any]) -> list[str]:
    """The labels the model predicts, in id order: keywords, then `_silence_`, `_unknown_`."""
    return list(data["keywords"]) + [SILENCE] * data["silence"] + [UNKNOWN] * data["unknown"]


def _type_name(expected: Any) -> str:
    if isinstance(expected, Choice):
        return "one of " + ", ".join(str(choice).lower() if isinstance(choice, bool) else choice for choice in expected)
    if isinstance(expected, list):
        return {int: "a list of integers", float: "a list of numbers", str: "a list of strings"}[expected[0]]
    if expected is FREE_FORM or isinstance(expected, dict):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[expected]


def _matches(value: Any, expected: Any) -> bool:
    if isinstance(expected, Choice):
        return any(value is choice if isinstance(choice, bool) else value == choice for choice in expected)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _check_shape(value: Any, expected: Any, key: str) -> None:
    where = key or "the top level"
    if isinstance(expected, dict):
        if not isinstance(value, dict):
            raise PipelineError(f"{where}: expected a mapping, got {value!r}")
        for name in value:
            if name not in expected:
                allowed = ", ".join(expected)
                raise PipelineError(f"{_join(key, name)}: unknown key (allowed here: {allowed})")
        for name, sub in expected.items():
            if name not in value:
                raise PipelineError(f"{_join(key, name)}: missing")
            _check_shape(value[name], sub, _join(key, name))
    elif isinstance(expected, list) and not isinstance(expected, Choice):
        if not isinstance(value, list) or not all(_matches(v, expected[0]) for v in value):
            hint = ""
            if expected[0] is str and isinstance(value, list) and any(isinstance(v, bool) for v in value):
                hint = ' (YAML reads bare yes/no/on/off as booleans: quote them, "yes")'
            raise PipelineError(f"{where}: expected {_type_name(expected)}, got {value!r}{hint}")
    elif not _matches(value, expected):
        raise PipelineError(f"{where}: expected {_type_name(expected)}, got {value!r}")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _check_values(params: dict[str, Any]) -> None:
    data, split, train = params["data"], params["split"], params["train"]
    if data["source"] not in SOURCES:
        raise PipelineError(f"data.source: unknown source {data['source']!r} (one of: {', '.join(SOURCES)})")
    if not data["keywords"]:
        raise PipelineError("data.keywords: empty; list at least one word")
    if len(set(data["keywords"])) != len(data["keywords"]):
        raise PipelineError(f"data.keywords: repeated word in {data['keywords']}")
    reserved = {SILENCE, UNKNOWN} & set(data["keywords"])
    if reserved:
        raise PipelineError(f"data.keywords: {sorted(reserved)} are set with data.silence / data.unknown")
    if data["max_duration_s"] <= 0:
        raise PipelineError("data.max_duration_s: must be positive")
    if not 0 <= data["max_reject_fraction"] <= 1:
        raise PipelineError(f"data.max_reject_fraction: must lie in [0, 1], got {data['max_reject_fraction']}")
    for key in ("unknown_per_keyword", "silence_per_keyword"):
        if data[key] < 0:
            raise PipelineError(f"data.{key}: must be 0 (keep all) or more, got {data[key]}")
    for source in ("folder", "hub"):
        if data["source"] == source and not data[source]["path"]:
            raise PipelineError(f"data.{source}.path: empty while data.source is {source}")
    synthetic = data["synthetic"]
    for key in ("speakers", "takes"):
        if synthetic[key] <= 0:
            raise PipelineError(f"data.synthetic.{key}: must be positive, got {synthetic[key]}")
    for key in ("pico_speakers", "flite_speakers", "kokoro_speakers", "festival_speakers", "fragments"):
        if synthetic[key] < 0:
            raise PipelineError(f"data.synthetic.{key}: must be 0 or more, got {synthetic[key]}")
    for key in ("reverb", "band_limit", "equaliser", "questions"):
        if not 0 <= synthetic[key] <= 1:
            raise PipelineError(f"data.synthetic.{key}: a share of clips, from 0 to 1, got {synthetic[key]}")
    if not 0 <= synthetic["voice_change"] <= 1:
        raise PipelineError(f"data.synthetic.voice_change: a share of speakers, from 0 to 1, got {synthetic['voice_change']}")
    if data["unknown"] and not synthetic["unknown_words"] and data["source"] == "synthetic":
        raise PipelineError("data.synthetic.unknown_words: empty while data.unknown is true")
    overlap = set(synthetic["unknown_words"]) & set(data["keywords"])
    if overlap:
        raise PipelineError(f"data.synthetic.unknown_words: {sorted(overlap)} are keywords")
    top = synthetic["band_top_hz"]
    if len(top) != 2 or not 400 < top[0] <= top[1] < 8000:
        raise PipelineError(f"data.synthetic.band_top_hz: expected [low, high] above 400 Hz and below 8000 Hz "
                            f"(half the 16 kHz rate), got {top}")
    snr = synthetic["snr_db"]
    if len(snr) != 2 or snr[0] > snr[1]:
        raise PipelineError(f"data.synthetic.snr_db: expected [low, high], got {snr}")
    for key in ("validation_fraction", "test_fraction"):
        if not 0 < split[key] < 1:
            raise PipelineError(f"split.{key}: must lie strictly between 0 and 1, got {split[key]}")
    if split["validation_fraction"] + split["test_fraction"] >= 1:
        raise PipelineError("split: validation_fraction + test_fraction must be below 1, leaving clips to train on")
    for key in ("epochs", "batch_size"):
        if train[key] <= 0:
            raise PipelineError(f"train.{key}: must be positive, got {train[key]}")
    if train["gradient_accumulation"] <= 0:
        raise PipelineError(f"train.gradient_accumulation: must be positive, got {train['gradient_accumulation']}")
    if not 0 <= train["warmup_ratio"] < 1:
        raise PipelineError(f"train.warmup_ratio: must lie in [0, 1), got {train['warmup_ratio']}")
    if not 0 <= train["label_smoothing"] < 1:
        raise PipelineError(f"train.label_smoothing: must lie in [0, 1), got {train['label_smoothing']}")
    for key, value in (("weight_decay", train["weight_decay"]), ("max_grad_norm", train["max_grad_norm"]),
                       ("early_stopping.patience", train["early_stopping"]["patience"])):
        if value < 0:
            raise PipelineError(f"train.{key}: must not be negative, got {value}")
    model = params["model"]
    for key, value in [("mask_time_prob", model["mask_time_prob"]), ("mask_feature_prob", model["mask_feature_prob"]),
                       ("layerdrop", model["layerdrop"]),
                       *((f"dropout.{name}", rate) for name, rate in model["dropout"].items())]:
        if not 0 <= value < 1:
            raise PipelineError(f"model.{key}: must lie in [0, 1), got {value}")
    if train["learning_rate"] <= 0:
        raise PipelineError(f"train.learning_rate: must be positive, got {train['learning_rate']}")
    augment = train["augment"]
    if augment["time_shift_s"] < 0:
        raise PipelineError(f"train.augment.time_shift_s: must not be negative, got {augment['time_shift_s']}")
    for key in ("overlap_db", "noise_snr_db", "gain_db"):
        if augment[key] and (len(augment[key]) != 2 or augment[key][0] > augment[key][1]):
            raise PipelineError(f"train.augment.{key}: expected [] (off) or [low, high], got {augment[key]}")
    for key in ("truncate", "polarity", "microphone"):
        if not 0 <= augment[key] <= 1:
            raise PipelineError(f"train.augment.{key}: a share of clips must lie in [0, 1], got {augment[key]}")
    if not 0 <= augment["speed"] < 1:
        raise PipelineError(f"train.augment.speed: must lie in [0, 1), got {augment['speed']}")
    if params["evaluate"]["batch_size"] <= 0:
        raise PipelineError(f"evaluate.batch_size: must be positive, got {params['evaluate']['batch_size']}")
    for section, key in (("evaluate", "extra_sets"), ("train", "watch_sets")):
        for name, location in params[section][key].items():
            if not isinstance(location, str) or not location:
                raise PipelineError(f"{section}.{key}.{name}: expected the path of a folder, got {location!r}")


def main() -> None:
    """Check params.yaml (or the file named on the command line) and say so."""
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else PARAMS_FILE
    load(path)
    print(f"{path}: ok")


if __name__ == "__main__":
    run(main)
