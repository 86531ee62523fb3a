"""The speech stage: speech turns, their languages, then the words of every turn in its
language, with word timestamps, an English translation, a text-language cross-check and
hallucination flags.

Three questions, in order, one piece each:
1. what each turn says of its language (``language.evidence``: a short, cheap encoder pass
   on each turn, and on each stretch of one speaker's turns with short pauses between them);
2. what is decided over the file (``language.decide``), and how the turns are packed:
   consecutive turns decided to be in one language share a window of up to 30 s
   (``pack``; the gaps between them are cut out), never turns of two languages;
3. what is decoded: each window goes through the encoder once (``SpeechEngine.encode``,
   ``batch_size`` windows at a time), and that encoder output serves the transcription with
   word timestamps and the translation (``SpeechEngine.decode``). The words are given back to
   their turns (and speakers) by their times (``assign``): an output segment never straddles
   a turn boundary.

Engines sit behind one interface (``SpeechEngine``: ``encode``, ``language_probs``,
``decode``). ``FasterWhisperEngine`` runs CTranslate2 (int8 on CPU, float16 on GPU);
``OpenAIWhisperEngine`` runs the reference PyTorch code on the same weights (converted by
``models/ct2_whisper.py``). Both decode the way Whisper's own ``transcribe`` does (beam
search, temperature fallback on a repetitive or improbable output, timestamp tokens cut
into segments, cross-attention word timing), batched over windows.

Gunfire: a shot is tens of dB louder than the speech under it, and Silero VAD and Whisper
both lose the speech around it. Detected gunshots are therefore attenuated (by
``MASK_GAIN``, over ``mask_ms`` from each onset) in the copy of the audio that VAD and
Whisper see; the evidence audio itself is untouched.
"""

from __future__ import annotations

import dataclasses
import re
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from . import language
from .config import SpeechConfig
from .errors import ModelError
from .language import SAMPLE_RATE_HZ, clip
from .models import ModelRef
from .records import Event, LanguageGuess, Segment, Turn, Word, union

MASK_GAIN = 0.03  # -30 dB
WHISPER_WINDOW_S = 30.0
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # Whisper's fallback when an output fails the checks below
FALLBACK_COMPRESSION_RATIO = 2.4
FALLBACK_AVG_LOGPROB = -1.0
FALLBACK_MIN_S = 3.0  # shorter windows are decoded again only when they loop (see _fallback_logprob)
NO_SPEECH_PROB = 0.6
RESUME_MARGIN_S = 1.0  # a window the decoder stopped this far before its end is decoded on from there
TOKENS_PER_S = 15.0  # a window's transcript may use this many tokens per second of audio (+ TOKENS_EXTRA):
TOKENS_EXTRA = 16  # speech is slower than that; a 1-s window decoded into a loop stops at 31 tokens, not 224
TRANSLATION_TOKENS_PER_TOKEN = 1.5  # a translation may use this many tokens per transcribed one ...
TRANSLATION_EXTRA_TOKENS = 24  # ... plus these (timestamps)
SAMPLING_SEED = 0  # the fallback samples from this seed, each track afresh: a rerun gives the same words


@dataclass(frozen=True)
class RawSegment:
    """What an engine returns for one decoded stretch; times in seconds from the window start."""

    start_s: float
    end_s: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    words: tuple[Word, ...]


@dataclass(frozen=True)
class Decoded:
    """One window's decoder output: its segments, and where to go on from when the decoder
    stopped before the end of the window (None when it finished)."""

    segments: list[RawSegment]
    resume_s: float | None = None
    n_tokens: int = 0  # text tokens decoded


class SpeechEngine(language.LanguageDetector, Protocol):
    def fresh(self) -> None:
        """Sample from ``SAMPLING_SEED`` anew: a track's words must not depend on the tracks
        decoded before it in the batch."""

    def take(self, encoded: Any, idx: list[int]) -> Any:
        """The encoder output of some windows of an encoded batch."""

    def decode(self, encoded: Any, language: str, task: str, content_s: Sequence[float], word_timestamps: bool,
               max_new_tokens: int | None = None) -> list[Decoded]:
        """Transcribe (task="transcribe") or translate to English (task="translate") every
        window of an encoded batch. content_s: seconds of audio in each window (the rest is
        padding); max_new_tokens: at most this many tokens per window (None: the model's limit)."""


