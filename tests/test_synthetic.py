import hashlib
import json
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from stages import audio, espeak, festival, flite, kokoro, pico, praat
from stages.errors import PipelineError
from stages.params import SILENCE, UNKNOWN
from stages.sources import synthetic
from tests.conftest import REPO, TINY, repo_params, with_overrides


def tiny(**synthetic_settings):
    """The repository's params made tiny (3 keywords), with `data.synthetic` keys set."""
    return with_overrides(repo_params(), {**TINY, **{f"data.synthetic.{k}": v for k, v in synthetic_settings.items()}})


def by_engine(clips):
    """eSpeak's clips, then Pico's."""
    is_pico = [clip.columns["voice"].startswith("pico:") for clip in clips]
    return [c for c, p in zip(clips, is_pico) if not p], [c for c, p in zip(clips, is_pico) if p]


def test_voices_are_distinct_and_varied():
    voices = synthetic.voices(60, seed=0)
    assert len({v.name for v in voices}) == 60
    assert len({v.speaker_id for v in voices}) == 60
    assert len({v.rate for v in voices}) > 20 and len({v.pitch for v in voices}) > 20
    assert synthetic.voices(60, seed=0) == voices
    assert synthetic.voices(60, seed=1) != voices


def test_accent_weights_draw_an_accent_more_often():
    def american(voices):
        return sum(v.name.split("+")[0] in ("en-us", "en-us-nyc") for v in voices)

    plain = synthetic.voices(300, seed=0)
    weighted = synthetic.voices(300, seed=0, accent_weights={"en-us": 5, "en-us-nyc": 5})
    assert american(weighted) > 1.5 * american(plain)
    assert len({v.name for v in weighted}) == 300
    assert synthetic.voices(300, seed=0, accent_weights={}) == plain
    assert not any(v.name.startswith("en-029") for v in synthetic.voices(60, seed=0, accent_weights={"en-029": 0}))


@pytest.mark.parametrize("weights, message", [
    ({"en-au": 2}, "no accent 'en-au'"),
    ({"en-us": -1}, "en-us: expected a weight"),
    ({accent: 0 for accent in ("en", "en-029", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-gb-x-rp",
                               "en-us-nyc")}, "100 speakers asked, the accents not weighted 0 have 91 voices"),
])
def test_accent_weights_name_the_bad_key(weights, message):
    with pytest.raises(PipelineError, match=message):
        synthetic.voices(100, seed=0, accent_weights=weights)


def test_place_puts_the_word_in_noise_at_a_random_offset():
    word = np.sin(np.linspace(0, 400, 4000)).astype(np.float32)
    clips = [synthetic.place(word, np.random.default_rng(i), 16_000, [20.0, 20.0]) for i in range(5)]
    starts = {int(np.argmax(np.abs(c) > 0.1)) for c in clips}
    assert len(starts) == 5
    for clip in clips:
        assert clip.shape == (16_000,) and np.abs(clip).max() <= 0.9 + 1e-6
        quiet = np.abs(clip[np.abs(clip) < 0.05])
        assert 0 < quiet.mean()


def test_coloured_noise_slopes():
    rng = np.random.default_rng(0)
    def slope(exponent):
        power = np.abs(np.fft.rfft(synthetic.coloured_noise(rng, 2**16, exponent))) ** 2
        return power[100:1000].mean() / power[10000:30000].mean()
    assert slope(0) < 2 < slope(1) < slope(2)


def test_fragments_are_a_head_or_a_tail_of_the_word():
    word = np.arange(1000, dtype=np.float32)
    parts = [synthetic.fragment(word, np.random.default_rng(i)) for i in range(40)]
    heads = [part for part in parts if part[0] == 0]
    tails = [part for part in parts if part[-1] == 999]
    assert len(heads) + len(tails) == 40 and heads and tails
    for part in parts:
        assert 100 <= len(part) <= 700
        np.testing.assert_array_equal(part, np.arange(part[0], part[0] + len(part)))


def test_pico_voices_are_distinct_varied_and_apart_from_espeak():
    voices = synthetic.pico_voices(60, seed=0)
    assert Counter(v.name for v in voices) == {name: 10 for name in pico.VOICES}
    assert len({v.speaker_id for v in voices}) == 60
    assert all(0.8 <= v.speed <= 1.3 and 0.75 <= v.pitch <= 1.35 for v in voices)
    assert not {v.speaker_id for v in voices} & {v.speaker_id for v in synthetic.voices(60, seed=0)}
    assert synthetic.pico_voices(60, seed=0) == voices
    assert synthetic.pico_voices(60, seed=1) != voices


