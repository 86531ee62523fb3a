"""Rhythm and bursts: the rounds of automatic fire, and shots grouped into bursts with their
rate of fire and fire mode.

Rhythm: automatic fire is a train of rounds at a steady cyclic rate, which speech and
footsteps do not keep. After scoring, every chain of at least ``auto_min_shots`` events
(each with a score of at least ``rhythm_min_score``), every gap within ``auto_interval_s``
and the gaps' coefficient of variation (over their mean) at most ``auto_max_cv`` (the bounds
of ``fire_mode``'s "automatic", which asks it of the median gap, over the median) that holds
at least one event that is a sure gunshot on its own gets ``rhythm_bonus`` added to its log-odds (the
score of an ``in_rhythm`` event is therefore above its calibrated value),
and its events are marked ``in_rhythm``: a round masked by a shout is still counted when a
round beside it is heard. The anchor matters: without it, five knocks 160 ms apart (rapid
banging on a door) became five shots of automatic fire. So does the level: the rounds of one
train come from one gun at one distance, and a masked round is heard louder, not softer, so a
chain's peak levels lie within ``rhythm_max_spread_db``. Without that, two syllables 160 ms
apart, 12-15 dB under a single shotgun shot that followed them, made a train of three.

Sporadic fire: single shots before, between and after bursts keep no rhythm, but they come
near other shots. After the rhythm, an event that is not counted yet, scores at least
``sporadic_min_score`` (a near miss) and lies within ``sporadic_window_s`` of a sure
``gunshot`` is raised to the possible cut and marked ``near_gunfire``, when it is no more than
``sporadic_max_drop_db`` softer than that gunshot: a shot that a voice or reverberation half
masks is heard as loud, or louder; what is softer after a shot is more often the gun's own
mechanics (a shotgun's pump clack 3.6 dB under its shot scored 0.39) or an echo. Only a sure
gunshot raises (never a possible one, nor an event raised here), and only to the possible cut.

Fire mode (per burst): ``automatic`` when there are at least ``auto_min_shots`` shots, the
median interval lies in ``auto_interval_s`` (a cyclic rate of 300-1500 rounds/min) and the
intervals vary little (coefficient of variation at most ``auto_max_cv``);
``semi-automatic/single`` for a single shot or for intervals longer than the cyclic range;
``unknown`` otherwise (two close shots, or irregular close shots).
"""

from __future__ import annotations

import bisect
import dataclasses

import numpy as np

from ..config import EventsConfig
from ..records import Burst, Event
from .scoring import category, logistic, logit


def fire_mode(times: list[float], cfg: EventsConfig) -> tuple[float | None, float | None, str]:
    if len(times) < 2:
        return None, None, "semi-automatic/single"
    intervals = np.diff(times)
    med = float(np.median(intervals))
    rpm = 60.0 / med if med > 0 else None
    lo, hi = cfg.auto_interval_s
    cv = float(np.std(intervals) / med) if med > 0 else float("inf")
    if len(times) >= cfg.auto_min_shots and lo <= med <= hi and cv <= cfg.auto_max_cv:
        return med, rpm, "automatic"
    if med > hi:
        return med, rpm, "semi-automatic/single"
    return med, rpm, "unknown"


def group_bursts(events: list[Event], cfg: EventsConfig, track: int, first_burst_id: int = 0
                 ) -> tuple[list[Event], list[Burst]]:
    """Group gunshots closer than ``burst_gap_s`` into bursts; returns events with burst ids."""
    shots = [i for i, e in enumerate(events) if e.is_gunshot]
    groups: list[list[int]] = []
    for i in shots:
        if groups and events[i].time_s - events[groups[-1][-1]].time_s <= cfg.burst_gap_s:
            groups[-1].append(i)
        else:
            groups.append([i])
    out = list(events)
    bursts = []
    for n, members in enumerate(groups):
        bid = first_burst_id + n
        times = [events[i].time_s for i in members]
        med, rpm, mode = fire_mode(times, cfg)
        bursts.append(Burst(bid, track, times[0], times[-1], len(members), med, rpm, mode))
        for i in members:
            out[i] = dataclasses.replace(out[i], burst_id=bid)
    return out, bursts


