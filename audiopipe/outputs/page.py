"""The review page: ``files/<sha12>/review.html`` per file, playing a compressed listening copy
of each track (``audio.t<i>.webm``, written at analysis time; the evidence is never touched),
and ``review.html`` at the case root listing the files.

A page is one self-contained HTML file that works from ``file://`` with no network: the
script and style are inline (``review_page.html``), the data (the reviewed Segments, Events and
Sounds rows of the file, its speakers and the waveform envelope of ``timeline.npz``) is a JSON block
in which ``<``, ``>`` and ``&`` are escaped, and the script writes every value with
``textContent``, so a transcript that says ``<script>`` stays text. A Content-Security-Policy
lets only the page's own script run (by its SHA-256) and allows no connection at all.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..provenance import atomic_write_text
from ..review import plain

TEMPLATE_PATH = Path(__file__).resolve().parent / "review_page.html"
PAGE_NAME = "review.html"
#: format -> (container, codec, file suffix); "none" writes no listening copy
AUDIO_FORMATS = {"opus": ("webm", "libopus", "webm"), "mp3": ("mp3", "libmp3lame", "mp3")}
AUDIO_RATE_HZ = 48000
CHUNK_S = 10.0


def audio_copy_name(track: int, fmt: str) -> str:
    return f"audio.t{track}.{AUDIO_FORMATS[fmt][2]}"


def audio_copy(audio_native: np.ndarray, rate_hz: int, fmt: str = "opus", kbps: int = 48,
               start_s: float = 0.0) -> bytes:
    """A mono listening copy of one track (``fmt`` in ``AUDIO_FORMATS``), encoded a chunk at a
    time (an hour of stereo is never mixed down all at once). audio_native: shape =
    (n_channels, n_samples); start_s: where it begins on the file's timeline, silence before.
    Its timing is the file's: the encoder's delay is written in the container (Opus
    pre-skip), so a browser's ``currentTime`` is the time in the file."""
    import av

    from .timeline import mono

    container_name, codec, _ = AUDIO_FORMATS[fmt]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container_name) as out:
        stream = out.add_stream(codec, rate=AUDIO_RATE_HZ, layout="mono")
        stream.bit_rate = kbps * 1000
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=AUDIO_RATE_HZ)
        lead = int(round(start_s * rate_hz))
        n = audio_native.shape[1] + lead
        step = int(CHUNK_S * rate_hz)
        for a in range(0, n, step):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(mono(audio_native, a, a + step, lead))[None, :],
                                               format="flt", layout="mono")
            frame.sample_rate = rate_hz
            for f in resampler.resample(frame):
                out.mux(stream.encode(f))
        for f in resampler.resample(None):
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    return buf.getvalue()


def _records(df, sha256: str, columns: list[str]) -> list[dict[str, Any]]:
    if df is None or df.empty:
        return []
    rows = df[df["sha256"] == sha256]
    return [{c: plain(r.get(c)) for c in columns} for r in rows.to_dict("records")]


def script_json(data: Any) -> str:
    """JSON that cannot end the ``<script>`` block it sits in, nor open a comment or entity."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    return (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
            f"media-src 'self' file: blob:; img-src data:")


def _fill(template: str, title: str, script: str, data: Any) -> str:
    """The template with its parts in; the data last, so that nothing in it is ever replaced."""
    out = template.replace("__CSP__", _csp(script)).replace("__TITLE__", html.escape(title))
    out = out.replace("__SCRIPT__", script)
    return out.replace("__DATA__", script_json(data))


_SEGMENT_KEYS = ["row_id", "track", "start_s", "end_s", "speaker", "language", "language_prob",
                 "language_uncertain", "text", "text_en", "flags", "reviewed_text", "reviewed_language",
                 "reviewed_speaker", "reviewer_note", "reviewed_by"]
_SOUND_KEYS = ["row_id", "track", "start_s", "end_s", "label", "score", "top_classes", "runner_up", "reviewed_label",
               "reviewer_note", "reviewed_by"]
_EVENT_KEYS = ["row_id", "track", "time_s", "category", "is_gunshot", "gunshot_score", "audioset_top3", "peak_dbfs",
               "burst_id",
               "clipped", "near_gunfire", "reviewed_is_gunshot", "reviewer_note", "reviewed_by"]


def page_data(result: dict[str, Any], tabs: dict[str, Any], summaries: list[dict[str, np.ndarray]],
              folder: Path, case_index: str | None = "../../" + PAGE_NAME) -> dict[str, Any]:
    """What one file's page shows: the reviewed Segments/Events/Sounds/Speakers rows of the file, its
    turns and bursts, and per track the waveform envelope and the listening copy (if any)."""
    sha = result["sha256"]
    lines = []
    for r in _records(tabs.get("Segments"), sha, _SEGMENT_KEYS):
        r["flags"] = [f for f in (r["flags"] or "").split(", ") if f]
        lines.append({"kind": "speech", **r})
    for r in _records(tabs.get("Events"), sha, _EVENT_KEYS):
        r["burst_id"] = None if r["burst_id"] is None else int(r["burst_id"])
        lines.append({"kind": "event", **r})
    for r in _records(tabs.get("Sounds"), sha, _SOUND_KEYS):
        lines.append({"kind": "sound", **r})
    tracks = []
    for i, s in enumerate(summaries):
        copy = next((audio_copy_name(i, f) for f in AUDIO_FORMATS if (folder / audio_copy_name(i, f)).is_file()), None)
        tracks.append({"track": i, "duration_s": float(s["duration_s"]), "audio": copy,
                       "env_min": np.round(s["env_min"].astype(float), 3).tolist(),
                       "env_max": np.round(s["env_max"].astype(float), 3).tolist()})
    return {
        "file": result["paths"][0] if result.get("paths") else sha[:12], "sha256": sha, "case_index": case_index,
        "languages": sorted({s["language"] for s in result.get("segments", [])}),
        "tracks": tracks, "lines": lines,
        "speakers": _records(tabs.get("Speakers"), sha, ["track", "speaker", "reviewed_speaker"]),
        "turns": [{k: t[k] for k in ("track", "start_s", "end_s", "speaker")} for t in result.get("turns", [])],
        "bursts": [{k: b[k] for k in ("track", "start_s", "end_s", "shot_count", "fire_mode")}
                   for b in result.get("bursts", [])],
    }


def write(folder: Path, data: dict[str, Any]) -> Path:
    """``folder/review.html`` for one file's ``page_data``."""
    template = TEMPLATE_PATH.read_text(encoding="utf-8")
    script = TEMPLATE_PATH.with_suffix(".js").read_text(encoding="utf-8")
    path = folder / PAGE_NAME
    atomic_write_text(path, _fill(template, f"review: {data['file']}", script, data))
    return path


