import numpy as np
import pytest

from stages import audio, flite
from stages.errors import PipelineError


@pytest.mark.parametrize("voice", flite.VOICES)
def test_every_voice_speaks_a_word_at_16_khz(voice):
    samples = flite.say("sheila", voice, 1.0, 1.0)
    assert samples.dtype == np.float32
    assert 0.2 * audio.SAMPLE_RATE < len(samples) < 1.2 * audio.SAMPLE_RATE
    assert 0.05 < np.abs(samples).max() <= 1.0


def test_stretch_slows_the_word_and_shift_shortens_it():
    plain = flite.say("left", "rms", 1.0, 1.0)
    assert len(flite.say("left", "rms", 1.4, 1.0)) > 1.2 * len(plain)
    higher = flite.say("left", "rms", 1.0, 1.2)
    assert len(higher) == pytest.approx(len(plain) / 1.2, rel=0.05)


def test_the_same_arguments_give_the_same_samples():
    np.testing.assert_array_equal(flite.say("marvin", "awb", 1.1, 0.9), flite.say("marvin", "awb", 1.1, 0.9))


def test_unknown_voice_is_an_error():
    with pytest.raises(ValueError, match="no voice 'xx'"):
        flite.say("yes", "xx", 1.0, 1.0)


def test_a_machine_without_flite_gets_an_error_naming_the_key_and_the_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PipelineError, match=r"data.synthetic.flite_speakers: .*apt-get install flite"):
        flite.say("yes", "slt", 1.0, 1.0)
