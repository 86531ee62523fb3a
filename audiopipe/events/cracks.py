"""Supersonic crack / muzzle blast pairs: a bullet's N-wave and the blast that follows it,
merged into one event with the distance range their gap implies."""

from __future__ import annotations

import dataclasses

from ..config import EventsConfig
from ..records import Event


def is_crack(centroid_hz: float, duration_ms: float, cfg: EventsConfig) -> bool:
    """Short and bright: the N-wave of a bullet passing faster than sound."""
    return centroid_hz >= cfg.crack_min_centroid_hz and duration_ms <= cfg.crack_max_duration_ms


def pair_cracks(events: list[Event], cfg: EventsConfig) -> list[Event]:
    """Merge a supersonic crack and the muzzle blast that follows it into one event.

    A crack is short (``crack_max_duration_ms``) and bright (centroid at least
    ``crack_min_centroid_hz``); the blast follows within ``crack_max_gap_s``, is darker
    (centroid below 60 % of the crack's) and no more than ``crack_max_drop_db`` louder than
    the crack: a bullet passing near the microphone is as loud as its muzzle blast or louder,
    whereas a click in speech a little before a shot is far quieter (without this, such a
    click took over the shot's time). The pair becomes one event timed at the crack (the
    first arrival), carrying both times and the distance range the gap implies:
    d = dt * c * v / (v - c) for a bullet at speed v passing close to the microphone and
    sound at speed c: an estimate that assumes a shot aimed near the microphone.
    """
    out: list[Event] = []
    i = 0
    c = cfg.speed_of_sound_m_s
    while i < len(events):
        e = events[i]
        nxt = events[i + 1] if i + 1 < len(events) else None
        if (nxt is not None and is_crack(e.centroid_hz, e.duration_ms, cfg)
                and 0 < nxt.time_s - e.time_s <= cfg.crack_max_gap_s
                and nxt.centroid_hz < 0.6 * e.centroid_hz and nxt.is_gunshot
                and e.peak_dbfs >= nxt.peak_dbfs - cfg.crack_max_drop_db):
            dt = nxt.time_s - e.time_s
            dists = [dt * c * v / (v - c) for v in cfg.bullet_speed_m_s]
            out.append(dataclasses.replace(nxt, time_s=e.time_s, crack_time_s=e.time_s, blast_time_s=nxt.time_s,
                                distance_m_min=min(dists), distance_m_max=max(dists)))
            i += 2
            continue
        out.append(e)
        i += 1
    return out