def compression_ratio(text: str) -> float:
    raw = text.encode("utf-8")
    return len(raw) / max(1, len(zlib.compress(raw)))


@dataclass(frozen=True)
class Hypothesis:
    """One decoder output: tokens (text and timestamps, no special tokens), its scores."""

    tokens: list[int]
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


def with_fallback(generate: Callable[[list[int], float], list[Hypothesis]],
                  min_avg_logprob: Sequence[float | None]) -> list[Hypothesis]:
    """Whisper's temperature fallback over a batch: items whose output is too repetitive
    (compression ratio) or too improbable (average log-probability under the item's
    ``min_avg_logprob``; None: not checked), and not silence, are decoded again at the next
    temperature; when all fail, the most probable output is kept.

    generate(indices, temperature) -> one hypothesis per index.
    """
    n = len(min_avg_logprob)
    attempts: list[list[Hypothesis]] = [[] for _ in range(n)]
    done: list[Hypothesis | None] = [None] * n
    pending = list(range(n))
    for temperature in TEMPERATURES:
        if not pending:
            break
        still = []
        for i, h in zip(pending, generate(pending, temperature)):
            attempts[i].append(h)
            improbable = min_avg_logprob[i] is not None and h.avg_logprob < min_avg_logprob[i]
            failed = h.compression_ratio > FALLBACK_COMPRESSION_RATIO or improbable
            if failed and not _silent(h):
                still.append(i)
            else:
                done[i] = h
        pending = still
    for i in pending:
        usable = [h for h in attempts[i] if h.compression_ratio <= FALLBACK_COMPRESSION_RATIO] or attempts[i]
        done[i] = max(usable, key=lambda h: h.avg_logprob)
    return done  # type: ignore[return-value]


def split_by_timestamps(tokens: list[int], timestamp_begin: int, content_s: float, precision_s: float = 0.02
                        ) -> tuple[list[tuple[float, float, list[int]]], float | None]:
    """Whisper's output cut at its timestamp tokens into (start_s, end_s, text tokens), and
    the time to decode on from when it stopped early (two timestamps in a row at the end,
    well before ``content_s``), else None. Text after the last timestamp ends at ``content_s``."""
    segments: list[tuple[float, float, list[int]]] = []
    start: float | None = None
    last_ts: float | None = None
    text: list[int] = []
    for tok in tokens:
        if tok >= timestamp_begin:
            t = min((tok - timestamp_begin) * precision_s, content_s)
            if text:
                segments.append((start if start is not None else 0.0, t, text))
                text, start = [], None
            else:
                start = t
            last_ts = t
        else:
            if start is None:
                start = last_ts if last_ts is not None else 0.0
            text.append(tok)
    if text:
        segments.append((start if start is not None else 0.0, content_s, text))
    ended_twice = len(tokens) >= 2 and tokens[-1] >= timestamp_begin and tokens[-2] >= timestamp_begin
    resume = last_ts if ended_twice and last_ts is not None and last_ts < content_s - RESUME_MARGIN_S else None
    return segments, resume


def _padded(audio_16k: np.ndarray, min_s: float) -> np.ndarray:
    """Zero samples appended up to ``min_s`` seconds (as Whisper was trained for short audio)."""
    n = int(round(min_s * SAMPLE_RATE_HZ))
    return np.pad(audio_16k, (0, n - audio_16k.size)) if audio_16k.size < n else audio_16k


def _batch_s(audio_16k: Sequence[np.ndarray], min_s: float) -> float:
    """Length every clip of a batch is padded to: ``min_s``, the longest clip, at most 30 s,
    a whole number of encoder frames (two 10-ms mel frames)."""
    longest = max(a.size for a in audio_16k) / SAMPLE_RATE_HZ
    return min(WHISPER_WINDOW_S, float(np.ceil(max(min_s, longest) * 50.0) / 50.0))


