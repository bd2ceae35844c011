"""A folder's real keyword clips, as the probes (`bench.agreement`, `bench.pitch_bands`,
`bench.polarity`) score them: `_silence_` and `_unknown_` left out, since the question each
asks is how well the model hears the keywords."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stages.decode import decode
from stages.params import SILENCE, UNKNOWN
from stages.sources import folder


def keyword_clips(root: Path, labels: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
    """The decoded keyword clips under `root` (Speech Commands layout) and their indices in `labels`."""
    rows = [row for row in folder.scan(root, labels) if row["label"] not in (SILENCE, UNKNOWN)]
    return [decode(root / row["path"]) for row in rows], np.array([labels.index(row["label"]) for row in rows])
