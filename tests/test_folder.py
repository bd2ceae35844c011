from stages.sources import folder

LABELS = ["yes", "no", "_silence_", "_unknown_"]


def test_scan_maps_words_to_labels_and_unknown(sample):
    rows = folder.scan(sample, LABELS)
    labels = {row["label"] for row in rows}
    assert labels == {"yes", "no", "_unknown_"}
    assert not [row for row in rows if row["path"].startswith("_background_noise_")]
    assert len([r for r in rows if r["label"] == "yes"]) == len(list((sample / "yes").glob("*.wav")))
    assert all(r["path"].split("/")[0] not in ("yes", "no") for r in rows if r["label"] == "_unknown_")


def test_scan_without_unknown_leaves_other_words_out(sample):
    rows = folder.scan(sample, ["yes", "no"])
    assert {row["label"] for row in rows} == {"yes", "no"}


def test_scan_keeps_corrupt_audio_files_for_the_decoder_to_report(tmp_path):
    (tmp_path / "yes").mkdir()
    (tmp_path / "yes" / "broken.wav").write_bytes(b"not audio")
    (tmp_path / "yes" / "notes.txt").write_text("not a clip")
    (tmp_path / "yes" / "take.FLAC").write_bytes(b"")
    assert folder.scan(tmp_path, LABELS) == [
        {"path": "yes/broken.wav", "label": "yes"}, {"path": "yes/take.FLAC", "label": "yes"},
    ]
