import hashlib

import soundfile as sf

from stages import manifest
from tests.conftest import run_stage


def test_download_writes_speech_commands_layout(project):
    result = run_stage("download", project)
    assert result.returncode == 0, result.stderr
    rows = manifest.read(project / "data/raw/manifest.csv")
    labels = {row["label"] for row in rows}
    assert labels == {"yes", "no", "up", "_silence_", "_unknown_"}
    assert len(rows) == 24 * 5
    assert len({row["speaker"] for row in rows}) == 24
    for row in rows:
        assert row["path"] == f"{row['label']}/{row['speaker']}_nohash_0.wav"
        info = sf.info(project / "data/raw" / row["path"])
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (16_000, 1, "PCM_16", 8_000)
    assert "24 speakers" in result.stdout


def tree_digest(root):
    return hashlib.sha1(b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())).hexdigest()


def test_download_is_byte_identical_for_the_same_seed(project):
    digests = []
    for _ in range(2):
        assert run_stage("download", project).returncode == 0
        digests.append(tree_digest(project / "data/raw"))
    assert digests[0] == digests[1]
