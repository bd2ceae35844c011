import numpy as np
import pytest
from numpy.lib.format import open_memmap

from stages.errors import PipelineError
from stages.features import Split


def make_split(directory, clips=10, length=50, with_mask=True):
    directory.mkdir(parents=True)
    values = open_memmap(directory / "input_values.npy", mode="w+", dtype=np.float32, shape=(clips, length))
    values[:] = np.arange(clips, dtype=np.float32)[:, None]
    values.flush()
    np.save(directory / "labels.npy", np.arange(clips, dtype=np.int32))
    if with_mask:
        np.save(directory / "attention_mask.npy", np.ones((clips, length), dtype=np.int8))
    return directory


def test_every_clip_once_per_epoch_with_matching_labels(tmp_path):
    split = Split(make_split(tmp_path / "train"))
    assert len(split) == 10
    dataset = split.dataset(batch_size=4, shuffle_seed=0)
    epochs = []
    for _ in range(2):
        seen = []
        for inputs, labels in dataset:
            assert inputs["attention_mask"].dtype.name == "int32"
            np.testing.assert_array_equal(inputs["input_values"].numpy()[:, 0], labels.numpy())
            seen += labels.numpy().tolist()
        assert sorted(seen) == list(range(10))
        epochs.append(seen)
    assert epochs[0] != epochs[1]


def test_unshuffled_keeps_order_and_no_mask_key_without_a_mask_file(tmp_path):
    split = Split(make_split(tmp_path / "test", with_mask=False))
    batches = list(split.dataset(batch_size=3))
    assert [len(labels) for _, labels in batches] == [3, 3, 3, 1]
    assert set(batches[0][0]) == {"input_values"}
    np.testing.assert_array_equal(np.concatenate([labels for _, labels in batches]), np.arange(10))


def test_missing_arrays_say_to_run_preprocess(tmp_path):
    with pytest.raises(PipelineError, match="run preprocess first"):
        Split(tmp_path / "absent")
