"""The openai-whisper engine: the reference PyTorch implementation behind ``SpeechEngine``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..config import SpeechConfig
from ..errors import ModelError
from ..models import ModelRef
from .decoding import (SAMPLING_SEED, Decoded, Hypothesis, fallback_logprob, raw_segment, segment_dicts, text_tokens,
                       with_fallback)


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

        hyps = with_fallback(generate, [fallback_logprob(task, c) for c in content_s])
        decoded = []
        for i, (h, c) in enumerate(zip(hyps, content_s)):
            segs, resume = segment_dicts(h, tok.timestamp_begin, c)
            if word_timestamps and segs:
                with torch.no_grad():
                    add_word_timestamps(segments=segs, model=_FeaturesModel(self.model), tokenizer=tok,
                                        mel=encoded[i], num_frames=int(c * 100), last_speech_timestamp=0.0)
            decoded.append(Decoded([raw_segment(seg, h, tok.decode) for seg in segs], resume, text_tokens(h, tok.timestamp_begin)))
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

