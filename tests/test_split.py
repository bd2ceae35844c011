import csv
import hashlib

import pytest

from stages import manifest, split
from stages.errors import PipelineError
from tests.conftest import run_stage, write_params


def sample_rows(sample):
    with open(sample / "manifest.csv", newline="") as handle:
        return [
            {"path": row["path"], "label": row["word"], "speaker": row["speaker_id"]}
            for row in csv.DictReader(handle) if row["word"]
        ]


def test_which_set_follows_the_speech_commands_formula():
    speaker = "0a7c2a8d"
    percent = (int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % 2**27) * 100 / (2**27 - 1)
    expected = "validation" if percent < 10 else "test" if percent < 20 else "train"
    assert split.which_set(speaker, 10, 10) == expected
    assert split.which_set(speaker, percent + 0.001, 10) == "validation"
    assert split.which_set(speaker, percent - 0.001, 0.002) == "test"
    assert split.which_set(speaker, percent / 2, percent / 2 - 0.001) == "train"


def test_real_speakers_never_share_splits_and_fractions_hold(sample):
    rows = sample_rows(sample)
    splits = split.assign(rows, 0.1, 0.1)
    speakers = {name: {row["speaker"] for row in split_rows} for name, split_rows in splits.items()}
    assert not speakers["train"] & speakers["validation"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["validation"] & speakers["test"]
    many = [{"speaker": f"{i:08x}"} for i in range(20_000)]
    sizes = {name: len(part) / len(many) for name, part in split.assign(many, 0.1, 0.2).items()}
    assert sizes["validation"] == pytest.approx(0.1, abs=0.01)
    assert sizes["test"] == pytest.approx(0.2, abs=0.01)


def test_adding_data_never_moves_a_clip(sample):
    rows = sample_rows(sample)
    before = split.assign(rows[:100], 0.1, 0.1)
    after = split.assign(rows, 0.1, 0.1)
    for name in split.SPLITS:
        assert all(row in after[name] for row in before[name])


def test_a_split_column_from_the_source_wins_over_the_hash():
    rows = [{"label": "yes", "speaker": "a", "split": "test"}, {"label": "yes", "speaker": "a", "split": ""}]
    splits = split.assign(rows, 0.1, 0.1)
    assert splits["test"] == rows[:1]
    assert rows[1] in splits[split.which_set("a", 10, 10)]
    with pytest.raises(PipelineError, match="line 2: split 'dev' is not one of train, validation, test"):
        split.assign([{"label": "yes", "speaker": "a", "split": "dev"}], 0.1, 0.1)


def test_empty_split_and_missing_label_are_clear_errors():
    rows = [{"label": "yes", "speaker": "a"}, {"label": "no", "speaker": "b"}]
    with pytest.raises(PipelineError, match="split 'validation' is empty: add data"):
        split.check({"train": rows, "validation": [], "test": rows}, ["yes", "no"])
    with pytest.raises(PipelineError, match="split 'test' has no clips of no"):
        split.check({"train": rows, "validation": rows, "test": rows[:1]}, ["yes", "no"])


def test_stage_writes_three_manifests_and_prints_counts(project, sample):
    write_params(project, {"data.keywords": ["yes", "no", "up"], "data.unknown": False, "data.silence": False,
                           "split.validation_fraction": 0.3, "split.test_fraction": 0.3})
    rows = [row for row in sample_rows(sample) if row["label"] in ("yes", "no", "up")]
    (project / "data" / "raw").mkdir(parents=True)
    manifest.write(project / "data" / "raw" / "manifest.csv", rows)
    result = run_stage("split", project)
    assert result.returncode == 0, result.stderr
    written = {name: manifest.read(project / "data" / "splits" / f"{name}.csv") for name in split.SPLITS}
    assert sum(len(part) for part in written.values()) == len(rows)
    header, *lines, summary = result.stdout.splitlines()
    assert header.split() == ["label", "train", "validation", "test"]
    assert lines[-1].split() == ["total", *(str(len(written[name])) for name in split.SPLITS)]
    assert summary == "split: no clips rejected"


def test_stage_rejects_labels_outside_the_class_list(project, sample):
    (project / "data" / "raw").mkdir(parents=True)
    manifest.write(project / "data" / "raw" / "manifest.csv", [{"path": "bed/x_nohash_0.wav", "label": "bed", "speaker": "x"}])
    result = run_stage("split", project)
    assert result.returncode == 1
    assert "data/raw/manifest.csv, line 2: label 'bed' is not one of" in result.stderr


def test_the_same_audio_in_two_splits_stays_in_the_most_held_out_one():
    rows = {name: [{"path": f"{name}/{i}.wav", "label": "yes", "speaker": name, "sha256": f"{name}{i}"} for i in range(3)]
            for name in split.SPLITS}
    rows["train"][0]["sha256"] = rows["validation"][1]["sha256"] = rows["test"][2]["sha256"]
    rows["train"][1]["sha256"] = rows["validation"][0]["sha256"]
    rows["train"].append({**rows["train"][2], "path": "train/again.wav"})
    rejects = split.deduplicate(rows)
    assert {(r.origin, r.reason) for r in rejects} == {
        ("train/0.wav", "same audio as test/2.wav (test)"),
        ("validation/1.wav", "same audio as test/2.wav (test)"),
        ("train/1.wav", "same audio as validation/0.wav (validation)"),
    }
    assert [row["path"] for row in rows["train"]] == ["train/2.wav", "train/again.wav"]
    assert [row["path"] for row in rows["validation"]] == ["validation/0.wav", "validation/2.wav"]
    assert len(rows["test"]) == 3


def test_duplicates_over_the_threshold_fail_the_stage_naming_the_count(project, sample):
    write_params(project, {"data.keywords": ["yes", "no", "up"], "data.unknown": False, "data.silence": False,
                           "split.validation_fraction": 0.3, "split.test_fraction": 0.3})
    rows = [{**row, "sha256": row["path"]} for row in sample_rows(sample) if row["label"] in ("yes", "no", "up")]
    held_out = [row for row in rows if split.which_set(row["speaker"], 30, 30) == "test"]
    trained = [row for row in rows if split.which_set(row["speaker"], 30, 30) == "train"]
    for copy, original in zip(trained[:2], held_out):
        copy["sha256"] = original["sha256"]
    (project / "data" / "raw").mkdir(parents=True)
    manifest.write(project / "data" / "raw" / "manifest.csv", rows)
    result = run_stage("split", project)
    assert result.returncode == 1
    assert f"split: 2 of {len(rows)} clips rejected (same audio as" in result.stderr
    assert "over data.max_reject_fraction (1.0%)" in result.stderr
    report = (project / "data" / "rejects" / "split.csv").read_text().splitlines()
    assert report[0] == "origin,reason" and {line.split(",")[0] for line in report[1:]} == {r["path"] for r in trained[:2]}
    assert not (project / "data" / "splits").exists()

    write_params(project, {"data.keywords": ["yes", "no", "up"], "data.unknown": False, "data.silence": False,
                           "split.validation_fraction": 0.3, "split.test_fraction": 0.3, "data.max_reject_fraction": 0.1})
    result = run_stage("split", project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith(f"split: 2 of {len(rows)} clips rejected")
    kept = manifest.read(project / "data" / "splits" / "train.csv")
    assert len(kept) == len(trained) - 2


def test_unknown_and_silence_are_capped_relative_to_the_keywords():
    rows = ([{"path": f"k{i}", "label": "yes"} for i in range(10)] + [{"path": f"n{i}", "label": "no"} for i in range(20)]
            + [{"path": f"u{i}", "label": "_unknown_"} for i in range(100)])
    capped = split.cap(rows, "_unknown_", 1.5, ["yes", "no"], seed=0)
    assert sum(row["label"] == "_unknown_" for row in capped) == 22
    assert [row for row in capped if row["label"] != "_unknown_"] == rows[:30]
    assert split.cap(rows, "_unknown_", 1.5, ["yes", "no"], seed=0) == capped
    assert split.cap(rows, "_unknown_", 1.5, ["yes", "no"], seed=1) != capped
    more = split.cap(rows + [{"path": f"u{i}", "label": "_unknown_"} for i in range(100, 110)], "_unknown_", 1.5,
                     ["yes", "no"], seed=0)
    added = {row["path"] for row in more} - {row["path"] for row in capped}
    assert {row["path"] for row in capped} - {row["path"] for row in more} and len(added) == len(
        {row["path"] for row in capped} - {row["path"] for row in more}) and all(int(p[1:]) >= 100 for p in added)
    assert split.cap(rows, "_unknown_", 0.0, ["yes", "no"], seed=0) == rows