def test_pico_speakers_get_the_espeak_plan():
    espeak_clips, pico_clips = by_engine(list(synthetic.synthesise(tiny(speakers=2, pico_speakers=7, fragments=1))))
    plan = Counter(clip.label for clip in espeak_clips if clip.speaker == espeak_clips[0].speaker)
    assert plan == {"yes": 1, "no": 1, "up": 1, UNKNOWN: 2, SILENCE: 1}
    speakers = {clip.speaker for clip in pico_clips}
    assert len(speakers) == 7 and not speakers & {clip.speaker for clip in espeak_clips}
    for speaker in speakers:
        assert Counter(clip.label for clip in pico_clips if clip.speaker == speaker) == plan
    assert Counter(clip.columns["voice"] for clip in pico_clips) == {
        f"pico:{name}": 6 * (2 if name == pico.VOICES[0] else 1) for name in pico.VOICES
    }
    assert sum(clip.columns["text"].startswith("part of ") for clip in pico_clips) == 7
    assert len({clip.origin for clip in espeak_clips + pico_clips}) == len(espeak_clips) + len(pico_clips)
    for clip in pico_clips:
        samples = clip.read()
        assert samples.shape == (8_000,) and samples.dtype == np.float32 and np.abs(samples).max() <= 0.9 + 1e-6
        if clip.label != UNKNOWN:
            assert clip.columns["text"] == ("" if clip.label == SILENCE else clip.label)


def test_no_pico_speakers_at_zero():
    _, pico_clips = by_engine(list(synthetic.synthesise(tiny(speakers=1, pico_speakers=0))))
    assert pico_clips == []


def test_flite_voices_are_distinct_varied_and_apart_from_the_others():
    voices = synthetic.flite_voices(40, seed=0)
    assert Counter(v.name for v in voices) == {name: 8 for name in flite.VOICES}
    assert len({v.speaker_id for v in voices}) == 40
    assert all(0.8 <= v.stretch <= 1.3 and 0.85 <= v.shift <= 1.2 for v in voices)
    assert not {v.speaker_id for v in voices} & {v.speaker_id for v in synthetic.voices(60, seed=0)}
    assert synthetic.flite_voices(40, seed=0) == voices
    assert synthetic.flite_voices(40, seed=1) != voices


def test_flite_speakers_get_the_plan_between_pico_and_kokoro():
    clips = list(synthetic.synthesise(tiny(speakers=1, pico_speakers=1, flite_speakers=5, kokoro_speakers=1)))
    engines = [c.columns["voice"].split(":")[0] if ":" in c.columns["voice"] else "espeak" for c in clips]
    assert engines == ["espeak"] * 5 + ["pico"] * 5 + ["flite"] * 25 + ["kokoro"] * 5
    flite_clips = clips[10:35]
    assert Counter(c.columns["voice"] for c in flite_clips) == {f"flite:{name}": 5 for name in flite.VOICES}
    for speaker in {c.speaker for c in flite_clips}:
        assert Counter(c.label for c in flite_clips if c.speaker == speaker) == {"yes": 1, "no": 1, "up": 1, UNKNOWN: 1, SILENCE: 1}
    for clip in flite_clips:
        assert clip.read().shape == (8_000,)


def test_kokoro_voices_are_distinct_varied_and_apart_from_the_others():
    voices = synthetic.kokoro_voices(40, seed=0)
    assert len({v.speaker_id for v in voices}) == 40
    assert Counter(v.accent for v in voices) == {accent: 8 for accent in synthetic.KOKORO_ACCENTS}
    assert all(len(v.mix) == len(kokoro.STYLES) and abs(sum(v.mix) - 1) < 1e-9 and min(v.mix) >= 0 for v in voices)
    assert len({np.argmax(v.mix) for v in voices}) == len(kokoro.STYLES)
    assert all(0.8 <= v.speed <= 1.25 for v in voices) and len({v.speed for v in voices}) == 40
    others = {v.speaker_id for v in synthetic.voices(60, seed=0)} | {v.speaker_id for v in synthetic.pico_voices(60, seed=0)}
    assert not {v.speaker_id for v in voices} & others
    assert synthetic.kokoro_voices(40, seed=0) == voices
    assert synthetic.kokoro_voices(40, seed=1) != voices


