import numpy as np
import soundfile as sf

from stages import audio


def test_read_mixes_stereo_to_mono_and_resamples(tmp_path):
    rate = 44_100
    t = np.arange(rate) / rate
    left, right = np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t) * 0.5
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([left, right], axis=1), rate)
    samples = audio.read(path)
    assert samples.dtype == np.float32
    assert len(samples) == audio.SAMPLE_RATE
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) - 440) <= 1
    assert np.isclose(np.abs(samples[1000:-1000]).max(), 0.75, atol=0.01)


def test_read_real_clip_at_native_rate(sample):
    clip = next((sample / "yes").glob("*.wav"))
    samples = audio.read(clip)
    raw, rate = sf.read(clip, dtype="float32")
    assert rate == audio.SAMPLE_RATE
    np.testing.assert_array_equal(samples, raw)


def test_crop_keeps_the_centre_and_short_clips_pass():
    samples = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(audio.crop(samples, 4), [3, 4, 5, 6])
    np.testing.assert_array_equal(audio.crop(samples, 20), samples)


def test_write_is_16_bit_mono_16k_and_clips(tmp_path):
    path = tmp_path / "a" / "b.wav"
    audio.write(path, np.array([0.0, 0.5, 2.0, -3.0], dtype=np.float32))
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
    np.testing.assert_allclose(sf.read(path)[0], [0.0, 0.5, 1.0, -1.0], atol=1e-4)


def test_quiet_ends_are_cut_to_whole_frames_and_the_middle_kept():
    rng = np.random.default_rng(0)
    floor = rng.standard_normal(800).astype(np.float32) * 1e-3
    word = rng.standard_normal(1600).astype(np.float32) * 0.5
    cut = audio.cut_quiet_ends(np.concatenate([floor, word, floor]), 16_000)
    np.testing.assert_array_equal(cut, word)
    assert len(audio.cut_quiet_ends(np.concatenate([floor, word, floor]), 16_000, quiet_db=80.0)) == 3200
