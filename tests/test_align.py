"""The central claim, on the yardstick: when shots were fired relative to what was said.

The scenario video runs through ``audiopipe run``; its Segments and Events tables (what a
reviewer opens) are read against ``truth.json``: each true shot is placed against the speech
truth says is nearest, with its signed offset, and the gunfire flags and counts of every
segment hold where truth puts shots, and only there.
"""

from __future__ import annotations

import pandas as pd
import pytest

from audiopipe import config
from conftest import SCENARIO_CALLED_LOOKALIKES_S, SCENARIO_MISSED_SHOTS_S

TOLERANCE_S = 0.05  # AAC encoder delay (the truth's own allowance)
AMBIGUOUS_S = 1.0  # a shot this close to equidistant from two speech parts has no one "nearest" in truth
EDGE_S = 0.5  # where a segment may begin or end around its true speech part (silence in the source clip)
WINDOW_S = config.load("default").align.window_s
BURST_GAP_S = config.load("default").events.burst_gap_s


def _table(case, name: str) -> pd.DataFrame:
    return pd.read_csv(case / f"{name}.csv", encoding="utf-8-sig", keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def tables(scenario_case) -> tuple[pd.DataFrame, pd.DataFrame]:
    return _table(scenario_case, "segments"), _table(scenario_case, "events")


def _offset(t: float, start_s: float, end_s: float) -> float:
    """Truth's own signed offset: negative before the span, 0 inside, positive after."""
    return t - start_s if t < start_s else t - end_s if t > end_s else 0.0


def _true_bursts(shots: list[float]) -> list[tuple[float, float]]:
    """Spans of two or more true shots closer than the burst gap."""
    groups: list[list[float]] = []
    for t in sorted(shots):
        if groups and t - groups[-1][-1] <= BURST_GAP_S:
            groups[-1].append(t)
        else:
            groups.append([t])
    return [(g[0], g[-1]) for g in groups if len(g) > 1]


def _flags(row) -> set[str]:
    return set(str(row["flags"]).split(", ")) if isinstance(row["flags"], str) else set()


def _shot_row(events: pd.DataFrame, t: float):
    near = events[events["is_gunshot"] & ((events["time_s"] - t).abs() <= TOLERANCE_S)]
    assert len(near) >= 1, f"the true shot at {t} s is not among the events"
    return near.iloc[(near["time_s"] - t).abs().argmin()]


def _counted_shots(truth: dict) -> list[float]:
    """The true shots the events stage counts (all but SCENARIO_MISSED_SHOTS_S; test_scenario
    asserts that these are exactly the ones missed)."""
    return [t for t in truth["shots"] if t not in SCENARIO_MISSED_SHOTS_S]


def test_each_true_shot_is_placed_against_the_speech_truth_says_is_nearest(tables, scenario_truth):
    segs, events = tables
    parts = scenario_truth["speech"]
    placed = 0
    for t in _counted_shots(scenario_truth):
        e = _shot_row(events, t)
        seg = segs[segs["segment"] == e["nearest_segment"]].iloc[0]
        # the named segment is the nearest of all, measured from the true time
        own = _offset(t, seg["start_s"], seg["end_s"])
        best = min(abs(_offset(t, s.start_s, s.end_s)) for s in segs.itertuples())
        assert abs(own) <= best + TOLERANCE_S, (t, seg["segment"], own, best)
        # its signed offset is the true shot's, within the encoder's delay
        assert e["speech_offset_s"] == pytest.approx(own, abs=TOLERANCE_S), (t, e["speech_offset_s"], own)
        # and it says what that segment says
        assert (e["language"], e["speaker"]) == (seg["language"], seg["speaker"])
        # where truth has one nearest speech part, the segment is of it: its language, at its time
        by_distance = sorted(parts, key=lambda p: abs(_offset(t, p["start_s"], p["end_s"])))
        d0, d1 = (abs(_offset(t, p["start_s"], p["end_s"])) for p in by_distance[:2])
        if d1 - d0 > AMBIGUOUS_S:
            part = by_distance[0]
            assert seg["language"] == part["language"], (t, part, seg["language"])
            assert seg["start_s"] < part["end_s"] + EDGE_S and seg["end_s"] > part["start_s"] - EDGE_S, (t, part)
            true_offset = _offset(t, part["start_s"], part["end_s"])
            if true_offset:  # before or after the part: the offset says so (inside it, a pause can hold the shot)
                assert (own > 0) == (true_offset > 0) or own == 0.0, (t, own, part)
            placed += 1
    assert placed >= 13  # all but the shots nearly equidistant from two parts


def test_gunfire_flags_and_counts_hold_where_truth_puts_shots(tables, scenario_truth):
    segs, _ = tables
    shots, bursts = _counted_shots(scenario_truth), _true_bursts(scenario_truth["shots"])
    assert len(bursts) == 5
    seen = {"during_gunfire": 0, "gunfire_nearby": 0}
    for s in segs.itertuples():
        flags = _flags(s._asdict())
        offsets = [_offset(t, s.start_s, s.end_s) for t in shots]
        over = (any(abs(o) <= TOLERANCE_S for o in offsets)
                or any(a <= s.end_s - TOLERANCE_S and b >= s.start_s + TOLERANCE_S for a, b in bursts))
        within = [o for o in offsets if abs(o) <= WINDOW_S - TOLERANCE_S]
        if over:
            assert "during_gunfire" in flags, (s.segment, s.start_s, s.end_s, flags)
            seen["during_gunfire"] += 1
        elif within:
            assert flags & {"gunfire_nearby", "during_gunfire"}, (s.segment, s.start_s, s.end_s, flags)
            seen["gunfire_nearby"] += 1
        assert s.events_within_window >= len(within), (s.segment, s.events_within_window, len(within))
        if within:  # the nearest shot of the table is no farther than the nearest true shot
            assert abs(s.nearest_event_offset_s) <= min(abs(o) for o in within) + TOLERANCE_S, s.segment
    assert seen["during_gunfire"] >= 2 and seen["gunfire_nearby"] >= 2, seen


@pytest.mark.xfail(strict=True, reason="SCENARIO_CALLED_LOOKALIKES_S: the fireworks at 10.5 s (gunshot) and the "
                                       "door slam at 38.6 s (possible) are counted, so the segments beside them are "
                                       "flagged and counted as if shots were fired there")
def test_no_gunfire_flag_or_count_where_truth_has_no_shot(tables, scenario_truth):
    segs, _ = tables
    shots, bursts = scenario_truth["shots"], _true_bursts(scenario_truth["shots"])
    wrong = []
    for s in segs.itertuples():
        flags = _flags(s._asdict())
        offsets = [_offset(t, s.start_s, s.end_s) for t in shots]
        over = (any(abs(o) <= TOLERANCE_S for o in offsets)
                or any(a <= s.end_s + TOLERANCE_S and b >= s.start_s - TOLERANCE_S for a, b in bursts))
        near = [o for o in offsets if abs(o) <= WINDOW_S + TOLERANCE_S]
        if "during_gunfire" in flags and not over:
            wrong.append((s.segment, s.start_s, s.end_s, "during_gunfire"))
        if "gunfire_nearby" in flags and not near:
            wrong.append((s.segment, s.start_s, s.end_s, "gunfire_nearby"))
        if s.events_within_window > len(near):
            wrong.append((s.segment, s.start_s, s.end_s, f"events_within_window {s.events_within_window} > {len(near)}"))
    assert not wrong, wrong


def test_the_gunshot_category_is_never_away_from_a_true_shot(tables, scenario_truth):
    """Precision of the confident category on the scenario: every ``gunshot`` is a true shot, but
    for the look-alikes the README names (SCENARIO_CALLED_LOOKALIKES_S: the fireworks)."""
    _, events = tables
    called = events[events["category"] == "gunshot"]
    away = [t for t in called["time_s"] if not any(abs(t - s) <= TOLERANCE_S for s in scenario_truth["shots"])]
    named = [t for t in away if any(0 <= t - c <= 1.5 for c in SCENARIO_CALLED_LOOKALIKES_S)]
    assert len(called) >= 13 and away == named, (len(called), away)
