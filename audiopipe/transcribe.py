"""Transcription: speech turns, each transcribed in its own language, with word timestamps,
an English translation, a text-language cross-check and hallucination flags.

Engines sit behind one small interface (``SpeechEngine``): ``language_probs`` for the
language stage and ``decode`` for one turn. ``FasterWhisperEngine`` runs CTranslate2
(int8 on CPU, float16 on GPU); ``OpenAIWhisperEngine`` runs the reference PyTorch code on
the same weights (converted by ``models/ct2_whisper.py``). Another engine plugs in by
implementing the same two methods and being named in ``load_engine``.

Gunfire: a shot is tens of dB louder than the speech under it, and Silero VAD and Whisper
both lose the speech around it. Detected gunshots are therefore attenuated (by
``MASK_GAIN``, over ``mask_ms`` from each onset) in the copy of the audio that VAD and
Whisper see; the evidence audio itself is untouched.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from . import language
from .config import SpeechConfig
from .errors import ModelError
from .models import ModelRef
from .records import Event, LanguageGuess, Segment, Turn, Word

SAMPLE_RATE_HZ = 16000
MASK_GAIN = 0.03  # -30 dB


@dataclass(frozen=True)
class RawSegment:
    """What an engine returns for one decoded stretch; times relative to the turn start."""

    start_s: float
    end_s: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    words: tuple[Word, ...]


class SpeechEngine(language.LanguageDetector, Protocol):
    def decode(self, audio_16k: np.ndarray, language: str, task: str, word_timestamps: bool
               ) -> list[RawSegment]:
        """Transcribe (task="transcribe") or translate to English (task="translate") one turn."""


class FasterWhisperEngine:
    def __init__(self, cfg: SpeechConfig, model: ModelRef):
        from faster_whisper import WhisperModel

        device = cfg.device
        compute = cfg.compute_type
        if device == "auto":
            import ctranslate2

            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        if device == "cuda" and compute == "int8":
            compute = "float16"
        try:
            self.model = WhisperModel(model.path, device=device, compute_type=compute,
                                      cpu_threads=cfg.cpu_threads, local_files_only=bool(model.sha256))
        except Exception as exc:  # noqa: BLE001 - CTranslate2 raises plain RuntimeError/ValueError
            raise ModelError(f"cannot load speech model {model.name} from {model.path}: {exc}") from exc
        self.cfg = cfg

    def language_probs(self, audio_16k: np.ndarray) -> dict[str, float]:
        fe = self.model.feature_extractor
        # pad with 30 s of zero samples before the log-mel, as Whisper was trained
        feats = fe(audio_16k[: fe.n_samples], padding=fe.n_samples)[:, : fe.nb_max_frames]
        _, _, all_probs = self.model.detect_language(features=feats)
        return {lang: float(p) for lang, p in all_probs}

    def decode(self, audio_16k: np.ndarray, language: str, task: str, word_timestamps: bool
               ) -> list[RawSegment]:
        segments, _ = self.model.transcribe(
            audio_16k, language=language, task=task, beam_size=self.cfg.beam_size,
            word_timestamps=word_timestamps, vad_filter=False, condition_on_previous_text=False,
            initial_prompt=self.cfg.initial_prompt, hotwords=self.cfg.hotwords)
        out = []
        for s in segments:
            words = tuple(Word(float(w.start), float(w.end), w.word, float(w.probability)) for w in (s.words or []))
            out.append(RawSegment(float(s.start), float(s.end), s.text.strip(), float(s.avg_logprob),
                                  float(s.no_speech_prob), float(s.compression_ratio), words))
        return out


class OpenAIWhisperEngine:
    """openai-whisper (PyTorch), the reference implementation, behind the same interface.

    Local checkpoints (``whisper-base-openai``, converted from the CTranslate2 weights) carry
    the alignment heads of ``config.json`` so that word timestamps use the right
    cross-attention heads; hub names (``turbo``, ``large-v3``) load the normal way online.
    openai-whisper has no hotwords option: hotwords are added to the initial prompt.
    """

    def __init__(self, cfg: SpeechConfig, model: ModelRef):
        import torch
        import whisper

        device = cfg.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            if model.sha256:  # a local checkpoint: read once, alignment heads included
                from whisper.model import ModelDimensions, Whisper

                checkpoint = torch.load(f"{model.path}/base.pt", map_location="cpu", weights_only=False)
                self.model = Whisper(ModelDimensions(**checkpoint["dims"]))
                self.model.load_state_dict(checkpoint["model_state_dict"])
                if checkpoint.get("alignment_heads"):
                    mask = torch.zeros(self.model.dims.n_text_layer, self.model.dims.n_text_head, dtype=torch.bool)
                    for layer, head in checkpoint["alignment_heads"]:
                        mask[layer, head] = True
                    self.model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
                self.model = self.model.to(device)
            else:
                self.model = whisper.load_model(model.path, device=device)
        except Exception as exc:  # noqa: BLE001 - torch and whisper raise many kinds
            raise ModelError(f"cannot load openai-whisper model {model.name} from {model.path}: {exc}") from exc
        self.fp16 = device == "cuda"
        self.cfg = cfg
        self.prompt = " ".join(p for p in (cfg.initial_prompt, cfg.hotwords) if p) or None

    def language_probs(self, audio_16k: np.ndarray) -> dict[str, float]:
        import torch
        import whisper

        # pad with 30 s of zero samples before the log-mel, as Whisper was trained
        mel = whisper.log_mel_spectrogram(torch.from_numpy(audio_16k[: whisper.audio.N_SAMPLES]),
                                          self.model.dims.n_mels, padding=whisper.audio.N_SAMPLES)
        mel = mel[:, : whisper.audio.N_FRAMES].to(self.model.device)
        with torch.no_grad():
            _, probs = self.model.detect_language(mel[None].to(next(self.model.parameters()).dtype))
        return {k: float(v) for k, v in probs[0].items()}

    def decode(self, audio_16k: np.ndarray, language: str, task: str, word_timestamps: bool
               ) -> list[RawSegment]:
        import whisper

        result = whisper.transcribe(
            self.model, audio_16k, language=language, task=task, beam_size=self.cfg.beam_size,
            best_of=self.cfg.beam_size, word_timestamps=word_timestamps, condition_on_previous_text=False,
            initial_prompt=self.prompt, fp16=self.fp16, verbose=None)
        out = []
        for s in result["segments"]:
            words = tuple(Word(float(w["start"]), float(w["end"]), w["word"], float(w["probability"]))
                          for w in s.get("words", []))
            out.append(RawSegment(float(s["start"]), float(s["end"]), s["text"].strip(), float(s["avg_logprob"]),
                                  float(s["no_speech_prob"]), float(s["compression_ratio"]), words))
        return out


class TextLanguage:
    """fastText lid.176 on transcribed text: catches Whisper translating instead of transcribing."""

    def __init__(self, model: ModelRef):
        import fasttext

        self.model = fasttext.load_model(f"{model.path}/lid.176.ftz")

    def __call__(self, text: str) -> tuple[str | None, float]:
        clean = " ".join(text.split())
        if len(re.sub(r"\W", "", clean)) < 8:
            return None, 0.0
        labels, probs = self.model.predict(clean, k=1)
        return labels[0].replace("__label__", ""), float(probs[0])


@dataclass
class SpeechStage:
    """The speech stage for one run: the engine and the cross-check model, loaded once."""

    cfg: SpeechConfig
    engine: SpeechEngine
    text_lid: TextLanguage | None

    def process(self, track, shots: list[Event], turns: list[Turn] | None = None,
                progress: Callable[[str, float], None] | None = None
                ) -> tuple[list[Turn], list[LanguageGuess], list[Segment], list[str]]:
        """Language and words for every turn of one track.

        ``turns``: diarization turns; None means VAD regions (flagged ``no_diarization_vad_turns``).
        Diarization turns longer than ``max_turn_s`` are split, as Whisper reads 30 s at most.
        progress: called with ("turns", fraction done) after each turn, for long files.
        """
        audio = mask_shots(track.audio_16k, [e.time_s for e in shots], self.cfg) if self.cfg.mask_gunshots \
            else track.audio_16k
        flags: list[str] = []
        if turns is None:
            turns = vad_turns(audio, track.index, self.cfg)
            flags = ["no_diarization_vad_turns"] if turns else []
        else:
            turns = [piece for t in turns for piece in split_turn(t, self.cfg.max_turn_s)]
        guesses = language.identify(audio, turns, self.engine, self.cfg)
        segments: list[Segment] = []
        checked: list[LanguageGuess] = []
        for n, (turn, guess) in enumerate(zip(turns, guesses), 1):
            segs, guess = self.transcribe_turn(audio, turn, guess, turns)
            segments.extend(segs)
            checked.append(guess)
            if progress:
                progress("turns", n / len(turns))
        return turns, checked, segments, flags

    def transcribe_turn(self, audio: np.ndarray, turn: Turn, guess: LanguageGuess, turns: list[Turn]
                        ) -> tuple[list[Segment], LanguageGuess]:
        """Segments of one turn, and its language guess, marked uncertain when the decoder
        cannot write the turn confidently in that language (mean ``avg_logprob`` under
        ``flag_avg_logprob``): the signature of a wrong language pick, even at a high
        language probability."""
        a = int(turn.start_s * SAMPLE_RATE_HZ)
        b = int(turn.end_s * SAMPLE_RATE_HZ)
        raws = self.engine.decode(audio[a:b], guess.language, "transcribe", word_timestamps=True)
        if raws and not guess.language_uncertain and guess.decided_by != "forced" and \
                float(np.mean([r.avg_logprob for r in raws])) < self.cfg.flag_avg_logprob:
            guess = dataclasses.replace(guess, language_uncertain=True)
        out = []
        for r in raws:
            start = turn.start_s + r.start_s
            end = min(turn.end_s, turn.start_s + r.end_s)
            words = tuple(Word(round(turn.start_s + w.start_s, 3), round(turn.start_s + w.end_s, 3), w.word,
                               round(w.probability, 4)) for w in r.words)
            text_lang, text_prob = self.text_lid(r.text) if self.text_lid else (None, 0.0)
            flags = quality_flags(r, self.cfg)
            if text_lang and text_prob >= 0.5 and text_lang != guess.language:
                flags.append("text_language_mismatch")
            if guess.language_uncertain:
                flags.append("language_uncertain")
            if not _inside_speech(start, end, turns):
                flags.append("text_in_non_speech")
            text_en = r.text if guess.language == "en" else None
            if self.cfg.translate and guess.language != "en" and r.text:
                text_en, translation_ok = self.translate(audio, start, end, guess.language)
                if not translation_ok:
                    flags.append("translation_low_confidence")
            out.append(Segment(
                track=turn.track, start_s=round(start, 3), end_s=round(end, 3), speaker=turn.speaker,
                language=guess.language, language_prob=round(guess.language_prob, 4),
                language_top3=guess.language_top3, language_uncertain=guess.language_uncertain,
                text=r.text, text_en=text_en,
                avg_logprob=round(r.avg_logprob, 4), no_speech_prob=round(r.no_speech_prob, 4),
                compression_ratio=round(r.compression_ratio, 3), text_language=text_lang, words=words,
                flags=tuple(flags)))
        return out, guess

    def translate(self, audio: np.ndarray, start_s: float, end_s: float, lang: str) -> tuple[str | None, bool]:
        """English text of one segment (Whisper task=translate), and whether it is confident."""
        clip = audio[int(start_s * SAMPLE_RATE_HZ): int(end_s * SAMPLE_RATE_HZ)]
        raws = self.engine.decode(clip, lang, "translate", word_timestamps=False)
        text = " ".join(r.text for r in raws).strip() or None
        ok = bool(raws) and all(r.avg_logprob >= self.cfg.flag_avg_logprob and not repetition_loop(r.text)
                                for r in raws)
        return text, ok


def load_engine(cfg: SpeechConfig, model: ModelRef, text_lid_model: ModelRef | None) -> SpeechStage:
    engines = {"faster-whisper": FasterWhisperEngine, "openai-whisper": OpenAIWhisperEngine}
    engine: SpeechEngine = engines[cfg.engine](cfg, model)
    return SpeechStage(cfg, engine, TextLanguage(text_lid_model) if text_lid_model else None)


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


def vad_turns(audio_16k: np.ndarray, track: int, cfg: SpeechConfig) -> list[Turn]:
    """Speech regions from Silero VAD (as shipped in faster-whisper), split at ``max_turn_s``."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if audio_16k.size < SAMPLE_RATE_HZ // 10 or float(np.abs(audio_16k).max()) < 1e-5:
        return []
    opts = VadOptions(threshold=cfg.vad_threshold, min_speech_duration_ms=cfg.vad_min_speech_ms,
                      min_silence_duration_ms=cfg.vad_min_silence_ms, speech_pad_ms=cfg.vad_pad_ms,
                      max_speech_duration_s=cfg.max_turn_s)
    turns = [Turn(track, round(c["start"] / SAMPLE_RATE_HZ, 3), round(c["end"] / SAMPLE_RATE_HZ, 3), None, "vad")
             for c in get_speech_timestamps(audio_16k, opts)]
    return [piece for t in turns for piece in split_turn(t, cfg.max_turn_s)]


