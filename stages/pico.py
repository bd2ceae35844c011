"""SVOX Pico voices through the py-nanotts wheel: a second offline engine beside eSpeak NG.

Models trained on one synthesiser learn its quirks; mixing engines transfers better to human
speech than more variants of one engine. The wheel carries Pico's six voices; the non-English
ones reading English words make accented speakers.

Pico runs in a worker process of its own: in a process that has imported TensorFlow,
py-nanotts 0.1.1 crashes (segmentation fault, measured in the test suite), and the `malloc`
setting below must not touch anyone else's memory. py-nanotts 0.1.1 also needs three
corrections, made here:

- Each call hands Pico a fresh 2.5 MB work area from `malloc` without clearing it, and Pico
  reads some of it before writing it, so a word's samples depend on what the process freed
  before. Setting glibc's `M_PERTURB` for the call makes `malloc` return zeroed memory, so the
  samples depend on the arguments alone (this needs glibc, as on Linux).
- The wrapper closes its speed, pitch and volume tags before Pico renders the last 100–200 ms
  of the word, which come out at Pico's default volume and can clip; a trailing pause keeps
  the whole word inside the tags.
- Pico's pauses carry a faint noise floor, where eSpeak's are digital silence, so the quiet
  ends are cut here (`audio.cut_quiet_ends`; `synthetic.trim` would keep them).
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from stages import audio

SAMPLE_RATE = 16_000
"""Pico's fixed output rate."""

VOICES = ("en-US", "en-GB", "de-DE", "es-ES", "fr-FR", "it-IT")
"""Every voice in the wheel, in a fixed order."""

VOLUME = 0.35
"""Pico's gain: at 0.5 a few low-pitched words still reach full scale; 0.35 peaks near 0.7."""

_PAUSE = '<break time="100ms"/>'

_M_PERTURB = -6
_ZEROED = 0xFF
"""glibc fills memory that `malloc` hands out with the complement of the perturb byte: 0."""



def say(text: str, voice: str, speed: float, pitch: float) -> np.ndarray:
    """Speak `text` and return float32 samples in [-1, 1] at `SAMPLE_RATE`, quiet ends cut.

    `voice` is one of `VOICES`; `speed` (0.2–5) and `pitch` (0.5–2) are multiples of the
    voice's own, and py-nanotts clamps them to those ranges.
    """
    if voice not in VOICES:
        raise ValueError(f"Pico has no voice {voice!r} (one of: {', '.join(VOICES)})")
    return _worker().submit(_speak, text, voice, speed, pitch).result()


@functools.cache
def _worker() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))


@functools.cache
def _engine() -> object:
    from py_nanotts import NanoTTS  # in the worker process only

    return NanoTTS()


def _speak(text: str, voice: str, speed: float, pitch: float) -> np.ndarray:
    libc = ctypes.CDLL(None)
    libc.mallopt(_M_PERTURB, _ZEROED)
    try:
        pcm = _engine().speak(text + _PAUSE, voice=voice, speed=speed, pitch=pitch, volume=VOLUME)
    finally:
        libc.mallopt(_M_PERTURB, 0)
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    return audio.cut_quiet_ends(samples, SAMPLE_RATE)
