"""The faster-whisper engine: CTranslate2 Whisper through faster-whisper's model, tokenizer
and word timing, behind ``SpeechEngine``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..config import SpeechConfig
from ..errors import ModelError
from ..models import ModelRef
from .decoding import (SAMPLING_SEED, Decoded, Hypothesis, batch_s, compression_ratio, fallback_logprob, padded,
                       raw_segment, segment_dicts, text_tokens, with_fallback)
from .language import SAMPLE_RATE_HZ


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
            n_s = batch_s(audio_16k, min_s)
            frames = int(round(n_s * SAMPLE_RATE_HZ)) // fe.hop_length
            feats = np.stack([fe(padded(a, n_s), padding=0)[:, :frames] for a in audio_16k])
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

        hyps = with_fallback(generate, [fallback_logprob(task, c) for c in content_s])
        pieces = [segment_dicts(h, tok.timestamp_begin, c) for h, c in zip(hyps, content_s)]
        if word_timestamps:
            idx = [i for i in range(n) if pieces[i][0]]
            if idx:
                m.add_word_timestamps([pieces[i][0] for i in idx], tok, self.take(encoded, idx),
                                      [int(content_s[i] * m.frames_per_second) for i in idx],
                                      "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、", 0.0)
        return [Decoded([raw_segment(seg, h, tok.decode) for seg in segs], resume, text_tokens(h, tok.timestamp_begin))
                for (segs, resume), h in zip(pieces, hyps)]

