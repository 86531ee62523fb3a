"""The group pages: ``groups/group<N>.html``, one per set of files that hear the same moments
(the Sync sheet), with a lane per file on the group's clock (its speech and shots) and every
line of every file in the order it happened; a click plays that file's listening copy from
that moment (its time on its own clock: ``(group time - offset_s) / rate``). Self-contained
and offline like the file pages (``page._fill``: inline script, data escaped, a CSP that lets
only that script run and allows no connection)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..provenance import atomic_write_text
from ..review import plain
from . import page

TEMPLATE_PATH = Path(__file__).resolve().parent / "group_page.html"
FOLDER = "groups"


def page_name(group: int) -> str:
    return f"{FOLDER}/group{group}.html"


def group_data(group: int, members: list[dict[str, Any]], results: dict[str, dict[str, Any]],
               case_dir: Path) -> dict[str, Any]:
    """What one group page shows: per member file its place on the clock, its listening copy,
    its speech segments and gunshot-like events of that track (times on its own clock)."""
    files = []
    for m in sorted(members, key=lambda r: r["offset_s"]):
        r = results.get(m["sha256"], {})
        track = int(m["track"])
        folder = f"files/{m['sha256'][:12]}"
        copy = next((page.audio_copy_name(track, f) for f in page.AUDIO_FORMATS
                     if (case_dir / folder / page.audio_copy_name(track, f)).is_file()), None)
        duration = next((t["duration_s"] for t in r.get("tracks", []) if t.get("index") == track), 0.0)
        files.append({
            "file": m["file"], "track": track, "offset_s": float(m["offset_s"]),
            "rate": 1.0 + (plain(m["drift_ppm"]) or 0.0) * 1e-6, "relation": m["relation"],
            "duration_s": float(duration), "audio": f"../{folder}/{copy}" if copy else None,
            "page": f"../{folder}/{page.PAGE_NAME}",
            "speech": [{k: s[k] for k in ("start_s", "end_s", "speaker", "language", "text")}
                       for s in r.get("segments", []) if s["track"] == track],
            "shots": [{"time_s": e["time_s"], "category": e["category"]} for e in r.get("events", [])
                      if e["track"] == track and e["is_gunshot"]],
        })
    return {"group": group, "files": files, "case_index": "../" + page.PAGE_NAME}


def write_groups(case_dir: Path, sync_rows: list[dict[str, Any]], results: list[dict[str, Any]]) -> list[Path]:
    """A page per group of the Sync sheet."""
    by_sha = {r["sha256"]: r for r in results}
    template = TEMPLATE_PATH.read_text(encoding="utf-8")
    script = TEMPLATE_PATH.with_suffix(".js").read_text(encoding="utf-8")
    written = []
    for g in sorted({int(r["group"]) for r in sync_rows}):
        members = [r for r in sync_rows if int(r["group"]) == g]
        path = case_dir / page_name(g)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, page._fill(template, f"group {g}", script, group_data(g, members, by_sha, case_dir)))
        written.append(path)
    return written