def test_kokoro_speakers_get_the_plan_after_the_other_engines():
    params = tiny(speakers=1, pico_speakers=1, kokoro_speakers=2)
    clips = list(synthetic.synthesise(params))
    assert [c.columns["voice"].startswith("kokoro:") for c in clips] == [False] * 10 + [True] * 10
    kokoro_clips = clips[10:]
    for speaker in {clip.speaker for clip in kokoro_clips}:
        assert Counter(c.label for c in kokoro_clips if c.speaker == speaker) == {"yes": 1, "no": 1, "up": 1, UNKNOWN: 1, SILENCE: 1}
    for clip in kokoro_clips:
        samples = clip.read()
        assert samples.shape == (8_000,) and np.abs(samples).max() <= 0.9 + 1e-6
        if clip.label != SILENCE:
            assert np.abs(samples).max() > 0.1
    assert [c.origin for c in clips[:10]] == [c.origin for c in synthetic.synthesise(tiny(speakers=1, pico_speakers=1))]


def test_kokoro_clips_read_from_the_cache_are_the_clips_spoken(tmp_path, monkeypatch):
    monkeypatch.setenv("KWS_KOKORO_CACHE", str(tmp_path))
    params = tiny(speakers=0, pico_speakers=0, kokoro_speakers=2)
    spoken = [clip.read() for clip in synthetic.synthesise(params)]
    assert len(spoken) == 10
    monkeypatch.setattr(kokoro, "_workers", lambda count: pytest.fail("a cached word was spoken again"))
    for first, again in zip(spoken, (clip.read() for clip in synthetic.synthesise(params)), strict=True):
        np.testing.assert_array_equal(first, again)


def test_festival_voices_are_distinct_varied_and_apart_from_the_others():
    voices = synthetic.festival_voices(40, seed=0)
    assert Counter(v.name for v in voices) == {name: 20 for name in festival.VOICES}
    assert len({v.speaker_id for v in voices}) == 40
    assert all(0.8 <= v.stretch <= 1.3 and 0.85 <= v.shift <= 1.2 for v in voices)
    others = {v.speaker_id for v in synthetic.voices(60, seed=0)} | {v.speaker_id for v in synthetic.flite_voices(60, seed=0)}
    assert not {v.speaker_id for v in voices} & others
    assert synthetic.festival_voices(40, seed=0) == voices
    assert synthetic.festival_voices(40, seed=1) != voices


def test_festival_speakers_get_the_plan_after_kokoro():
    params = tiny(speakers=1, pico_speakers=1, flite_speakers=1, kokoro_speakers=1, festival_speakers=4)
    clips = list(synthetic.synthesise(params))
    engines = [c.columns["voice"].split(":")[0] if ":" in c.columns["voice"] else "espeak" for c in clips]
    assert engines == ["espeak"] * 5 + ["pico"] * 5 + ["flite"] * 5 + ["kokoro"] * 5 + ["festival"] * 20
    festival_clips = clips[20:]
    assert Counter(c.columns["voice"] for c in festival_clips) == {f"festival:{name}": 10 for name in festival.VOICES}
    for speaker in {c.speaker for c in festival_clips}:
        assert Counter(c.label for c in festival_clips if c.speaker == speaker) == {"yes": 1, "no": 1, "up": 1, UNKNOWN: 1, SILENCE: 1}
    for clip in festival_clips:
        samples = clip.read()
        assert samples.shape == (8_000,) and np.abs(samples).max() <= 0.9 + 1e-6
        if clip.label != SILENCE:
            assert np.abs(samples).max() > 0.1


def test_festival_takes_are_paced_apart_within_a_speaker():
    params = tiny(speakers=1, festival_speakers=2)
    requests = list(synthetic.festival_requests(params["data"], 0, synthetic.festival_voices(2, seed=0)))
    assert [text for text, _, _ in requests[:3] + requests[4:7]] == ["yes", "no", "up"] * 2
    for index, voice in enumerate(synthetic.festival_voices(2, seed=0)):
        paces = [stretch / voice.stretch for _, name, stretch in requests[4 * index : 4 * index + 4]]
        assert all(0.93 <= pace <= 1.07 for pace in paces) and len(set(paces)) == 4


def fresh_samples(params):
    """Each clip's origin and a hash of its samples, synthesised in a new process (eSpeak keeps state)."""
    script = (
        "import hashlib, json, sys; from stages.sources import synthetic; "
        "print(json.dumps([[c.origin, hashlib.sha256(c.read().tobytes()).hexdigest()] "
        "for c in synthetic.synthesise(json.loads(sys.stdin.read()))]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(params), capture_output=True, text=True, cwd=REPO, check=True
    )
    return json.loads(result.stdout)