class FasterWhisperEngine:
    """CTranslate2 Whisper through faster-whisper's model, tokenizer and word timing."""

    def __init__(self, cfg: SpeechConfig, model: ModelRef):
        from faster_whisper import WhisperModel

        device = cfg.device
        compute = cfg.compute_type
        if device == "auto":
            import ctranslate2

            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        if device == "cuda" and compute == "int8":
            compute = "float16"

        def load() -> WhisperModel:
            return WhisperModel(model.path, device=device, compute_type=compute, cpu_threads=cfg.cpu_threads,
                                local_files_only=bool(model.sha256))

        try:
            self.model = load()
        except Exception as exc:  # noqa: BLE001 - CTranslate2 raises plain RuntimeError/ValueError
            raise ModelError(f"cannot load speech model {model.name} from {model.path}: {exc}") from exc
        self._load = load
        self.sampled = False  # the fallback has sampled since the model was loaded
        self.cfg = cfg
        self.encoder_passes = 0  # windows and clips through the encoder (for tests and the bench)

    def fresh(self) -> None:
        """CTranslate2 seeds each of its worker threads' random generator once, at the thread's
        first sample; ``set_random_seed`` does not reset a generator already made. Once the
        fallback has sampled, the model is loaded again (new threads, seeded from
        ``SAMPLING_SEED``): a track then gets the words it gets when analysed alone (about
        0.4 s for the base model on the CPU, only after a track that fell back to sampling)."""
        if self.sampled:
            del self.model  # the old weights go before the new ones come (GPU memory)
            self.model = self._load()
            self.sampled = False

    def encode(self, audio_16k: Sequence[np.ndarray], min_s: float | None) -> Any:
        """Encoder output, a ``ctranslate2.StorageView`` of shape (batch, frames / 2, d_model)."""
        from faster_whisper.audio import pad_or_trim

        fe = self.model.feature_extractor
        if min_s is None:  # as faster-whisper's transcribe: the clip's log-mel, zeros after it
            feats = np.stack([pad_or_trim(fe(a)[:, :-1], fe.nb_max_frames) for a in audio_16k])
        else:
            n_s = _batch_s(audio_16k, min_s)
            frames = int(round(n_s * SAMPLE_RATE_HZ)) // fe.hop_length
            feats = np.stack([fe(_padded(a, n_s), padding=0)[:, :frames] for a in audio_16k])
        self.encoder_passes += len(audio_16k)
        return self.model.encode(feats)

    def language_probs(self, encoded: Any) -> list[dict[str, float]]:
        return [{tok[2:-2]: float(p) for tok, p in item} for item in self.model.model.detect_language(encoded)]

    def take(self, encoded: Any, idx: list[int]) -> Any:
        """The encoder outputs of some items of a batch (for the fallback, word timing, translation)."""
        if idx == list(range(encoded.shape[0])):
            return encoded
        import ctranslate2

        if encoded.device == "cpu":
            return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoded)[idx]))
        import torch

        return ctranslate2.StorageView.from_array(torch.as_tensor(encoded, device="cuda")[idx].contiguous())

    def decode(self, encoded: Any, language: str, task: str, content_s: Sequence[float], word_timestamps: bool,
               max_new_tokens: int | None = None) -> list[Decoded]:
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        m = self.model
        n = len(content_s)
        tok = Tokenizer(m.hf_tokenizer, m.model.is_multilingual, task=task, language=language)
        previous = tok.encode(" " + self.cfg.initial_prompt.strip()) if self.cfg.initial_prompt else []
        prompt = m.get_prompt(tok, previous, without_timestamps=False, hotwords=self.cfg.hotwords)
        suppress = get_suppressed_tokens(tok, [-1])
        max_length = min(m.max_length, len(prompt) + max_new_tokens) if max_new_tokens else m.max_length

        def generate(idx: list[int], temperature: float) -> list[Hypothesis]:
            import ctranslate2

            kwargs = ({"beam_size": self.cfg.beam_size} if temperature == 0 else
                      {"beam_size": 1, "num_hypotheses": self.cfg.beam_size, "sampling_topk": 0,
                       "sampling_temperature": temperature})
            if temperature > 0:
                ctranslate2.set_random_seed(SAMPLING_SEED)  # the seed of threads not yet sampling
                self.sampled = True
            out = m.model.generate(self.take(encoded, idx), [prompt] * len(idx), max_length=max_length,
                                   return_scores=True, return_no_speech_prob=True, suppress_blank=True,
                                   suppress_tokens=suppress, max_initial_timestamp_index=50, **kwargs)
            hyps = []
            for r in out:
                ids = [t for t in r.sequences_ids[0] if t < tok.eot or t >= tok.timestamp_begin]
                avg = r.scores[0] * len(r.sequences_ids[0]) / (len(r.sequences_ids[0]) + 1)
                hyps.append(Hypothesis(ids, float(avg), compression_ratio(tok.decode(ids).strip()),
                                       float(r.no_speech_prob)))
            return hyps

        hyps = with_fallback(generate, [_fallback_logprob(task, c) for c in content_s])
        pieces = [_pieces(h, tok.timestamp_begin, c) for h, c in zip(hyps, content_s)]
        if word_timestamps:
            idx = [i for i in range(n) if pieces[i][0]]
            if idx:
                m.add_word_timestamps([pieces[i][0] for i in idx], tok, self.take(encoded, idx),
                                      [int(content_s[i] * m.frames_per_second) for i in idx],
                                      "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、", 0.0)
        return [Decoded([_raw(seg, h, tok.decode) for seg in segs], resume, _n_text(h, tok.timestamp_begin))
                for (segs, resume), h in zip(pieces, hyps)]


