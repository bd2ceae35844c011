"""Your own recordings as a data source, in any format soundfile reads, without converting them.

`data.folder.path` names either a folder in the Speech Commands layout (one folder per word,
optional `validation_list.txt` / `testing_list.txt` and `_background_noise_/`) or a CSV
manifest (`path,label`, optional `speaker` and `split`). Nothing is decoded here: each clip
carries a `read` that `stages.ingest` calls, so an unreadable file becomes a row of the rejects
report instead of a crash or a silent gap. This module fails only on what it cannot interpret
(a missing path, a malformed manifest, two files that would be written to the same name).

`scan` is the plain word-folder listing that evaluate's extra sets use.
"""

from __future__ import annotations

import csv
from functools import cache, partial
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np
import soundfile as sf

from stages import audio
from stages.errors import PipelineError
from stages.ingest import Clip
from stages.params import SILENCE, UNKNOWN
from stages.paths import SPLITS
from stages.sources import layout
from stages.sources.layout import BACKGROUND, NOHASH

AUDIO_SUFFIXES = {f".{name.lower()}" for name in sf.available_formats()} | {".oga", ".opus"}
LISTS = {"validation": "validation_list.txt", "test": "testing_list.txt"}
"""The Speech Commands split lists, by the split their files go to."""
REQUIRED_COLUMNS = ("path", "label")


def scan(root: Path, labels: list[str]) -> list[dict[str, str]]:
    """Rows (path relative to `root`, label) for every audio file under a word folder.

    A folder named after a label gives that label; other words become `_unknown_` when the
    model has that class and are left out otherwise; folders starting with `_` that are not
    labels (`_background_noise_`) hold no clips. Audio files are recognised by suffix, so a
    corrupt one is reported when decoded rather than silently skipped here.
    """
    rows = []
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        if folder.name in labels:
            label = folder.name
        elif folder.name.startswith("_") or UNKNOWN not in labels:
            continue
        else:
            label = UNKNOWN
        rows += [
            {"path": str(path.relative_to(root)), "label": label}
            for path in sorted(folder.iterdir())
            if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES
        ]
    return rows


def clips(data: dict[str, Any], labels: list[str]) -> list[Clip]:
    """The clips of `data.folder.path`, a word-folder layout or a `.csv` manifest.

    Fails before anything is decoded when two clips would be written to the same
    `<label>/<name>`, so a clash costs seconds, not a full decoding pass.
    """
    root = _location(data["folder"]["path"])
    if root.is_dir():
        length = int(round(data["max_duration_s"] * audio.SAMPLE_RATE))
        found = layout_clips(root, labels, length if data["silence"] else 0)
    elif root.suffix.lower() == ".csv":
        found = manifest_clips(root)
    else:
        raise PipelineError(f"data.folder.path: {root} is neither a folder nor a .csv manifest")
    _check_unique(found)
    return found


def layout_clips(root: Path, labels: list[str], silence_length: int) -> list[Clip]:
    """Clips of a Speech Commands-style folder; with `silence_length` > 0, also background
    recordings cut into windows of that many samples as `_silence_`.

    With split lists, listed files go to their split and the rest to train, as in the
    dataset; without them every split is "" and the split stage's speaker hash decides.
    """
    listed = _listed_splits(root)
    found = []
    for row in scan(root, labels):
        relative = PurePosixPath(row["path"])
        split = listed.get(str(relative.with_suffix("")), "train") if listed is not None else ""
        found.append(_clip(root / relative, row["label"], relative.parent.name, split))
    if silence_length:
        background_split = "" if listed is None else "train"
        found += silence_clips(root / BACKGROUND, silence_length, background_split)
    return found


