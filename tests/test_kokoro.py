import hashlib
import subprocess
import sys

import joblib
import numpy as np
import pytest

from stages import espeak, kokoro
from tests.conftest import REPO

EVEN = [0.2] * 5
ALPHA, KUMO = [1.0, 0, 0, 0, 0], [0, 0, 0, 0, 1.0]


def ipa(word, accent="en-us"):
    return espeak.Speaker().phonemes(word, accent)


def test_speaks_a_word_with_its_ends_cut():
    samples = kokoro.say(ipa("stop"), EVEN, 1.0)
    assert samples.dtype == np.float32
    assert 0.2 * kokoro.SAMPLE_RATE < len(samples) < 1.0 * kokoro.SAMPLE_RATE
    assert 0.05 < np.abs(samples).max() < 1.0
    edge = kokoro.SAMPLE_RATE // 100
    assert np.mean(samples[:edge] ** 2) > np.mean(samples**2) * 1e-4


def test_speed_changes_duration_and_styles_change_the_voice():
    slow, fast = kokoro.say(ipa("left"), EVEN, 0.7), kokoro.say(ipa("left"), EVEN, 1.4)
    assert len(fast) < 0.8 * len(slow)
    alpha, kumo = kokoro.say(ipa("left"), ALPHA, 1.0), kokoro.say(ipa("left"), KUMO, 1.0)
    assert len(alpha) != len(kumo) or not np.allclose(alpha, kumo, atol=0.05)


def test_the_same_request_gives_the_same_samples_in_any_process_and_worker_count():
    request = (ipa("marvin", "en-gb-x-rp"), [0.1, 0.2, 0.3, 0.3, 0.1], 1.1)
    code = ("import hashlib, sys; from stages import kokoro; "
            f"print(hashlib.sha256(kokoro.say(*{request!r}).tobytes()).hexdigest())")
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert fresh.stdout.split()[-1] == hashlib.sha256(kokoro.say(*request).tobytes()).hexdigest()
    requests = [(ipa(word), EVEN, 1.0) for word in ("yes", "no", "up")] + [request]
    one, two = list(kokoro.say_all(requests, workers=1)), list(kokoro.say_all(requests, workers=2))
    assert len(one) == 4
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one[-1], kokoro.say(*request))


@pytest.mark.parametrize("mix", [[0.5, 0.5], [1.5, -0.5, 0, 0, 0], [0.3] * 5])
def test_a_bad_style_mix_is_an_error(mix):
    with pytest.raises(ValueError, match="style mix is 5 weights"):
        kokoro.say(ipa("yes"), mix, 1.0)


def test_text_without_a_known_symbol_is_an_error():
    with pytest.raises(ValueError, match="no symbol of '123'"):
        kokoro.say("123", EVEN, 1.0)


def test_a_fresh_cache_is_joined_once_before_the_workers_start(tmp_path, monkeypatch):
    monkeypatch.setenv("KOKORO_JA_CACHE", str(tmp_path))
    requests = [(ipa(word), EVEN, 1.0) for word in ("on", "off", "go", "stop")]
    assert all(len(samples) > 0 for samples in kokoro.say_all(requests, workers=2))
    assert [path.name for path in tmp_path.iterdir()] == ["kokoro-v1.0.int8.onnx"]


def no_workers(count):
    raise AssertionError("a cached word was spoken again")


def test_spoken_words_are_kept_and_read_back_without_workers(tmp_path, monkeypatch):
    monkeypatch.setenv("KWS_KOKORO_CACHE", str(tmp_path))
    requests = [(ipa(word), EVEN, 1.0) for word in ("yes", "no", "up")] + [(ipa("yes"), EVEN, 1.2)]
    spoken = list(kokoro.say_all(requests, workers=2))
    assert len(list(tmp_path.rglob("output.pkl"))) == 4
    monkeypatch.setattr(kokoro, "_workers", no_workers)
    for first, again in zip(spoken, kokoro.say_all(requests, workers=2), strict=True):
        np.testing.assert_array_equal(first, again)
    monkeypatch.setattr(kokoro, "MODEL", kokoro.MODEL + ", another build")
    with pytest.raises(AssertionError, match="spoken again"):
        list(kokoro.say_all(requests[:1]))


def test_a_damaged_cached_word_is_spoken_again(tmp_path, monkeypatch):
    monkeypatch.setenv("KWS_KOKORO_CACHE", str(tmp_path))
    request = (ipa("stop"), EVEN, 1.0)
    first = kokoro.say(*request)
    [stored] = tmp_path.rglob("output.pkl")
    stored.write_bytes(b"not a pickle")
    np.testing.assert_array_equal(kokoro.say(*request), first)
    np.testing.assert_array_equal(joblib.load(stored), kokoro._infer(*kokoro._inputs(*request)))


def test_the_cache_lives_in_the_user_cache_folder_unless_moved_or_off(tmp_path, monkeypatch):
    monkeypatch.delenv("KWS_KOKORO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kokoro.cache_location() == tmp_path / "kws_kokoro"
    monkeypatch.setenv("KWS_KOKORO_CACHE", str(tmp_path / "elsewhere"))
    assert kokoro.cache_location() == tmp_path / "elsewhere"
    monkeypatch.setenv("KWS_KOKORO_CACHE", "")
    assert kokoro.cache_location() is None
    kokoro.say(ipa("go"), EVEN, 1.0)
    assert list(tmp_path.iterdir()) == []
