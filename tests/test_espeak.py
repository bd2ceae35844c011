import subprocess
import sys

import numpy as np
import pytest

from stages import espeak
from tests.conftest import REPO


def test_speaks_a_word_at_the_native_rate():
    speaker = espeak.Speaker()
    samples = speaker.say("stop", "en-gb-scotland+f3", 160, 50, 50)
    assert speaker.sample_rate == 22_050
    assert samples.dtype == np.float32
    assert 0.15 * 22_050 < len(samples) < 1.5 * 22_050
    assert 0.05 < np.abs(samples).max() <= 1.0


def test_rate_changes_duration():
    speaker = espeak.Speaker()
    slow = speaker.say("left", "en-us", 100, 50, 50)
    fast = speaker.say("left", "en-us", 300, 50, 50)
    assert len(fast) < 0.8 * len(slow)


def test_unknown_voice_is_an_error():
    with pytest.raises(ValueError, match="no voice 'xx-nowhere'"):
        espeak.Speaker().say("yes", "xx-nowhere", 160, 50, 50)


def test_every_accent_and_variant_speaks():
    speaker = espeak.Speaker()
    variants = espeak.variants()
    assert len(variants) >= 50
    assert not [v for v in variants if "robo" in v.lower()]
    for accent in espeak.ACCENTS:
        assert len(speaker.say("go", f"{accent}+{variants[0]}", 160, 50, 50)) > 0


def test_same_sequence_gives_identical_samples_across_processes():
    script = (
        "import hashlib; from stages import espeak; s = espeak.Speaker(); s.seed(3); "
        "print(hashlib.sha1(b''.join(s.say(w, v, 170, 40, 60).tobytes() "
        "for v in ('en-us+f3', 'en-029+klatt2') for w in ('yes', 'no'))).hexdigest())"
    )
    digests = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True).stdout
               for _ in range(2)}
    assert len(digests) == 1


def test_phonemes_are_the_accents_ipa_with_stress():
    speaker = espeak.Speaker()
    assert speaker.phonemes("yes", "en-us") == "jˈɛs"
    assert speaker.phonemes("go", "en-us") != speaker.phonemes("go", "en-gb-x-rp")
    with pytest.raises(ValueError, match="no voice 'xx-nowhere'"):
        speaker.phonemes("yes", "xx-nowhere")
