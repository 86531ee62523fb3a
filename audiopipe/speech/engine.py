"""The speech engines' one interface (``SpeechEngine``: ``encode``, ``language_probs``,
``take``, ``decode``, ``fresh``) and ``load``, which picks the engine a config names.

``FasterWhisperEngine`` (``faster_whisper_engine.py``) runs CTranslate2 (int8 on CPU,
float16 on GPU); ``OpenAIWhisperEngine`` (``openai_whisper_engine.py``) runs the reference
PyTorch code on the same weights (converted by ``audiopipe/models/ct2_whisper.py``). Both
decode the way Whisper's own ``transcribe`` does (``decoding.py``), batched over windows.
A third engine is one more module with these five methods and one more line in ``ENGINES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Protocol

from ..config import SpeechConfig
from ..models import ModelRef
from .decoding import Decoded
from .language import LanguageDetector

#: engine name (``speech.engine``) -> "module:class" of this package, imported when chosen
ENGINES = {"faster-whisper": "faster_whisper_engine:FasterWhisperEngine",
           "openai-whisper": "openai_whisper_engine:OpenAIWhisperEngine"}


class SpeechEngine(LanguageDetector, Protocol):
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


def load(cfg: SpeechConfig, model: ModelRef) -> SpeechEngine:
    """The engine ``cfg.engine`` names, its model loaded (heavy imports only for that one)."""
    module, _, name = ENGINES[cfg.engine].partition(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)(cfg, model)