def _fallback_logprob(task: str, content_s: float) -> float | None:
    """Below what average log-probability a window is decoded again at a higher temperature.

    Only transcriptions of ``FALLBACK_MIN_S`` or more: five samples at each of five
    temperatures cost more than the rest of the window's work, and on a translation or a
    second of speech under gunfire they gave nothing more probable (bench/speech.py); such
    a window is decoded again only when it loops, and its low probability is flagged."""
    return FALLBACK_AVG_LOGPROB if task == "transcribe" and content_s >= FALLBACK_MIN_S else None


def _n_text(h: Hypothesis, timestamp_begin: int) -> int:
    return sum(t < timestamp_begin for t in h.tokens)


def _silent(h: Hypothesis) -> bool:
    """Whisper's no-speech rule: the model says silence and cannot write anything probable."""
    return h.no_speech_prob > NO_SPEECH_PROB and h.avg_logprob < FALLBACK_AVG_LOGPROB


def _pieces(h: Hypothesis, timestamp_begin: int, content_s: float) -> tuple[list[dict], float | None]:
    """A hypothesis cut into segments, as the segment dicts both libraries' word timing
    fills in (``words``) and adjusts (``start``, ``end``); nothing for silence."""
    if _silent(h):
        return [], None
    segments, resume = split_by_timestamps(h.tokens, timestamp_begin, content_s)
    return [dict(seek=0, start=s, end=e, tokens=t) for s, e, t in segments], resume


def _raw(seg: dict, h: Hypothesis, decode_text: Callable[[list[int]], str]) -> RawSegment:
    words = tuple(Word(float(w["start"]), float(w["end"]), w["word"], float(w["probability"]))
                  for w in seg.get("words", []))
    text = decode_text(seg["tokens"]).strip()
    return RawSegment(float(seg["start"]), float(seg["end"]), text, h.avg_logprob, h.no_speech_prob,
                      compression_ratio(text), words)


