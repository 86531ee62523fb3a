"""Reviewers' corrections: read from an edited workbook (or CSV), kept beside the machine output.

The workbook's ``Segments``, ``Events``, ``Speakers`` and ``Sounds`` sheets carry a ``row_id``
(the file's SHA-256 prefix, the track, and the segment, event, speaker or sound: never the
row's position) and reviewer columns (``REVIEW_COLUMNS``). ``import_corrections`` reads them back, checks every
row against the case (its file, its id, no formula, a language Whisper knows, a yes/no for
gunshots, a known label for sounds), and appends one line per changed cell to ``review/corrections.jsonl``: who, when,
the edited file and its SHA-256, the sheet, the row, the field, the machine's value, the
previous reviewed value and the new one. The log is only ever appended to; ``result.json``
stays what the models said. ``apply`` folds the log into the tables' reviewer columns (the
latest value per cell), finding each row again by its id where it is still where it was, else
by time (a rerun of the models may renumber segments); a correction whose row is gone is
returned apart (listed at import), never dropped.
"""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import read_yaml
from .errors import AudiopipeError

LOG_PATH = Path("review") / "corrections.jsonl"
#: sheet -> the reviewer columns it carries (``reviewed_by`` and ``reviewer_note`` everywhere)
REVIEW_COLUMNS = {
    "Segments": ["reviewed_text", "reviewed_language", "reviewed_speaker", "reviewer_note", "reviewed_by"],
    "Events": ["reviewed_is_gunshot", "reviewer_note", "reviewed_by"],
    "Speakers": ["reviewed_speaker", "reviewer_note", "reviewed_by"],
    "Sounds": ["reviewed_label", "reviewer_note", "reviewed_by"],
}
#: reviewed field -> the machine column it corrects
MACHINE_COLUMN = {"reviewed_text": "text", "reviewed_language": "language", "reviewed_speaker": "speaker",
                  "reviewed_is_gunshot": "is_gunshot", "reviewed_label": "label", "reviewer_note": None}
FORMULA_START = "="
YES, NO = {"true", "yes", "y", "1", "gunshot"}, {"false", "no", "n", "0", "not a gunshot"}


class ReviewError(AudiopipeError):
    """The edited file cannot be imported at all (not a workbook, no known sheet)."""


def row_id(sha256: str, track: int, kind: str, key: Any) -> str:
    """The stable id of a row: ``<sha256[:12]>:<track>:<s|e|p|n><segment, event, speaker or sound>``."""
    return f"{sha256[:12]}:{track}:{kind}{key}"


@dataclass(frozen=True)
class Refusal:
    sheet: str
    row: int  # 1-based, as the spreadsheet shows it (header = 1)
    row_id: str | None
    reason: str


@dataclass
class ImportReport:
    imported: int  # cells recorded in the log
    unchanged: int  # rows read with nothing new
    refused: list[Refusal]
    orphans: list[dict[str, Any]]


def _languages() -> set[str]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES
    return set(_LANGUAGE_CODES)


def read_log(case_dir: Path) -> list[dict[str, Any]]:
    path = case_dir / LOG_PATH
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _span(sheet: str, row: dict[str, Any]) -> dict[str, float]:
    """Where a row sits in its file, kept with each correction to find the row again."""
    if sheet in ("Segments", "Sounds"):
        return {"start_s": float(row["start_s"]), "end_s": float(row["end_s"])}
    if sheet == "Events":
        return {"time_s": float(row["time_s"])}
    return {}


def _locate(entry: dict[str, Any], rows: dict[str, dict[str, Any]]) -> str | None:
    """The current row a correction belongs to: its own id if that row is still where it was;
    else, in the same file and track, the segment that overlaps its span most (at least half
    of the shorter of the two) or the event within 50 ms of its time; else None."""
    def fits(row: dict[str, Any]) -> float:
        if "start_s" in entry:
            overlap = min(entry["end_s"], row["end_s"]) - max(entry["start_s"], row["start_s"])
            shorter = min(entry["end_s"] - entry["start_s"], row["end_s"] - row["start_s"])
            return overlap / shorter if shorter > 0 and overlap >= 0.5 * shorter else -1.0
        if "time_s" in entry:
            gap = abs(row["time_s"] - entry["time_s"])
            return 1.0 - gap if gap <= 0.05 else -1.0
        return 1.0  # speakers: the id is the speaker label
    own = rows.get(entry["row_id"])
    if own is not None and fits(own) >= 0:
        return entry["row_id"]
    if "start_s" not in entry and "time_s" not in entry:
        return None
    prefix = entry["row_id"].rsplit(":", 1)[0] + ":"  # same file and track
    best = max(((fits(r), rid) for rid, r in rows.items() if rid.startswith(prefix)), default=(-1.0, None))
    return best[1] if best[0] >= 0 else None


