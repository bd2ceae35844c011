"""Probe, not part of `make bench`: how bright the words are. For the keyword clips of a folder
of real recordings and for each synthetic engine's keyword clips in data/raw, the level of each frequency band in the
loudest third of every clip's 25 ms frames (clips scaled to unit variance first, as the
feature extractor does), averaged over the clips:

    python -m bench.spectra ../shared/data/speech_commands_sample
"""

from __future__ import annotations

import numpy as np

from bench.pitch_bands import real_and_engine_clips
from stages.audio import SAMPLE_RATE
from stages.decode import decode

EDGES_HZ = (0, 250, 500, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000)
FRAME = SAMPLE_RATE // 40


def loud_spectrum(clip: np.ndarray) -> np.ndarray:
    """Mean power spectrum of the loudest third of the clip's frames, the clip at unit variance."""
    clip = (clip - clip.mean()) / (clip.std() + 1e-9)
    count = len(clip) // FRAME
    frames = clip[: count * FRAME].reshape(count, FRAME) * np.hanning(FRAME)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    loudest = np.argsort(power.sum(axis=1))[-max(1, count // 3):]
    return power[loudest].mean(axis=0)


def band_levels(clips: list[np.ndarray]) -> list[float]:
    """dB of each band between `EDGES_HZ`, over the clips' loud-frame spectra."""
    power = np.mean([loud_spectrum(clip) for clip in clips], axis=0)
    frequency = np.fft.rfftfreq(FRAME, 1 / SAMPLE_RATE)
    return [float(10 * np.log10(power[(frequency >= low) & (frequency < high)].mean()))
            for low, high in zip(EDGES_HZ, EDGES_HZ[1:])]


def main() -> None:
    """Print one row of band levels for the real clips and one for each engine."""
    sets = real_and_engine_clips(__doc__.split("\n\n")[0])
    print("kHz bands:".ljust(18) + " ".join(f"{low / 1000:g}-{high / 1000:g}".rjust(7) for low, high in zip(EDGES_HZ, EDGES_HZ[1:])))
    for name, paths in sets.items():
        levels = band_levels([decode(path) for path in paths])
        print(f"{name} ({len(paths)})".ljust(18) + " ".join(f"{level:7.1f}" for level in levels))


if __name__ == "__main__":
    main()
