"""Alignment of gunshot-like events with speech: one timeline per track.

For each event: the speech segment that contains it or is nearest, with the signed offset
(event time minus the nearest edge of the segment; 0 when the event falls inside it).
For each segment: the events within ``window_s``, and a ``during_gunfire`` flag when a
shot or a burst overlaps it (Whisper often invents text over gunfire); ``during_<label>``
when a sound event of a label in ``sound_flags`` (an explosion, a scream) overlaps it.
"""

from __future__ import annotations

import dataclasses

from .config import AlignConfig
from .records import AlignedEvent, Burst, Event, Segment, SoundEvent


def signed_offset_s(time_s: float, start_s: float, end_s: float) -> float:
    """Seconds from a segment to a time: negative before it, 0 inside, positive after."""
    if time_s < start_s:
        return time_s - start_s
    if time_s > end_s:
        return time_s - end_s
    return 0.0


def align(segments: list[Segment], events: list[Event], bursts: list[Burst], cfg: AlignConfig,
          sounds: list[SoundEvent] = ()) -> tuple[list[Segment], list[AlignedEvent]]:
    """Returns the segments (with gunfire flags added) and one AlignedEvent per event."""
    aligned: list[AlignedEvent] = []
    for e in events:
        best, best_off = None, None
        for i, s in enumerate(segments):
            if s.track != e.track:
                continue
            off = signed_offset_s(e.time_s, s.start_s, s.end_s)
            if best_off is None or abs(off) < abs(best_off):
                best, best_off = i, off
        seg = segments[best] if best is not None else None
        aligned.append(AlignedEvent(e.track, e.time_s, e.burst_id, best, best_off,
                                    seg.speaker if seg else None, seg.language if seg else None,
                                    seg.text if seg else None))
    out = []
    for s in segments:
        shots = [e for e in events if e.track == s.track and e.is_gunshot]
        flags = list(s.flags)
        overlapping = any(s.start_s <= e.time_s <= s.end_s for e in shots) or any(
            b.track == s.track and b.start_s <= s.end_s and b.end_s >= s.start_s and b.shot_count > 1
            for b in bursts)
        if overlapping and "during_gunfire" not in flags:
            flags.append("during_gunfire")
        near = sum(1 for e in shots if abs(signed_offset_s(e.time_s, s.start_s, s.end_s)) <= cfg.window_s)
        if near and not overlapping and "gunfire_nearby" not in flags:
            flags.append("gunfire_nearby")
        for n in sounds:
            flag = f"during_{n.label}"
            if n.label in cfg.sound_flags and n.track == s.track and n.start_s < s.end_s and n.end_s > s.start_s \
                    and flag not in flags:
                flags.append(flag)
        out.append(dataclasses.replace(s, flags=tuple(flags)))
    return out, aligned
