"""Festival voices through Debian's `festival` program: a fifth engine, with two new voices.

`ked_diphone` is a diphone voice recorded from a man nobody else's voices come from, and
`cmu_us_slt_arctic_hts` a statistical (HTS) voice whose vocoder sounds unlike every other
engine's, though Flite's `slt` was recorded from the same woman. Festival takes a fifth of a
second to start, so every word of a batch is spoken by one process. The program and the voices
are Debian packages, not wheels: `make` installs them where it can (see the Makefile), and a
params file that asks for Festival speakers on a machine without them gets an error saying so.
Festival is deterministic: the same words give the same samples.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from stages import audio
from stages.errors import PipelineError

VOICES = {
    "ked_diphone": "(Parameter.set 'Duration_Stretch {stretch:.4f})",
    "cmu_us_slt_arctic_hts": '(set! hts_engine_params (cons (list "-r" {rate:.4f}) cmu_us_slt_arctic_hts::hts_engine_params))',
}
"""The English voices of Debian's festvox-kdlpc16k and festvox-us-slt-hts, in a fixed order, each
with the command that sets its pace: the HTS voice ignores Festival's duration stretch and takes
its engine's speech rate instead."""

PACKAGES = "festival festvox-kdlpc16k festvox-us-slt-hts"
"""What `apt-get install` needs for `VOICES`."""

BATCH = 256
"""Words spoken by one Festival process: its start-up shared, its output bounded."""

Request = tuple[str, str, float]
"""One word to speak: the text, the voice and the duration stretch (above 1 is slower)."""


def say_all(requests: Iterable[Request]) -> Iterator[np.ndarray]:
    """Speak every request, in order, as float32 samples at `audio.SAMPLE_RATE`, quiet ends cut."""
    requests = iter(requests)
    while batch := list(islice(requests, BATCH)):
        yield from _say_batch(batch)


def say(text: str, voice: str, stretch: float) -> np.ndarray:
    """Speak one word (a process of its own: use `say_all` for many)."""
    return next(say_all([(text, voice, stretch)]))


def _say_batch(batch: list[Request]) -> list[np.ndarray]:
    """One Festival process speaking `batch` into WAV files, read back in order."""
    for _, voice, _ in batch:
        if voice not in VOICES:
            raise ValueError(f"Festival has no voice {voice!r} (one of: {', '.join(VOICES)})")
    program = shutil.which("festival")
    if program is None:
        raise PipelineError("data.synthetic.festival_speakers: Festival is not installed (no `festival` on PATH); "
                            f"install it (Debian/Ubuntu: apt-get install {PACKAGES}) or set festival_speakers to 0")
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"{index}.wav" for index in range(len(batch))]
        script = Path(folder) / "words.scm"
        script.write_text(_script(batch, paths))
        result = subprocess.run([program, "--batch", str(script)], capture_output=True, text=True)
        missing = next((request for request, path in zip(batch, paths) if not path.is_file()), None)
        if missing or result.returncode:
            text, voice, _ = missing or batch[0]
            raise PipelineError(f"data.synthetic.festival_speakers: Festival did not speak {text!r} in {voice} "
                                f"(is the voice installed? apt-get install {PACKAGES}): "
                                f"{(result.stderr or result.stdout).strip()[-300:]}")
        return [audio.cut_quiet_ends(audio.read(path), audio.SAMPLE_RATE) for path in paths]


def _script(batch: list[Request], paths: list[Path]) -> str:
    """Festival commands saving each request to its path, choosing a voice only when it changes
    (choosing one loads it)."""
    lines, current = [], None
    for (text, voice, stretch), path in zip(batch, paths):
        if voice != current:
            lines.append(f"(voice_{voice})")
            current = voice
        lines.append(VOICES[voice].format(stretch=stretch, rate=1 / stretch))
        lines.append(f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(text)})) {_scheme_string(str(path))} 'riff)")
    return "\n".join(lines) + "\n"


def _scheme_string(text: str) -> str:
    """`text` as a Scheme string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
