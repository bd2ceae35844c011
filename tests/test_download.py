import csv
import hashlib
from pathlib import Path

import soundfile as sf

from stages import manifest
from tests.conftest import run_stage, write_params


def test_download_writes_speech_commands_layout(project):
    write_params(project, {"data.synthetic.fragments": 1})
    result = run_stage("download", project)
    assert result.returncode == 0, result.stderr
    rows = manifest.read(project / "data/raw/manifest.csv")
    labels = {row["label"] for row in rows}
    assert labels == {"yes", "no", "up", "_silence_", "_unknown_"}
    assert len(rows) == 24 * 6
    assert len({row["speaker"] for row in rows}) == 24
    fragments = [row for row in rows if row["text"].startswith("part of ")]
    assert len(fragments) == 24 and {row["label"] for row in fragments} == {"_unknown_"}
    assert {row["text"] for row in fragments} <= {"part of yes", "part of no", "part of up"}
    for row in rows:
        take = 1 if row in fragments else 0
        assert row["path"] == f"{row['label']}/{row['speaker']}_nohash_{take}.wav"
        info = sf.info(project / "data/raw" / row["path"])
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (16_000, 1, "PCM_16", 8_000)
    assert "24 speakers" in result.stdout


def test_download_speaks_with_both_engines_rooms_and_microphones(project):
    write_params(project, {"data.synthetic.speakers": 2, "data.synthetic.pico_speakers": 6,
                           "data.synthetic.reverb": 0.5, "data.synthetic.band_limit": 0.5})
    result = run_stage("download", project)
    assert result.returncode == 0, result.stderr
    rows = manifest.read(project / "data/raw/manifest.csv")
    pico = [row for row in rows if row["voice"].startswith("pico:")]
    assert len(rows) == 8 * 5 and len(pico) == 6 * 5
    assert {row["voice"] for row in pico} == {f"pico:{voice}" for voice in ("en-US", "en-GB", "de-DE", "es-ES", "fr-FR", "it-IT")}
    assert "8 speakers" in result.stdout


def tree_digest(root):
    return hashlib.sha1(b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())).hexdigest()


def test_download_is_byte_identical_for_the_same_seed(project):
    digests = []
    for _ in range(2):
        assert run_stage("download", project).returncode == 0
        digests.append(tree_digest(project / "data/raw"))
    assert digests[0] == digests[1]


def test_bad_files_of_a_folder_are_reported_and_over_the_threshold_the_stage_fails(project, sample):
    """A corrupt WAV, an empty file and a text file named .wav, among good clips."""
    folder = project / "recordings"
    good = sorted((sample / "yes").glob("*.wav"))[:8] + sorted((sample / "no").glob("*.wav"))[:8]
    for clip in good:
        (folder / clip.parent.name).mkdir(parents=True, exist_ok=True)
        (folder / clip.parent.name / clip.name).write_bytes(clip.read_bytes())
    (folder / "yes" / "corrupt_nohash_0.wav").write_bytes(good[0].read_bytes()[:40])
    (folder / "no" / "empty_nohash_0.wav").touch()
    (folder / "no" / "notes_nohash_0.wav").write_text("not audio at all\n")
    overrides = {"data.source": "folder", "data.folder.path": str(folder), "data.keywords": ["yes", "no"],
                 "data.unknown": False, "data.silence": False, "data.max_duration_s": 1.0}

    write_params(project, overrides)
    result = run_stage("download", project)
    assert result.returncode == 1
    assert "error: download: 3 of 19 clips rejected (cannot decode audio: 3)" in result.stderr
    assert "15.8%, over data.max_reject_fraction (1.0%)" in result.stderr
    assert not (project / "data/raw").exists()
    with open(project / "data/rejects/download.csv", newline="") as handle:
        rejects = {Path(row["origin"]).name: row["reason"] for row in csv.DictReader(handle)}
    assert set(rejects) == {"corrupt_nohash_0.wav", "empty_nohash_0.wav", "notes_nohash_0.wav"}
    assert all(reason.startswith("cannot decode audio (") for reason in rejects.values())

    write_params(project, {**overrides, "data.max_reject_fraction": 0.2})
    result = run_stage("download", project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("download: 3 of 19 clips rejected (cannot decode audio: 3), listed in")
    assert len(manifest.read(project / "data/raw/manifest.csv")) == 16
