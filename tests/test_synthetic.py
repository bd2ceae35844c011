
import numpy as np

from stages.sources import synthetic


def test_voices_are_distinct_and_varied():
    voices = synthetic.voices(60, seed=0)
    assert len({v.name for v in voices}) == 60
    assert len({v.speaker_id for v in voices}) == 60
    assert len({v.rate for v in voices}) > 20 and len({v.pitch for v in voices}) > 20
    assert synthetic.voices(60, seed=0) == voices
    assert synthetic.voices(60, seed=1) != voices


def test_place_puts_the_word_in_noise_at_a_random_offset():
    word = np.sin(np.linspace(0, 400, 4000)).astype(np.float32)
    clips = [synthetic.place(word, np.random.default_rng(i), 16_000, [20.0, 20.0]) for i in range(5)]
    starts = {int(np.argmax(np.abs(c) > 0.1)) for c in clips}
    assert len(starts) == 5
    for clip in clips:
        assert clip.shape == (16_000,) and np.abs(clip).max() <= 0.9 + 1e-6
        quiet = np.abs(clip[np.abs(clip) < 0.05])
        assert 0 < quiet.mean()


def test_coloured_noise_slopes():
    rng = np.random.default_rng(0)
    def slope(exponent):
        power = np.abs(np.fft.rfft(synthetic.coloured_noise(rng, 2**16, exponent))) ** 2
        return power[100:1000].mean() / power[10000:30000].mean()
    assert slope(0) < 2 < slope(1) < slope(2)


def test_fragments_are_a_head_or_a_tail_of_the_word():
    word = np.arange(1000, dtype=np.float32)
    parts = [synthetic.fragment(word, np.random.default_rng(i)) for i in range(40)]
    heads = [part for part in parts if part[0] == 0]
    tails = [part for part in parts if part[-1] == 999]
    assert len(heads) + len(tails) == 40 and heads and tails
    for part in parts:
        assert 100 <= len(part) <= 700
        np.testing.assert_array_equal(part, np.arange(part[0], part[0] + len(part)))
