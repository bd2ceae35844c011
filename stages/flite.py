"""CMU Flite voices through Debian's `flite` program: a fourth engine, and a cheap one.

Flite's five English voices are diphone (kal, kal16) and unit-selection (awb, rms, slt)
voices built from recordings of four people, so they carry those people's timbre where eSpeak's
is a formant model's. kal speaks at 8 kHz, which is a telephone's band once resampled. The
program is a Debian package, not a wheel: `make` installs it where it can (see the Makefile),
and a params file that asks for Flite speakers on a machine without it gets an error saying so.
Flite is deterministic: the same arguments give the same samples.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from stages import audio
from stages.errors import PipelineError

VOICES = ("kal", "kal16", "awb", "rms", "slt")
"""Every voice Debian's flite 2.2 builds in, in a fixed order."""


def say(text: str, voice: str, stretch: float, shift: float) -> np.ndarray:
    """Speak `text` and return float32 samples at `audio.SAMPLE_RATE`, quiet ends cut.

    `stretch` scales Flite's durations (above 1 is slower). `shift` raises pitch and formants
    together by that factor (and shortens the word by it), as a smaller vocal tract would:
    the unit-selection voices ignore Flite's own pitch target, so the samples are resampled.
    """
    if voice not in VOICES:
        raise ValueError(f"Flite has no voice {voice!r} (one of: {', '.join(VOICES)})")
    program = shutil.which("flite")
    if program is None:
        raise PipelineError("data.synthetic.flite_speakers: CMU Flite is not installed (no `flite` on PATH); "
                            "install it (Debian/Ubuntu: apt-get install flite) or set flite_speakers to 0")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "word.wav"
        subprocess.run(
            [program, "-voice", voice, "--setf", f"duration_stretch={stretch:.4f}", "-t", text, "-o", str(path)],
            check=True, capture_output=True,
        )
        samples = audio.resample(audio.read(path), int(round(audio.SAMPLE_RATE * shift)))
    return audio.cut_quiet_ends(samples, audio.SAMPLE_RATE)