def test_clips_are_deterministic_and_pico_leaves_espeak_alone():
    with_pico = fresh_samples(tiny(speakers=2, pico_speakers=3))
    assert len(with_pico) == 25
    assert fresh_samples(tiny(speakers=2, pico_speakers=3)) == with_pico
    assert fresh_samples(tiny(speakers=2, pico_speakers=0)) == with_pico[:10]
    pico_clips = [(clip.origin, hashlib.sha256(clip.read().tobytes()).hexdigest())
                  for clip in synthetic.synthesise(tiny(speakers=1, pico_speakers=3))][5:]
    assert [list(clip) for clip in pico_clips] == with_pico[10:]


def test_kokoro_clips_are_deterministic_and_leave_the_other_engines_alone():
    with_kokoro = fresh_samples(tiny(speakers=1, pico_speakers=1, kokoro_speakers=2))
    assert len(with_kokoro) == 20
    assert fresh_samples(tiny(speakers=1, pico_speakers=1, kokoro_speakers=2)) == with_kokoro
    assert fresh_samples(tiny(speakers=1, pico_speakers=1, kokoro_speakers=0)) == with_kokoro[:10]


def test_festival_clips_are_deterministic_and_leave_the_other_engines_alone():
    with_festival = fresh_samples(tiny(speakers=1, flite_speakers=1, festival_speakers=2))
    assert len(with_festival) == 20
    assert fresh_samples(tiny(speakers=1, flite_speakers=1, festival_speakers=2)) == with_festival
    assert fresh_samples(tiny(speakers=1, flite_speakers=1, festival_speakers=0)) == with_festival[:10]


def spectrum_share(samples, low_hz, high_hz):
    """Share of the samples' energy between two frequencies."""
    power = np.abs(np.fft.rfft(samples)) ** 2
    frequencies = np.fft.rfftfreq(len(samples), 1 / 16_000)
    return power[(frequencies >= low_hz) & (frequencies < high_hz)].sum() / power.sum()


def test_a_room_adds_a_decaying_tail_and_keeps_the_peak():
    rng = np.random.default_rng(0)
    word = (np.sin(np.linspace(0, 400 * np.pi, 8000)) * np.hanning(8000)).astype(np.float32)
    heard = synthetic.room(word, rng)
    assert len(heard) == 8000 + 4000
    assert np.abs(heard).max() == np.float32(np.abs(word).max())
    tail = heard[8000:]
    assert np.sqrt(np.mean(tail[:1000] ** 2)) > 1e-3 and np.sqrt(np.mean(tail[:1000] ** 2)) > np.sqrt(np.mean(tail[-1000:] ** 2))
    assert not np.allclose(heard[:8000], word, atol=1e-3)


def test_a_microphone_cuts_the_bands_outside_its_own():
    word = np.random.default_rng(1).standard_normal(16_000).astype(np.float32)
    heard = synthetic.microphone(word, np.random.default_rng(2), [3000.0, 7500.0])
    assert spectrum_share(word, 0, 50) > 0.002 and spectrum_share(heard, 0, 50) < 0.0005
    assert spectrum_share(word, 7600, 8000) > 0.02 and spectrum_share(heard, 7600, 8000) < 0.002


def test_microphone_top_edge_comes_from_its_range():
    tones = [np.sin(2 * np.pi * f * np.arange(16_000) / 16_000) for f in (1000, 6000)]
    word = (tones[0] + tones[1]).astype(np.float32)
    rng = np.random.default_rng(0)
    for top, kept in (([3000.0, 3000.0], False), ([7900.0, 7900.0], True)):
        heard = synthetic.microphone(word, rng, top)
        spectrum = np.abs(np.fft.rfft(heard[4000:]))
        ratio = spectrum[int(6000 * 12_000 / 16_000)] / spectrum[int(1000 * 12_000 / 16_000)]
        assert (ratio > 0.5) == kept, f"6 kHz against 1 kHz through a band topped at {top}: {ratio:.3f}"


def assert_only_the_spoken_clips_change(plain_settings, changed_settings):
    """Every spoken clip differs, the same way each time, when `changed_settings` are laid over
    `plain_settings` (both `data.synthetic` keys); the `_silence_` clips stay as they were."""
    plain = fresh_samples(tiny(**plain_settings))
    changed = fresh_samples(tiny(**{**plain_settings, **changed_settings}))
    assert fresh_samples(tiny(**{**plain_settings, **changed_settings})) == changed
    spoken = [i for i, (origin, _) in enumerate(plain) if SILENCE not in origin]
    assert all(changed[i] != plain[i] for i in spoken)
    assert all(changed[i] == plain[i] for i in range(len(plain)) if i not in spoken)