def manifest_clips(manifest: Path) -> list[Clip]:
    """Clips a CSV manifest lists, paths relative to its folder; labels are kept as written,
    so one outside the class list is reported by the writer rather than dropped here."""
    with open(manifest, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
        for column in REQUIRED_COLUMNS:
            if column not in reader.fieldnames:
                raise PipelineError(f"{manifest}: no {column!r} column (the header needs path,label; "
                                    "speaker and split are optional)")
        return [_manifest_clip(manifest, reader.line_num, row) for row in reader]


def silence_clips(folder: Path, length: int, split: str) -> list[Clip]:
    """`_silence_` clips: consecutive, non-overlapping `length`-sample windows of each
    recording in `folder`, the remainder shorter than a window dropped.

    The recording is the speaker, so the speaker hash keeps all of one recording's windows in
    one split and validation never hears noise that train heard.
    """
    if not folder.is_dir():
        return []
    recordings = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    return [clip for recording in recordings for clip in _windows(recording, length, split)]


def _location(setting: str) -> Path:
    if not setting:
        raise PipelineError("data.folder.path: empty; name a folder of word folders or a .csv manifest")
    path = Path(setting)
    if not path.exists():
        raise PipelineError(f"data.folder.path: {path} does not exist")
    return path


def _clip(path: Path, label: str, word: str, split: str, who: str = "") -> Clip:
    """A clip written as `<name>.wav`, prefixed with its word when its label is another
    (`_unknown_/bed_<file>`) unless the file name already starts with the word."""
    original = path.with_suffix(".wav").name
    name = original if label == word or original.startswith(f"{word}_") else f"{word}_{original}"
    return Clip(str(path), label, who or layout.speaker(path.stem) or path.stem, name, partial(audio.read, path),
                split, {"word": word})


def _listed_splits(root: Path) -> dict[str, str] | None:
    """`word/stem` → split from the split lists, or None when the folder has neither.

    Entries are matched without their suffix, so lists written for the `.wav` archive still
    apply after its files are converted to FLAC.
    """
    present = {split: root / name for split, name in LISTS.items() if (root / name).is_file()}
    if not present:
        return None
    listed: dict[str, str] = {}
    for split, path in present.items():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                key = str(PurePosixPath(line.strip()).with_suffix(""))
                if listed.get(key, split) != split:
                    raise PipelineError(f"{path}, line {number}: {line.strip()} is also in {LISTS[listed[key]]}")
                listed[key] = split
    return listed


def _manifest_clip(manifest: Path, line: int, row: dict[str, str | None]) -> Clip:
    cells = {key: (row.get(key) or "").strip() for key in ("path", "label", "speaker", "split")}
    for column in REQUIRED_COLUMNS:
        if not cells[column]:
            raise PipelineError(f"{manifest}, line {line}: empty {column}")
    if cells["split"] not in ("", *SPLITS):
        raise PipelineError(f"{manifest}, line {line}: split {cells['split']!r} is not one of "
                            f"{', '.join(SPLITS)} (or empty, for the speaker-hash rule)")
    path = manifest.parent / cells["path"]  # an absolute path replaces the folder
    return _clip(path, cells["label"], cells["label"], cells["split"], cells["speaker"])


def _windows(recording: Path, length: int, split: str) -> list[Clip]:
    """The windows of one recording, counted from its header so nothing is decoded yet; one
    whose header cannot be read gives one window whose `read` raises, so it is reported."""
    try:
        info = sf.info(str(recording))
        count = info.frames * audio.SAMPLE_RATE // info.samplerate // length
    except RuntimeError:
        count = 1
    load = cache(partial(audio.read, recording))  # decoded once for all its windows
    return [
        Clip(f"{recording}#{index}", SILENCE, f"{SILENCE}{recording.stem}", f"{recording.stem}{NOHASH}{index}.wav",
             partial(_window, load, index, length), split, {"word": ""})
        for index in range(count)
    ]


def _window(load: Callable[[], np.ndarray], index: int, length: int) -> np.ndarray:
    samples = load()
    window = samples[index * length : (index + 1) * length]
    if len(window) < length:
        raise ValueError(f"decodes to {len(samples)} samples, too few for window {index} its header promised")
    return window


def _check_unique(found: list[Clip]) -> None:
    written: dict[str, str] = {}
    for clip in found:
        target = f"{clip.label}/{clip.name}"
        if target in written:
            raise PipelineError(f"{written[target]} and {clip.origin} would both be written to {target}")
        written[target] = clip.origin