def split_turn(turn: Turn, max_s: float) -> list[Turn]:
    """A turn cut into pieces of at most ``max_s`` seconds."""
    pieces, start = [], turn.start_s
    while turn.end_s - start > max_s:
        pieces.append(dataclasses.replace(turn, start_s=round(start, 3), end_s=round(start + max_s, 3)))
        start += max_s
    pieces.append(dataclasses.replace(turn, start_s=round(start, 3)))
    return pieces


def _inside_speech(start_s: float, end_s: float, turns: list[Turn]) -> bool:
    overlap = sum(max(0.0, min(end_s, t.end_s) - max(start_s, t.start_s)) for t in turns)
    return overlap >= 0.5 * max(end_s - start_s, 1e-3)


def repetition_loop(text: str, max_n: int = 4, min_repeats: int = 3) -> bool:
    """True when an n-gram of 1-4 words repeats back to back ``min_repeats`` times or more."""
    words = text.lower().split()
    for n in range(1, max_n + 1):
        for i in range(0, len(words) - n * min_repeats + 1):
            gram = words[i:i + n]
            if all(words[i + k * n: i + (k + 1) * n] == gram for k in range(1, min_repeats)):
                return True
    return False


def quality_flags(r: RawSegment, cfg: SpeechConfig) -> list[str]:
    flags = []
    if r.compression_ratio > cfg.flag_compression_ratio:
        flags.append("high_compression_ratio")
    if r.avg_logprob < cfg.flag_avg_logprob:
        flags.append("low_avg_logprob")
    if r.no_speech_prob > cfg.flag_no_speech_prob:
        flags.append("high_no_speech_prob")
    if repetition_loop(r.text):
        flags.append("repetition_loop")
    return flags
