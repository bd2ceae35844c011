import numpy as np
import pytest

from stages import recordings
from stages.errors import PipelineError

LABELS = ["yes", "no", "up", "_silence_", "_unknown_"]


def test_a_word_folder_is_read_with_other_words_as_unknown(sample):
    found = recordings.read("evaluate.extra_sets.real", str(sample), LABELS)
    words = {"yes", "no", "up"}
    others = [p for p in sample.iterdir() if p.is_dir() and not p.name.startswith("_") and p.name not in words]
    assert len(found.clips) == len(found.paths) == len(found.truth)
    assert (found.truth == LABELS.index("yes")).sum() == len(list((sample / "yes").glob("*.wav")))
    assert (found.truth == LABELS.index("_unknown_")).sum() == sum(len(list(p.glob("*.wav"))) for p in others)
    assert not any(path.startswith("_background_noise_") for path in found.paths)
    assert all(clip.dtype == np.float32 and clip.ndim == 1 for clip in found.clips)


def test_a_missing_or_empty_folder_names_the_key(tmp_path):
    with pytest.raises(PipelineError, match=r"train\.watch_sets\.real: .*missing is not a directory"):
        recordings.read("train.watch_sets.real", str(tmp_path / "missing"), LABELS)
    (tmp_path / "_background_noise_").mkdir()
    with pytest.raises(PipelineError, match=r"evaluate\.extra_sets\.mine: no clips of"):
        recordings.read("evaluate.extra_sets.mine", str(tmp_path), LABELS)


def test_keyword_accuracy_leaves_out_silence_and_unknown():
    truth = np.array([0, 1, 2, 3, 4, 4])
    predicted = np.array([0, 2, 2, 0, 0, 4])
    assert recordings.keyword_accuracy(LABELS, truth, predicted) == pytest.approx(2 / 3)
    assert recordings.keyword_accuracy(LABELS, np.array([3, 4]), np.array([3, 4])) is None
