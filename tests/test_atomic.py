import pytest

from stages import atomic


def test_output_dir_replaces_only_on_success(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic.output_dir(target) as partial:
        (partial / "new.txt").write_text("new")
        assert (target / "old.txt").exists()
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert not (tmp_path / "out.partial").exists()


def test_output_dir_interrupted_keeps_the_old_output(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic.output_dir(target) as partial:
            (partial / "half.txt").write_text("half")
            raise KeyboardInterrupt
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert not (tmp_path / "out.partial").exists()


def test_output_file_interrupted_leaves_nothing(tmp_path):
    target = tmp_path / "metrics" / "m.json"
    with pytest.raises(RuntimeError):
        with atomic.output_file(target) as partial:
            partial.write_text("{")
            raise RuntimeError("crash")
    assert list(target.parent.iterdir()) == []


def test_output_file_written_whole(tmp_path):
    target = tmp_path / "m.json"
    with atomic.output_file(target) as partial:
        partial.write_text("{}")
    assert target.read_text() == "{}"
