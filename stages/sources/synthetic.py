"""The offline source: keywords said by eSpeak NG, Pico, Flite, Kokoro and Festival voices, placed in noise.

Each eSpeak speaker is an English accent with a voice variant, its own speaking rate, pitch and
pitch range; each Pico speaker is one of Pico's six voices (the non-English ones reading
English give accented speakers) with its own speed and pitch; each Flite speaker is one of
Flite's five voices at its own pace and vocal-tract shift; each Kokoro speaker is a mix of
Kokoro's five styles reading one accent's IPA at its own speed; each Festival speaker is one of
its two voices at its own pace and vocal-tract shift. Mixing engines transfers better
to human voices than more variants of one. Every speaker gets the same plan, and each clip
places the word at a random point of the window and mixes in coloured noise at a random SNR.
`_unknown_` holds other words and fragments of the keywords (a head or a tail), so that a model
sliding over a recording does not fire on part of a word. eSpeak keeps state between
utterances, so clips are made in one fixed order: the output is a function of the params and
the seed alone.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
from scipy import signal

from stages import audio, espeak, festival, flite, kokoro, pico, praat
from stages.errors import PipelineError
from stages.ingest import Clip
from stages.params import SILENCE, UNKNOWN


FRAGMENT = "fragment"
"""A plan entry's kind for part of a keyword, labelled `_unknown_`."""

ESPEAK_STREAMS, PICO_STREAMS, KOKORO_STREAMS, FLITE_STREAMS, FESTIVAL_STREAMS = (
    (0, 1, 2), (3, 4, 5), (6, 7, 8), (10, 11, 12), (13, 14, 15))
"""Each engine's random streams `[seed, stream, …]`: drawing its speakers, each speaker's plan, each take."""

KOKORO_SPEED_STREAM = 9
"""Kokoro's per-take speed, drawn apart from the take's stream: words are spoken ahead, in worker processes."""

FESTIVAL_STRETCH_STREAM = 16
"""Festival's per-take pace, drawn apart from the take's stream: a batch of words is spoken at once."""

VOICE_CHANGE_STREAM = 17
"""Whether and how a speaker's voice is changed (`VoiceChange`), apart from the take's stream:
clips stay as they were when `data.synthetic.voice_change` is 0."""

QUESTION_STREAM = 18
"""Which takes are said as a question, apart from the take's stream: clips stay as they were when
`data.synthetic.questions` is 0."""

KOKORO_ACCENTS = ("en-us", "en-gb-x-rp", "en", "en-us-nyc", "en-gb-scotland")
"""The eSpeak NG accents whose IPA Kokoro speakers read."""

Say = Callable[[str, np.random.Generator], np.ndarray]
"""One speaker saying a word for one take (drawing the take's jitter), at `audio.SAMPLE_RATE`."""


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker of the eSpeak NG engine."""

    name: str
    rate: int
    pitch: int
    pitch_range: int

    @property
    def speaker_id(self) -> str:
        """Eight hex digits, like the Speech Commands speaker ids."""
        return hashlib.sha1(f"{self.name}:{self.rate}:{self.pitch}:{self.pitch_range}".encode()).hexdigest()[:8]

    def say(self, engine: espeak.Speaker, text: str, rng: np.random.Generator) -> np.ndarray:
        """One take, the rate jittered by up to 15 words per minute."""
        rate = self.rate + int(rng.integers(-15, 16))
        return audio.resample(engine.say(text, self.name, rate, self.pitch, self.pitch_range), engine.sample_rate)


@dataclass(frozen=True)
class PicoVoice:
    """One synthetic speaker of the Pico engine."""

    name: str
    speed: float
    pitch: float

    @property
    def speaker_id(self) -> str:
        """Eight hex digits, from a string no eSpeak voice hashes."""
        return hashlib.sha1(f"pico:{self.name}:{self.speed}:{self.pitch}".encode()).hexdigest()[:8]

    def say(self, text: str, rng: np.random.Generator) -> np.ndarray:
        """One take, the speed jittered by up to 7%."""
        speed = self.speed * rng.uniform(0.93, 1.07)
        return audio.resample(pico.say(text, self.name, speed, self.pitch), pico.SAMPLE_RATE)


@dataclass(frozen=True)
class FliteVoice:
    """One synthetic speaker of the Flite engine."""

    name: str
    stretch: float
    shift: float

    @property
    def speaker_id(self) -> str:
        """Eight hex digits, from a string no other engine's voice hashes."""
        return hashlib.sha1(f"flite:{self.name}:{self.stretch}:{self.shift}".encode()).hexdigest()[:8]

    def say(self, text: str, rng: np.random.Generator) -> np.ndarray:
        """One take, the pace jittered by up to 7%."""
        return flite.say(text, self.name, self.stretch * rng.uniform(0.93, 1.07), self.shift)


