import numpy as np
import pytest

from stages import audio, festival
from stages.errors import PipelineError


@pytest.mark.parametrize("voice", festival.VOICES)
def test_every_voice_speaks_a_word_at_16_khz(voice):
    samples = festival.say("sheila", voice, 1.0)
    assert samples.dtype == np.float32
    assert 0.2 * audio.SAMPLE_RATE < len(samples) < 1.2 * audio.SAMPLE_RATE
    assert 0.05 < np.abs(samples).max() <= 1.0


@pytest.mark.parametrize("voice", festival.VOICES)
def test_stretch_slows_every_voice(voice):
    plain = len(festival.say("left", voice, 1.0))
    assert len(festival.say("left", voice, 1.3)) > 1.15 * plain and len(festival.say("left", voice, 0.8)) < 0.9 * plain


def test_a_batch_is_spoken_in_order_and_the_same_as_word_by_word():
    requests = [("left", "ked_diphone", 1.0), ("stop", "cmu_us_slt_arctic_hts", 1.0), ("left", "ked_diphone", 1.4)]
    spoken = list(festival.say_all(requests))
    assert len(spoken) == 3
    for request, samples in zip(requests, spoken):
        np.testing.assert_array_equal(samples, festival.say(*request))
    assert len(spoken[2]) > 1.2 * len(spoken[0])


def test_batches_past_the_process_limit_keep_their_order(monkeypatch):
    monkeypatch.setattr(festival, "BATCH", 2)
    requests = [("yes", "ked_diphone", stretch) for stretch in (0.8, 1.0, 1.2, 1.4, 1.6)]
    lengths = [len(samples) for samples in festival.say_all(requests)]
    assert lengths == sorted(lengths) and len(set(lengths)) == 5


def test_quotes_in_the_text_are_spoken_not_parsed():
    assert len(festival.say('say "yes"', "ked_diphone", 1.0)) > len(festival.say("yes", "ked_diphone", 1.0))


def test_unknown_voice_is_an_error():
    with pytest.raises(ValueError, match="no voice 'xx'"):
        festival.say("yes", "xx", 1.0)


def test_a_voice_festival_cannot_load_is_an_error_naming_the_key_and_the_packages(monkeypatch):
    monkeypatch.setitem(festival.VOICES, "missing_voice", "")
    with pytest.raises(PipelineError, match=r"data.synthetic.festival_speakers: .*'yes' in missing_voice.*apt-get install festival"):
        festival.say("yes", "missing_voice", 1.0)


def test_a_machine_without_festival_gets_an_error_naming_the_key_and_the_packages(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PipelineError, match=r"data.synthetic.festival_speakers: .*apt-get install festival festvox"):
        festival.say("yes", "ked_diphone", 1.0)