class OpenAIWhisperEngine:
    """openai-whisper (PyTorch), the reference implementation, behind the same interface.

    Local checkpoints (``whisper-base-openai``, converted from the CTranslate2 weights) carry
    the alignment heads of ``config.json`` so that word timestamps use the right
    cross-attention heads; hub names (``turbo``, ``large-v3``) load the normal way online.
    openai-whisper has no hotwords option: hotwords are added to the initial prompt. Its
    encoder takes whole 30-s windows only, so language evidence is taken on 30-s windows.
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
        self.encoder_passes = 0

    def encode(self, audio_16k: Sequence[np.ndarray], min_s: float | None) -> Any:
        """Audio features, a tensor of shape (batch, 1500, d_model): always whole 30-s windows."""
        import torch
        import whisper

        def mel(a: np.ndarray) -> Any:
            m = whisper.log_mel_spectrogram(torch.from_numpy(np.ascontiguousarray(a, np.float32)),
                                            self.model.dims.n_mels, padding=whisper.audio.N_SAMPLES)
            if min_s is None:  # as openai-whisper's transcribe: the clip's log-mel, zeros after it
                return whisper.pad_or_trim(m[:, : m.shape[-1] - whisper.audio.N_FRAMES], whisper.audio.N_FRAMES)
            return m[:, : whisper.audio.N_FRAMES]  # zero samples after the clip

        mels = [mel(a) for a in audio_16k]
        mel = torch.stack(mels).to(self.model.device)
        self.encoder_passes += len(audio_16k)
        with torch.no_grad():
            return self.model.embed_audio(mel.half() if self.fp16 else mel)

    def take(self, encoded: Any, idx: list[int]) -> Any:
        return encoded[idx]

    def fresh(self) -> None:
        """Nothing to do: torch's generator is seeded before every sampling call."""

    def language_probs(self, encoded: Any) -> list[dict[str, float]]:
        import torch
        from whisper.decoding import detect_language

        with torch.no_grad():
            _, probs = detect_language(self.model, encoded)
        return [{k: float(v) for k, v in p.items()} for p in probs]

    def decode(self, encoded: Any, language: str, task: str, content_s: Sequence[float], word_timestamps: bool,
               max_new_tokens: int | None = None) -> list[Decoded]:
        import torch
        import whisper
        from whisper.timing import add_word_timestamps
        from whisper.tokenizer import get_tokenizer

        tok = get_tokenizer(self.model.is_multilingual, num_languages=self.model.num_languages,
                            language=language, task=task)

        def generate(idx: list[int], temperature: float) -> list[Hypothesis]:
            opts = whisper.DecodingOptions(
                task=task, language=language, temperature=temperature, fp16=self.fp16, prompt=self.prompt,
                sample_len=max_new_tokens,
                beam_size=self.cfg.beam_size if temperature == 0 else None,
                best_of=None if temperature == 0 else self.cfg.beam_size)
            if temperature > 0:
                torch.manual_seed(SAMPLING_SEED)
            with torch.no_grad():
                out = whisper.decode(self.model, encoded[idx], opts)
            return [Hypothesis(list(r.tokens), float(r.avg_logprob), float(r.compression_ratio),
                               float(r.no_speech_prob)) for r in out]

        hyps = with_fallback(generate, [_fallback_logprob(task, c) for c in content_s])
        decoded = []
        for i, (h, c) in enumerate(zip(hyps, content_s)):
            segs, resume = _pieces(h, tok.timestamp_begin, c)
            if word_timestamps and segs:
                with torch.no_grad():
                    add_word_timestamps(segments=segs, model=_FeaturesModel(self.model), tokenizer=tok,
                                        mel=encoded[i], num_frames=int(c * 100), last_speech_timestamp=0.0)
            decoded.append(Decoded([_raw(seg, h, tok.decode) for seg in segs], resume, _n_text(h, tok.timestamp_begin)))
        return decoded


class _FeaturesModel:
    """openai-whisper's model seen through its encoder output: ``whisper.timing`` runs the
    whole model on a mel spectrogram for word timing; given the window's audio features
    instead, only the decoder runs (the window is not encoded a second time)."""

    def __init__(self, model: Any):
        self._model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def __call__(self, audio_features: Any, tokens: Any) -> Any:
        return self._model.decoder(tokens, audio_features)


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


@dataclass(frozen=True)
class Window:
    """Consecutive turns decided to be in one language, decoded together.

    pieces: (start_s, end_s) stretches of the track, concatenated in order (the gaps
    between turns are cut out); turn_indices: the turns whose words it holds.
    """

    language: str
    pieces: tuple[tuple[float, float], ...]
    turn_indices: tuple[int, ...]

    @property
    def content_s(self) -> float:
        return sum(b - a for a, b in self.pieces)

    def audio(self, audio_16k: np.ndarray) -> np.ndarray:
        return np.concatenate([clip(audio_16k, a, b) for a, b in self.pieces])

    def track_s(self, window_s: float) -> float:
        """A time in the window as a time in the track."""
        offset = 0.0
        for a, b in self.pieces:
            if window_s <= offset + (b - a):
                return a + max(0.0, window_s - offset)
            offset += b - a
        return self.pieces[-1][1]

    def span_s(self, start_s: float, end_s: float) -> tuple[float, float]:
        """A word's window times as track times, within the one piece that holds the most of
        it: a word whose timing crosses a cut would otherwise span the whole gap."""
        offset, best = 0.0, None  # (seconds of the word in the piece, track start, track end)
        for a, b in self.pieces:
            lo, hi = max(start_s, offset), min(end_s, offset + (b - a))
            if hi >= lo and (best is None or hi - lo > best[0]):
                best = (hi - lo, a + lo - offset, a + hi - offset)
            offset += b - a
        return best[1:] if best else (self.track_s(start_s), self.track_s(end_s))

    def tail(self, from_s: float) -> Window:
        """The rest of the window from ``from_s`` (window time) on."""
        start = self.track_s(from_s)
        kept = tuple((max(a, start), b) for a, b in self.pieces if b > start)
        return dataclasses.replace(self, pieces=kept)


