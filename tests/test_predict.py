from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tf_keras as keras

from stages import audio, predict, preprocess
from stages.errors import PipelineError
from stages.inference import Classifier
from stages.model import build
from stages.params import SILENCE, UNKNOWN
from stages.sources.synthetic import coloured_noise
from tests.conftest import REPO, TINY, repo_params

LABELS = ["yes", "no", "up", SILENCE, UNKNOWN]


def predict_main(capsys: pytest.CaptureFixture, *args: object) -> tuple[list[str], str]:
    """Run `python -m stages.predict` in this process: stdout lines and stderr."""
    predict.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return captured.out.splitlines(), captured.err


def test_a_line_per_audio_file_of_a_folder(trained, sample, capsys):
    clips = sorted(sample.rglob("*.wav"))
    lines, _ = predict_main(capsys, "--model", trained / "models/kws", sample)
    assert len(lines) == len(clips) == 266
    assert [line.split()[0] for line in lines] == [str(clip) for clip in clips]
    for line in lines:
        _, label, probability = line.split()
        assert label in LABELS and 0.0 <= float(probability) <= 1.0


@pytest.mark.parametrize("output", ["table", "jsonl"])
def test_top_k_are_the_classifiers_best_labels(trained, sample, capsys, output):
    clips = sorted((sample / "up").glob("*.wav"))
    lines, _ = predict_main(capsys, "--model", trained / "models/kws", "--top-k", 3, "--format", output, sample / "up")
    if output == "jsonl":
        rows = [json.loads(line) for line in lines]
        ranked = [[(p["label"], p["probability"]) for p in row["predictions"]] for row in rows]
        assert [row["path"] for row in rows] == [str(clip) for clip in clips]
    else:
        fields = [line.split() for line in lines]
        ranked = [[(label, float(p)) for label, p in zip(row[1::2], row[2::2])] for row in fields]
        assert [row[0] for row in fields] == [str(clip) for clip in clips]
    classifier = Classifier.load(trained / "models/kws")
    expected = classifier.probabilities([audio.read(clip) for clip in clips])
    for best, probabilities in zip(ranked, expected):
        assert len(best) == 3 and len({label for label, _ in best}) == 3
        assert [p for _, p in best] == sorted((p for _, p in best), reverse=True)
        assert best[0][0] == LABELS[probabilities.argmax()]
        for label, p in best:
            assert p == pytest.approx(probabilities[LABELS.index(label)], abs=1e-4)


def test_flac_44k_stereo_scores_like_the_16k_original(trained, sample, tmp_path, capsys):
    original = sample / "yes" / sorted(os.listdir(sample / "yes"))[0]
    clip = audio.read(original)
    stereo = np.stack([clip, 0.5 * clip], axis=1)
    sf.write(tmp_path / "yes.flac", audio.resample(stereo, audio.SAMPLE_RATE, 44_100), 44_100)
    assert (sf.info(tmp_path / "yes.flac").samplerate, sf.info(tmp_path / "yes.flac").channels) == (44_100, 2)
    lines, _ = predict_main(capsys, "--model", trained / "models/kws", "--format", "jsonl", "--top-k", 5,
                            original, tmp_path / "yes.flac")
    wav, flac = ({p["label"]: p["probability"] for p in json.loads(line)["predictions"]} for line in lines)
    assert set(flac) == set(LABELS)
    for label in LABELS:
        assert flac[label] == pytest.approx(wav[label], abs=0.01)


def test_glob_patterns_and_missing_paths(trained, sample, capsys):
    matched = sorted((sample / "no").glob("*.wav"))
    with pytest.raises(PipelineError, match="2 of 22 inputs"):
        predict.main(["--model", str(trained / "models/kws"), str(sample / "no" / "*.wav"), str(sample / "nope.wav"),
                      str(sample / "zz*")])
    captured = capsys.readouterr()
    assert [line.split()[0] for line in captured.out.splitlines()] == [str(path) for path in matched]
    assert len(matched) == 20
    assert f"error: {sample / 'nope.wav'}: no such file or folder" in captured.err
    assert f"error: {sample / 'zz*'}: no files match" in captured.err