@dataclass(frozen=True)
class FestivalVoice:
    """One synthetic speaker of the Festival engine."""

    name: str
    stretch: float
    shift: float

    @property
    def speaker_id(self) -> str:
        """Eight hex digits, from a string no other engine's voice hashes."""
        return hashlib.sha1(f"festival:{self.name}:{self.stretch}:{self.shift}".encode()).hexdigest()[:8]

    def heard(self, samples: np.ndarray) -> np.ndarray:
        """Festival's samples with pitch and formants raised together by `shift`, as Flite's are."""
        return audio.resample(samples, int(round(audio.SAMPLE_RATE * self.shift)))


@dataclass(frozen=True)
class KokoroVoice:
    """One synthetic speaker of the Kokoro engine: a mix of its styles reading one accent."""

    mix: tuple[float, ...]
    speed: float
    accent: str

    @property
    def name(self) -> str:
        """The accent and the two styles that weigh most, e.g. `kokoro:en-us:jm_kumo+jf_alpha`."""
        top = np.argsort(self.mix)[::-1][:2]
        return f"kokoro:{self.accent}:" + "+".join(kokoro.STYLES[i] for i in top)

    @property
    def speaker_id(self) -> str:
        """Eight hex digits, from a string no other engine's voice hashes."""
        return hashlib.sha1(f"kokoro:{self.mix}:{self.speed}:{self.accent}".encode()).hexdigest()[:8]


