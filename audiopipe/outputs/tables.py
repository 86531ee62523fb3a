"""Review tables built from stored ``result.json`` dicts (never from live models), so that
``audiopipe report`` can rebuild every output without re-running anything.

Column names are stable and documented in the README's column dictionary.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..align import signed_offset_s
from ..review import REVIEW_COLUMNS, row_id

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def hms(seconds: float | None) -> str | None:
    """Seconds as ``HH:MM:SS.mmm`` (sortable as text, readable by a reviewer)."""
    if seconds is None:
        return None
    ms = int(round(seconds * 1000.0))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _top3(top3: list | None) -> str | None:
    if not top3:
        return None
    return ", ".join(f"{lang} {prob:.2f}" for lang, prob in top3)


FILES_COLUMNS = ["path", "sha256", "size_bytes", "status", "error_kind", "error", "flags", "duplicate_of",
                 "duration_s", "audio_tracks", "container", "creation_time", "result_folder"]
SEGMENT_COLUMNS = ["file", "sha256", "track", "segment", "start_s", "end_s", "start_hms", "end_hms", "speaker",
                   "language", "language_prob", "language_top3", "language_uncertain", "language_note", "text", "text_en",
                   "text_language", "avg_logprob", "no_speech_prob", "compression_ratio", "flags",
                   "nearest_event_s", "nearest_event_offset_s", "events_within_window",
                   "row_id", *REVIEW_COLUMNS["Segments"]]
EVENT_COLUMNS = ["file", "sha256", "track", "time_s", "time_hms", "burst_id", "gunshot_score", "category", "is_gunshot",
                 "audioset_top3", "peak_dbfs", "rise_time_ms", "duration_ms", "centroid_hz", "bandwidth_hz", "high_band_ratio",
                 "impulsiveness_db", "level_over_track_db", "in_rhythm", "near_gunfire", "clipped", "fire_mode", "crack_time_s", "blast_time_s",
                 "distance_m_min", "distance_m_max", "nearest_segment", "speech_offset_s", "speaker",
                 "language", "text", "row_id", *REVIEW_COLUMNS["Events"]]
BURST_COLUMNS = ["file", "sha256", "track", "burst_id", "start_s", "end_s", "start_hms", "end_hms",
                 "shot_count", "median_interval_s", "rate_rpm", "fire_mode"]
SPEAKER_COLUMNS = ["file", "sha256", "track", "speaker", "turns", "speech_s", "languages", "row_id",
                   *REVIEW_COLUMNS["Speakers"]]
TIMELINE_COLUMNS = ["file", "sha256", "track", "time_s", "time_hms", "end_s", "group", "group_time_s", "kind",
                    "speaker", "language", "what", "flags", "row_id", "reviewed", "reviewed_by"]
SYNC_COLUMNS = ["file", "sha256", "track", "group", "offset_s", "drift_ppm", "overlap_s", "relation", "confidence",
                "matched_with", "landmarks_agreeing"]
SOUND_COLUMNS = ["file", "sha256", "track", "start_s", "end_s", "start_hms", "end_hms", "label", "score", "top_classes",
                 "runner_up", "nearest_segment", "speech_offset_s", "speaker", "text", "row_id", *REVIEW_COLUMNS["Sounds"]]
WORD_COLUMNS = ["file", "sha256", "track", "segment", "start_s", "end_s", "start_hms", "word", "probability"]


_CATEGORY_WORDS = {"gunshot": "gunshot", "possible_gunshot": "possible gunshot"}


def span_offset_s(start_s: float, end_s: float, seg_start_s: float, seg_end_s: float) -> float:
    """Seconds from a segment to a span: 0 where they overlap, else the gap (negative before it)."""
    if end_s < seg_start_s:
        return end_s - seg_start_s
    if start_s > seg_end_s:
        return start_s - seg_end_s
    return 0.0


def _sound_rows(r: dict[str, Any], f: str, sha: str) -> tuple[list[dict], list[dict]]:
    """The Sounds rows of one result, and their Timeline rows (kind ``sound``)."""
    rows, timeline = [], []
    segs = r.get("segments", [])
    for j, n in enumerate(r.get("sounds", [])):
        near = [(abs(o), i, o) for i, s in enumerate(segs) if s["track"] == n["track"]
                for o in [span_offset_s(n["start_s"], n["end_s"], s["start_s"], s["end_s"])]]
        _, i, off = min(near, default=(None, None, None))
        rid = row_id(sha, n["track"], "n", j)
        rows.append({"file": f, "sha256": sha, "track": n["track"], "start_s": n["start_s"], "end_s": n["end_s"],
                     "start_hms": hms(n["start_s"]), "end_hms": hms(n["end_s"]), "label": n["label"],
                     "score": n["score"], "top_classes": n["top_classes"], "runner_up": n["runner_up"] or None,
                     "nearest_segment": i, "speech_offset_s": off,
                     "speaker": segs[i]["speaker"] if i is not None else None,
                     "text": segs[i]["text"] if i is not None else None, **_reviewed(rid, "Sounds")})
        timeline.append({"file": f, "sha256": sha, "track": n["track"], "time_s": n["start_s"],
                         "time_hms": hms(n["start_s"]), "end_s": n["end_s"], "kind": "sound", "speaker": None,
                         "language": None,
                         "what": f"{n['label']}, score {n['score']:.2f} ({n['top_classes']})"
                                 + (f"; runner-up {n['runner_up']}" if n["runner_up"] else ""),
                         "flags": "", "row_id": rid})
    return rows, timeline


def _file_label(result: dict[str, Any]) -> str:
    return result["paths"][0] if result.get("paths") else result["sha256"][:12]


def _reviewed(rid: str, sheet: str) -> dict[str, Any]:
    """The row id and the (empty) reviewer columns of one row: ``review.apply`` fills them."""
    return {"row_id": rid, **{c: None for c in REVIEW_COLUMNS[sheet]}}


def build(results: list[dict[str, Any]], inputs: list[dict[str, Any]], window_s: float = 5.0,
          sync_rows: list[dict[str, Any]] = ()) -> dict[str, pd.DataFrame]:
    """All review tables: sheet name -> DataFrame (the machine's values; the reviewer columns
    empty until ``review.apply``). sync_rows: the case's groups (``sync.run``): each Timeline
    row of a grouped track gets its group and its time on the group's clock."""
    segs, evs, bursts, speakers, timeline, words, sounds = [], [], [], [], [], [], []
    for r in results:
        if r.get("status") != "ok":
            continue
        f, sha = _file_label(r), r["sha256"]
        burst_mode = {b["burst_id"]: b["fire_mode"] for b in r.get("bursts", [])}
        shots = [e for e in r.get("events", []) if e["is_gunshot"]]
        for i, s in enumerate(r.get("segments", [])):
            near = [e for e in shots if e["track"] == s["track"]]
            offsets = [(e["time_s"], signed_offset_s(e["time_s"], s["start_s"], s["end_s"])) for e in near]
            nearest = min(offsets, key=lambda t: abs(t[1]), default=(None, None))
            segs.append({
                "file": f, "sha256": sha, "track": s["track"], "segment": i,
                "start_s": s["start_s"], "end_s": s["end_s"], "start_hms": hms(s["start_s"]),
                "end_hms": hms(s["end_s"]), "speaker": s["speaker"], "language": s["language"],
                "language_prob": s["language_prob"], "language_top3": _top3(s["language_top3"]),
                "language_uncertain": s["language_uncertain"],
                "language_note": (f"{s['language']} (could be {', '.join(s['language_could_be'])})"
                                  if s.get("language_could_be") else None),
                "text": s["text"], "text_en": s["text_en"],
                "text_language": s.get("text_language"), "avg_logprob": s["avg_logprob"],
                "no_speech_prob": s["no_speech_prob"], "compression_ratio": s["compression_ratio"],
                "flags": ", ".join(s["flags"]), "nearest_event_s": nearest[0],
                "nearest_event_offset_s": nearest[1],
                "events_within_window": sum(1 for _, o in offsets if abs(o) <= window_s),
                **_reviewed(row_id(sha, s["track"], "s", i), "Segments"),
            })
            for w in s.get("words", []):
                words.append({"file": f, "sha256": sha, "track": s["track"], "segment": i,
                              "start_s": w["start_s"], "end_s": w["end_s"], "start_hms": hms(w["start_s"]),
                              "word": w["word"], "probability": w["probability"]})
            timeline.append({"file": f, "sha256": sha, "track": s["track"], "time_s": s["start_s"],
                             "time_hms": hms(s["start_s"]), "end_s": s["end_s"], "kind": "speech",
                             "speaker": s["speaker"], "language": s["language"],
                             "what": s["text"], "flags": ", ".join(s["flags"]),
                             "row_id": row_id(sha, s["track"], "s", i)})
        aligned = r.get("aligned_events", [])
        for j, e in enumerate(r.get("events", [])):
            a = aligned[j] if j < len(aligned) else {}
            evs.append({
                "file": f, "sha256": sha, "track": e["track"], "time_s": e["time_s"], "time_hms": hms(e["time_s"]),
                "burst_id": e["burst_id"], "gunshot_score": e["gunshot_score"],
                "category": e.get("category"), "is_gunshot": e["is_gunshot"],
                "audioset_top3": e.get("audioset_top3", ""), "peak_dbfs": e["peak_dbfs"], "rise_time_ms": e["rise_time_ms"], "duration_ms": e["duration_ms"],
                "centroid_hz": e["centroid_hz"], "bandwidth_hz": e["bandwidth_hz"],
                "high_band_ratio": e["high_band_ratio"], "impulsiveness_db": e["impulsiveness_db"],
                "level_over_track_db": e.get("level_over_track_db"), "in_rhythm": e.get("in_rhythm", False),
                "near_gunfire": e.get("near_gunfire", False),
                "clipped": e["clipped"], "fire_mode": burst_mode.get(e["burst_id"]),
                "crack_time_s": e.get("crack_time_s"), "blast_time_s": e.get("blast_time_s"),
                "distance_m_min": e.get("distance_m_min"), "distance_m_max": e.get("distance_m_max"),
                "nearest_segment": a.get("segment_index"), "speech_offset_s": a.get("offset_s"),
                "speaker": a.get("speaker"), "language": a.get("language"), "text": a.get("text"),
                **_reviewed(row_id(sha, e["track"], "e", j), "Events"),
            })
            if e["is_gunshot"]:
                timeline.append({"file": f, "sha256": sha, "track": e["track"], "time_s": e["time_s"],
                                 "time_hms": hms(e["time_s"]), "end_s": None, "kind": "gunshot",
                                 "speaker": None, "language": None,
                                 "what": f"{_CATEGORY_WORDS.get(e.get('category'), 'gunshot-like event')}, "
                                         f"score {e['gunshot_score']:.2f}, "
                                         f"{e['peak_dbfs']:.0f} dBFS"
                                         + (f", burst {e['burst_id']}" if e["burst_id"] is not None else "")
                                         + (f"; sounds like {e['audioset_top3']}" if e.get("audioset_top3") else ""),
                                 # near_gunfire: counted beside a sure shot, not on its own score (listen to it)
                                 "flags": ", ".join(f for f, on in (("clipped", e["clipped"]),
                                                                    ("near_gunfire", e.get("near_gunfire"))) if on),
                                 "row_id": row_id(sha, e["track"], "e", j)})
        rows, lines = _sound_rows(r, f, sha)
        sounds += rows
        timeline += lines
        for b in r.get("bursts", []):
            bursts.append({"file": f, "sha256": sha, "track": b["track"], "burst_id": b["burst_id"],
                           "start_s": b["start_s"], "end_s": b["end_s"], "start_hms": hms(b["start_s"]),
                           "end_hms": hms(b["end_s"]), "shot_count": b["shot_count"],
                           "median_interval_s": b["median_interval_s"], "rate_rpm": b["rate_rpm"],
                           "fire_mode": b["fire_mode"]})
            timeline.append({"file": f, "sha256": sha, "track": b["track"], "time_s": b["start_s"],
                             "time_hms": hms(b["start_s"]), "end_s": b["end_s"], "kind": "burst",
                             "speaker": None, "language": None,
                             "what": f"burst {b['burst_id']}: {b['shot_count']} shot(s), {b['fire_mode']}"
                                     + (f", {b['rate_rpm']:.0f} rounds/min" if b["rate_rpm"] else ""),
                             "flags": ""})
        per_speaker: dict[tuple[int, str], dict[str, Any]] = {}
        for t in r.get("turns", []):
            key = (t["track"], t["speaker"] or "(none)")
            entry = per_speaker.setdefault(key, {"turns": 0, "speech_s": 0.0, "languages": set()})
            entry["turns"] += 1
            entry["speech_s"] += t["end_s"] - t["start_s"]
        for s in r.get("segments", []):
            key = (s["track"], s["speaker"] or "(none)")
            if key in per_speaker:
                per_speaker[key]["languages"].add(s["language"])
        for (track, spk), entry in sorted(per_speaker.items()):
            speakers.append({"file": f, "sha256": sha, "track": track, "speaker": spk, "turns": entry["turns"],
                             "speech_s": round(entry["speech_s"], 3),
                             "languages": ", ".join(sorted(entry["languages"])),
                             **_reviewed(row_id(sha, track, "p", spk), "Speakers")})
    clock = {(r["sha256"], r["track"]): (r["group"], r["offset_s"], 1 + (r["drift_ppm"] or 0.0) * 1e-6)
             for r in sync_rows}
    for row in timeline:
        group, offset, rate = clock.get((row["sha256"], row["track"]), (None, None, None))
        row["group"], row["group_time_s"] = group, None if group is None else round(offset + rate * row["time_s"], 4)
    order = {"burst": 0, "gunshot": 1, "sound": 2, "speech": 3}
    timeline.sort(key=lambda row: (row["file"], row["track"], row["time_s"], order[row["kind"]]))
    # what holds for a whole file (a track cut short, diarization off or failed), by its bytes
    file_flags = {r["sha256"]: ", ".join(r.get("flags", [])) for r in results if r.get("status") == "ok"}
    files = [{**{c: row.get(c) for c in FILES_COLUMNS}, "flags": file_flags.get(row.get("sha256")) or None}
             for row in inputs]
    return {
        "Files": pd.DataFrame(files, columns=FILES_COLUMNS),
        "Timeline": pd.DataFrame(timeline, columns=TIMELINE_COLUMNS),
        "Segments": pd.DataFrame(segs, columns=SEGMENT_COLUMNS),
        "Words": pd.DataFrame(words, columns=WORD_COLUMNS),
        "Events": pd.DataFrame(evs, columns=EVENT_COLUMNS),
        "Bursts": pd.DataFrame(bursts, columns=BURST_COLUMNS),
        "Sounds": pd.DataFrame(sounds, columns=SOUND_COLUMNS),
        "Sync": pd.DataFrame(list(sync_rows), columns=SYNC_COLUMNS),
        "Speakers": pd.DataFrame(speakers, columns=SPEAKER_COLUMNS),
    }
