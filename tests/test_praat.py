import numpy as np
import parselmouth
from scipy import signal

from stages import praat


def vowel(pitch_hz=150.0, seconds=0.5):
    """A pulse train at `pitch_hz` through three formant resonators (700, 1200, 2500 Hz): an "ah"."""
    samples = np.zeros(int(16_000 * seconds))
    samples[:: int(16_000 / pitch_hz)] = 1.0
    for centre in (700, 1200, 2500):
        samples = signal.lfilter(*signal.iirpeak(centre, 8, fs=16_000), samples)
    return (samples / np.abs(samples).max() * 0.5).astype(np.float32)


def centroid(samples):
    power = np.abs(np.fft.rfft(samples)) ** 2
    return float((np.fft.rfftfreq(len(samples), 1 / 16_000) * power).sum() / power.sum())


def test_the_pitch_moves_to_the_median_asked_for_and_the_length_stays():
    word = vowel(150.0)
    for target in (100.0, 220.0):
        changed = praat.change_voice(word, 1.0, target, 1.0, seed=1)
        assert changed.dtype == np.float32 and len(changed) == len(word)
        assert abs(praat.median_pitch(changed) - target) < 0.08 * target


def test_formants_move_apart_from_the_pitch():
    word = vowel(150.0)
    lower, higher = (praat.change_voice(word, ratio, 150.0, 1.0, seed=1) for ratio in (0.85, 1.2))
    assert centroid(lower) < centroid(word) < centroid(higher)
    assert abs(praat.median_pitch(higher) - 150.0) < 12 and abs(praat.median_pitch(lower) - 150.0) < 12


def test_the_same_seed_gives_the_same_samples():
    word = vowel(180.0) + np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.05
    assert np.array_equal(praat.change_voice(word, 1.1, 120.0, 0.8, seed=7),
                          praat.change_voice(word, 1.1, 120.0, 0.8, seed=7))


def test_median_pitch_is_nan_without_a_voiced_frame():
    assert np.isnan(praat.median_pitch(np.zeros(16_000, dtype=np.float32)))


def test_a_sound_too_short_for_pitch_comes_back_as_it_was():
    short = vowel(150.0, seconds=0.03)
    assert praat.change_voice(short, 1.2, 100.0, 1.0, seed=1) is short


def test_a_sound_praat_fails_to_resynthesise_comes_back_as_it_was(monkeypatch):
    def fails(*args):
        raise parselmouth.PraatError("When rounding up the real value --undefined-- to an integer")

    monkeypatch.setattr(praat, "call", fails)
    word = vowel(150.0)
    assert praat.change_voice(word, 1.1, 120.0, 1.0, seed=1) is word
