"""The batch loop: every media file under an evidence folder found, hashed and probed,
duplicates analysed once, files already done with this config and these models reused (the
resume key: input SHA-256, config hash, model hashes), the rest handed to an executor
(``executors``: local or Ray), each outcome written as it comes back (``result.json`` last),
then the files that hear the same moments lined up (``sync``), the case outputs and the manifest. Records: ``RunSummary``.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .. import ingest, outputs, provenance, sync
from ..config import Config
from ..errors import AudiopipeError, OutputError, UnreadableFile
from ..pipeline import Analyzer, FileOutcome, Job
from ..records import MediaFile, Probe, to_dict
from . import executors, marks
from .logs import setup_logging

log = logging.getLogger("audiopipe")


@dataclass
class RunSummary:
    case_dir: Path
    analysed: int = 0
    reused: int = 0
    errors: int = 0
    skipped: int = 0
    duplicates: int = 0
    inputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def workbook(self) -> Path:
        return self.case_dir / "case.xlsx"

    @property
    def manifest(self) -> Path:
        return self.case_dir / "manifest.json"


@dataclass
class _Input:
    """One evidence file during the run: what was found, and what happened to it."""

    media: MediaFile
    probe: Probe | None = None
    status: str = "pending"
    error_kind: str | None = None
    error: str | None = None
    duplicate_of: str | None = None
    progress: str = ""

    def row(self) -> dict[str, Any]:
        p = self.probe
        return {
            "path": self.media.path,
            "sha256": self.media.sha256,
            "size_bytes": self.media.size_bytes,
            "status": self.status,
            "error_kind": self.error_kind,
            "error": self.error,
            "duplicate_of": self.duplicate_of,
            "result_folder": f"files/{self.media.short_id}" if self.media.sha256 else None,
            "container": p.container if p else None,
            "duration_s": p.duration_s if p else None,
            "audio_tracks": len(p.audio_streams) if p else None,
            "creation_time": p.creation_time if p else None,
            "probe": to_dict(p) if p else None,
        }


def _check_case_dir(evidence_dir: Path, case_dir: Path) -> None:
    ev, case = evidence_dir.resolve(), case_dir.resolve()
    if case == ev or ev in case.parents:
        raise UnreadableFile(f"the case folder {case} is inside the evidence folder {ev}; "
                             "nothing may be written there: choose another --out")


def run(evidence_dir: str | Path, case_dir: str | Path, cfg: Config, *, quiet: bool = False,
        json_log: bool = False) -> RunSummary:
    """Analyse every media file under ``evidence_dir`` into ``case_dir``; resumable."""
    evidence_dir, case_dir = Path(evidence_dir), Path(case_dir)
    _check_case_dir(evidence_dir, case_dir)
    case_dir.mkdir(parents=True, exist_ok=True)
    handlers = setup_logging(case_dir, quiet, json_log)
    started = provenance.utc_now()
    summary = RunSummary(case_dir)
    try:
        analyzer = Analyzer(cfg)
        executor = executors.load(cfg.run.executor)
        config_hash = cfg.hash()
        found, skipped = ingest.walk(evidence_dir, cfg.ingest)
        log.info(f"audiopipe: {len(found)} media file(s) under {evidence_dir}, "
                 f"{len(skipped)} other path(s) skipped; case folder {case_dir}")
        inputs = [_Input(m) for m in found]
        bars_off = quiet or not sys.stderr.isatty()  # in a log file, the per-file lines are the progress
        _hash_and_probe(inputs, cfg, bars_off)

        by_sha: dict[str, _Input] = {}
        todo: list[_Input] = []
        for item in inputs:
            if item.status != "pending":
                continue
            first = by_sha.get(item.media.sha256)
            if first is not None:
                item.status, item.duplicate_of = "duplicate", first.media.path
                summary.duplicates += 1
                log.info(f"duplicate: {item.media.path} has the same SHA-256 as {first.media.path}; analysed once")
                continue
            by_sha[item.media.sha256] = item
            todo.append(item)

        total_audio_s = sum((i.probe.duration_s or 0.0) for i in todo if i.probe)
        files_bar = tqdm(total=len(todo), desc="files", unit="file", disable=bars_off, position=0)
        audio_bar = tqdm(total=round(total_audio_s, 1), desc="audio", unit="s", disable=bars_off, position=1,
                         bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]")
        jobs: list[Job] = []

        def advance(item: _Input) -> None:  # one more file done (reused or analysed)
            files_bar.update(1)
            audio_bar.update(round(item.probe.duration_s or 0.0, 1) if item.probe else 0)

        for n, item in enumerate(todo, start=1):
            item.progress = f"[{n}/{len(todo)}]"
            key = provenance.resume_key(item.media.sha256, config_hash, analyzer.model_hashes)
            folder = outputs.file_folder(case_dir, item.media.sha256)
            previous = marks.load_result(folder)
            if previous and previous.get("resume_key") == key and (
                    previous["status"] == "ok" or previous.get("error_permanent")):
                item.status, item.error_kind, item.error = (previous["status"], previous.get("error_kind"),
                                                            previous.get("error"))
                summary.reused += 1
                log.info(f"{item.progress} unchanged, not redone: {item.media.path} ({item.status})")
                advance(item)
            else:
                paths = [i.media.path for i in inputs if i.media.sha256 == item.media.sha256]
                jobs.append(Job(item.media, item.probe, folder, key, paths, item.progress))

        def finish(job: Job, outcome: FileOutcome) -> None:
            item = by_sha[job.media.sha256]
            _write(item, job.folder, outcome, cfg)
            summary.analysed += item.status == "ok"
            advance(item)

        executor.analyse(jobs, analyzer, finish)
        files_bar.close()
        audio_bar.close()

        summary.errors = sum(1 for i in inputs if i.status == "error")
        summary.skipped = len(skipped)
        rows = [i.row() for i in inputs] + [
            {"path": s.path, "sha256": None, "size_bytes": None, "status": "skipped", "error_kind": "skipped",
             "error": s.reason, "duplicate_of": None, "result_folder": None, "container": None,
             "duration_s": None, "audio_tracks": None, "creation_time": None, "probe": None}
            for s in skipped]
        summary.inputs = rows
        if summary.reused and not summary.analysed:
            log.info(f"nothing to redo: all {summary.reused} file(s) already analysed with this config and these models")
        manifest = {
            "audiopipe_manifest_version": 1,
            "started_utc": started,
            "finished_utc": provenance.utc_now(),
            "evidence_dir": ingest.printable(str(evidence_dir.resolve())),
            "case_dir": ingest.printable(str(case_dir.resolve())),
            "software": provenance.software_versions(),
            "models": {k: to_dict(r) for k, r in analyzer.model_refs.items()},
            "config_hash": config_hash,
            "config": cfg.to_dict(),
            "counts": {"media_files": len(inputs), "analysed_now": summary.analysed, "reused": summary.reused,
                       "errors": summary.errors, "duplicates": summary.duplicates, "skipped": summary.skipped},
            "inputs": rows,
        }
        try:
            # files that hear the same moments, new ones against those of earlier runs too
            sync.write_case(case_dir, sync.run(case_dir, rows, cfg.sync) if cfg.sync.enabled else [],
                            provenance.atomic_write_text)
            outputs.write_case(case_dir, manifest, cfg.outputs)
        except OSError as exc:
            raise OutputError(
                f"cannot write the case outputs into {case_dir}: {exc.strerror or exc}. The results of "
                f"the files analysed so far are kept in {case_dir / 'files'}; free some space and run the same "
                f"command again: nothing finished will be redone") from exc
        log.info(f"done: {summary.analysed} analysed, {summary.reused} reused, {summary.errors} error(s), "
                 f"{summary.duplicates} duplicate(s), {summary.skipped} skipped")
        log.info(f"case workbook: {summary.workbook}")
        log.info(f"manifest:      {summary.manifest}")
        return summary
    finally:
        for h in handlers:
            log.removeHandler(h)
            h.close()


def _hash_and_probe(inputs: list[_Input], cfg: Config, bars_off: bool) -> None:
    for item in tqdm(inputs, desc="hashing", unit="file", disable=bars_off, leave=False):
        try:
            ingest.check_size(item.media, cfg.ingest)
            sha = ingest.sha256_file(item.media.abs_path)
            item.media = MediaFile(item.media.path, item.media.abs_path, item.media.size_bytes, sha)
            item.probe = ingest.probe(item.media.abs_path, item.media.path)
        except AudiopipeError as exc:
            item.status, item.error_kind, item.error = "error", exc.kind, str(exc)
            log.warning(f"error: {item.media.path}: {exc}", extra={"fields": {"path": item.media.path,
                                                                            "error_kind": exc.kind}})


def _write(item: _Input, folder: Path, outcome: FileOutcome, cfg: Config) -> None:
    """The driver's half: the file's outputs written (atomically, ``result.json`` last), its
    row updated, one log line."""
    data, media = outcome.data, item.media
    status, kind, error = data["status"], data.get("error_kind"), data.get("error")
    try:
        if outcome.prints:  # before result.json: a result there means its fingerprints are there too
            folder.mkdir(parents=True, exist_ok=True)
            sync.save(folder, outcome.prints, provenance.atomic_write_bytes)
        outputs.write_file(folder, data, outcome.summaries, cfg.outputs, outcome.copies)
    except OSError as exc:
        status, kind = "error", "write"
        error = (f"cannot write results for {media.path} into {folder}: {exc.strerror or exc}; "
                 f"free some space and run the same command again")
    item.status, item.error_kind, item.error = status, kind, error
    where = "" if outcome.worker == "local" else f", {outcome.worker}"
    if status == "ok":
        log.info(f"{item.progress} ok: {media.path} ({len(data['segments'])} segments, "
                 f"{sum(e['is_gunshot'] for e in data['events'])} gunshot-like events, "
                 f"{data['timings_s']['total']:.1f} s{where})")
    else:
        on = "" if outcome.worker == "local" else f" (worker {outcome.worker})"
        log.warning(f"{item.progress} error: {media.path}: {error}{on}",
                    extra={"fields": {"path": media.path, "error_kind": kind}})
