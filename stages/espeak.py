"""A minimal ctypes binding to the eSpeak NG library that the espeakng-loader wheel ships.

The wheel carries libespeak-ng and its voice data but no Python synthesis API, so we call the
C API directly: synchronous synthesis into a callback that collects 16-bit samples.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import espeakng_loader
import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_CHARS_UTF8 = 1
PHONEMES_IPA = 2
POS_CHARACTER = 1
RATE, VOLUME, PITCH, RANGE = 1, 2, 3, 4
EE_OK = 0

ACCENTS = (
    "en-us",
    "en",
    "en-029",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-gb-x-rp",
    "en-us-nyc",
)
"""English voices that read Latin text (en-shaw expects Shavian script)."""

_NON_HUMAN_VARIANTS = ("robo", "robot", "demonic", "croak", "whisper")

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


def variants() -> list[str]:
    """Voice variants (`+f3`, `+m7`, …) shipped with the wheel, minus the robotic ones."""
    folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    return [n for n in names if not any(bad in n.lower() for bad in _NON_HUMAN_VARIANTS)]


class Speaker:
    """The process-wide eSpeak NG engine (the C library keeps global state)."""

    _lib: ctypes.CDLL | None = None
    sample_rate: int = 0

    def __init__(self) -> None:
        if Speaker._lib is None:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            lib.espeak_Initialize.restype = ctypes.c_int
            lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
            lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
            lib.espeak_Synth.argtypes = [
                ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
            ]
            data_path = espeakng_loader.get_data_path().encode()
            rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
            if rate <= 0:
                raise RuntimeError(f"eSpeak NG failed to initialise with data at {data_path.decode()}")
            Speaker._lib, Speaker.sample_rate = lib, rate
        self._chunks: list[np.ndarray] = []
        self._callback = _SYNTH_CALLBACK(self._collect)
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, num_samples, events) -> int:
        if wav and num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        return 0

    def seed(self, value: int) -> None:
        """Seed the generator eSpeak uses for breath and flutter noise."""
        self._lib.espeak_ng_SetRandSeed(value)

    def phonemes(self, text: str, voice: str) -> str:
        """`text` in IPA, with stress marks, as `voice` (an accent such as `en-gb-x-rp`) says it."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
            raise ValueError(f"eSpeak NG has no voice {voice!r}")
        remaining = ctypes.c_char_p(text.encode())
        clauses = []
        while remaining.value:
            clauses.append(self._lib.espeak_TextToPhonemes(ctypes.byref(remaining), ESPEAK_CHARS_UTF8, PHONEMES_IPA).decode())
        return " ".join(clauses)

    def say(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int) -> np.ndarray:
        """Speak `text` and return float32 samples in [-1, 1] at `Speaker.sample_rate`.

        `voice` is an accent with an optional variant (`en-gb-scotland+f3`); `rate` is in words
        per minute, `pitch` and `pitch_range` are 0–100.
        """
        lib = self._lib
        if lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
            raise ValueError(f"eSpeak NG has no voice {voice!r}")
        for parameter, value in ((RATE, rate), (PITCH, pitch), (RANGE, pitch_range), (VOLUME, 100)):
            lib.espeak_SetParameter(parameter, value, 0)
        self._chunks = []
        encoded = text.encode()
        status = lib.espeak_Synth(
            encoded, len(encoded) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None
        )
        if status != EE_OK:
            raise RuntimeError(f"eSpeak NG failed to speak {text!r} with {voice} (status {status})")
        if not self._chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self._chunks).astype(np.float32) / 32768.0
