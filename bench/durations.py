"""Probe, not part of `make bench`: how long the words last. For the keyword clips of a folder
of real recordings and for each synthetic engine's keyword clips in data/raw, the quartiles of
each word's duration: from the first to the last 25 ms frame within 20 dB of the clip's loudest.

    python -m bench.durations ../shared/data/speech_commands_sample
"""

from __future__ import annotations

import numpy as np

from bench.pitch_bands import real_and_engine_clips
from stages.audio import SAMPLE_RATE
from stages.decode import decode

FRAME = SAMPLE_RATE // 40
SPAN_DB = 20.0


def word_duration(clip: np.ndarray) -> float:
    """Seconds from the first to the last frame within `SPAN_DB` of the loudest one."""
    count = len(clip) // FRAME
    level = 10 * np.log10(np.mean(clip[: count * FRAME].reshape(count, FRAME) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(level > level.max() - SPAN_DB)
    return (loud[-1] - loud[0] + 1) * FRAME / SAMPLE_RATE


def main() -> None:
    """Print the quartiles of word duration for the real clips and for each engine."""
    sets = real_and_engine_clips(__doc__.split("\n\n")[0])
    print("seconds:".ljust(18) + "".join(name.rjust(7) for name in ("25%", "median", "75%")))
    for name, paths in sets.items():
        quartiles = np.percentile([word_duration(decode(path)) for path in paths], [25, 50, 75])
        print(f"{name} ({len(paths)})".ljust(18) + "".join(f"{value:7.2f}" for value in quartiles))


if __name__ == "__main__":
    main()
