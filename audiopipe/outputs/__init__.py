"""What reviewers open: per file ``result.json`` (+ schema), SRT/VTT, ``timeline.png``,
``review.html`` with its listening copy of the audio; per case ``case.xlsx``, the same tables
as CSV, ``review.html`` (the list of files), ``manifest.json`` and ``SHA256SUMS``.

Everything here works from stored result dicts, so ``report`` rebuilds all of it without
running a model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from .. import review, sync
from ..config import OutputsConfig
from ..provenance import UNHASHED, atomic_write_bytes, atomic_write_json, atomic_write_text, write_sha256sums
from . import groups, page, sheets, subtitles, tables, timeline

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "result.schema.json"
RESULT_NAME = "result.json"
SUMMARY_NAME = "timeline.npz"


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate(result: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if a result does not match its schema."""
    jsonschema.validate(result, schema())


def _write_views(folder: Path, result: dict[str, Any], cfg: OutputsConfig) -> None:
    if result.get("status") != "ok":
        return
    segs = result.get("segments", [])
    if segs:
        atomic_write_text(folder / "transcript.srt", subtitles.srt(segs))
        atomic_write_text(folder / "transcript.vtt", subtitles.vtt(segs))
        atomic_write_text(folder / "transcript.en.srt", subtitles.srt(segs, "text_en"))
    summary = folder / SUMMARY_NAME
    if cfg.timeline_png and summary.is_file():
        timeline.draw(folder / "timeline.png", result, timeline.load_summary(summary))


def write_file(folder: Path, result: dict[str, Any], summaries: list[dict], cfg: OutputsConfig,
               copies: list[bytes] = ()) -> None:
    """All per-file outputs; ``result.json`` last, so that its presence means complete.

    summaries: one ``timeline.summarise`` per track (none when the file could not be read);
    copies: the review page's listening copy of each track (``page.audio_copy``)."""
    folder.mkdir(parents=True, exist_ok=True)
    if summaries:
        timeline.save_summary(folder / SUMMARY_NAME, summaries)
    for i, data in enumerate(copies):
        atomic_write_bytes(folder / page.audio_copy_name(i, cfg.audio_copy), data)
    _write_views(folder, result, cfg)
    atomic_write_json(folder / RESULT_NAME, result)


def file_folder(case_dir: Path, sha256: str) -> Path:
    """Where one input's outputs go: ``files/<sha256[:12]>``."""
    return case_dir / "files" / sha256[:12]


def load_results(case_dir: Path, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, results = set(), []
    for row in inputs:
        folder = row.get("result_folder")
        if not folder or folder in seen or row.get("status") == "duplicate":
            continue
        seen.add(folder)
        path = case_dir / folder / RESULT_NAME
        if path.is_file():
            results.append(json.loads(path.read_text(encoding="utf-8")))
    return results


def write_case(case_dir: Path, manifest: dict[str, Any], cfg: OutputsConfig) -> None:
    """Case-level tables, workbook, manifest, and finally ``SHA256SUMS`` over all of it."""
    results = load_results(case_dir, manifest["inputs"])
    tabs, _ = review.apply(case_tables(case_dir, manifest, results), review.read_log(case_dir))
    _write_reviewed_subtitles(case_dir, results, tabs["Segments"])
    if cfg.review_page:
        _write_pages(case_dir, manifest["inputs"], results, tabs)
    sheets.write_csvs(tabs, case_dir)
    if cfg.xlsx:
        sheets.write_xlsx(tabs, case_dir / "case.xlsx", cfg.max_cell_chars, cfg.max_sheet_rows)
    manifest = dict(manifest, outputs=sorted(p.relative_to(case_dir).as_posix() for p in case_dir.rglob("*")
                                             if p.is_file() and not p.name.startswith(".")
                                             and p.name not in ("manifest.json", *UNHASHED)))
    atomic_write_json(case_dir / "manifest.json", manifest)
    write_sha256sums(case_dir)


def load_manifest(case_dir: Path) -> dict[str, Any]:
    manifest_path = case_dir / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no manifest.json in {case_dir}: not an audiopipe case folder")
    return json.loads(manifest_path.read_text(encoding="utf-8"))


def case_tables(case_dir: Path, manifest: dict[str, Any], results: list[dict[str, Any]] | None = None
                ) -> dict[str, Any]:
    """The case's review tables with the machine's values (reviewer columns empty:
    ``review.apply`` fills them); results: the stored results, read here when not given."""
    results = load_results(case_dir, manifest["inputs"]) if results is None else results
    window = manifest.get("config", {}).get("align", {}).get("window_s", 5.0)
    return tables.build(results, manifest["inputs"], window_s=window, sync_rows=sync.read_case(case_dir))


def _write_reviewed_subtitles(case_dir: Path, results: list[dict[str, Any]], segments) -> None:
    """``transcript.reviewed.srt``/``.vtt`` beside the machine's, for every file with a
    reviewed segment: the reviewed words, language and speaker where given."""
    fields = {"reviewed_text": "text", "reviewed_language": "language", "reviewed_speaker": "speaker"}
    done = segments[segments[list(fields)].notna().any(axis=1)]
    for r in results:
        rows = done[done["sha256"] == r["sha256"]]
        if rows.empty:
            continue
        segs = [dict(s) for s in r.get("segments", [])]
        for row in rows.to_dict("records"):
            i = int(row["row_id"].rsplit(":s", 1)[1])
            segs[i].update({m: row[f] for f, m in fields.items() if isinstance(row[f], str) and row[f]})
        folder = file_folder(case_dir, r["sha256"])
        atomic_write_text(folder / "transcript.reviewed.srt", subtitles.srt(segs))
        atomic_write_text(folder / "transcript.reviewed.vtt", subtitles.vtt(segs))


def _write_pages(case_dir: Path, inputs: list[dict[str, Any]], results: list[dict[str, Any]], tabs) -> None:
    """``review.html`` for every analysed file (from its stored result, the reviewed tables and
    ``timeline.npz``), then the case's list of them, and a page per group of files that hear the
    same moments (``groups``)."""
    for r in results:
        folder = file_folder(case_dir, r["sha256"])
        summary = folder / SUMMARY_NAME
        if r.get("status") == "ok" and summary.is_file():
            page.write(folder, page.page_data(r, tabs, timeline.load_summary(summary), folder))
    page.write_index(case_dir, inputs, tabs)
    for old in (case_dir / groups.FOLDER).glob("group*.html"):  # groups of an earlier run, renumbered since
        old.unlink()
    groups.write_groups(case_dir, tabs["Sync"].to_dict("records"), results)


def report(case_dir: Path, cfg: OutputsConfig) -> dict[str, Any]:
    """Rebuild every output of a case folder from its stored results (and the reviewers'
    corrections in ``review/``); no model runs."""
    manifest = load_manifest(case_dir)
    for result in load_results(case_dir, manifest["inputs"]):
        folder = file_folder(case_dir, result["sha256"])
        _write_views(folder, result, cfg)
    write_case(case_dir, manifest, cfg)
    return manifest
