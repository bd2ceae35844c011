import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from stages import audio, ingest
from stages.errors import PipelineError
from stages.sources import folder
from stages.sources.layout import BACKGROUND

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


# --- clips(): the folder data source --------------------------------------------------------

BAND_HZ = 7000
"""soxr's HQ filter removes what lies above ~7.3 kHz on the way to 44.1 kHz and back, so the
44.1 kHz round trip is compared below this frequency (over all 260 sample clips the band SNR
is 44 dB at worst; full band it falls to 18 dB on clips with energy near 8 kHz)."""
BAND_SNR_DB = 30.0
"""Passes with 14 dB to spare; a decoder that kept only the first channel scores 9.5 dB."""
OGG_CORRELATION = 0.9
"""Vorbis is lossy: over the sample clips the correlation is 0.92 at worst, 0.997 typically."""


def settings(path, silence=True, max_duration_s=1.0):
    """params.yaml's `data` section, as far as the folder source reads it."""
    return {"folder": {"path": str(path)}, "max_duration_s": max_duration_s, "silence": silence}


def band_snr_db(reference, decoded):
    """SNR of `decoded` against `reference` below BAND_HZ."""
    def band(x):
        spectrum = np.fft.rfft(x)
        spectrum[np.fft.rfftfreq(len(x), 1 / audio.SAMPLE_RATE) > BAND_HZ] = 0
        return np.fft.irfft(spectrum, len(x))
    reference, decoded = band(reference), band(decoded[: len(reference)])
    return 10 * np.log10(np.sum(reference**2) / np.sum((reference - decoded) ** 2))


