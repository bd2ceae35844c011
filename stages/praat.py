"""Praat (through parselmouth) as the synthetic source's voice changer, and its pitch tracker.

Praat's "Change gender" moves a voice's formants (the length of its vocal tract) apart from its
pitch, by pitch-synchronous overlap-add: a synthesiser's few voices become speakers of other
builds and registers, the way people differ, where resampling moves formants, pitch and
pace together.
"""

from __future__ import annotations

import warnings

import numpy as np
import parselmouth
from parselmouth.praat import call, run

from stages.audio import SAMPLE_RATE

PITCH_FLOOR_HZ, PITCH_CEILING_HZ = 75.0, 600.0
"""The range Praat looks for the voice's pitch in: men's voices to children's."""


def change_voice(samples: np.ndarray, formant_ratio: float, pitch_median_hz: float, pitch_range: float,
                 seed: int) -> np.ndarray:
    """`samples` (at `audio.SAMPLE_RATE`) with formants scaled by `formant_ratio`, the pitch
    contour moved to a median of `pitch_median_hz` and its excursions scaled by `pitch_range`;
    the pace is kept. Praat draws noise for the unvoiced stretches, from its one random state:
    `seed` sets it, so the same call gives the same samples. A sound too short for Praat to
    find pitch in (three periods of the lowest), or one Praat's resynthesis fails on (a rare
    eSpeak word whose pitch points round to an undefined period), comes back as it was.
    """
    if len(samples) < 3 * SAMPLE_RATE / PITCH_FLOOR_HZ:
        return samples
    run(f"random_initializeWithSeedUnsafelyButPredictably ({seed})")
    sound = parselmouth.Sound(samples.astype(np.float64), SAMPLE_RATE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", parselmouth.PraatWarning)
        try:
            changed = call(sound, "Change gender", PITCH_FLOOR_HZ, PITCH_CEILING_HZ, formant_ratio, pitch_median_hz,
                           pitch_range, 1.0)
        except parselmouth.PraatError:
            return samples
    return changed.values[0][: len(samples)].astype(np.float32)


def voiced_pitch(samples: np.ndarray) -> np.ndarray:
    """F0 of each voiced frame of `samples` (at `audio.SAMPLE_RATE`), in Hz, in time order."""
    frequency = parselmouth.Sound(samples.astype(np.float64), SAMPLE_RATE).to_pitch().selected_array["frequency"]
    return frequency[frequency > 0]


def median_pitch(samples: np.ndarray) -> float:
    """Median F0 over the voiced frames of `samples` (at `audio.SAMPLE_RATE`), in Hz; nan where
    Praat finds no voiced frame."""
    voiced = voiced_pitch(samples)
    return float(np.median(voiced)) if voiced.size else float("nan")
