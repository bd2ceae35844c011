import csv

import numpy as np
import pytest
import soundfile as sf

from stages import audio, ingest
from stages.errors import PipelineError

LABELS = ["yes", "no", "_unknown_"]


def from_file(path, label="yes", split=""):
    return ingest.Clip(str(path), label, "speaker", path.name.replace(path.suffix, ".wav"),
                       read=lambda: audio.read(path), split=split)


@pytest.fixture
def files(tmp_path, sample):
    """A good clip, a corrupt WAV (its data cut off mid-header), an empty file, text named .wav,
    a clip of NaNs and one too long."""
    good = tmp_path / "good.flac"
    sf.write(good, audio.read(sample / "yes" / sorted(p.name for p in (sample / "yes").iterdir())[0]), 16_000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes((sample / "no" / sorted(p.name for p in (sample / "no").iterdir())[0]).read_bytes()[:30])
    empty = tmp_path / "empty.wav"
    empty.touch()
    text = tmp_path / "notes.wav"
    text.write_text("these are my notes, not audio\n")
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(8_000, np.nan, dtype=np.float32), 16_000, subtype="FLOAT")
    long = tmp_path / "long.wav"
    sf.write(long, np.zeros(40_000, dtype=np.float32), 16_000)
    return {"good": good, "corrupt": corrupt, "empty": empty, "text": text, "nan": nan, "long": long}


def test_bad_files_are_rejected_with_their_reason(files, tmp_path):
    clips = [from_file(path) for path in files.values()] + [from_file(files["good"], label="maybe")]
    clips[-1] = ingest.Clip(clips[-1].origin, "maybe", "speaker", "other.wav", clips[-1].read)
    rows, rejects = ingest.write_clips(clips, tmp_path / "raw", LABELS, 16_000)
    assert [row["path"] for row in rows] == ["yes/good.wav"]
    assert rows[0]["sha256"] == ingest.fingerprint(audio.read(tmp_path / "raw/yes/good.wav"))
    reasons = {reject.origin: reject.reason for reject in rejects}
    assert reasons[str(files["corrupt"])].startswith("cannot decode audio")
    assert reasons[str(files["empty"])].startswith("cannot decode audio")
    assert reasons[str(files["text"])].startswith("cannot decode audio")
    assert reasons[str(files["nan"])] == "NaN or infinite samples"
    assert reasons[str(files["long"])] == "2.50 s, longer than data.max_duration_s (1 s)"
    assert reasons[str(files["good"])] == "label 'maybe' is not one of ['yes', 'no', '_unknown_']"
    assert len(rejects) == 6


def test_a_few_rejects_are_reported_and_the_stage_goes_on(tmp_path):
    rejects = [ingest.Reject("a.wav", "cannot decode audio (Format not recognised.)")]
    summary = ingest.report(rejects, 200, tmp_path / "rejects" / "download.csv", 0.01, "download")
    assert summary == ("download: 1 of 200 clips rejected (cannot decode audio: 1), "
                       f"listed in {tmp_path / 'rejects' / 'download.csv'}")
    with open(tmp_path / "rejects" / "download.csv", newline="") as handle:
        assert list(csv.reader(handle)) == [["origin", "reason"], ["a.wav", "cannot decode audio (Format not recognised.)"]]
    assert ingest.report([], 200, tmp_path / "none.csv", 0.01, "split") == "split: no clips rejected"
    assert (tmp_path / "none.csv").read_text() == "origin,reason\n"


def test_over_the_threshold_the_stage_fails_naming_the_count_and_keeps_the_report(tmp_path):
    rejects = [ingest.Reject(f"{i}.wav", "no audio samples") for i in range(3)]
    with pytest.raises(PipelineError) as error:
        ingest.report(rejects, 100, tmp_path / "download.csv", 0.02, "download")
    message = str(error.value)
    assert "download: 3 of 100 clips rejected (no audio samples: 3)" in message
    assert "3.0%, over data.max_reject_fraction (2.0%)" in message and "0.wav: no audio samples" in message
    assert "\n" not in message
    assert len((tmp_path / "download.csv").read_text().splitlines()) == 4


def test_fingerprint_is_the_audio_not_the_container(files, tmp_path):
    samples = audio.read(files["good"])
    sf.write(tmp_path / "copy.wav", samples, 16_000, subtype="PCM_16")
    assert ingest.fingerprint(audio.read(tmp_path / "copy.wav")) == ingest.fingerprint(samples)
    assert ingest.fingerprint(samples[1:]) != ingest.fingerprint(samples)


def test_two_clips_on_one_path_is_an_error(files, tmp_path):
    clips = [from_file(files["good"]), from_file(files["good"])]
    with pytest.raises(PipelineError, match="would both be written to yes/good.wav"):
        ingest.write_clips(clips, tmp_path / "raw", LABELS, 16_000)