def copy(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def test_flac_ogg_and_44k_stereo_wav_read_as_16k_mono(sample, tmp_path):
    references = [audio.read(path) for path in sorted((sample / "yes").glob("*_nohash_*.wav"))[:3]]
    yes = tmp_path / "yes"
    yes.mkdir()
    sf.write(yes / "a_nohash_0.flac", references[0], audio.SAMPLE_RATE)
    sf.write(yes / "b_nohash_0.ogg", references[1], audio.SAMPLE_RATE, format="OGG", subtype="VORBIS")
    high = soxr.resample(references[2], audio.SAMPLE_RATE, 44_100, quality="HQ")
    sf.write(yes / "c_nohash_0.wav", np.stack([high, 0.5 * high], axis=1), 44_100, subtype="PCM_16")

    found = {clip.name: clip for clip in folder.clips(settings(tmp_path), LABELS)}
    assert sorted(found) == ["a_nohash_0.wav", "b_nohash_0.wav", "c_nohash_0.wav"]
    decoded = [found[name].read() for name in sorted(found)]
    for samples, reference in zip(decoded, references):
        assert samples.dtype == np.float32 and samples.ndim == 1
        assert abs(len(samples) - len(reference)) <= 2
    flac, ogg, wav = decoded
    assert np.abs(flac - references[0]).max() <= 1e-4
    assert np.corrcoef(references[1], ogg[: len(references[1])])[0, 1] >= OGG_CORRELATION
    mean = 0.75 * references[2]
    assert band_snr_db(mean, wav) >= BAND_SNR_DB
    assert band_snr_db(mean, references[2]) < BAND_SNR_DB  # the threshold would catch a dropped channel


@pytest.fixture
def layout(sample, tmp_path):
    """A Speech Commands-style folder: yes, no, two other words and two 15 s noise recordings."""
    root = tmp_path / "layout"
    for word, count in (("yes", 3), ("no", 2)):
        for path in sorted((sample / word).glob("*_nohash_*.wav"))[:count]:
            copy(path, root / word / path.name)
    copy(sample / "bed" / "bed_02ade946_nohash_0.wav", root / "bed" / "bed_02ade946_nohash_0.wav")
    copy(sample / "cat" / "cat_13199b79_nohash_0.wav", root / "cat" / "13199b79_nohash_0.flac")
    for name in ("pink_noise.wav", "white_noise.wav"):
        copy(sample / BACKGROUND / name, root / BACKGROUND / name)
    return root


def by_origin(found, root):
    return {str(Path(clip.origin).relative_to(root)): clip for clip in found if clip.label != "_silence_"}


def test_layout_labels_speakers_and_names(layout):
    words = by_origin(folder.clips(settings(layout), LABELS), layout)
    assert {key: clip.label for key, clip in words.items() if key.startswith(("bed", "cat"))} == {
        "bed/bed_02ade946_nohash_0.wav": "_unknown_", "cat/13199b79_nohash_0.flac": "_unknown_",
    }
    assert {clip.label for key, clip in words.items() if key.startswith("yes")} == {"yes"}
    assert words["bed/bed_02ade946_nohash_0.wav"].name == "bed_02ade946_nohash_0.wav"
    assert words["bed/bed_02ade946_nohash_0.wav"].speaker == "02ade946"
    assert words["cat/13199b79_nohash_0.flac"].name == "cat_13199b79_nohash_0.wav"
    assert words["cat/13199b79_nohash_0.flac"].columns == {"word": "cat"}
    yes = words["yes/05b2db80_nohash_0.wav"]
    assert (yes.name, yes.speaker, yes.split, yes.columns) == ("05b2db80_nohash_0.wav", "05b2db80", "", {"word": "yes"})
    assert len(yes.read()) == sf.info(str(layout / "yes" / "05b2db80_nohash_0.wav")).frames


def test_layout_without_unknown_leaves_other_words_out(layout):
    found = folder.clips(settings(layout), ["yes", "no", "_silence_"])
    assert {clip.label for clip in found} == {"yes", "no", "_silence_"}
    assert len([clip for clip in found if clip.label != "_silence_"]) == 5


def test_layout_split_lists_give_splits_and_the_rest_train(layout):
    (layout / "validation_list.txt").write_text("yes/05b2db80_nohash_0.wav\nyes/not_here_nohash_0.wav\n")
    (layout / "testing_list.txt").write_text("no/190821dc_nohash_4.wav\ncat/13199b79_nohash_0.wav\n\n")
    found = folder.clips(settings(layout), LABELS)
    splits = {key: clip.split for key, clip in by_origin(found, layout).items()}
    assert splits.pop("yes/05b2db80_nohash_0.wav") == "validation"
    assert splits.pop("no/190821dc_nohash_4.wav") == "test"
    assert splits.pop("cat/13199b79_nohash_0.flac") == "test"  # listed as .wav, converted to FLAC
    assert set(splits.values()) == {"train"}
    assert {clip.split for clip in found if clip.label == "_silence_"} == {"train"}


def test_file_in_both_split_lists_is_an_error(layout):
    (layout / "validation_list.txt").write_text("yes/05b2db80_nohash_0.wav\n")
    (layout / "testing_list.txt").write_text("no/190821dc_nohash_4.wav\nyes/05b2db80_nohash_0.wav\n")
    expected = r"testing_list\.txt, line 2: yes/05b2db80_nohash_0\.wav is also in validation_list"
    with pytest.raises(PipelineError, match=expected):
        folder.clips(settings(layout), LABELS)


def test_background_noise_becomes_silence_windows(layout):
    found = folder.clips(settings(layout, max_duration_s=2.0), LABELS)
    windows = [clip for clip in found if clip.label == "_silence_"]
    assert len(windows) == 2 * (15 // 2)  # two 15 s recordings, 2 s windows, the last second dropped
    assert {clip.speaker for clip in windows} == {"_silence_pink_noise", "_silence_white_noise"}
    assert {clip.split for clip in windows} == {""}
    third = next(clip for clip in windows if clip.name == "white_noise_nohash_2.wav")
    recording = audio.read(layout / BACKGROUND / "white_noise.wav")
    np.testing.assert_array_equal(third.read(), recording[2 * 32_000 : 3 * 32_000])
    assert not [clip for clip in folder.clips(settings(layout, silence=False), LABELS) if clip.label == "_silence_"]


def test_corrupt_background_recording_is_left_to_the_writer(tmp_path):
    (tmp_path / BACKGROUND).mkdir()
    (tmp_path / BACKGROUND / "hum.wav").write_text("not audio")
    [window] = folder.clips(settings(tmp_path), LABELS)
    assert window.origin.endswith("hum.wav#0")
    with pytest.raises(sf.LibsndfileError, match=r"hum\.wav"):
        window.read()


def test_two_files_written_to_one_name_is_an_error(tmp_path):
    (tmp_path / "yes").mkdir()
    (tmp_path / "yes" / "a.flac").write_bytes(b"")
    (tmp_path / "yes" / "a.ogg").write_bytes(b"")
    with pytest.raises(PipelineError, match=r"a\.flac and .*a\.ogg would both be written to yes/a\.wav"):
        folder.clips(settings(tmp_path), LABELS)


@pytest.fixture
def manifest(sample, tmp_path):
    """A CSV manifest: a relative path, an absolute one, a missing file and a text file."""
    root = tmp_path / "set"
    copy(sample / "yes" / "05b2db80_nohash_0.wav", root / "clips" / "one.wav")
    elsewhere = tmp_path / "elsewhere" / "0a7c2a8d_nohash_0.flac"
    elsewhere.parent.mkdir()
    sf.write(elsewhere, audio.read(sample / "no" / "190821dc_nohash_4.wav"), audio.SAMPLE_RATE)
    (root / "clips" / "text.wav").write_text("not audio")
    path = root / "list.csv"
    path.write_text(
        "path,label,speaker\n"
        "clips/one.wav,yes,alice\n"
        f"{elsewhere},no,\n"
        "clips/missing.wav,yes,\n"
        "clips/text.wav,maybe,bob\n"
    )
    return path


def test_manifest_paths_labels_and_speakers(manifest):
    one, two, missing, text = folder.clips(settings(manifest), LABELS)
    assert one.origin == str(manifest.parent / "clips" / "one.wav")
    assert (one.label, one.speaker, one.name, one.split) == ("yes", "alice", "one.wav", "")
    assert one.columns == {"word": "yes"}
    assert (two.label, two.speaker, two.name) == ("no", "0a7c2a8d", "0a7c2a8d_nohash_0.wav")
    assert (missing.speaker, text.label, text.speaker) == ("missing", "maybe", "bob")
    assert len(one.read()) == 16_000 and len(two.read()) == 16_000
    with pytest.raises(sf.LibsndfileError, match=r"missing\.wav"):
        missing.read()
    with pytest.raises(sf.LibsndfileError, match=r"text\.wav"):
        text.read()


def test_manifest_failures_become_rejects_in_the_writer(manifest, tmp_path):
    rows, rejects = ingest.write_clips(folder.clips(settings(manifest), LABELS), tmp_path / "raw", LABELS, 16_000)
    assert [row["path"] for row in rows] == ["yes/one.wav", "no/0a7c2a8d_nohash_0.wav"]
    assert [(Path(r.origin).name, r.reason.split(" (")[0]) for r in rejects] == [
        ("missing.wav", "cannot decode audio"),
        ("text.wav", f"label 'maybe' is not one of {LABELS}"),
    ]


def test_manifest_split_column(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("path,label,split\na.wav,yes,test\nb.wav,no,\n")
    assert [clip.split for clip in folder.clips(settings(path), LABELS)] == ["test", ""]
    path.write_text("path,label,split\na.wav,yes,test\nb.wav,no,dev\n")
    with pytest.raises(PipelineError, match=r"list\.csv, line 3: split 'dev'"):
        folder.clips(settings(path), LABELS)


def test_manifest_without_label_column_is_an_error(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("path,speaker\na.wav,alice\n")
    with pytest.raises(PipelineError, match=r"list\.csv: no 'label' column"):
        folder.clips(settings(path), LABELS)


def test_manifest_empty_cell_names_the_line(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("path,label\na.wav,yes\nb.wav,\n")
    with pytest.raises(PipelineError, match=r"list\.csv, line 3: empty label"):
        folder.clips(settings(path), LABELS)


@pytest.mark.parametrize("location", ["", "does/not/exist", "notes.txt"])
def test_unusable_path_names_the_setting(tmp_path, monkeypatch, location):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a manifest")
    with pytest.raises(PipelineError, match=r"^data\.folder\.path: "):
        folder.clips(settings(location), LABELS)
