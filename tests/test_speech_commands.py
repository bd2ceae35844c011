import csv
import functools
import hashlib
import json
import http.server
import tarfile
import threading
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf

from stages import audio, ingest, manifest, params
from stages.errors import PipelineError
from stages.sources import speech_commands
from stages.split import which_set
from tests.conftest import dvc, repo_params, run_stage, scratch_repo, with_overrides, write_params

KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
PERCENT = 20
"""Validation and testing share of the fixture's lists: enough for every class in every split."""
TEST_SILENCE = 3


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def sample_clips(sample):
    """(word, name in the archive, split by the hash rule, file) for every word clip of the sample."""
    with open(sample / "manifest.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["word"]]
    return [
        (row["word"], Path(row["path"]).name.removeprefix(f"{row['word']}_"),
         which_set(row["speaker_id"], PERCENT, PERCENT), sample / row["path"])
        for row in rows
    ]


def build_archives(sample, directory):
    """The main and test archives, laid out as Google's, from the sample's real clips."""
    clips = sample_clips(sample)
    lists = {"validation": [], "test": []}
    for word, name, split, _ in clips:
        if split != "train":
            lists[split].append(f"{word}/{name}")
    staging = directory / "staging"
    staging.mkdir()
    (staging / "validation_list.txt").write_text("".join(f"{p}\n" for p in lists["validation"]))
    (staging / "testing_list.txt").write_text("".join(f"{p}\n" for p in lists["test"]))
    (staging / "LICENSE").write_text("CC BY 4.0\n")
    (staging / "README.md").write_text("Speech Commands: a stand-in built from the shared sample.\n")
    with tarfile.open(directory / "speech_commands_v0.01.tar.gz", "w:gz", compresslevel=1) as tar:
        for name in ("LICENSE", "README.md", "validation_list.txt", "testing_list.txt"):
            tar.add(staging / name, arcname=f"./{name}")
        tar.add(sample / "_background_noise_", arcname="./_background_noise_")
        for word, name, _, source in clips:
            tar.add(source, arcname=f"./{word}/{name}")
    noise, rate = sf.read(sample / "_background_noise_" / "white_noise.wav", dtype="int16")
    with tarfile.open(directory / "speech_commands_test_set_v0.01.tar.gz", "w:gz", compresslevel=1) as tar:
        for index in range(TEST_SILENCE):
            start = index * rate + rate // 2  # not a window the main archive gives: that would be a duplicate
            sf.write(staging / f"{index}.wav", noise[start : start + rate], rate, subtype="PCM_16")
            tar.add(staging / f"{index}.wav", arcname=f"_silence_/{index}.wav")
        for word, name, split, source in clips:
            if split == "test":
                tar.add(source, arcname=f"{word}/{name}" if word in KEYWORDS else f"_unknown_/{word}_{name}")
    return clips


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def server(sample, tmp_path_factory):
    """The two archives served on 127.0.0.1, and the sample clips they hold."""
    directory = tmp_path_factory.mktemp("archives")
    clips = build_archives(sample, directory)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield {
        "clips": clips,
        "data": with_overrides(repo_params(), {"data.keywords": KEYWORDS, "data.speech_commands": {
            "version": "v0.01",
            "url": f"{base}/speech_commands_v0.01.tar.gz",
            "sha256": digest(directory / "speech_commands_v0.01.tar.gz"),
            "test_url": f"{base}/speech_commands_test_set_v0.01.tar.gz",
            "test_sha256": digest(directory / "speech_commands_test_set_v0.01.tar.gz"),
        }})["data"],
    }
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def data_with(server, **overrides):
    return with_overrides(server["data"], overrides)


def windows(sample, names):
    return sum(sf.info(sample / "_background_noise_" / f"{name}.wav").frames // 16_000 for name in names)


def materialise(data, cache, out):
    """The source's clips, written as the download stage writes them; nothing rejected."""
    rows, rejects = ingest.write_clips(speech_commands.materialise(data, cache), out, params.class_names(data),
                                       int(data["max_duration_s"] * 16_000))
    assert rejects == []
    return rows


def protocol_counts(server, sample) -> Counter:
    """(label, split) → clips, as the lists and the SUPERB protocol say."""
    expected = Counter((word if word in KEYWORDS else "_unknown_", split) for word, _, split, _ in server["clips"])
    expected[("_silence_", "train")] = windows(
        sample, ["doing_the_dishes", "dude_miaowing", "exercise_bike", "pink_noise", "white_noise"])
    expected[("_silence_", "validation")] = windows(sample, ["running_tap"])
    expected[("_silence_", "test")] = TEST_SILENCE
    return expected


def test_materialise_follows_the_lists_and_the_superb_protocol(server, cache, sample, tmp_path):
    rows = materialise(server["data"], cache, tmp_path)
    expected = protocol_counts(server, sample)
    assert Counter((row["label"], row["split"]) for row in rows) == expected
    assert all(expected[(label, split)] for label in [*KEYWORDS, "_silence_", "_unknown_"]
               for split in ("train", "validation", "test"))

    assert len({row["path"] for row in rows}) == len(rows)
    for row in rows:
        info = sf.info(tmp_path / row["path"])
        assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
        assert row["duration_s"] == f"{info.frames / 16_000:.3f}"
        folder, name = row["path"].split("/")
        assert folder == row["label"]
        if row["label"] == "_silence_":
            assert row["word"] == ""
        elif row["label"] == "_unknown_":
            assert row["word"] not in KEYWORDS and name.startswith(f"{row['word']}_{row['speaker']}_nohash_")
        else:
            assert row["word"] == row["label"] and name.startswith(f"{row['speaker']}_nohash_")
    first_window = next(r for r in rows if r["split"] == "validation" and r["label"] == "_silence_")
    assert first_window == {"path": "_silence_/running_tap_nohash_0.wav", "label": "_silence_", "speaker": "running_tap",
                           "duration_s": "1.000", "word": "", "split": "validation",
                           "sha256": ingest.fingerprint(audio.read(tmp_path / first_window["path"]))}

    held_out = {(row["word"], row["speaker"]) for row in rows if row["split"] == "test" and row["word"]}
    developed = {(row["word"], row["speaker"]) for row in rows if row["split"] != "test" and row["word"]}
    assert not held_out & developed


def test_second_run_reuses_the_cache_without_the_network(server, cache, tmp_path):
    first = materialise(server["data"], cache, tmp_path / "first")
    settings = server["data"]["speech_commands"]
    host = settings["url"].split("/")[2]
    offline = data_with(server, **{
        f"speech_commands.{key}": settings[key].replace(host, "127.0.0.1:9") for key in ("url", "test_url")
    })
    assert materialise(offline, cache, tmp_path / "second") == first


def test_other_keywords_and_classes_turned_off(server, cache, tmp_path):
    tested = Counter(word for word, _, split, _ in server["clips"] if split == "test" and word not in KEYWORDS)
    other = tested.most_common(1)[0][0]
    data = data_with(server, keywords=["yes", other], silence=False)
    rows = materialise(data, cache, tmp_path / "unknown")
    assert {row["label"] for row in rows} == {"yes", other, "_unknown_"}
    own = Counter(split for word, _, split, _ in server["clips"] if word == other)
    assert Counter(row["split"] for row in rows if row["label"] == other) == own
    assert {row["path"] for row in rows if row["label"] == other and row["split"] == "test"} == {
        f"{other}/{name}" for word, name, split, _ in server["clips"] if word == other and split == "test"
    }
    no = {row["path"] for row in rows if row["word"] == "no" and row["split"] == "test"}
    assert no and all(path.startswith("_unknown_/no_") for path in no)

    data = data_with(server, keywords=["yes", other], unknown=False)
    rows = materialise(data, cache, tmp_path / "known")
    assert {row["label"] for row in rows} == {"yes", other, "_silence_"}


def test_keyword_missing_from_the_archive_is_named(server, cache, tmp_path):
    with pytest.raises(PipelineError, match="data.keywords: zebra not among the words"):
        speech_commands.materialise(data_with(server, keywords=["yes", "zebra"]), cache)


def test_download_and_split_stages_keep_the_archive_splits(server, project):
    write_params(project, {"data.source": "speech_commands", "data.keywords": server["data"]["keywords"],
                           "data.speech_commands": server["data"]["speech_commands"], "data.max_duration_s": 1.0})
    for stage in ("download", "split"):
        result = run_stage(stage, project)
        assert result.returncode == 0, result.stderr
    rows = manifest.read(project / "data/raw/manifest.csv")
    for name in ("train", "validation", "test"):
        written = manifest.read(project / "data/splits" / f"{name}.csv")
        assert len(written) == sum(row["split"] == name for row in rows) > 0
        assert all(row["split"] == name for row in written)
    assert (project / "data/downloads").is_dir()


def test_dvc_repro_trains_and_evaluates_on_the_served_archives(server, sample, tmp_path):
    """The real `dvc repro`, from the download over HTTP to the exported model, tiny model."""
    work = scratch_repo(tmp_path, {"data.source": "speech_commands", "data.keywords": KEYWORDS,
                                   "data.speech_commands": server["data"]["speech_commands"], "data.max_duration_s": 1.0})
    output = dvc("repro", cwd=work)
    assert "download: no clips rejected" in output and "split: no clips rejected" in output
    written = Counter()
    for name in ("train", "validation", "test"):
        written.update((row["label"], name) for row in manifest.read(work / "data/splits" / f"{name}.csv"))
    assert written == protocol_counts(server, sample)
    metrics = json.loads((work / "metrics/metrics.json").read_text())
    assert metrics["clips"] == sum(count for (_, split), count in written.items() if split == "test")
    assert (work / "models/export/model.tflite").is_file()