def apply(tables: dict[str, Any], log: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The tables with the corrections of the log in their reviewer columns (the latest value
    per cell, in log order), and the log entries whose row is gone (kept, never dropped)."""
    out = dict(tables)
    lost = []
    for sheet in REVIEW_COLUMNS:
        if sheet not in tables:
            continue
        df = tables[sheet].copy()
        rows = {r["row_id"]: r for r in df.to_dict("records")}
        index = {rid: i for i, rid in zip(df.index, df["row_id"])}
        for entry in (e for e in log if e["sheet"] == sheet):
            rid = _locate(entry, rows)
            if rid is None:
                lost.append(entry)
                continue
            df[entry["field"]] = df[entry["field"]].astype(object)
            df.at[index[rid], entry["field"]] = entry["new"]
            if entry["field"] != "reviewed_by":
                df["reviewed_by"] = df["reviewed_by"].astype(object)
                df.at[index[rid], "reviewed_by"] = entry["by"]
        out[sheet] = df
    if "Timeline" in out:
        out["Timeline"] = _timeline(out)
    return out, lost


#: how a reviewed field reads in the Timeline's one ``reviewed`` column
_TIMELINE_WORDS = {"reviewed_text": "text: {}", "reviewed_speaker": "speaker: {}", "reviewed_language": "language: {}",
                   "reviewed_is_gunshot": "gunshot: {}", "reviewed_label": "sound: {}", "reviewer_note": "note: {}"}


def _timeline(tables: dict[str, Any]) -> Any:
    """The Timeline with each speech, gunshot and sound row's corrections in one readable column."""
    said: dict[str, tuple[str, Any]] = {}
    for sheet in ("Segments", "Events", "Sounds"):
        for r in tables[sheet].to_dict("records") if sheet in tables else []:
            parts = [word.format({True: "yes", False: "no"}.get(v, v)) for f, word in _TIMELINE_WORDS.items()
                     if (v := plain(r.get(f))) not in (None, "")]
            if parts:
                said[r["row_id"]] = ("; ".join(parts), r["reviewed_by"])
    df = tables["Timeline"].copy()
    found = [said.get(rid) for rid in df["row_id"]]
    df["reviewed"] = [f[0] if f else None for f in found]
    df["reviewed_by"] = [f[1] if f else None for f in found]
    return df


def _append(case_dir: Path, entries: list[dict[str, Any]]) -> None:
    path = case_dir / LOG_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.writelines(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in entries)
        f.flush()
        os.fsync(f.fileno())


def part_name(table: str, k: int) -> str:
    """The k-th worksheet (from 0) of a table in the workbook: "Words", "Words (2)", ... (a
    table longer than a worksheet goes on several)."""
    return table if k == 0 else f"{table} ({k + 1})"


def table_of(sheet: str) -> str:
    """The table a worksheet holds part of: "Segments (2)" -> "Segments"."""
    return re.sub(r" \(\d+\)$", "", sheet)


def _read_edited(path: Path) -> dict[str, list[dict[str, Any]]]:
    """sheet -> rows as {column: value}; a formula cell's value is the formula text, marked
    by ``__formula__`` (the list of its columns). The sheets of a workbook are every part of
    the Segments, Events, Speakers and Sounds tables ("Segments", "Segments (2)", ...)."""
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        sheet = next((s for s in REVIEW_COLUMNS if path.stem.lower() == s.lower()), None)
        if sheet is None:
            cols = set(rows[0]) if rows else set()
            sheet = next((s for s, c in REVIEW_COLUMNS.items() if set(c) <= cols), None)
        if sheet is None:
            raise ReviewError(f"{path.name}: not a Segments, Events, Speakers or Sounds table of audiopipe")
        for r in rows:
            # a CSV written by audiopipe quotes a leading '=' with an apostrophe; a bare one is a formula
            r["__formula__"] = [k for k, v in r.items() if isinstance(v, str) and v.startswith(FORMULA_START)]
            for k, v in r.items():
                if isinstance(v, str) and v.startswith("'"):
                    r[k] = v[1:]
        return {sheet: rows}
    try:
        from openpyxl import load_workbook
        wb = load_workbook(path, data_only=False, read_only=False)
    except Exception as exc:  # a damaged or foreign file: say what it is
        raise ReviewError(f"{path.name}: cannot be read as a workbook ({type(exc).__name__}: {exc})") from exc
    out: dict[str, list[dict[str, Any]]] = {}
    for sheet in wb.sheetnames:
        if table_of(sheet) not in REVIEW_COLUMNS:
            continue
        ws = wb[sheet]
        rows = ws.iter_rows()
        header = [c.value for c in next(rows, [])]
        table = []
        for cells in rows:
            r = {h: c.value for h, c in zip(header, cells) if h}
            r["__formula__"] = [h for h, c in zip(header, cells) if h and c.data_type == "f"]
            table.append(r)
        out[sheet] = table
    if not out:
        raise ReviewError(f"{path.name}: no Segments, Events, Speakers or Sounds sheet: not an audiopipe case workbook")
    return out


def plain(v: Any) -> Any:
    """A table cell as JSON: numpy scalars as Python values; NaN and infinities (the peak of
    digital silence) as None."""
    v = v.item() if hasattr(v, "item") else v
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _sound_labels(tables: dict[str, Any]) -> set[str]:
    """What a reviewed sound may be called: the labels of the shipped labels file, those of the
    case's Sounds sheet (a user's own labels), and ``none`` (no such sound)."""
    shipped = read_yaml("scene_labels").get("labels") or {}
    held = tables["Sounds"]["label"].dropna() if "Sounds" in tables else []
    return set(shipped) | {str(x) for x in held} | {"none"}


def _normalise(field: str, value: Any, known: dict[str, set[str]]) -> tuple[Any, str | None]:
    """(value, None) or (None, why it is refused). known: the language codes (``languages``) and
    sound labels (``labels``) a value may be."""
    if field == "reviewed_is_gunshot":
        if isinstance(value, bool):
            return value, None
        text = str(value).strip().lower()
        if text in YES:
            return True, None
        if text in NO:
            return False, None
        return None, f"reviewed_is_gunshot must be yes or no, not {value!r}"
    text = str(value).strip()
    if field == "reviewed_language" and text.lower() not in known["languages"]:
        return None, f"reviewed_language {text!r} is not a language code Whisper knows (e.g. az, ru, en)"
    if field == "reviewed_label" and text.lower() not in known["labels"]:
        return None, (f"reviewed_label {text!r} is not a sound label ({', '.join(sorted(known['labels']))})")
    return (text.lower() if field in ("reviewed_language", "reviewed_label") else text), None


def import_corrections(case_dir: Path, edited: Path, tables: dict[str, Any], by: str | None = None,
                       now: dt.datetime | None = None) -> ImportReport:
    """Record the reviewer columns of ``edited`` that differ from what the case already holds.

    tables: the case's tables with the machine's values (``outputs.case_tables``), to check
    ids against; the corrections already in the log are applied to them here. A row is refused whole (nothing from it recorded) when its
    file is not in this case, its id is unknown or does not match its file/track columns, a
    cell is a formula, or a value is invalid."""
    sheets = _read_edited(edited)
    digest = hashlib.sha256(edited.read_bytes()).hexdigest()
    known = {"languages": _languages(), "labels": _sound_labels(tables)}
    case_files = {sha for df in tables.values() if "sha256" in df.columns for sha in df["sha256"].dropna()}
    held_tables, _ = apply(tables, read_log(case_dir))
    machine = {name: {r["row_id"]: r for r in held_tables[name].to_dict("records")} for name in REVIEW_COLUMNS
               if name in held_tables}
    when = (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")
    entries, refused, unchanged = [], [], 0
    for sheet_name, rows in sheets.items():
        sheet = table_of(sheet_name)
        fields = [f for f in REVIEW_COLUMNS[sheet] if f != "reviewed_by"]
        for n, r in enumerate(rows, start=2):
            given = {f: r.get(f) for f in fields if r.get(f) not in (None, "")}
            rid = r.get("row_id")
            if not given:
                continue
            row = machine.get(sheet, {}).get(rid)
            bad = [c for c in r["__formula__"] if c in fields or c == "reviewed_by"]
            checked = [_normalise(f, v, known) for f, v in given.items()]
            why = next((w for _, w in checked if w), None)
            if r.get("sha256") not in case_files:
                why = f"file {str(r.get('sha256'))[:12]}... is not in this case (a workbook from another case?)"
            elif row is None or str(row["sha256"]) != str(r.get("sha256")) or str(row["track"]) != str(r.get("track")):
                why = f"row_id {rid!r} is not a row of this case's {sheet} for that file and track (changed id?)"
            elif bad:
                why = f"a formula in {', '.join(bad)}: corrections are plain values"
            if why:
                refused.append(Refusal(sheet_name, n, rid, why))
                continue
            values = {f: v for f, (v, _) in zip(given, checked)}
            # reviewed_by as exported names the last reviewer: only a name typed anew is this one's
            typed = r.get("reviewed_by")
            fresh = typed not in (None, "") and str(typed).strip() != str(plain(row.get("reviewed_by")) or "")
            who = str(typed if fresh else (by or getpass.getuser())).strip()
            held = {f: plain(row.get(f)) for f in fields}
            new = {f: v for f, v in values.items() if held.get(f) != v}
            if not new:
                unchanged += 1
                continue
            for f, v in new.items():
                col = MACHINE_COLUMN.get(f)
                entries.append({"at": when, "by": who, "source": edited.name, "source_sha256": digest,
                                "sheet": sheet, "row_id": rid, **_span(sheet, row), "field": f,
                                "machine": plain(row.get(col)) if col else None, "old": held.get(f), "new": v})
    if entries:
        _append(case_dir, entries)
    return ImportReport(len(entries), unchanged, refused, apply(tables, read_log(case_dir))[1])