def write_index(case_dir: Path, inputs: list[dict[str, Any]], tabs: dict[str, Any]) -> Path:
    """``review.html`` at the case root: every input with its status and counts, linking to the
    page of each analysed file, then the groups of files that hear the same moments (the Sync
    sheet: each file's place on the group's clock); plain HTML, no script."""
    seg, ev, snd = tabs["Segments"], tabs["Events"], tabs["Sounds"]
    file_flags = dict(zip(tabs["Files"]["path"], tabs["Files"]["flags"].fillna("")))
    reviewed_cols = ["reviewed_text", "reviewed_language", "reviewed_speaker", "reviewer_note"]
    rows = []
    for row in inputs:
        sha, folder = row.get("sha256"), row.get("result_folder")
        cells = [html.escape(str(row.get("path") or ""))]
        has_page = bool(folder) and row.get("status") == "ok" and (case_dir / folder / PAGE_NAME).is_file()
        if has_page:
            cells[0] = f'<a href="{html.escape(folder + "/" + PAGE_NAME)}">{cells[0]}</a>'
        s = seg[seg["sha256"] == sha] if sha else seg.iloc[0:0]
        e = ev[ev["sha256"] == sha] if sha else ev.iloc[0:0]
        n = snd[snd["sha256"] == sha] if sha else snd.iloc[0:0]
        reviewed = int(s[reviewed_cols].notna().any(axis=1).sum() + e["reviewed_is_gunshot"].notna().sum()
                       + n[["reviewed_label", "reviewer_note"]].notna().any(axis=1).sum())
        dur = row.get("duration_s")
        cells += [html.escape(str(row.get("status") or "")),
                  "" if dur is None else f"{float(dur):.1f}",
                  str(len(s)), str(int((e["category"] == "gunshot").sum())),
                  str(int((e["category"] == "possible_gunshot").sum())),
                  html.escape(", ".join(f"{k} {v}" for k, v in sorted(n["label"].value_counts().items()))),
                  str(int((s["flags"].fillna("") != "").sum())), str(reviewed),
                  html.escape(str(row.get("error") or row.get("duplicate_of") or "")),
                  html.escape(file_flags.get(row.get("path"), ""))]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = ["file", "status", "duration (s)", "segments", "gunshots", "possible gunshots", "sounds", "flagged segments",
            "reviewed rows", "error / duplicate of", "file flags"]
    pages = {row.get("path"): row.get("result_folder") for row in inputs if row.get("status") == "ok"}
    groups = []
    sync_rows = tabs["Sync"].to_dict("records") if "Sync" in tabs else []
    for g in sorted({r["group"] for r in sync_rows}):
        members = sorted((r for r in sync_rows if r["group"] == g), key=lambda r: r["offset_s"])
        cells = []
        for r in members:
            name = html.escape(str(r["file"]))
            folder = pages.get(r["file"])
            link = f'<a href="{html.escape(folder + "/" + PAGE_NAME)}">{name}</a>' if folder else name
            drift = "" if plain(r["drift_ppm"]) is None else f"{float(r['drift_ppm']):+.0f}"
            cells.append([link, str(r["track"]), f"{float(r['offset_s']):.3f}", drift, html.escape(str(r["relation"])),
                          f"{float(r['confidence']):.2f}", html.escape(str(r["matched_with"]))])
        groups.append(f'<h2><a href="groups/group{g}.html">Group {g}</a>: {len(members)} recordings of the same '
                      f"moments</h2><table><thead><tr>"
                      + "".join(f"<th>{h}</th>" for h in ("file", "track", "its 0 s on the group's clock (s)",
                                                          "drift (ppm)", "relation", "confidence", "lined up with"))
                      + "</tr></thead><tbody>" + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
                                                         for row in cells) + "</tbody></table>")
    doc = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
           f"<title>review: {html.escape(case_dir.name)}</title>"
           "<style>body{font:14px/1.4 system-ui,sans-serif;margin:12px}"
           "table{border-collapse:collapse}td,th{padding:4px 8px;border-bottom:1px solid #eee;text-align:left}"
           "th{background:#f4f4f4}</style></head><body>"
           f"<h1>Case {html.escape(case_dir.name)}: review</h1>"
           "<p>Open a file to hear each line: click a line to play from it. Corrections go in "
           "<code>case.xlsx</code>, then <code>audiopipe review import</code>.</p><table><thead><tr>"
           + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>" + "".join(rows)
           + "</tbody></table>" + "".join(groups) + "</body></html>\n")
    path = case_dir / PAGE_NAME
    atomic_write_text(path, doc)
    return path
