"""Google Speech Commands, split as SUPERB's keyword-spotting task (KS) splits it.

The protocol (SUPERB, Yang et al. 2021, arXiv:2105.01051; s3prl's `speech_commands` recipe):

- train and validation come from the main archive (`data.speech_commands.url`): a clip
  named in `validation_list.txt` is validation, one named in `testing_list.txt` is left out
  altogether, every other clip of a word folder is train. The lists were drawn with the
  dataset's speaker-hash rule (`stages.split.which_set` at 10 % / 10 %), so no speaker is in
  two splits;
- test is the separate test archive (`test_url`), already in twelve folders: the ten
  keywords, `_unknown_` (file names `<word>_<speaker>_nohash_<n>.wav`) and `_silence_`. Its
  clips are the testing-list speakers' (TFDS notes the main archive holds them all but the
  silence), which is why the testing list is left out of train and validation;
- a folder named in `data.keywords` keeps its name as label, any other word becomes
  `_unknown_` when `data.unknown` is set and is left out otherwise. Keywords beyond the
  classic ten work the same way; in the test archive their clips sit in `_unknown_` and are
  recognised by the word their file name starts with (so such a keyword has only the few
  test clips that the archive's `_unknown_` sample holds), and a classic keyword that is not
  in `data.keywords` becomes `_unknown_`.

Silence. The main archive has no silence clips, only `_background_noise_/`: six recordings
of one to one and a half minutes (doing_the_dishes, dude_miaowing, exercise_bike, pink_noise, running_tap,
white_noise; about 400 s in all). Others do it three ways: s3prl adds each recording
whole as one `_silence_` item to train and again to validation, cuts a random 1 s from it
each time it is loaded and balances classes with a weighted sampler; Hugging Face's `superb`
KS builder puts the six whole recordings in train only; TFDS cuts 1 s windows every 0.5 s
and keeps `running_tap` for validation. This pipeline stores fixed-length clips, so with
`data.silence` set each recording is cut into consecutive, non-overlapping windows of
`data.max_duration_s` (1 s by default), the remainder shorter than a window dropped:
`running_tap` gives the validation windows, the other five the train windows, so no
recording is heard in both. With the real recordings (TFDS's v0.02 counts put running_tap
at 61.0-61.5 s and the other five at 336.5-339 s together) that is 61 validation and about
335 train windows. They are written as `_silence_/<recording>_nohash_<i>.wav` with the
recording as speaker; test silence is the test archive's own `_silence_` folder.

The published v0.01 counts, train 51,094 / validation 6,798 / test 3,081 in 12 classes,
arise as follows, reconstructed from published split sizes rather than from the files (no
machine here can download them). Hugging Face's `superb` KS builder takes train as "every
WAV of the main archive minus both lists" and gets 51,094; its `speech_commands` v0.01
builder does the same after moving `running_tap.wav` to validation and gets 51,093 / 6,799.
So `validation_list.txt` names 6,798 clips and every WAV less the testing list is 57,892.
The archive's 64,727 WAVs are 64,721 clips of 30 words (about 2,370 of each of the twenty
core words, 1,740 of each of the ten auxiliary ones) and the six background recordings, so
`testing_list.txt` names 6,835 and train is 64,721 - 6,798 - 6,835 = 51,088 word clips plus
the six whole recordings as `_silence_` items: 51,094. Validation is the listed clips alone
(s3prl's loader adds the six recordings there too, 6,804 items, but the published figure is
the list). Test is every clip of the v0.01 test archive: 3,081, about 257 per class. This
module gives the same 51,088 train, 6,798 validation and 3,081 test clips, with the windows
above in place of the six whole recordings: about 51,423 train and 6,859 validation.

Clips are decoded with `audio.read` and written (`stages.ingest`) as 16 kHz mono 16-bit WAV
under `data/raw/<label>/`, keeping their archive file names, so the speaker is the part before
`_nohash_`; a clip whose label is not its word is prefixed with the word, as the test
archive names its `_unknown_` clips (`_unknown_/bed_0a7c2a8d_nohash_0.wav`). Two clips
that would land on the same path mean the same recording in two splits, an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import numpy as np
from tqdm import tqdm

from stages import audio, ingest, params
from stages.errors import PipelineError
from stages.params import SILENCE, UNKNOWN
from stages.sources import archive, layout
from stages.sources.layout import BACKGROUND, NOHASH

VALIDATION_NOISE = "running_tap.wav"
"""The background recording whose windows are validation silence (TFDS's choice)."""


@dataclass(frozen=True)
class Clip:
    """One archive file and where it goes."""

    source: Path
    label: str
    word: str
    speaker: str
    split: str
    name: str


def materialise(data: dict[str, Any], cache_dir: Path) -> list[ingest.Clip]:
    """Fetch and unpack both archives into `cache_dir`; the clips to write, with their splits.

    Manifest columns beyond the writer's: word ("" for silence).
    """
    settings = data["speech_commands"]
    labels = params.class_names(data)
    main = prepare(settings["url"], settings["sha256"], Path(cache_dir))
    test = prepare(settings["test_url"], settings["test_sha256"], Path(cache_dir))
    clips = [_archived(clip) for clip in development_clips(main, labels, settings["url"]) + held_out_clips(test, labels)]
    if data["silence"]:
        length = int(round(data["max_duration_s"] * audio.SAMPLE_RATE))
        clips += [_cut(clip, samples) for clip, samples in silence_windows(main / BACKGROUND, length)]
    return clips


def prepare(url: str, sha256: str, cache_dir: Path) -> Path:
    """The unpacked archive, downloading and extracting it unless an earlier run did.

    The folder is named after the archive and its digest and appears only once extraction
    completes, so its presence proves a verified, whole archive and nothing is re-hashed.
    """
    name = PurePosixPath(urlparse(url).path).name
    if not name:
        raise PipelineError(f"{url}: the URL names no file")
    target = cache_dir / f"{name.partition('.tar')[0]}-{sha256.lower()[:16]}"
    if not target.is_dir():
        archive.extract(archive.fetch(url, cache_dir / name, sha256), target)
    return target


def development_clips(root: Path, labels: list[str], url: str) -> list[Clip]:
    """Train and validation clips of the main archive, by its validation and testing lists."""
    validation, testing = _listed(root / "validation_list.txt", url), _listed(root / "testing_list.txt", url)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    keywords = [label for label in labels if label not in (SILENCE, UNKNOWN)]
    missing = sorted(set(keywords) - {folder.name for folder in folders})
    if missing:
        raise PipelineError(f"data.keywords: {', '.join(missing)} not among the words of {url}")
    clips = []
    for folder in folders:
        label = _label(folder.name, labels)
        if not label:
            continue
        for path in sorted(folder.glob("*.wav")):
            relative = f"{folder.name}/{path.name}"
            if relative not in testing:
                split = "validation" if relative in validation else "train"
                clips.append(_clip(path, label, folder.name, path.name, split))
    return clips


def held_out_clips(root: Path, labels: list[str]) -> list[Clip]:
    """The test archive's clips, labelled for `labels`: its folders are already classes."""
    clips = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.wav")):
            if folder.name == SILENCE:
                word, original = "", path.name
            elif folder.name == UNKNOWN:
                word = path.name.partition("_")[0]
                original = path.name.removeprefix(f"{word}_")
            else:
                word, original = folder.name, path.name
            label = _label(word, labels)
            if label:
                clips.append(_clip(path, label, word, original, "test"))
    return clips


def silence_windows(folder: Path, length: int) -> list[tuple[Clip, np.ndarray]]:
    """Consecutive `length`-sample windows of each background recording, as silence clips."""
    recordings = sorted(folder.glob("*.wav"))
    if VALIDATION_NOISE not in {path.name for path in recordings}:
        raise PipelineError(f"{folder / VALIDATION_NOISE}: missing; data.silence takes validation silence from it")
    windows = []
    for recording in tqdm(recordings, desc="silence", unit="recording"):
        samples = _read(recording)
        split = "validation" if recording.name == VALIDATION_NOISE else "train"
        for index, start in enumerate(range(0, len(samples) - length + 1, length)):
            name = f"{recording.stem}{NOHASH}{index}.wav"
            windows.append((Clip(recording, SILENCE, "", recording.stem, split, name), samples[start : start + length]))
    return windows


def _clip(path: Path, label: str, word: str, original: str, split: str) -> Clip:
    """A clip named `original` in its word's folder; prefixed with the word if the label differs."""
    name = original if label == word or not word else f"{word}_{original}"
    who = (layout.speaker(original) or Path(original).stem) if word else f"{SILENCE}{Path(original).stem}"
    return Clip(path, label, word, who, split, name)


def _label(word: str, labels: list[str]) -> str | None:
    """The class of a spoken word ("" for silence), or None when the model has no class for it."""
    if word in labels:
        return word
    target = UNKNOWN if word else SILENCE
    return target if target in labels else None


def _listed(path: Path, url: str) -> set[str]:
    try:
        return {line.strip() for line in path.read_text().splitlines() if line.strip()}
    except FileNotFoundError:
        raise PipelineError(f"{path}: missing; is {url} a Speech Commands archive?") from None


def _read(path: Path) -> np.ndarray:
    try:
        return audio.read(path)
    except RuntimeError as error:
        raise PipelineError(f"{path}: cannot decode audio ({error})") from None


def _archived(clip: Clip) -> ingest.Clip:
    return ingest.Clip(str(clip.source), clip.label, clip.speaker, clip.name,
                       read=lambda: audio.read(clip.source), split=clip.split, columns={"word": clip.word})


def _cut(clip: Clip, samples: np.ndarray) -> ingest.Clip:
    return ingest.Clip(f"{clip.source}[{clip.name}]", clip.label, clip.speaker, clip.name,
                       read=lambda: samples, split=clip.split, columns={"word": clip.word})