def pack(turns: list[Turn], languages: list[str], cfg: SpeechConfig, track_s: float) -> list[Window]:
    """Windows of consecutive turns (in time order) of one language, each at most
    ``window_s`` of audio: the turns with ``pack_pad_s`` around each, gaps cut out."""
    windows: list[Window] = []
    lang: str | None = None
    members: list[int] = []
    pieces: list[tuple[float, float]] = []

    def close() -> None:
        if members:
            windows.append(Window(lang or "", tuple(pieces), tuple(members)))

    for i in sorted(range(len(turns)), key=lambda i: (turns[i].start_s, turns[i].end_s)):
        t = turns[i]
        span = (max(0.0, t.start_s - cfg.pack_pad_s), min(track_s, t.end_s + cfg.pack_pad_s))
        grown = union(pieces + [span])
        if members and languages[i] == lang and sum(b - a for a, b in grown) <= cfg.window_s:
            members.append(i)
            pieces = grown
        else:
            close()
            lang, members, pieces = languages[i], [i], [span]
    close()
    return windows


def assign(words: Sequence[Word], turns: list[Turn], candidates: Sequence[int]) -> list[int]:
    """The turn of every word (track times): the candidate turn holding the word's middle
    (the longer overlap when turns overlap), else the nearest one."""
    out = []
    for w in words:
        mid = 0.5 * (w.start_s + w.end_s)

        def key(i: int) -> tuple[float, float]:
            t = turns[i]
            distance = max(t.start_s - mid, mid - t.end_s, 0.0)
            overlap = min(w.end_s, t.end_s) - max(w.start_s, t.start_s)
            return distance, -overlap

        out.append(min(candidates, key=key))
    return out


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
        guesses = language.decide(turns, heard, cfg, fire)
        timings["language"] = time.perf_counter() - t0

        windows = pack(turns, [g.language for g in guesses], cfg, audio.size / SAMPLE_RATE_HZ)
        transcripts, translations = self._decode(audio, windows, timings, progress)
        segments, guesses = self._segments(turns, guesses, windows, transcripts, translations)
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
                    translations[i].extend(_to_track(w, s) for s in d.segments)
                timings["translate"] += time.perf_counter() - t2
            for (i, w, _), d in zip(batch, out):
                transcripts[i].extend(_to_track(w, s) for s in d.segments)
                if d.resume_s is not None:
                    queue.append((i, w.tail(d.resume_s), False))
            done += len(batch)
            if progress:
                progress("windows", min(1.0, done / max(1, len(windows))))
        return transcripts, translations

    def _segments(self, turns: list[Turn], guesses: list[LanguageGuess], windows: list[Window],
                  transcripts: list[list[RawSegment]], translations: list[list[RawSegment]]
                  ) -> tuple[list[Segment], list[LanguageGuess]]:
        """Output segments: each decoded segment cut at turn boundaries by its words' times,
        with its translation, flags, and the turn's language (marked uncertain when the
        decoder could not write the turn confidently in it: the signature of a wrong pick)."""
        cfg = self.cfg
        pieces: list[tuple[int, int, RawSegment, list[Word], bool]] = []  # (window, turn, segment, words, outside)
        for wi, (window, raws) in enumerate(zip(windows, transcripts)):
            for r in raws:
                words = list(r.words) or [Word(r.start_s, r.end_s, r.text, 1.0)]
                owners = assign(words, turns, window.turn_indices)
                for ti in dict.fromkeys(owners):
                    mine = [w for w, o in zip(words, owners) if o == ti]
                    t = turns[ti]
                    outside = sum(not (t.start_s <= 0.5 * (w.start_s + w.end_s) <= t.end_s) for w in mine) > len(mine) / 2
                    pieces.append((wi, ti, r, mine if r.words else [], outside))

        logprobs: dict[int, list[float]] = {}
        for _, ti, r, _, _ in pieces:
            logprobs.setdefault(ti, []).append(r.avg_logprob)
        for ti, lps in logprobs.items():
            g = guesses[ti]
            if not g.language_uncertain and g.decided_by != "forced" and float(np.mean(lps)) < cfg.flag_avg_logprob:
                guesses[ti] = dataclasses.replace(g, language_uncertain=True)

        made: list[tuple[int, Segment]] = []
        for wi, ti, r, words, outside in pieces:
            t, g = turns[ti], guesses[ti]
            # words mostly in the turn are held to it (a few ms past a turn's edge); words mostly
            # outside every turn (text_in_non_speech) keep the times Whisper heard them at, so
            # that a reviewer can listen there (held to the turn, they became zero-length rows)
            lo, hi = (-np.inf, np.inf) if outside else (t.start_s, t.end_s)
            inside = tuple(Word(round(min(max(w.start_s, lo), hi), 3),
                                round(min(max(w.end_s, lo), hi), 3), w.word, round(w.probability, 4))
                           for w in words)
            text = "".join(w.word for w in words).strip() if r.words else r.text
            start = inside[0].start_s if inside else max(lo, r.start_s)
            end = inside[-1].end_s if inside else min(hi, r.end_s)
            text_lang, text_prob = self.text_lid(text) if self.text_lid else (None, 0.0)
            flags = quality_flags(dataclasses.replace(r, text=text), cfg)
            if text_lang and text_prob >= 0.5 and text_lang != g.language:
                flags.append("text_language_mismatch")
            if g.language_uncertain:
                flags.append("language_uncertain")
            if outside:
                flags.append("text_in_non_speech")
            made.append((wi, Segment(
                track=t.track, start_s=round(start, 3), end_s=round(max(end, start), 3), speaker=t.speaker,
                language=g.language, language_prob=round(g.language_prob, 4), language_top3=g.language_top3,
                language_uncertain=g.language_uncertain, text=text, text_en=text if g.language == "en" else None,
                avg_logprob=round(r.avg_logprob, 4), no_speech_prob=round(r.no_speech_prob, 4),
                compression_ratio=round(compression_ratio(text), 3), text_language=text_lang, words=inside,
                flags=tuple(flags))))
        if cfg.translate:
            made = self._translations(made, translations)
        segments = sorted((s for _, s in made), key=lambda s: (s.start_s, s.end_s))
        return segments, guesses

    def _translations(self, made: list[tuple[int, Segment]], translations: list[list[RawSegment]]
                      ) -> list[tuple[int, Segment]]:
        """Each translated segment given to the segment of its window it overlaps most (the
        nearest when none): whole English sentences, beside the words they translate."""
        given: dict[int, list[RawSegment]] = {}
        for wi, trs in enumerate(translations):
            mine = [k for k, (w, s) in enumerate(made) if w == wi and s.text]
            for tr in trs:
                if not mine or not tr.text:
                    continue

                def key(k: int) -> tuple[float, float]:
                    s = made[k][1]
                    overlap = min(tr.end_s, s.end_s) - max(tr.start_s, s.start_s)
                    return -max(overlap, 0.0), max(s.start_s - tr.end_s, tr.start_s - s.end_s, 0.0)

                given.setdefault(min(mine, key=key), []).append(tr)
        out = []
        for k, (wi, s) in enumerate(made):
            if s.language == "en" or not s.text:
                out.append((wi, s))
                continue
            trs = given.get(k, [])
            flags = list(s.flags)
            if not trs:
                flags.append("translation_in_neighbour_segment")
            elif not all(r.avg_logprob >= self.cfg.flag_avg_logprob and not repetition_loop(r.text) for r in trs):
                flags.append("translation_low_confidence")
            text_en = " ".join(r.text for r in trs).strip() or None
            out.append((wi, dataclasses.replace(s, text_en=text_en, flags=tuple(flags))))
        return out


def _to_track(window: Window, r: RawSegment) -> RawSegment:
    """A segment with window times turned into track times."""
    words = tuple(Word(*window.span_s(w.start_s, w.end_s), w.word, w.probability) for w in r.words)
    return dataclasses.replace(r, start_s=window.track_s(r.start_s), end_s=window.track_s(r.end_s), words=words)


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
