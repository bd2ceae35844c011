"""The hub source on local parquet datasets built from real Speech Commands clips, offline."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import datasets
import numpy as np
import pytest
import soundfile as sf
import soxr
from datasets import Audio, ClassLabel, Dataset, Features, Value

from stages import audio, ingest
from stages.errors import PipelineError
from stages.sources import hub
from tests.conftest import REPO, SAMPLE

WORDS = ["yes", "no", "bed", "_silence_"]
"""The ClassLabel names of the test datasets: two keywords, a word to become `_unknown_`, silence."""
YES = SAMPLE / "yes" / "0a7c2a8d_nohash_0.wav"
NO = SAMPLE / "no" / "no_08ab231c_nohash_1.wav"
BED = SAMPLE / "bed" / "bed_02ade946_nohash_0.wav"
NOISE = SAMPLE / "_background_noise_" / "white_noise.wav"
RESAMPLED_RMS_ERROR = 1e-3
"""Relative RMS error allowed for a clip taken to 44.1 kHz stereo and back (soxr HQ both ways);
measured 2.0e-4 (largest sample error 1.7e-4 on a peak of 0.31)."""


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No network, and a scratch datasets cache. A connection attempt is refused and recorded,
    then fails the test afterwards: hub.py turns any load error into a PipelineError."""
    attempts: list[tuple[Any, ...]] = []

    def refuse(*args: Any) -> None:
        attempts.append(args)
        raise OSError("network access is off in these tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    yield
    assert not attempts, f"network access attempted: {attempts}"


def wav(path: Path) -> bytes:
    return path.read_bytes()


def encoded(samples: np.ndarray, rate: int, format: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=format, subtype=subtype)
    return buffer.getvalue()


def flac(path: Path) -> bytes:
    """The clip re-encoded losslessly as FLAC (from its 16-bit integers, so bit-exact)."""
    samples, rate = sf.read(path, dtype="int16")
    return encoded(samples, rate, "FLAC", "PCM_16")


def stereo_44k(path: Path) -> bytes:
    """The clip at 44.1 kHz, left channel as is, right at half level, as a float WAV."""
    left = soxr.resample(audio.read(path), audio.SAMPLE_RATE, 44_100, quality="HQ")
    return encoded(np.stack([left, 0.5 * left], axis=1), 44_100, "WAV", "FLOAT")


def silence() -> bytes:
    samples, rate = sf.read(NOISE, dtype="int16", frames=audio.SAMPLE_RATE)
    return encoded(samples, rate, "WAV", "PCM_16")


def row(data: bytes | None, path: str | None, word: str, speaker: str | None) -> dict[str, Any]:
    return {"audio": {"bytes": data, "path": path}, "label": WORDS.index(word), "speaker_id": speaker}


def write(root: Path, splits: dict[str, list[dict[str, Any]]], speakers: bool = True) -> Path:
    """A parquet dataset as the hub stores one: data/<split>-00000-of-00001.parquet.

    Built with a plain struct column, then cast to `Audio`: encoding through `Audio` itself
    needs torchcodec, which is not installed.
    """
    columns = {"audio": {"bytes": Value("binary"), "path": Value("string")}, "label": ClassLabel(names=WORDS)}
    if speakers:
        columns["speaker_id"] = Value("string")
    for split, rows in splits.items():
        table = {name: [r[name] for r in rows] for name in columns}
        dataset = Dataset.from_dict(table, features=Features(columns)).cast_column("audio", Audio())
        dataset.to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


def hub_data(path: Path | str, name: str = "") -> dict[str, Any]:
    return {"hub": {"path": str(path), "name": name}}


@pytest.fixture
def full(tmp_path: Path) -> Path:
    """train / validation / test, with a FLAC clip, a 44.1 kHz stereo clip, silence and a corrupt row."""
    return write(tmp_path / "full", {
        "train": [
            row(wav(YES), f"yes/{YES.name}", "yes", "alice"),
            row(flac(YES), "clips/yes take.flac", "yes", "bob"),
            row(wav(BED), f"bed/{BED.name}", "bed", "carol"),
        ],
        "validation": [
            row(stereo_44k(NO), f"no/{NO.name}", "no", None),
        ],
        "test": [
            row(silence(), "_silence_/white_noise.wav", "_silence_", "noise"),
            row(b"this is not audio", "yes/broken_nohash_0.wav", "yes", "dave"),
        ],
    })


def test_splits_labels_words_and_speakers_come_from_the_dataset(full: Path) -> None:
    clips = list(hub.clips(hub_data(full), ["yes", "no", "_unknown_"]))
    seen = [(c.split, c.label, c.columns["word"], c.speaker) for c in clips]
    assert seen == [
        ("train", "yes", "yes", "alice"), ("train", "yes", "yes", "bob"), ("train", "_unknown_", "bed", "carol"),
        ("validation", "no", "no", "08ab231c"),  # no speaker_id: the id in no_<id>_nohash_1.wav
        ("test", "yes", "yes", "dave"),  # silence is off, so the silence row is left out
    ]
    assert clips[0].origin == f"{full}[train][0] {YES.name}"
    assert [c.name for c in clips] == [
        "train_000000_0a7c2a8d_nohash_0.wav", "train_000001_yes_take.wav", "train_000002_bed_02ade946_nohash_0.wav",
        "validation_000000_no_08ab231c_nohash_1.wav", "test_000001_broken_nohash_0.wav",
    ]


def test_other_words_are_left_out_without_unknown_and_silence_kept_with_it(full: Path) -> None:
    clips = list(hub.clips(hub_data(full), ["yes", "no", "_silence_"]))
    assert [(c.label, c.columns["word"]) for c in clips] == [
        ("yes", "yes"), ("yes", "yes"), ("no", "no"), ("_silence_", "_silence_"), ("yes", "yes"),
    ]


def test_read_decodes_wav_flac_and_44k_stereo_to_16k_mono_float32(full: Path) -> None:
    wav_yes, flac_yes, _, stereo_no, _ = hub.clips(hub_data(full), ["yes", "no", "_unknown_"])
    for clip in (wav_yes, flac_yes, stereo_no):
        samples = clip.read()
        assert samples.dtype == np.float32 and samples.ndim == 1
    assert np.array_equal(wav_yes.read(), audio.read(YES))
    assert np.array_equal(flac_yes.read(), audio.read(YES))  # FLAC is lossless
    original = 0.75 * audio.read(NO)  # the mean of the channels at 1 and 0.5
    decoded = stereo_no.read()
    assert len(decoded) == len(original)
    error = np.sqrt(np.mean((decoded - original) ** 2)) / np.sqrt(np.mean(original ** 2))
    assert error < RESAMPLED_RMS_ERROR


def test_corrupt_audio_is_a_reject_of_the_writer_not_an_error_of_the_source(full: Path, tmp_path: Path) -> None:
    labels = ["yes", "no", "_unknown_"]
    clips = list(hub.clips(hub_data(full), labels))
    with pytest.raises(Exception):
        clips[-1].read()
    rows, rejects = ingest.write_clips(clips, tmp_path / "raw", labels, audio.SAMPLE_RATE)
    assert [r.origin for r in rejects] == [f"{full}[test][1] broken_nohash_0.wav"]
    assert rejects[0].reason.startswith("cannot decode audio")
    assert [r["path"] for r in rows][:2] == ["yes/train_000000_0a7c2a8d_nohash_0.wav", "yes/train_000001_yes_take.wav"]
    assert {r["split"] for r in rows} == {"train", "validation"}


def test_without_validation_and_test_splits_the_speaker_hash_decides(tmp_path: Path) -> None:
    root = write(tmp_path / "only-train", {"train": [
        row(wav(YES), f"yes/{YES.name}", "yes", None),
        row(wav(NO), None, "no", None),
    ]}, speakers=False)
    clips = list(hub.clips(hub_data(root), ["yes", "no"]))
    assert [c.split for c in clips] == ["", ""]
    assert clips[0].speaker == "0a7c2a8d"  # from <id>_nohash_0.wav
    assert clips[1].speaker == clips[1].origin == f"{root}[train][1]"  # no file name: its own speaker
    assert clips[1].name == "train_000001.wav"


def test_an_unlabelled_row_is_left_to_the_writer_to_reject(tmp_path: Path) -> None:
    unlabelled = {**row(wav(YES), None, "yes", "a"), "label": -1}
    root = write(tmp_path / "unlabelled", {"train": [unlabelled]})
    [clip] = hub.clips(hub_data(root), ["yes", "_unknown_"])
    assert (clip.label, clip.columns["word"]) == ("", "")
    _, [reject] = ingest.write_clips([clip], tmp_path / "raw", ["yes", "_unknown_"], audio.SAMPLE_RATE)
    assert reject.reason.startswith("label '' is not one of")


def test_a_dataset_with_train_and_test_only_is_split_by_speaker_hash(tmp_path: Path) -> None:
    root = write(tmp_path / "no-validation", {"train": [row(wav(YES), None, "yes", "a")],
                                             "test": [row(wav(NO), None, "no", "b")]})
    assert [c.split for c in hub.clips(hub_data(root), ["yes", "no"])] == ["", ""]


def test_an_unknown_split_name_is_refused_before_any_clip(tmp_path: Path) -> None:
    root = write(tmp_path / "extra", {"train": [row(wav(YES), None, "yes", "a")],
                                      "extra": [row(wav(NO), None, "no", "b")]})
    with pytest.raises(PipelineError, match=r"data\.hub\.path.*\['extra'\].*dev -> validation"):
        hub.clips(hub_data(root), ["yes", "no"])  # raises on the call, not on iteration


def test_a_missing_or_empty_path_names_data_hub_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(PipelineError, match=rf"^data\.hub\.path: cannot load '{missing}'") as caught:
        hub.clips(hub_data(missing), ["yes"])
    assert "\n" not in str(caught.value)
    with pytest.raises(PipelineError, match=r"^data\.hub\.path: empty"):
        hub.clips(hub_data(""), ["yes"])


def test_an_unknown_config_name_is_named(full: Path) -> None:
    with pytest.raises(PipelineError, match=r"data\.hub\.name 'v9'.*'v9' not found"):
        hub.clips(hub_data(full, "v9"), ["yes"])


def test_a_dataset_without_one_label_column_names_its_columns(tmp_path: Path) -> None:
    root = tmp_path / "strings"
    features = Features({"audio": {"bytes": Value("binary"), "path": Value("string")}, "word": Value("string")})
    table = {"audio": [{"bytes": wav(YES), "path": None}], "word": ["yes"]}
    for split in ("train", "validation", "test"):
        dataset = Dataset.from_dict(table, features=features).cast_column("audio", Audio())
        dataset.to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    with pytest.raises(PipelineError, match=r"0 ClassLabel columns \[\] \(columns: audio, word\)"):
        hub.clips(hub_data(root), ["yes"])


def test_loading_and_decoding_import_no_torch(full: Path, tmp_path: Path) -> None:
    """In a fresh interpreter, clips() and read() leave torch and torchcodec unimported.

    (Blocking them instead is unreliable: `sys.modules["torch"] = None` breaks datasets, which
    imports torch whenever the name is in sys.modules. This venv has no torch anyway.)
    """
    script = (
        "import sys\n"
        "from stages.sources import hub\n"
        f"clips = list(hub.clips({{'hub': {{'path': {str(full)!r}, 'name': ''}}}}, ['yes', 'no', '_unknown_']))\n"
        "decoded = sum(len(c.read()) > 0 for c in clips[:4])\n"
        "print(len(clips), decoded, 'torch' in sys.modules, 'torchcodec' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-4:] == ["5", "4", "False", "False"]
