import json
import shutil

import numpy as np
import soundfile as sf
from transformers import Wav2Vec2FeatureExtractor

from stages import manifest, preprocess
from tests.conftest import run_stage, write_params


def stage_real_clips(project, sample, words=("yes", "no", "up"), per_word=2):
    """data/raw and data/splits from real clips: each split gets `per_word` clips of each word."""
    raw = project / "data" / "raw"
    splits = {name: [] for name in ("train", "validation", "test")}
    for word in words:
        clips = sorted((sample / word).glob("*.wav"))[: 3 * per_word]
        for i, clip in enumerate(clips):
            (raw / word).mkdir(parents=True, exist_ok=True)
            shutil.copy(clip, raw / word / clip.name)
            row = {"path": f"{word}/{clip.name}", "label": word, "speaker": clip.name.split("_")[0]}
            splits[("train", "validation", "test")[i % 3]].append(row)
    (project / "data" / "splits").mkdir(parents=True)
    for name, rows in splits.items():
        manifest.write(project / "data" / "splits" / f"{name}.csv", rows)
    return splits


def test_features_match_the_feature_extractor(project, sample):
    write_params(project, {"data.unknown": False, "data.silence": False, "data.max_duration_s": 0.8,
                           "model.return_attention_mask": True})
    splits = stage_real_clips(project, sample)
    result = run_stage("preprocess", project)
    assert result.returncode == 0, result.stderr
    features = project / "data" / "features"
    labels = json.loads((features / "labels.json").read_text())["id2label"]
    assert labels == {"0": "yes", "1": "no", "2": "up"}
    reference = Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
    for name, rows in splits.items():
        values = np.load(features / name / "input_values.npy", mmap_mode="r")
        mask = np.load(features / name / "attention_mask.npy")
        assert values.shape == mask.shape == (len(rows), 12_800)
        assert values.dtype == np.float32
        np.testing.assert_array_equal(np.load(features / name / "labels.npy"), [["yes", "no", "up"].index(r["label"]) for r in rows])
        for i, row in enumerate(rows):
            samples, _ = sf.read(project / "data" / "raw" / row["path"], dtype="float32")
            if len(samples) > 12_800:
                start = (len(samples) - 12_800) // 2
                samples = samples[start : start + 12_800]
            expected = reference(samples, sampling_rate=16_000, padding="max_length", max_length=12_800,
                                 return_attention_mask=True, return_tensors="np")
            np.testing.assert_allclose(values[i], expected["input_values"][0], atol=1e-5)
            np.testing.assert_array_equal(mask[i], expected["attention_mask"][0])
            assert mask[i].sum() == min(len(samples), 12_800)
    saved = json.loads((features / "preprocessor_config.json").read_text())
    assert saved["return_attention_mask"] is True and saved["do_normalize"] is True


def test_no_attention_mask_file_when_the_extractor_returns_none(project, sample):
    write_params(project, {"data.unknown": False, "data.silence": False, "model.return_attention_mask": False})
    stage_real_clips(project, sample, per_word=1)
    assert run_stage("preprocess", project).returncode == 0
    for name in ("train", "validation", "test"):
        assert sorted(p.name for p in (project / "data/features" / name).iterdir()) == ["input_values.npy", "labels.npy"]


def test_undecodable_clip_names_the_file_and_leaves_no_output(project, sample):
    write_params(project, {"data.unknown": False, "data.silence": False})
    splits = stage_real_clips(project, sample, per_word=1)
    broken = project / "data" / "raw" / splits["test"][0]["path"]
    broken.write_bytes(b"RIFF not really a wave file")
    result = run_stage("preprocess", project)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: data/raw/{splits['test'][0]['path']}: cannot decode audio")
    assert not (project / "data" / "features").exists()
    assert not (project / "data" / "features.partial").exists()


def test_the_arrays_do_not_depend_on_the_number_of_decoding_processes(project, sample, monkeypatch):
    write_params(project, {"data.unknown": False, "data.silence": False})
    rows = stage_real_clips(project, sample, per_word=3)["train"]
    monkeypatch.setattr(preprocess, "CHUNK", 2)
    extractor = preprocess.feature_extractor({"checkpoint": "", "return_attention_mask": True}, 1.0)
    written = []
    for processes in (1, 2):
        out = project / f"features-{processes}"
        preprocess.write_split(rows, ["yes", "no", "up"], extractor, 16_000, out, "train", processes)
        written.append({name: (out / name).read_bytes() for name in ("input_values.npy", "attention_mask.npy", "labels.npy")})
    assert written[0] == written[1]
    assert len(np.load(project / "features-2" / "input_values.npy")) == len(rows) == 9