def test_unreadable_and_empty_files_are_reported_and_the_others_scored(trained, sample, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(sample / "yes" / sorted(os.listdir(sample / "yes"))[0], folder / "good.wav")
    (folder / "broken.wav").write_bytes(b"RIFF, but not really")
    sf.write(folder / "empty.wav", np.zeros(0, dtype=np.float32), audio.SAMPLE_RATE)
    (folder / "notes.txt").write_text("not audio, and inside a folder: skipped without a word\n")
    result = subprocess.run(
        [sys.executable, "-m", "stages.predict", "--model", str(trained / "models/kws"), "clips"],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 1
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["clips/good.wav"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors[0].startswith("error: clips/broken.wav: cannot decode audio (")
    assert errors[1:] == ["error: clips/empty.wav: no audio samples", "error: 2 of 3 inputs could not be scored"]
    assert "notes.txt" not in result.stderr


def test_windows_cover_the_recording():
    samples = np.arange(37_600, dtype=np.float32)
    views = predict.windows(samples, 16_000, 1_600)
    assert len(views) == 15
    assert [view[0] for view in views] == [i * 1_600 for i in range(15)]
    assert all(len(view) == 16_000 for view in views[:-1]) and views[-1][-1] == samples[-1]
    assert len(predict.windows(samples[:5_000], 16_000, 1_600)) == 1


def ideal_model(words: list[tuple[str, float]], seconds: float, hop_s: float = 0.1, window_s: float = 1.0,
                duration_s: float = 0.4, partial: float = 1.0) -> np.ndarray:
    """Probabilities of a model that hears a word when at least `partial` of it is in the window."""
    starts = np.arange(int(round((seconds - window_s) / hop_s)) + 1) * hop_s
    probabilities = np.tile(np.array([0.02, 0.02, 0.02, 0.9, 0.04]), (len(starts), 1))
    for word, at in words:
        seen = np.clip(np.minimum(starts + window_s, at + duration_s) - np.maximum(starts, at), 0, None) / duration_s
        probabilities[seen >= partial - 1e-9] = np.where(np.array(LABELS) == word, 0.92, 0.02)
    return probabilities


@pytest.mark.parametrize("partial", [1.0, 0.6])
def test_detect_finds_words_in_order_where_they_were_said(partial):
    placed = [("yes", 1.03), ("no", 3.31), ("up", 5.55), ("yes", 8.0), ("yes", 10.2)]
    events = predict.detect(ideal_model(placed, 13.0, partial=partial), LABELS, 0.1, 1.0)
    assert [event.label for event in events] == [word for word, _ in placed]
    for event, (_, at) in zip(events, placed):
        assert abs(event.start - at) <= 0.25 and abs(event.end - (at + 0.4)) <= 0.25
        assert event.probability == pytest.approx(0.92)


def test_detect_drops_repeats_within_the_refractory_period():
    probabilities = ideal_model([], 8.0)
    probabilities[10:15, 0] = probabilities[16:19, 0] = probabilities[40:45, 0] = 0.95
    events = predict.detect(probabilities, LABELS, 0.1, 1.0, refractory_s=0.5)
    assert [(event.label, round(event.start, 2)) for event in events] == [("yes", 1.4), ("yes", 4.4)]
    assert len(predict.detect(probabilities, LABELS, 0.1, 1.0, refractory_s=0.3)) == 3


def test_detect_ignores_silence_and_unknown_and_respects_the_threshold():
    probabilities = np.zeros((30, 5))
    probabilities[:10, 3] = probabilities[10:20, 4] = 1.0
    probabilities[20:25, 1] = 0.69
    assert predict.detect(probabilities, LABELS, 0.1, 1.0, threshold=0.7) == []
    probabilities[22:25, 1] = 0.7
    assert [event.label for event in predict.detect(probabilities, LABELS, 0.1, 1.0, threshold=0.7)] == ["no"]


def test_detect_ignores_a_keyword_heard_by_too_few_windows():
    """One or two windows that caught the start of a word are not the word."""
    probabilities = np.zeros((30, 5))
    probabilities[:, 3] = 1.0
    probabilities[5, 0] = probabilities[12:14, 1] = probabilities[20:23, 2] = 0.9
    assert [event.label for event in predict.detect(probabilities, LABELS, 0.1, 1.0)] == ["up"]
    assert [event.label for event in predict.detect(probabilities, LABELS, 0.1, 1.0, min_heard_s=0.1)] == ["no", "up"]
    assert [event.label for event in predict.detect(probabilities, LABELS, 0.1, 1.0, min_heard_s=0)] == ["yes", "no", "up"]


def test_detect_places_long_runs_at_their_centre_and_clips_to_the_recording():
    probabilities = np.zeros((40, 5))
    probabilities[0:30, 2] = probabilities[36:40, 0] = 1.0
    up, yes = predict.detect(probabilities, LABELS, 0.1, 1.0, duration_s=4.5)
    assert (up.label, up.start, up.end) == ("up", pytest.approx(1.9), pytest.approx(2.0))
    assert (yes.label, yes.start, yes.end) == ("yes", pytest.approx(3.9), pytest.approx(4.5))


SPOKEN = ("yes", "no", "up")
WINDOW_S = 0.75
NOISE_LEVEL = 0.003


@pytest.fixture(scope="module")
def words(tmp_path_factory) -> dict[str, np.ndarray]:
    """One clean eSpeak take of each keyword at 16 kHz, silence trimmed, made in a fresh process:
    eSpeak keeps state between utterances, so takes made after other tests' would vary with the
    tests that ran before."""
    path = tmp_path_factory.mktemp("words") / "words.npz"
    script = (
        "import sys; import numpy as np; from stages import audio; from stages.espeak import Speaker; "
        "from stages.sources.synthetic import trim; speaker = Speaker(); speaker.seed(0); "
        "np.savez(sys.argv[1], **{w: trim(audio.resample(speaker.say(w, 'en-us', 150, 50, 50), "
        f"speaker.sample_rate)) for w in {SPOKEN!r}}})"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, cwd=REPO)
    with np.load(path) as saved:
        return {word: saved[word] for word in SPOKEN}


def noise(rng: np.random.Generator, length: int) -> np.ndarray:
    return coloured_noise(rng, length, 1.0) * NOISE_LEVEL


def training_windows(words: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[list[np.ndarray], list[int]]:
    """Each word whole at 12 random offsets, 8 fragments of under 80% of it (`_unknown_`: a model
    that fires on fragments hears the wrong word), 12 windows of noise alone; fresh noise each time."""
    length = int(WINDOW_S * audio.SAMPLE_RATE)
    clips, labels = [], []
    for index, word in enumerate(SPOKEN):
        spoken = words[word]
        for offset in rng.integers(0, length - len(spoken) + 1, 12):
            clip = noise(rng, length)
            clip[offset : offset + len(spoken)] += spoken
            clips.append(clip)
            labels.append(index)
        for fraction in rng.uniform(0.05, 0.8, 4):
            cut = int(len(spoken) * fraction)
            head, tail = noise(rng, length), noise(rng, length)
            head[:cut] += spoken[-cut:]
            tail[-cut:] += spoken[:cut]
            clips += [head, tail]
            labels += [LABELS.index(UNKNOWN)] * 2
    clips += [noise(rng, length) for _ in range(12)]
    labels += [LABELS.index(SILENCE)] * 12
    return clips, labels


@pytest.fixture(scope="module")
def spotter(tmp_path_factory, words) -> Path:
    """A tiny model that has learnt the three eSpeak words anywhere in a window, saved as train does.

    Each epoch is a fresh set of 72 windows in 3 batches of 24. Large conv strides (37 frames a
    window) keep it fast enough to train here: about 20 s on two cores. 160 epochs, not 100: at
    100 it missed a word on another CPU, where the same seed trains a different model.
    """
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    extractor = preprocess.feature_extractor({"checkpoint": "", "return_attention_mask": False}, WINDOW_S)

    def batches():
        while True:
            clips, labels = training_windows(words, rng)
            inputs = extractor(clips, sampling_rate=audio.SAMPLE_RATE, return_tensors="np")["input_values"]
            order = rng.permutation(len(labels))
            for start in range(0, len(order), 24):
                chosen = order[start : start + 24]
                yield {"input_values": inputs[chosen]}, np.array(labels)[chosen]

    config = {**TINY["model.config"], "hidden_size": 32, "intermediate_size": 64, "conv_dim": [16, 16, 16],
              "conv_stride": [10, 8, 4], "conv_kernel": [20, 8, 4]}
    model = build({**repo_params()["model"], "config": config}, LABELS)
    model.compile(optimizer=keras.optimizers.Adam(0.005),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(batches(), steps_per_epoch=3, epochs=160, verbose=0)
    directory = tmp_path_factory.mktemp("spotter")
    model.save_pretrained(directory)
    extractor.save_pretrained(directory)
    return directory


def test_stream_hears_the_words_of_a_recording_in_order(spotter, words, tmp_path, capsys):
    rng = np.random.default_rng(1)
    recording = noise(rng, 30 * audio.SAMPLE_RATE)
    said = ["yes", "no", "up", "no", "yes", "up", "up", "yes", "no"]
    placed = [(word, 1.37 + 3.1 * i) for i, word in enumerate(said)]
    for word, at in placed:
        start = int(at * audio.SAMPLE_RATE)
        recording[start : start + len(words[word])] += words[word]
    audio.write(tmp_path / "recording.wav", recording)
    lines, _ = predict_main(capsys, "--model", spotter, "--stream", "--format", "jsonl", tmp_path / "recording.wav")
    (result,) = [json.loads(line) for line in lines]
    assert result["path"] == str(tmp_path / "recording.wav")
    events = result["events"]
    assert [event["label"] for event in events] == [word for word, _ in placed]
    for event, (_, at) in zip(events, placed):
        assert abs(event["start"] - at) <= 0.25
        assert event["start"] < event["end"] <= event["start"] + WINDOW_S
