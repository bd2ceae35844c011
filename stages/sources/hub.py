"""Clips of a Hugging Face dataset: a hub id or a local directory of parquet files.

`datasets` 4 and later no longer run dataset scripts, so script-only datasets such as
`superb` fail to load; datasets stored as parquet (most audio datasets on the hub, and
`Dataset.to_parquet` output) load. The audio column is cast to `Audio(decode=False)` and
decoded here with soundfile, because `datasets` decodes audio through torch/torchcodec,
which this pipeline does not install. (An audiofolder directory needs torchcodec even to
load in `datasets` 5, so a local folder of audio files is `data.source: folder`'s job.)

Nothing is decoded up front: each `Clip.read` decodes its row when `stages.ingest` asks, so
a corrupt row is a reject there, not an error here.
"""

from __future__ import annotations

import io
import re
from functools import partial
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import soundfile as sf

from stages import audio
from stages.errors import PipelineError
from stages.ingest import Clip
from stages.params import SILENCE, UNKNOWN
from stages.sources import layout

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict

SPLITS = {"train": "train", "validation": "validation", "valid": "validation", "val": "validation",
          "dev": "validation", "test": "test"}
"""The dataset's split names this pipeline understands, and the split each becomes."""
SPEAKER_COLUMNS = ("speaker_id", "speaker")
UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def clips(data: dict[str, Any], labels: list[str]) -> Iterator[Clip]:
    """The clips of the dataset `data.hub.path` (config `data.hub.name`), labelled for `labels`.

    The dataset's splits are kept when it has both a validation and a test split (names as in
    `SPLITS`); otherwise every clip gets split "" and the split stage's speaker-hash rule
    places them all, the dataset's own train/test division ignored. Loading, the columns and
    the split names are checked now, so a bad dataset fails before any clip is written.
    """
    import datasets  # here, not at the top: a second of import the other sources need not pay

    path, name = data["hub"]["path"], data["hub"]["name"] or None
    dataset = _load(path, name)
    features = next(iter(dataset.values())).features
    audio_column = _column(features, datasets.Audio, path)
    label_column = _column(features, datasets.ClassLabel, path)
    dataset = dataset.cast_column(audio_column, datasets.Audio(decode=False))
    ours = _splits(list(dataset), path)
    names = features[label_column].names
    return (
        clip
        for split, rows in dataset.items()
        for clip in _clips(rows, f"{path}[{split}]", split, ours[split], audio_column, label_column, names, labels)
    )


def _load(path: str, name: str | None) -> DatasetDict:
    """Every split of the dataset; never runs remote code (datasets ≥ 4 has none to run)."""
    import datasets

    if not path:
        raise PipelineError("data.hub.path: empty; set a hub dataset id or a local directory of parquet files")
    try:
        return datasets.load_dataset(path, name)
    except Exception as error:
        config = f" (data.hub.name {name!r})" if name else ""
        raise PipelineError(f"data.hub.path: cannot load {path!r}{config}: {_reason(error)}") from None


def _reason(error: BaseException) -> str:
    """The error on one line, with its root cause: datasets wraps the useful message."""
    root = error
    while root.__cause__ is not None:
        root = root.__cause__
    text = f"{type(error).__name__}: {error}"
    if root is not error:
        text += f" (caused by {type(root).__name__}: {root})"
    return " ".join(text.split())


def _column(features: dict[str, Any], kind: type, path: str) -> str:
    """The one column whose feature is a `kind` (Audio, ClassLabel)."""
    found = [column for column, feature in features.items() if isinstance(feature, kind)]
    if len(found) != 1:
        raise PipelineError(
            f"data.hub.path: {path!r} has {len(found)} {kind.__name__} columns {found} "
            f"(columns: {', '.join(features)}); exactly one is needed"
        )
    return found[0]


def _splits(names: list[str], path: str) -> dict[str, str]:
    """Our split for each of the dataset's splits: its own if it has validation and test, else ""."""
    unknown = [split for split in names if split not in SPLITS]
    if unknown:
        mapping = ", ".join(f"{theirs} -> {ours}" for theirs, ours in SPLITS.items())
        raise PipelineError(f"data.hub.path: {path!r} has splits {names}; {unknown} not one of: {mapping}")
    ours = {SPLITS[split] for split in names}
    keep = {"validation", "test"} <= ours
    return {split: SPLITS[split] if keep else "" for split in names}


def _clips(rows: Dataset, origin: str, split: str, ours: str, audio_column: str, label_column: str,
           names: list[str], labels: list[str]) -> Iterator[Clip]:
    """The clips of one split, rows whose word the model has no class for left out.

    A row without a label (ClassLabel -1 or None) gets label "", which `stages.ingest` rejects.
    """
    for index, row in enumerate(rows):
        value = row[label_column]
        word = names[value] if value is not None and value >= 0 else ""
        label = _label(word, labels) if word else ""
        if label is None:
            continue
        stored = row[audio_column]
        file = PurePosixPath(stored["path"].replace("\\", "/")).name if stored["path"] else ""
        where = f"{origin}[{index}]" + (f" {file}" if file else "")
        stem = UNSAFE.sub("_", PurePosixPath(file).stem)
        yield Clip(
            origin=where, label=label, speaker=_speaker(row, file) or where,
            name=f"{split}_{index:06d}" + (f"_{stem}" if stem else "") + ".wav",
            read=partial(_decode, stored["bytes"], stored["path"]), split=ours, columns={"word": word},
        )


def _label(word: str, labels: list[str]) -> str | None:
    """The class of a ClassLabel name, or None when the row is left out.

    As for Speech Commands: a label keeps its name; `_silence_`/`_unknown_` rows are left out
    when that class is off; any other word is `_unknown_` when the model has that class.
    """
    if word in labels:
        return word
    if word in (SILENCE, UNKNOWN):
        return None
    return UNKNOWN if UNKNOWN in labels else None


def _speaker(row: dict[str, Any], file: str) -> str:
    """The row's speaker: a `speaker_id`/`speaker` column, else the Speech Commands file name's
    id (the part just before `_nohash_`, also in `<word>_<id>_nohash_` names), else ""."""
    for column in SPEAKER_COLUMNS:
        if row.get(column) not in (None, ""):
            return str(row[column])
    return layout.speaker(file) or ""


def _decode(data: bytes | None, path: str | None) -> np.ndarray:
    """A row's audio as 16 kHz mono float32: its embedded bytes, else the file it names."""
    if not data and not path:
        raise ValueError("the row has neither audio bytes nor a path")
    samples, rate = sf.read(io.BytesIO(data) if data else path, dtype="float32", always_2d=False)
    return audio.resample(audio.to_mono(samples), rate)