def rhythm_chains(times: list[float], cfg: EventsConfig, levels_db: list[float] | None = None) -> list[list[int]]:
    """Chains of indices into ``times`` (sorted, seconds) that keep the rhythm of automatic
    fire: each gap within ``auto_interval_s``, the gaps' coefficient of variation at most
    ``auto_max_cv``, at least ``auto_min_shots`` long, and (with ``levels_db``, each time's
    peak level) the loudest and the quietest member at most ``rhythm_max_spread_db`` apart.
    A chain is grown greedily from every start; a time that would break the rhythm is stepped
    over, not ended on."""
    lo, hi = cfg.auto_interval_s
    chains = []
    for a in range(len(times)):
        chain = [a]
        for b in range(a + 1, len(times)):
            gap = times[b] - times[chain[-1]]
            if gap > hi:
                break
            if gap < lo:
                continue
            gaps = np.diff([times[k] for k in chain] + [times[b]])
            if gaps.size >= 2 and np.std(gaps) / np.mean(gaps) > cfg.auto_max_cv:
                continue
            if levels_db is not None:
                heard = [levels_db[k] for k in chain] + [levels_db[b]]
                if max(heard) - min(heard) > cfg.rhythm_max_spread_db:
                    continue
            chain.append(b)
        if len(chain) >= cfg.auto_min_shots:
            chains.append(chain)
    return chains


def apply_rhythm(events: list[Event], cfg: EventsConfig, cut: tuple[float, float]) -> list[Event]:
    """Raise the score of the events that keep the rhythm of automatic fire with at least one
    event that is a gunshot on its own (category ``gunshot``: a possible one is too weak an
    anchor, a helicopter's blade slaps over a voice became 17 rounds of automatic fire on one
    at 0.45), or in a chain whose every round scores at least
    ``rhythm_anchor_min_score`` (three near misses in one steady train are one burst's evidence
    heard three times; see the module docstring); events below ``rhythm_min_score`` take no part."""
    if cfg.rhythm_bonus <= 0:
        return events
    idx = [i for i, e in enumerate(events) if e.gunshot_score >= cfg.rhythm_min_score]
    members = {idx[k] for chain in rhythm_chains([events[i].time_s for i in idx], cfg,
                                                  [events[i].peak_dbfs for i in idx])
               if any(events[idx[k]].category == "gunshot" for k in chain)
               or min(events[idx[k]].gunshot_score for k in chain) >= cfg.rhythm_anchor_min_score for k in chain}
    out = list(events)
    for i in members:
        out[i] = _raised(events[i], logistic(logit(events[i].gunshot_score) + cfg.rhythm_bonus), cut, in_rhythm=True)
    return out


def _raised(e: Event, score: float, cut: tuple[float, float], **mark: bool) -> Event:
    """The event with its raised score, what that score counts as under ``cut``, and the mark
    that says why it was raised (``in_rhythm``, ``near_gunfire``)."""
    return dataclasses.replace(e, gunshot_score=score, is_gunshot=score >= cut[1], category=category(score, cut), **mark)


def apply_sporadic(events: list[Event], cfg: EventsConfig, cut: tuple[float, float]) -> list[Event]:
    """Raise the near misses beside sure gunshots to the possible cut (``near_gunfire``; see
    the module docstring): not counted yet, at least ``sporadic_min_score``, within
    ``sporadic_window_s`` of an event of category ``gunshot`` (on its own or by the rhythm) and at most
    ``sporadic_max_drop_db`` under its peak level."""
    if cfg.sporadic_window_s <= 0:
        return events
    sure = sorted((e.time_s, e.peak_dbfs) for e in events if e.category == "gunshot")
    times = [t for t, _ in sure]
    out = list(events)
    for i, e in enumerate(events):
        if e.is_gunshot or e.gunshot_score < cfg.sporadic_min_score:
            continue
        near = sure[bisect.bisect_left(times, e.time_s - cfg.sporadic_window_s):
                    bisect.bisect_right(times, e.time_s + cfg.sporadic_window_s)]
        if any(e.peak_dbfs >= peak - cfg.sporadic_max_drop_db for _, peak in near):
            out[i] = _raised(e, cut[1], cut, near_gunfire=True)  # not counted yet: its score is under cut[1]
    return out
