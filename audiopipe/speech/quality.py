"""Quality flags on decoded text: the signs of invented text (``quality_flags``: a repetitive,
improbable or silent-sounding output, a loop of repeated words) and the text-language
cross-check (``TextLanguage``: fastText on the written words catches Whisper translating
instead of transcribing).
"""

from __future__ import annotations

import re

from ..config import SpeechConfig
from ..models import ModelRef
from .decoding import RawSegment


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
