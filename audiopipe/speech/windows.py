"""Windows: consecutive turns decided to be in one language, packed into one decoder window
of up to 30 s (``pack``; the gaps between them cut out, never turns of two languages), window
times turned back into track times (``Window.track_s``, ``span_s``, ``to_track``), and the
words given back to their turns (and speakers) by their times (``assign``): an output segment
never straddles a turn boundary. Records: ``Window``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..config import SpeechConfig
from ..records import Turn, Word, union
from .decoding import RawSegment
from .language import clip


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



def to_track(window: Window, r: RawSegment) -> RawSegment:
    """A segment with window times turned into track times."""
    words = tuple(Word(*window.span_s(w.start_s, w.end_s), w.word, w.probability) for w in r.words)
    return dataclasses.replace(r, start_s=window.track_s(r.start_s), end_s=window.track_s(r.end_s), words=words)
