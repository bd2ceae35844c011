import numpy as np
import pytest
import soundfile as sf

from stages.decode import decode
from stages.errors import PipelineError


def test_decodes_real_clips(sample):
    clip = next((sample / "no").glob("*.wav"))
    assert decode(clip).shape == sf.read(clip)[0].shape


@pytest.mark.parametrize("content, reason", [(b"", "cannot decode audio"), (b"hello, not audio", "cannot decode audio")])
def test_bad_files_name_the_file(tmp_path, content, reason):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(PipelineError, match=f"{path}: {reason}"):
        decode(path)


def test_empty_and_non_finite_audio_are_refused(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16_000)
    sf.write(tmp_path / "nan.wav", np.array([0.1, np.nan, 0.2], dtype=np.float32), 16_000, subtype="FLOAT")
    with pytest.raises(PipelineError, match="empty.wav: no audio samples"):
        decode(empty)
    with pytest.raises(PipelineError, match="nan.wav: NaN or infinite samples"):
        decode(tmp_path / "nan.wav")
