import pytest

from stages import manifest
from stages.errors import PipelineError


def test_round_trip_puts_required_columns_first(tmp_path):
    rows = [{"duration_s": "1.000", "label": "yes", "path": "yes/a_nohash_0.wav", "speaker": "a"}]
    manifest.write(tmp_path / "m.csv", rows)
    assert (tmp_path / "m.csv").read_text().splitlines()[0] == "path,label,speaker,duration_s"
    assert manifest.read(tmp_path / "m.csv") == rows


def test_missing_column_names_the_file(tmp_path):
    (tmp_path / "m.csv").write_text("path,label\nyes/a.wav,yes\n")
    with pytest.raises(PipelineError, match=r"m\.csv: missing column\(s\) speaker"):
        manifest.read(tmp_path / "m.csv")


def test_empty_value_names_the_line(tmp_path):
    (tmp_path / "m.csv").write_text("path,label,speaker\nyes/a.wav,yes,a\nno/b.wav,,b\n")
    with pytest.raises(PipelineError, match=r"m\.csv, line 3: empty 'label'"):
        manifest.read(tmp_path / "m.csv")


def test_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(PipelineError, match="dvc repro"):
        manifest.read(tmp_path / "absent.csv")