@dataclass(frozen=True)
class VoiceChange:
    """How one speaker's voice is moved away from its engine's: formants, pitch median and
    pitch range, as people's builds and registers differ."""

    formant_ratio: float
    pitch_median_hz: float
    pitch_range: float

    def apply(self, word: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The word in the changed voice; Praat's noise for unvoiced sounds is seeded from `rng`."""
        return praat.change_voice(word, self.formant_ratio, self.pitch_median_hz, self.pitch_range,
                                  seed=int(rng.integers(1, 2**31)))

    def __str__(self) -> str:
        return f"formants x{self.formant_ratio:.2f}, pitch {self.pitch_median_hz:.0f} Hz x{self.pitch_range:.2f}"


def voice_change(share: float, seed: int, streams: tuple[int, int, int], index: int) -> VoiceChange | None:
    """Speaker `index` of the engine with `streams`: changed with probability `share`, its
    formants by 0.85–1.2, its pitch to a median of 90–260 Hz, its pitch range by 0.6–1.5."""
    if not share:
        return None
    rng = np.random.default_rng([seed, VOICE_CHANGE_STREAM, streams[0], index])
    if rng.random() >= share:
        return None
    return VoiceChange(float(rng.uniform(0.85, 1.2)), float(np.exp(rng.uniform(np.log(90), np.log(260)))),
                       float(rng.uniform(0.6, 1.5)))


def voices(count: int, seed: int, accent_weights: dict[str, float] | None = None) -> list[Voice]:
    """Draw `count` distinct accent × variant voices, each with its own rate and pitch; an
    accent's voices are drawn `accent_weights[accent]` times as often as one left out (1)."""
    pairs = [(accent, accent + (f"+{variant}" if variant else "")) for accent in espeak.ACCENTS
             for variant in ["", *espeak.variants()]]
    if count > len(pairs):
        raise PipelineError(f"data.synthetic.speakers: {count} asked, eSpeak NG has {len(pairs)} English voices")
    rng = np.random.default_rng([seed, ESPEAK_STREAMS[0]])
    if accent_weights:
        for accent, weight in accent_weights.items():
            if accent not in espeak.ACCENTS:
                raise PipelineError(f"data.synthetic.accent_weights: eSpeak NG has no accent {accent!r} "
                                    f"(its accents: {', '.join(espeak.ACCENTS)})")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                raise PipelineError(f"data.synthetic.accent_weights.{accent}: expected a weight of 0 or more, got {weight!r}")
        weights = np.array([accent_weights.get(accent, 1.0) for accent, _ in pairs])
        if count > np.count_nonzero(weights):
            raise PipelineError(f"data.synthetic.accent_weights: {count} speakers asked, the accents not "
                                f"weighted 0 have {np.count_nonzero(weights)} voices")
        order = rng.choice(len(pairs), size=count, replace=False, p=weights / weights.sum())
    else:
        order = rng.permutation(len(pairs))[:count]
    chosen = [pairs[i][1] for i in order]
    return [
        Voice(name, int(rng.integers(110, 230)), int(rng.integers(15, 85)), int(rng.integers(20, 90)))
        for name in chosen
    ]


def pico_voices(count: int, seed: int) -> list[PicoVoice]:
    """`count` Pico speakers: Pico's six voices in turn, each with its own speed and pitch."""
    rng = np.random.default_rng([seed, PICO_STREAMS[0]])
    return [
        PicoVoice(pico.VOICES[index % len(pico.VOICES)], float(rng.uniform(0.8, 1.3)), float(rng.uniform(0.75, 1.35)))
        for index in range(count)
    ]


def flite_voices(count: int, seed: int) -> list[FliteVoice]:
    """`count` Flite speakers: Flite's five voices in turn, each with its own pace (0.8–1.3)
    and vocal-tract shift (0.85–1.2)."""
    rng = np.random.default_rng([seed, FLITE_STREAMS[0]])
    return [
        FliteVoice(flite.VOICES[index % len(flite.VOICES)], float(rng.uniform(0.8, 1.3)), float(rng.uniform(0.85, 1.2)))
        for index in range(count)
    ]


def festival_voices(count: int, seed: int) -> list[FestivalVoice]:
    """`count` Festival speakers: its two voices in turn, each with its own pace (0.8–1.3)
    and vocal-tract shift (0.85–1.2)."""
    rng = np.random.default_rng([seed, FESTIVAL_STREAMS[0]])
    return [
        FestivalVoice(list(festival.VOICES)[index % len(festival.VOICES)], float(rng.uniform(0.8, 1.3)),
                      float(rng.uniform(0.85, 1.2)))
        for index in range(count)
    ]


def kokoro_voices(count: int, seed: int) -> list[KokoroVoice]:
    """`count` Kokoro speakers: random style mixes (Dirichlet, so most lean on one or two
    styles), speeds from 0.8 to 1.25 and accents in turn."""
    rng = np.random.default_rng([seed, KOKORO_STREAMS[0]])
    return [
        KokoroVoice(tuple(rng.dirichlet(np.full(len(kokoro.STYLES), 0.5)).tolist()), float(rng.uniform(0.8, 1.25)),
                    KOKORO_ACCENTS[index % len(KOKORO_ACCENTS)])
        for index in range(count)
    ]


def coloured_noise(rng: np.random.Generator, length: int, exponent: float) -> np.ndarray:
    """Unit-variance noise with a 1/f^exponent power spectrum (0 white, 1 pink, 2 brown)."""
    bins = length // 2 + 1
    spectrum = rng.standard_normal(bins) + 1j * rng.standard_normal(bins)
    frequencies = np.fft.rfftfreq(length)
    frequencies[0] = frequencies[1]
    noise = np.fft.irfft(spectrum / frequencies ** (exponent / 2), length)
    return (noise / (noise.std() + 1e-12)).astype(np.float32)


def trim(samples: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """Cut the silence eSpeak leaves around a word."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples


def place(word: np.ndarray, rng: np.random.Generator, length: int, snr_db: list[float]) -> np.ndarray:
    """Put the word at a random offset in a window of noise at a random SNR and gain."""
    word = audio.crop(word, length)
    start = int(rng.integers(0, length - len(word) + 1))
    clip = np.zeros(length, dtype=np.float32)
    clip[start : start + len(word)] = word
    speech_rms = float(np.sqrt(np.mean(word**2))) + 1e-9
    snr = rng.uniform(*snr_db)
    clip += coloured_noise(rng, length, rng.uniform(0, 2)) * speech_rms / 10 ** (snr / 20)
    return clip * rng.uniform(0.2, 0.9) / (np.abs(clip).max() + 1e-9)


def room(word: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The word as a microphone across a room hears it: the direct sound plus a reverberant tail
    of exponentially decaying noise (reverberation time 0.15–0.8 s, direct-to-reverberant
    ratio −3 to 12 dB), cut 0.25 s after the word. Synthesisers speak into an anechoic void;
    people record keywords in rooms."""
    reverberation_s = rng.uniform(0.15, 0.8)
    times = np.arange(int(reverberation_s * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    tail = rng.standard_normal(len(times)) * 10 ** (-3 * times / reverberation_s)
    response = tail / np.sqrt(np.sum(tail**2)) * 10 ** (-rng.uniform(-3, 12) / 20)
    response[0] += 1.0
    heard = signal.fftconvolve(word, response)[: len(word) + audio.SAMPLE_RATE // 4]
    return (heard * np.abs(word).max() / (np.abs(heard).max() + 1e-9)).astype(np.float32)


def microphone(word: np.ndarray, rng: np.random.Generator, top_hz: list[float]) -> np.ndarray:
    """The word through a cheap microphone or phone line: a band-pass from 60–400 Hz up to a
    top edge drawn from `top_hz`, where a synthesiser's output is full-band."""
    band = signal.butter(4, [rng.uniform(60, 400), rng.uniform(*top_hz)], btype="bandpass",
                         fs=audio.SAMPLE_RATE, output="sos")
    return signal.sosfilt(band, word).astype(np.float32)


def equaliser(word: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The word through an uneven frequency response: one to three peaks or dips of −12 to +9 dB
    between 150 Hz and 6 kHz, as microphones, phone speakers and rooms colour a voice, where a
    synthesiser's timbre is the same take after take. Each is a resonator (scipy's `iirpeak`,
    unit gain at its centre, none elsewhere) mixed back in at `gain - 1`."""
    heard = word.astype(np.float64)
    for _ in range(int(rng.integers(1, 4))):
        centre = np.exp(rng.uniform(np.log(150), np.log(6000)))
        resonator = signal.iirpeak(centre, rng.uniform(0.7, 3.0), fs=audio.SAMPLE_RATE)
        heard = heard + (10 ** (rng.uniform(-12, 9) / 20) - 1) * signal.lfilter(*resonator, heard)
    return (heard * np.abs(word).max() / (np.abs(heard).max() + 1e-9)).astype(np.float32)


def fragment(word: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The first or last 10–70% of a spoken word: what a sliding window holds as a word enters or leaves."""
    cut = max(1, int(len(word) * rng.uniform(0.1, 0.7)))
    return word[:cut] if rng.random() < 0.5 else word[-cut:]


def silence(rng: np.random.Generator, length: int) -> np.ndarray:
    """A clip of background noise alone, at a random level."""
    return coloured_noise(rng, length, rng.uniform(0, 2)) * 10 ** rng.uniform(-3.5, -1)


def synthesise(params: dict[str, Any]) -> Iterator[Clip]:
    """Every clip, speaker by speaker, eSpeak's, Pico's, Flite's, Kokoro's then Festival's, made as
    the writer asks for it (eSpeak's order is fixed; Kokoro speaks a few words ahead, Festival a
    batch)."""
    data, seed = params["data"], params["seed"]
    settings = data["synthetic"]
    engine = espeak.Speaker()
    engine.seed(seed)
    for index, voice in enumerate(voices(settings["speakers"], seed, settings["accent_weights"])):
        say = functools.partial(voice.say, engine)
        yield from speaker_clips(data, seed, ESPEAK_STREAMS, index, voice.speaker_id, voice.name, say)
    for index, pico_voice in enumerate(pico_voices(settings["pico_speakers"], seed)):
        name = f"pico:{pico_voice.name}"
        yield from speaker_clips(data, seed, PICO_STREAMS, index, pico_voice.speaker_id, name, pico_voice.say)
    for index, flite_voice in enumerate(flite_voices(settings["flite_speakers"], seed)):
        name = f"flite:{flite_voice.name}"
        yield from speaker_clips(data, seed, FLITE_STREAMS, index, flite_voice.speaker_id, name, flite_voice.say)
    kokoro_speakers = kokoro_voices(settings["kokoro_speakers"], seed)
    spoken = kokoro.say_all(kokoro_requests(data, seed, kokoro_speakers, engine))
    for index, kokoro_voice in enumerate(kokoro_speakers):
        yield from speaker_clips(data, seed, KOKORO_STREAMS, index, kokoro_voice.speaker_id, kokoro_voice.name,
                                 lambda text, rng: audio.resample(next(spoken), kokoro.SAMPLE_RATE))
    festival_speakers = festival_voices(settings["festival_speakers"], seed)
    said = festival.say_all(festival_requests(data, seed, festival_speakers))
    for index, festival_voice in enumerate(festival_speakers):
        yield from speaker_clips(data, seed, FESTIVAL_STREAMS, index, festival_voice.speaker_id,
                                 f"festival:{festival_voice.name}",
                                 lambda text, rng, heard=festival_voice.heard: heard(next(said)))


def kokoro_requests(
    data: dict[str, Any], seed: int, speakers: list[KokoroVoice], engine: espeak.Speaker
) -> Iterator[kokoro.Request]:
    """What each Kokoro speaker says, in the order `speaker_clips` asks for it, each take at
    its own speed (within 7% of the speaker's). eSpeak NG's IPA drops a question mark; Kokoro
    reads one, so it is put back."""
    for index, voice in enumerate(speakers):
        speeds = np.random.default_rng([seed, KOKORO_SPEED_STREAM, index])
        for _, text in plan(data, seed, KOKORO_STREAMS, index):
            if text:
                phonemes = engine.phonemes(text, voice.accent) + ("?" if text.endswith("?") else "")
                yield phonemes, voice.mix, voice.speed * float(speeds.uniform(0.93, 1.07))


def festival_requests(data: dict[str, Any], seed: int, speakers: list[FestivalVoice]) -> Iterator[festival.Request]:
    """What each Festival speaker says, in the order `speaker_clips` asks for it, each take at
    its own pace (within 7% of the speaker's)."""
    for index, voice in enumerate(speakers):
        paces = np.random.default_rng([seed, FESTIVAL_STRETCH_STREAM, index])
        for _, text in plan(data, seed, FESTIVAL_STREAMS, index):
            if text:
                yield text, voice.name, voice.stretch * float(paces.uniform(0.93, 1.07))


def plan(data: dict[str, Any], seed: int, streams: tuple[int, int, int], index: int) -> list[tuple[str, str]]:
    """One speaker's (kind, text) list: each keyword `takes` times, `_unknown_` words and
    fragments, `_silence_` (no text); `data.synthetic.questions` of the spoken ones end in "?".

    eSpeak NG, Pico and Kokoro say a word with a question mark with a rising pitch where they
    otherwise fall; Flite's voices say it as before."""
    settings = data["synthetic"]
    entries = [(word, word) for word in data["keywords"] for _ in range(settings["takes"])]
    if data["unknown"]:
        choices = np.random.default_rng([seed, streams[1], index])
        picks = choices.choice(len(settings["unknown_words"]), settings["takes"])
        entries += [(UNKNOWN, settings["unknown_words"][i]) for i in picks]
        entries += [(FRAGMENT, str(word)) for word in choices.choice(data["keywords"], settings["fragments"])]
    if data["silence"]:
        entries += [(SILENCE, "")] * settings["takes"]
    if settings["questions"]:
        asking = np.random.default_rng([seed, QUESTION_STREAM, streams[0], index]).random(len(entries)) < settings["questions"]
        entries = [(kind, f"{text}?" if text and ask else text) for (kind, text), ask in zip(entries, asking)]
    return entries


def speaker_clips(
    data: dict[str, Any], seed: int, streams: tuple[int, int, int], index: int, speaker: str, voice: str, say: Say
) -> Iterator[Clip]:
    """One speaker's clips, as `plan` lists them, each take placed in noise.

    `streams` and `index` (the speaker's place among its engine's) seed the plan and each take.
    """
    settings = data["synthetic"]
    length = int(round(data["max_duration_s"] * audio.SAMPLE_RATE))
    counts: dict[str, int] = {}
    change = voice_change(settings["voice_change"], seed, streams, index)
    if change:
        voice = f"{voice} ({change})"
    for kind, text in plan(data, seed, streams, index):
        label = UNKNOWN if kind == FRAGMENT else kind
        take = counts.get(label, 0)
        counts[label] = take + 1
        rng = np.random.default_rng([seed, streams[2], index, *hashlib.sha1(f"{label}:{take}".encode()).digest()[:4]])
        if text:
            spoken = trim(say(text, rng))
            if change:
                spoken = change.apply(spoken, rng)
            if kind == FRAGMENT:
                spoken = fragment(spoken, rng)
            band = functools.partial(microphone, top_hz=settings["band_top_hz"])
            effects = ((settings["reverb"], room), (settings["band_limit"], band), (settings["equaliser"], equaliser))
            for share, effect in effects:
                if share and rng.random() < share:  # no draw when off: clips stay as they were
                    spoken = effect(spoken, rng)
            clip = place(spoken, rng, length, settings["snr_db"])
        else:
            clip = silence(rng, length)
        name = f"{speaker}_nohash_{take}.wav"
        yield Clip(
            origin=f"synthetic/{label}/{name}", label=label, speaker=speaker, name=name,
            read=lambda samples=clip: samples,
            columns={"text": f"part of {text}" if kind == FRAGMENT else text, "voice": voice},
        )