def test_reverb_and_band_limit_change_only_the_clips_they_are_asked_for():
    assert_only_the_spoken_clips_change({"speakers": 2, "reverb": 0.0, "band_limit": 0.0}, {"reverb": 1.0, "band_limit": 1.0})


def test_an_equaliser_lifts_or_cuts_bands_and_keeps_the_peak_level():
    word = np.random.default_rng(3).standard_normal(16_000).astype(np.float32) * 0.3
    changes = []
    for seed in range(6):
        heard = synthetic.equaliser(word, np.random.default_rng(seed))
        assert heard.dtype == np.float32 and np.abs(heard).max() == pytest.approx(np.abs(word).max(), rel=1e-5)
        bands = [(150, 400), (400, 1000), (1000, 2500), (2500, 6000)]
        changes.append([spectrum_share(heard, *band) / spectrum_share(word, *band) for band in bands])
    assert max(max(row) / min(row) for row in changes) > 2  # some band moved by more than 3 dB against another


def test_the_equaliser_changes_only_the_clips_it_is_asked_for():
    assert_only_the_spoken_clips_change({"speakers": 2, "equaliser": 0.0}, {"equaliser": 1.0})


def test_voice_changes_are_drawn_per_speaker_within_their_ranges():
    changes = [synthetic.voice_change(0.5, 0, synthetic.PICO_STREAMS, index) for index in range(60)]
    drawn = [change for change in changes if change]
    assert 15 < len(drawn) < 45
    assert all(0.85 <= c.formant_ratio <= 1.2 and 90 <= c.pitch_median_hz <= 260 and 0.6 <= c.pitch_range <= 1.5
               for c in drawn)
    assert changes == [synthetic.voice_change(0.5, 0, synthetic.PICO_STREAMS, index) for index in range(60)]
    assert changes != [synthetic.voice_change(0.5, 0, synthetic.FLITE_STREAMS, index) for index in range(60)]
    assert all(synthetic.voice_change(1.0, 0, synthetic.ESPEAK_STREAMS, index) for index in range(20))
    assert not any(synthetic.voice_change(0.0, 0, synthetic.ESPEAK_STREAMS, index) for index in range(20))


def test_a_voice_change_changes_the_spoken_clips_of_its_speakers_only():
    assert_only_the_spoken_clips_change({"speakers": 2, "pico_speakers": 1}, {"voice_change": 1.0})
    voices = {clip.columns["voice"] for clip in synthetic.synthesise(tiny(speakers=2, voice_change=1.0))}
    assert len(voices) == 2 and all("formants x" in voice for voice in voices)


def test_questions_end_a_share_of_the_spoken_takes_in_a_question_mark():
    def texts(share, index=0):
        return [text for _, text in synthetic.plan(tiny(questions=share)["data"], 0, synthetic.PICO_STREAMS, index)]
    plain = texts(0.0)
    assert plain == ["yes", "no", "up", plain[3], ""] and not any(text.endswith("?") for text in plain)
    assert texts(1.0) == [f"{text}?" if text else "" for text in plain]
    asked = [text.endswith("?") for index in range(40) for text in texts(0.5, index) if text]
    assert 0.3 < np.mean(asked) < 0.7
    assert texts(0.5, 7) == texts(0.5, 7)


def rise_hz(samples, sample_rate):
    """The last voiced pitch less the first, in Hz: above 0 for a rising contour."""
    voiced = praat.voiced_pitch(audio.resample(samples, sample_rate))
    return voiced[-3:].mean() - voiced[:3].mean()


def test_espeak_and_pico_say_a_question_with_a_rising_pitch():
    engine = espeak.Speaker()
    for word in ("yes", "go"):
        assert rise_hz(engine.say(word, "en-us", 170, 50, 50), engine.sample_rate) < 0
        assert rise_hz(engine.say(f"{word}?", "en-us", 170, 50, 50), engine.sample_rate) > 0
        assert rise_hz(pico.say(word, pico.VOICES[0], 1.0, 1.0), pico.SAMPLE_RATE) < 0
        assert rise_hz(pico.say(f"{word}?", pico.VOICES[0], 1.0, 1.0), pico.SAMPLE_RATE) > 20


def test_questions_change_the_spoken_clips_only_and_reach_kokoro():
    assert_only_the_spoken_clips_change({"speakers": 2, "pico_speakers": 1}, {"questions": 1.0})
    params = tiny(kokoro_speakers=2, questions=1.0)
    speakers = synthetic.kokoro_voices(2, 0)
    requests = list(synthetic.kokoro_requests(params["data"], 0, speakers, espeak.Speaker()))
    assert len(requests) == 8 and all(phonemes.endswith("?") for phonemes, _, _ in requests)
