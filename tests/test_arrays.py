import io

import numpy as np
import pytest

from stages.arrays import Rows, RowWriter
from stages.errors import PipelineError


def test_rows_appended_in_chunks_make_the_file_np_save_writes(tmp_path):
    array = np.random.default_rng(0).standard_normal((10, 7)).astype(np.float32)
    with RowWriter(tmp_path / "rows.npy", np.float32, array.shape) as writer:
        for start in range(0, 10, 4):
            writer.write(array[start : start + 4])
    expected = io.BytesIO()
    np.save(expected, array)
    assert (tmp_path / "rows.npy").read_bytes() == expected.getvalue()


def test_a_writer_refuses_rows_of_another_shape_and_too_few_rows(tmp_path):
    writer = RowWriter(tmp_path / "rows.npy", np.int8, (3, 4))
    with pytest.raises(ValueError, match=r"rows.npy: rows of shape \(1, 5\)"):
        writer.write(np.zeros((1, 5)))
    writer.write(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="rows.npy: 2 rows written of 3"):
        writer.close()


def test_take_reads_any_rows_in_the_order_asked(tmp_path):
    array = np.arange(60, dtype=np.float32).reshape(12, 5)
    np.save(tmp_path / "rows.npy", array)
    rows = Rows(tmp_path / "rows.npy")
    assert len(rows) == 12 and rows.shape == (12, 5)
    for indices in ([0, 1, 2, 3], [11, 0, 5], [2, 3, 4, 9, 10, 1], [7], []):
        np.testing.assert_array_equal(rows.take(np.array(indices)), array[indices])
    with pytest.raises(IndexError, match="rows.npy"):
        rows.take(np.array([12]))


def test_one_dimensional_and_version_two_files_are_read(tmp_path):
    with open(tmp_path / "labels.npy", "wb") as file:
        np.lib.format.write_array(file, np.arange(5, dtype=np.int32), version=(2, 0))
    np.testing.assert_array_equal(Rows(tmp_path / "labels.npy").take(np.array([4, 1])), [4, 1])


def test_a_file_that_is_not_npy_or_is_cut_short_names_itself(tmp_path):
    (tmp_path / "text.npy").write_text("not an array")
    with pytest.raises(PipelineError, match="text.npy: not a .npy array"):
        Rows(tmp_path / "text.npy")
    np.save(tmp_path / "cut.npy", np.zeros((4, 100), dtype=np.float32))
    data = (tmp_path / "cut.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:-150])
    with pytest.raises(PipelineError, match="cut.npy: truncated"):
        Rows(tmp_path / "cut.npy").take(np.array([3]))


def test_rows_put_by_position_in_any_order_make_the_file_np_save_writes(tmp_path):
    array = np.random.default_rng(1).standard_normal((9, 5)).astype(np.float32)
    with RowWriter(tmp_path / "rows.npy", np.float32, array.shape) as writer:
        for start in (6, 0, 3):
            writer.slots.put(start, array[start : start + 3])
            writer.filled(3)
        with pytest.raises(ValueError, match=r"rows.npy: rows of shape \(3, 5\) do not fit \(9, 5\) at 7"):
            writer.slots.put(7, array[:3])
    expected = io.BytesIO()
    np.save(expected, array)
    assert (tmp_path / "rows.npy").read_bytes() == expected.getvalue()
