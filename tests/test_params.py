import subprocess
import sys

import pytest
import yaml

from stages import params
from stages.errors import PipelineError
from tests.conftest import REPO, repo_params, with_overrides


def load_with(tmp_path, overrides=None, text=None):
    path = tmp_path / "params.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(with_overrides(repo_params(), overrides or {})))
    return params.load(path)


def test_repository_params_are_valid():
    loaded = params.load(REPO / "params.yaml")
    assert loaded["data"]["source"] == "synthetic"
    assert loaded["data"]["keywords"] == ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"data.sorce": "synthetic"}, "data.sorce: unknown key"),
        ({"train.epochs": "ten"}, "train.epochs: expected an integer"),
        ({"train.epochs": True}, "train.epochs: expected an integer"),
        ({"train.learning_rate": "fast"}, "train.learning_rate: expected a number"),
        ({"data.source": "youtube"}, "data.source: unknown source 'youtube'"),
        ({"data.keywords": []}, "data.keywords: empty"),
        ({"data.keywords": ["yes", "yes"]}, "data.keywords: repeated"),
        ({"data.keywords": [True, "up"]}, "quote them"),
        ({"train.batch_size": 0}, "train.batch_size: must be positive"),
        ({"train.epochs": -1}, "train.epochs: must be positive"),
        ({"split.test_fraction": 0.0}, "split.test_fraction: must lie strictly between 0 and 1"),
        ({"split.validation_fraction": 1.5}, "split.validation_fraction: must lie strictly between 0 and 1"),
        ({"split.validation_fraction": 0.5, "split.test_fraction": 0.5}, "validation_fraction + test_fraction"),
        ({"data.synthetic.snr_db": [30, 5]}, "data.synthetic.snr_db"),
        ({"data.synthetic.fragments": -1}, "data.synthetic.fragments: must be 0 or more"),
        ({"data.synthetic.pico_speakers": -1}, "data.synthetic.pico_speakers: must be 0 or more"),
        ({"data.synthetic.pico_speakers": 1.5}, "data.synthetic.pico_speakers: expected an integer"),
        ({"data.synthetic.pico_speakers": "six"}, "data.synthetic.pico_speakers: expected an integer"),
        ({"data.synthetic.kokoro_speakers": -2}, "data.synthetic.kokoro_speakers: must be 0 or more"),
        ({"data.synthetic.flite_speakers": -1}, "data.synthetic.flite_speakers: must be 0 or more"),
        ({"data.synthetic.festival_speakers": -1}, "data.synthetic.festival_speakers: must be 0 or more"),
        ({"train.label_smoothing": 1.0}, "train.label_smoothing: must lie in [0, 1)"),
        ({"model.mask_feature_prob": 1.0}, "model.mask_feature_prob: must lie in [0, 1)"),
        ({"train.max_grad_norm": -1.0}, "train.max_grad_norm: must not be negative, got -1.0"),
        ({"train.early_stopping.patience": -2}, "train.early_stopping.patience: must not be negative, got -2"),
        ({"data.synthetic.reverb": 1.5}, "data.synthetic.reverb: a share of clips, from 0 to 1"),
        ({"data.synthetic.band_limit": -0.1}, "data.synthetic.band_limit: a share of clips, from 0 to 1"),
        ({"data.synthetic.band_top_hz": [5000.0, 3000.0]}, "data.synthetic.band_top_hz: expected [low, high]"),
        ({"data.synthetic.band_top_hz": [3000.0, 9000.0]}, "below 8000 Hz"),
        ({"train.augment.microphone": 1.5}, "train.augment.microphone: a share of clips must lie in [0, 1]"),
        ({"train.augment.polarity": -0.5}, "train.augment.polarity: a share of clips must lie in [0, 1]"),
        ({"train.augment.truncate": 1.5}, "train.augment.truncate: a share of clips must lie in [0, 1]"),
        ({"train.augment.overlap_db": [20.0]}, "train.augment.overlap_db: expected [] (off) or [low, high]"),
        ({"data.synthetic.questions": 1.5}, "data.synthetic.questions: a share of clips, from 0 to 1"),
        ({"data.synthetic.voice_change": 1.2}, "data.synthetic.voice_change: a share of speakers, from 0 to 1"),
        ({"model.config": 3}, "model.config: expected a mapping"),
        ({"evaluate.extra_sets": {"real": ""}}, "evaluate.extra_sets.real: expected the path of a folder"),
        ({"train.watch_sets": {"real": 3}}, "train.watch_sets.real: expected the path of a folder, got 3"),
    ],
)
def test_bad_params_name_the_key(tmp_path, overrides, key):
    with pytest.raises(PipelineError, match=None) as error:
        load_with(tmp_path, overrides)
    assert key in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_key_is_named(tmp_path):
    loaded = repo_params()
    del loaded["train"]["epochs"]
    with pytest.raises(PipelineError, match="train.epochs: missing"):
        load_with(tmp_path, text=yaml.safe_dump(loaded))


def test_invalid_yaml_is_one_line(tmp_path):
    with pytest.raises(PipelineError, match="not valid YAML") as error:
        load_with(tmp_path, text="seed: [0\n")
    assert "\n" not in str(error.value)


def test_class_names_order():
    data = {"keywords": ["yes", "no"], "silence": True, "unknown": True}
    assert params.class_names(data) == ["yes", "no", "_silence_", "_unknown_"]
    assert params.class_names({**data, "silence": False, "unknown": False}) == ["yes", "no"]


def test_command_line_exits_non_zero_with_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(with_overrides(repo_params(), {"train.batch_size": -4})))
    result = subprocess.run([sys.executable, "-m", "stages.params", str(path)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"error: {path}: train.batch_size: must be positive, got -4"]
