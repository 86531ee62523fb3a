"""End to end on the yardstick: the 40-s evidence-style video with its truth.

Plain faster-whisper (base) gets this file badly wrong: one language for all of it, the
English written in Cyrillic, an invented sentence repeated over the gunfire. audiopipe must
give each speech part its own language and put the shots at their times.
"""

from __future__ import annotations

import json

import pytest

from conftest import SCENARIO_MISSED_SHOTS_S

TOLERANCE_S = 0.05  # AAC encoder delay


@pytest.fixture(scope="module")
def result(scenario_case) -> dict:
    (path,) = scenario_case.glob("files/*/result.json")
    return json.loads(path.read_text(encoding="utf-8"))


def test_each_speech_part_gets_its_own_language(result, scenario_truth):
    for part in scenario_truth["speech"]:
        inside = [s for s in result["segments"]
                  if s["start_s"] < part["end_s"] and s["end_s"] > part["start_s"]]
        assert inside, f"no speech found in {part}"
        main = max(inside, key=lambda s: min(s["end_s"], part["end_s"]) - max(s["start_s"], part["start_s"]))
        assert main["language"] == part["language"], (part, main["language"], main["text"])


def test_english_is_transcribed_in_latin_script_not_transliterated(result):
    english = " ".join(s["text"] for s in result["segments"] if s["language"] == "en").lower()
    assert "fellow americans" in english and "your country" in english
    assert not any("\u0400" <= ch <= "\u04ff" for ch in english)


def test_no_invented_text_over_the_gunfire_without_a_flag(result, scenario_truth):
    shots = scenario_truth["shots"]
    for s in result["segments"]:
        over = any(s["start_s"] <= t <= s["end_s"] for t in shots)
        if over:
            assert "during_gunfire" in s["flags"]


def test_speech_under_the_automatic_fire_has_its_translation_flagged(result, scenario_truth):
    """The Russian under the bursts (20-26.3 s) is what Whisper hears worst: every segment there
    is during_gunfire, and the English that covers it is marked translation_low_confidence
    (on the segment itself, or on the one its sentence went to: translation_in_neighbour_segment)."""
    bursts = (min(scenario_truth["shots"]), 26.3)
    under = [s for s in result["segments"] if s["start_s"] < bursts[1] and s["end_s"] > bursts[0]]
    assert under and all("during_gunfire" in s["flags"] for s in under), under
    english = [s for s in under if "translation_in_neighbour_segment" not in s["flags"]]
    assert english and all("translation_low_confidence" in s["flags"] for s in english), under


def test_every_shot_is_found_within_50_ms(result, scenario_truth):
    """Every true shot but the two the README names (SCENARIO_MISSED_SHOTS_S)."""
    found = [e["time_s"] for e in result["events"] if e["is_gunshot"]]
    missed = [t for t in scenario_truth["shots"] if not any(abs(t - f) <= TOLERANCE_S for f in found)]
    assert missed == list(SCENARIO_MISSED_SHOTS_S)


def test_automatic_fire_starts_at_20_s(result):
    bursts = sorted(result["bursts"], key=lambda b: b["start_s"])
    firing = [b for b in bursts if b["fire_mode"] == "automatic"]
    assert len(firing) >= 4
    assert abs(firing[0]["start_s"] - 20.0) <= TOLERANCE_S
    assert all(20.0 - TOLERANCE_S <= b["start_s"] <= 31.6 for b in firing)  # the fireworks are not
    assert all(450 <= b["rate_rpm"] <= 560 for b in firing)


def test_each_turn_keeps_its_own_detection_beside_the_decision_and_the_time_is_accounted(result):
    assert result["languages"]
    for g in result["languages"]:
        assert g["decided_by"] in ("turn", "speaker", "file") and g["raw_language_top3"]
        assert g["language_uncertain"] or g["language"] == g["raw_language"]  # never silently relabelled
    t = result["timings_s"]
    parts = sum(t[f"speech_{k}"] for k in ("language", "encode", "transcribe", "translate"))
    assert 0 < parts <= t["speech"] + 1e-6


def test_single_shots_counted_beside_a_sure_shot_say_so_where_reviewers_read(scenario_case, scenario_truth):
    """The single shots over wind after the sure one at 29.0 s are counted as sporadic fire: in
    the Events table as possible gunshots marked near_gunfire, and flagged near_gunfire on their
    Timeline rows (listen first); no shot counted on its own score carries the flag."""
    import pandas as pd

    events = pd.read_csv(scenario_case / "events.csv", encoding="utf-8-sig")
    timeline = pd.read_csv(scenario_case / "timeline.csv", encoding="utf-8-sig", keep_default_na=False)
    near = events[events["near_gunfire"]]
    assert sorted(near["time_s"]) == pytest.approx([30.105, 31.505], abs=TOLERANCE_S)
    assert set(near["category"]) == {"possible_gunshot"} and near["is_gunshot"].all()
    shots = timeline[timeline["kind"] == "gunshot"]
    flagged = shots[shots["flags"].str.contains("near_gunfire")]
    assert sorted(flagged["time_s"]) == pytest.approx(sorted(near["time_s"]))
    assert len(shots) > len(flagged) >= 2
