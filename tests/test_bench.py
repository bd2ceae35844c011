"""The benchmarks (bench/) run end to end at the tiny size and write well-formed results.

Not a timed test: the figures at this size mean nothing; `make bench` measures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import agreement, durations, keywords, kokoro_cache, pitch_bands, polarity, report, spectra, stream
from bench.project import write_splits
from bench.run import BENCHMARKS
from stages import audio, predict
from tests.conftest import REPO, TINY

HEADLINE = ("train_step_ratio_base", "train_step_ratio_small", "preprocess_speedup_vs_seed",
            "memory_ratio_50k_over_5k", "noop_repro_s")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m bench.run --size tiny` into a scratch directory, in a fresh process (thread
    pools are set once per process)."""
    out = tmp_path_factory.mktemp("bench")
    result = subprocess.run([sys.executable, "-m", "bench.run", "--size", "tiny", "--out", str(out),
                             "--work", str(out), "--repro-seconds", "402"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"bench.run failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return out


def test_results_json_has_every_headline_key_with_a_figure(results):
    document = json.loads((results / report.JSON).read_text())
    assert document["size"] == "tiny" and document["errors"] == {}
    for key in ("train_step_ratio_base", "train_step_ratio_small", "preprocess_speedup_vs_seed", "noop_repro_s"):
        assert isinstance(document[key], float) and document[key] > 0, key
    assert set(document["memory_ratio_50k_over_5k"]) == {"preprocess", "train", "evaluate"}
    assert all(ratio > 0 for ratio in document["memory_ratio_50k_over_5k"].values())
    assert document["repro_wall_s"] == 402
    assert 0 <= document["repro_accuracy"] <= 1
    assert set(document["benchmarks"]) == set(BENCHMARKS)
    machine = document["machine"]
    assert machine["cpu_model"] and machine["logical_cpus"] >= 1
    assert {"python", "tensorflow", "torch", "transformers"} <= set(machine["versions"])


def test_benchmarks_compare_like_with_like(results):
    benchmarks = json.loads((results / report.JSON).read_text())["benchmarks"]
    for case in benchmarks["train_step"].values():
        assert len(set(case["parameters"].values())) == 1, "TF and PyTorch models differ"
        assert {"tf", "pytorch"} <= set(case["step_s"])
    assert benchmarks["preprocess"]["max_abs_difference"] < 1e-6
    for config in benchmarks["predict"]["configs"].values():
        assert set(config["latency_ms"]) == {"keras", "saved_model", "tflite"}
        assert max(config["max_abs_difference_vs_keras"].values()) < 1e-4
    assert benchmarks["noop_repro"]["materialise_ran"] == ["split", "preprocess", "train", "evaluate", "export"]


def test_results_markdown_has_the_machine_and_every_section(results):
    text = (results / report.MARKDOWN).read_text()
    assert "Machine:" in text and "tensorflow 2" in text
    for section in ("## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 6.", "## Headline"):
        assert section in text
    assert "## Errors" not in text


def test_headline_keys_are_present_when_benchmarks_are_missing():
    assert set(HEADLINE) <= set(report.headline({}))
    assert all(value is None for value in report.headline({}).values())


def test_scratch_splits_hold_every_label(tmp_path):
    rows = [{"path": f"{label}/{speaker:08x}_nohash_0.wav", "label": label, "speaker": f"{speaker:08x}"}
            for speaker in range(10) for label in ("a", "b", "c")]
    write_splits(tmp_path, rows)
    for name in ("train", "validation", "test"):
        labels = {line.split(",")[1] for line in (tmp_path / "data/splits" / f"{name}.csv").read_text().splitlines()[1:]}
        assert labels == {"a", "b", "c"}


def test_train_profile_times_the_positional_conv_with_the_fix_and_without(tmp_path):
    """`python -m bench.train_profile` on the tiny model, with stages.model's positional conv
    and with transformers' own (--upstream-positional-conv), each in a fresh process (thread
    pools are set once per process, and the option swaps a class method)."""
    used = {}
    for flags in ([], ["--upstream-positional-conv"]):
        out = tmp_path / f"profile{len(flags)}.json"
        result = subprocess.run([sys.executable, "-m", "bench.train_profile", "--config", "tiny", "--repeats", "1",
                                 "--step-repeats", "1", "--threads", "1", "--json", str(out), *flags],
                                cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0, f"bench.train_profile failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        document = json.loads(out.read_text())
        rows = {row["part"].split(" (")[0]: row for row in document["rows"]}
        assert rows["pos_conv_embed"]["tf_ms"] > 0 and rows["pos_conv_embed"]["pt_ms"] > 0
        assert rows["FULL STEP"]["ratio"] > 0
        used[bool(flags)] = document["positional_conv"]
    assert used == {False: "stages.model._positional_conv_as_plain_convs",
                    True: "transformers.models.wav2vec2.modeling_tf_wav2vec2.TFWav2Vec2WeightNormConv1D.call"}


def voiced(hz: float) -> np.ndarray:
    """A second of a buzz at `hz` (its first five harmonics), as a voiced vowel has."""
    t = np.arange(16_000) / 16_000
    return (0.1 * sum(np.sin(2 * np.pi * hz * k * t) / k for k in range(1, 6))).astype(np.float32)


def test_pitch_bands_finds_each_engines_pitch(tmp_path):
    rows = [("yes/a_nohash_0.wav", "yes", "en-us+Alicia", 120.0), ("no/b_nohash_0.wav", "no", "pico:en-GB", 250.0),
            ("_unknown_/c_nohash_0.wav", "_unknown_", "flite:slt", 300.0)]
    with open(tmp_path / "manifest.csv", "w") as handle:
        handle.write("path,label,voice\n")
        for path, label, voice, hz in rows:
            audio.write(tmp_path / path, voiced(hz))
            handle.write(f"{path},{label},{voice}\n")
    found = pitch_bands.engine_pitches(tmp_path)
    assert set(found) == {"espeak", "pico"}
    assert found["espeak"] == pytest.approx(120, rel=0.03) and found["pico"] == pytest.approx(250, rel=0.03)


def test_spectra_weighs_the_loud_frames_band_by_band():
    t = np.arange(16_000) / 16_000
    word = np.where((t > 0.4) & (t < 0.6), np.sin(2 * np.pi * 5500 * t), 0.0)
    hum = 0.01 * np.sin(2 * np.pi * 100 * t)
    levels = spectra.band_levels([word + hum])
    assert int(np.argmax(levels)) == spectra.EDGES_HZ.index(5000), "the word's band, not the hum's"
    assert levels[spectra.EDGES_HZ.index(5000)] - levels[0] > 30
    brighter = spectra.band_levels([word + hum, np.sin(2 * np.pi * 500 * t)])
    assert brighter[spectra.EDGES_HZ.index(500)] > levels[spectra.EDGES_HZ.index(500)] + 20


def test_durations_span_the_word_above_the_noise_floor():
    t = np.arange(16_000) / 16_000
    word = np.where((t >= 0.3) & (t < 0.7), np.sin(2 * np.pi * 300 * t), 0.0)
    noise = 0.01 * np.random.default_rng(0).standard_normal(len(t))
    assert durations.word_duration(word + noise) == pytest.approx(0.4, abs=0.026)
    assert durations.word_duration(0.1 * (word + noise)) == pytest.approx(0.4, abs=0.026), "level does not matter"
    assert durations.word_duration(word + 20 * noise) > 0.9, "a floor within 20 dB of the word counts"


def test_stream_places_each_word_over_noise_at_the_asked_level():
    word = voiced(200.0)[:8000]
    samples, placed = stream.recording([("yes", word), ("_unknown_", 0.5 * word)], 3.0, 20.0, np.random.default_rng(0))
    assert len(samples) == 6 * audio.SAMPLE_RATE
    assert [(p.label, p.start, p.end) for p in placed] == [("yes", 1.5, 2.0), ("_unknown_", 4.5, 5.0)]
    gap = samples[int(2.5 * audio.SAMPLE_RATE) : int(4 * audio.SAMPLE_RATE)]
    median_rms = 0.75 * np.sqrt(np.mean(word**2))
    assert 20 * np.log10(median_rms / np.sqrt(np.mean(gap**2))) == pytest.approx(20.0, abs=1.0)


def test_stream_tallies_heard_misheard_missed_and_false_alarms():
    placed = [stream.Placed("yes", 1.0, 1.5), stream.Placed("no", 4.0, 4.5), stream.Placed("up", 7.0, 7.5),
              stream.Placed("_unknown_", 10.0, 10.5)]
    events = [predict.Event("no", 0.8, 1.2, 0.9), predict.Event("yes", 1.1, 1.6, 0.9),  # heard, a wrong one beside it
              predict.Event("go", 4.4, 4.9, 0.8),  # misheard
              predict.Event("on", 10.2, 10.6, 0.8), predict.Event("off", 10.3, 10.7, 0.8),  # on a word that is no keyword
              predict.Event("off", 13.0, 13.4, 0.8)]  # fired on the noise
    counts = stream.tally(events, placed, slack_s=0.3)
    assert (counts["heard"], counts["misheard"], counts["missed"]) == (1, 1, 1)
    assert counts["heard yes"] == 1 and counts["said up"] == 1 and counts["heard up"] == 0
    assert counts["false alarms on other words"] == 1 and counts["false alarms in the noise"] == 1


def test_stream_labels_the_words_that_are_no_keyword_unknown(tmp_path):
    for path in ("yes/a_nohash_0.wav", "bed/b_nohash_0.wav", "_background_noise_/noise.wav"):
        audio.write(tmp_path / path, voiced(150.0))
    clips = stream.word_clips(tmp_path, ["_silence_", "_unknown_", "yes", "no"])
    assert [label for label, _ in clips] == ["_unknown_", "yes"]
    assert all(len(clip) == audio.SAMPLE_RATE for _, clip in clips)


def test_polarity_compares_the_clips_as_they_are_flipped_and_averaged():
    truth = np.array([0, 1, 1])
    plain = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    flipped = np.array([[0.8, 0.2], [0.3, 0.7], [0.7, 0.3]])
    found = polarity.compare(plain, flipped, truth)
    assert found == {"as they are": pytest.approx(2 / 3), "flipped": pytest.approx(2 / 3),
                     "averaged": pytest.approx(1.0), "changed": 2}


def test_agreement_counts_the_models_right_on_each_clip_and_averages_them():
    truth = np.array([0, 1, 1, 0])
    first = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.4, 0.6]])
    second = np.array([[0.8, 0.2], [0.1, 0.9], [0.45, 0.55], [0.3, 0.7]])
    found = agreement.agreement([first, second], truth)
    assert found["accuracies"] == [0.5, 0.75]
    assert found["right_by"] == [1, 1, 2]
    assert found["ensemble"] == 0.75


def test_keyword_clips_leave_out_silence_and_other_words(tmp_path):
    for path in ("yes/a_nohash_0.wav", "no/b_nohash_0.wav", "bed/c_nohash_0.wav", "_silence_/d_nohash_0.wav"):
        audio.write(tmp_path / path, voiced(150.0))
    clips, truth = keywords.keyword_clips(tmp_path, ["_silence_", "_unknown_", "yes", "no"])
    assert sorted(truth.tolist()) == [2, 3]
    assert all(len(clip) == len(voiced(150.0)) for clip in clips)


def test_kokoro_cache_times_a_rerun_whose_clips_match_those_spoken(tmp_path):
    tiny = {**TINY, "data.synthetic.speakers": 1, "data.synthetic.kokoro_speakers": 2}
    found = kokoro_cache.measure(tiny, 1, tmp_path)
    assert found["clips"] == 2 * 5 + 5
    assert found["identical"] is True
    assert found["cold_s"] > 0 and found["warm_s"] > 0
    assert len(list((tmp_path / "cache0").rglob("output.pkl"))) == 2 * 4
