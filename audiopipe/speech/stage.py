"""The speech stage: speech turns, their languages, then the words of every turn in its
language, with word timestamps, an English translation, a text-language cross-check and
hallucination flags.

Three questions, in order, one piece each:
1. what each turn says of its language (``language.evidence``: a short, cheap encoder pass
   on each turn, and on each stretch of one speaker's turns with short pauses between them);
2. what is decided over the file (``language.decide``), and how the turns are packed:
   consecutive turns decided to be in one language share a window of up to 30 s
   (``windows.pack``; the gaps between them are cut out), never turns of two languages;
3. what is decoded: each window goes through the encoder once (``SpeechEngine.encode``,
   ``batch_size`` windows at a time), and that encoder output serves the transcription with
   word timestamps and the translation (``SpeechEngine.decode``). The words are given back to
   their turns (and speakers) by their times (``segments.output_segments``).

Gunfire: a shot is tens of dB louder than the speech under it, and Silero VAD and Whisper
both lose the speech around it. Detected gunshots are therefore attenuated (by
``MASK_GAIN``, over ``mask_ms`` from each onset) in the copy of the audio that VAD and
Whisper see; the evidence audio itself is untouched.
Records: ``SpeechResult`` (one track's turns, language guesses, segments, flags, timings).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import models
from ..config import SpeechConfig
from ..models import ModelRef
from ..records import Event, LanguageGuess, Segment, Turn
from . import engine, language
from .decoding import RawSegment
from .engine import SpeechEngine
from .language import SAMPLE_RATE_HZ
from .quality import TextLanguage
from .segments import output_segments
from .windows import Window, pack, to_track

MASK_GAIN = 0.03  # -30 dB
TOKENS_PER_S = 15.0  # a window's transcript may use this many tokens per second of audio (+ TOKENS_EXTRA):
TOKENS_EXTRA = 16  # speech is slower than that; a 1-s window decoded into a loop stops at 31 tokens, not 224
TRANSLATION_TOKENS_PER_TOKEN = 1.5  # a translation may use this many tokens per transcribed one ...
TRANSLATION_EXTRA_TOKENS = 24  # ... plus these (timestamps)


@dataclass
class SpeechResult:
    """What the speech stage gives for one track."""

    turns: list[Turn]
    languages: list[LanguageGuess]
    segments: list[Segment]
    flags: list[str]
    timings_s: dict[str, float] = field(default_factory=dict)


@dataclass
class SpeechStage:
    """The speech stage for one run: the engine and the cross-check model, loaded once."""

    cfg: SpeechConfig
    engine: SpeechEngine
    text_lid: TextLanguage | None
    confusions: language.Confusions | None = None

    def process(self, track, shots: list[Event], turns: list[Turn] | None = None,
                progress: Callable[[str, float], None] | None = None) -> SpeechResult:
        """Languages and words for every turn of one track.

        ``turns``: diarization turns; None means VAD regions (flagged ``no_diarization_vad_turns``).
        Turns longer than a window are split.
        progress: called with ("windows", fraction done) after each batch, for long files.
        """
        cfg = self.cfg
        self.engine.fresh()
        shot_times = [e.time_s for e in shots]
        audio = mask_shots(track.audio_16k, shot_times, cfg) if cfg.mask_gunshots else track.audio_16k
        longest = min(cfg.max_turn_s, cfg.window_s - 2 * cfg.pack_pad_s)
        timings: dict[str, float] = {}
        flags: list[str] = []
        t0 = time.perf_counter()
        if turns is None:
            turns = vad_turns(audio, track.index, cfg, longest)
            flags = ["no_diarization_vad_turns"] if turns else []
            timings["vad"] = time.perf_counter() - t0
        else:
            turns = [piece for t in turns for piece in split_turn(t, longest)]
        if not turns:
            return SpeechResult(turns, [], [], flags, timings)

        t0 = time.perf_counter()
        heard = language.Evidence.alone([]) if cfg.language else language.evidence(audio, turns, self.engine, cfg)
        fire = [any(t.start_s <= s <= t.end_s for s in shot_times) for t in turns]
        guesses = language.decide(turns, heard, cfg, fire, self.confusions)
        timings["language"] = time.perf_counter() - t0

        windows = pack(turns, [g.language for g in guesses], cfg, audio.size / SAMPLE_RATE_HZ)
        transcripts, translations = self._decode(audio, windows, timings, progress)
        segments, guesses = output_segments(turns, guesses, windows, transcripts, translations, cfg, self.text_lid)
        return SpeechResult(turns, guesses, segments, flags, timings)

    def _decode(self, audio: np.ndarray, windows: list[Window], timings: dict[str, float],
                progress: Callable[[str, float], None] | None) -> tuple[list[list[RawSegment]], list[list[RawSegment]]]:
        """Every window encoded once and decoded: its transcript (track times, words) and
        its English translation (track times; none for English). A window the decoder left
        early is decoded on from there (as Whisper's own loop does)."""
        cfg = self.cfg
        transcripts: list[list[RawSegment]] = [[] for _ in windows]
        translations: list[list[RawSegment]] = [[] for _ in windows]
        queue = [(i, w, cfg.translate and w.language != "en") for i, w in enumerate(windows)]
        done = 0
        for key in ("encode", "transcribe", "translate"):
            timings.setdefault(key, 0.0)
        while queue:
            lang = queue[0][1].language
            batch = [q for q in queue if q[1].language == lang][: cfg.batch_size]
            queue = [q for q in queue if q not in batch]
            t0 = time.perf_counter()
            encoded = self.engine.encode([w.audio(audio) for _, w, _ in batch], None)
            t1 = time.perf_counter()
            content = [w.content_s for _, w, _ in batch]
            out = self.engine.decode(encoded, lang, "transcribe", content, word_timestamps=True,
                                     max_new_tokens=int(TOKENS_PER_S * max(content)) + TOKENS_EXTRA)
            t2 = time.perf_counter()
            timings["encode"] += t1 - t0
            timings["transcribe"] += t2 - t1
            english = [k for k, (_, _, tr) in enumerate(batch) if tr and out[k].n_tokens]
            if english:
                sub = self.engine.take(encoded, english)
                # an English version needs about as many tokens as the words it translates: the
                # bound ends a translation that loops long before the model's limit
                longest = max(TRANSLATION_TOKENS_PER_TOKEN * out[k].n_tokens for k in english)
                for k, d in zip(english, self.engine.decode(sub, lang, "translate", [content[k] for k in english],
                                                            word_timestamps=False,
                                                            max_new_tokens=int(longest) + TRANSLATION_EXTRA_TOKENS)):
                    i, w, _ = batch[k]
                    translations[i].extend(to_track(w, s) for s in d.segments)
                timings["translate"] += time.perf_counter() - t2
            for (i, w, _), d in zip(batch, out):
                transcripts[i].extend(to_track(w, s) for s in d.segments)
                if d.resume_s is not None:
                    queue.append((i, w.tail(d.resume_s), False))
            done += len(batch)
            if progress:
                progress("windows", min(1.0, done / max(1, len(windows))))
        return transcripts, translations


def load_engine(cfg: SpeechConfig, model: ModelRef, text_lid_model: ModelRef | None,
                confusions: ModelRef | None = None) -> SpeechStage:
    """The speech stage with its engine, its cross-check model and the table of where the
    engine's model confuses languages (``models.confusions_for``; None: none known)."""
    known = language.Confusions.from_dict(models.load_yaml(confusions)) if confusions else None
    return SpeechStage(cfg, engine.load(cfg, model), TextLanguage(text_lid_model) if text_lid_model else None,
                       known)


def mask_shots(audio_16k: np.ndarray, times_s: list[float], cfg: SpeechConfig) -> np.ndarray:
    """A copy of the audio with each shot attenuated from 5 ms before to ``mask_ms`` after."""
    if not times_s:
        return audio_16k
    gain = np.ones(audio_16k.size, np.float32)
    for t in times_s:
        a = max(0, int((t - 0.005) * SAMPLE_RATE_HZ))
        b = min(audio_16k.size, int((t + cfg.mask_ms / 1000.0) * SAMPLE_RATE_HZ))
        gain[a:b] = MASK_GAIN
    return audio_16k * gain


def vad_turns(audio_16k: np.ndarray, track: int, cfg: SpeechConfig, max_s: float) -> list[Turn]:
    """Speech regions from Silero VAD (as shipped in faster-whisper), split at ``max_s``."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if audio_16k.size < SAMPLE_RATE_HZ // 10 or float(np.abs(audio_16k).max()) < 1e-5:
        return []
    opts = VadOptions(threshold=cfg.vad_threshold, min_speech_duration_ms=cfg.vad_min_speech_ms,
                      min_silence_duration_ms=cfg.vad_min_silence_ms, speech_pad_ms=cfg.vad_pad_ms,
                      max_speech_duration_s=max_s)
    turns = [Turn(track, round(c["start"] / SAMPLE_RATE_HZ, 3), round(c["end"] / SAMPLE_RATE_HZ, 3), None, "vad")
             for c in get_speech_timestamps(audio_16k, opts)]
    return [piece for t in turns for piece in split_turn(t, max_s)]


def split_turn(turn: Turn, max_s: float) -> list[Turn]:
    """A turn cut into pieces of at most ``max_s`` seconds."""
    pieces, start = [], turn.start_s
    while turn.end_s - start > max_s:
        pieces.append(dataclasses.replace(turn, start_s=round(start, 3), end_s=round(start + max_s, 3)))
        start += max_s
    pieces.append(dataclasses.replace(turn, start_s=round(start, 3)))
    return pieces
