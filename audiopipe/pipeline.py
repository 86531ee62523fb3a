"""The batch loop: the only place that knows the order of the stages.

Per file: hash -> probe -> decode (ingest) -> gunshot-like events -> speech turns
(diarization or VAD) -> language per turn -> transcription -> alignment -> per-file outputs.
Each file's work happens inside one error boundary: an ``AudiopipeError`` (or an OS error
such as a full disk) becomes an error row and a log line, and the batch goes on.
Results are keyed by (input SHA-256, config hash, model hashes); a rerun reuses them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import threadpoolctl
from tqdm import tqdm

from . import align, events, ingest, models, outputs, provenance
from .config import Config
from .errors import AudiopipeError, OutputError, StageError, UnreadableFile
from .records import FileResult, MediaFile, Probe, shifted, to_dict

log = logging.getLogger("audiopipe")

RESULT_NAME = "result.json"
# in a file's result folder while it is analysed (local executor): the runs that began it with
# this resume key and ended before its result was written (a crash, a kill)
BEGUN_NAME = ".begun.json"


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": provenance.utc_now(), "level": record.levelname.lower(), "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, ensure_ascii=False)


# control characters as escapes (a file may be named with a newline in it): one record, one line
_ESCAPES = {c: ascii(chr(c))[1:-1] for c in (*range(32), 127)}


class _LineFormatter(logging.Formatter):
    """Text log lines whose message has its control characters escaped, so that a file name
    cannot split a line or forge another one (the JSON log escapes them already)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = record.message.translate(_ESCAPES)
        return super().formatMessage(record)


class _TqdmHandler(logging.StreamHandler):
    """Log lines printed above the progress bars instead of through them."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001 - logging must never end the batch
            self.handleError(record)


def setup_logging(case_dir: Path, quiet: bool, json_log: bool) -> list[logging.Handler]:
    log.setLevel(logging.INFO)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    file_handler = logging.FileHandler(case_dir / "audiopipe.log", encoding="utf-8")
    file_handler.setFormatter(_LineFormatter("%(asctime)s %(levelname)s %(message)s"))
    console = _TqdmHandler()
    console.setLevel(logging.WARNING if quiet else logging.INFO)
    console.setFormatter(_JsonFormatter() if json_log else _LineFormatter("%(message)s"))
    for h in (file_handler, console):
        log.addHandler(h)
    return [file_handler, console]


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


class Analyzer:
    """Loads the models once per run and runs the stages on one decoded file."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self._speech = None
        self._diarizer = None
        #: the CPU threads every model runs with: ``speech.cpu_threads``, else OpenMP's count
        #: (``OMP_NUM_THREADS``, which Ray sets to a worker's CPUs), else the machine's cores
        self.threads = cfg.speech.cpu_threads or int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
        self.model_refs: dict[str, models.ModelRef] = {}
        if cfg.diarization.enabled and cfg.diarization.pipeline:
            self.model_refs["diarization"] = models.resolve(cfg.diarization.pipeline)
        elif cfg.diarization.enabled:
            self.model_refs["segmentation"] = models.resolve(cfg.diarization.segmentation_model)
            self.model_refs["embedding"] = models.resolve(cfg.diarization.embedding_model)
        if cfg.events.enabled:
            self.model_refs["events"] = models.resolve(cfg.events.classifier)
            self.events_model = events.classifier(self.model_refs["events"])
        if cfg.speech.enabled:
            self.model_refs["speech"] = models.resolve(models.for_engine(cfg.speech.model, cfg.speech.engine))
            if cfg.speech.text_lid:
                self.model_refs["text_lid"] = models.resolve("fasttext-lid176")

    def _pin_threads(self) -> None:
        """Torch (diarization, openai-whisper) on ``threads`` threads, as CTranslate2 is."""
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(self.threads)

    @property
    def model_hashes(self) -> dict[str, dict[str, str]]:
        return {k: (r.sha256 or {"name": r.path}) for k, r in self.model_refs.items()}

    def speech(self):
        if self._speech is None:
            from . import transcribe  # heavy imports only when speech is on

            self._speech = transcribe.load_engine(dataclasses.replace(self.cfg.speech, cpu_threads=self.threads),
                                                  self.model_refs["speech"], self.model_refs.get("text_lid"))
            self._pin_threads()
        return self._speech

    def diarizer(self):
        if self._diarizer is None:
            from . import diarize  # torch and pyannote only when diarization is on

            if "diarization" in self.model_refs:
                self._diarizer = diarize.load_named(self.cfg.diarization, self.model_refs["diarization"])
            else:
                self._diarizer = diarize.load(self.cfg.diarization, self.model_refs["segmentation"],
                                              self.model_refs["embedding"])
            self._pin_threads()
        return self._diarizer

    def diarize(self, track, result: FileResult, progress=None):
        """Speaker turns of one track, or None (VAD turns) when diarization is off or fails.
        progress: passed on to the diarizer (``_StepLog`` for long files)."""
        if not self.cfg.diarization.enabled:
            result.stages["diarization"] = "off (VAD regions used as turns)"
            return None
        try:
            turns = self.diarizer()(track, progress=progress)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed diarization falls back, the file goes on
            result.stages["diarization"] = f"failed: {type(exc).__name__}: {exc}"
            result.flags.append("diarization_failed_vad_turns")
            log.warning(f"diarization failed on track {track.index}; VAD regions used instead: {exc}")
            return None
        result.stages["diarization"] = "done"
        return turns

    def analyse(self, media: MediaFile, probed: Probe, result: FileResult, progress: str = "") -> tuple[list, list]:
        """Decode and run every enabled stage; fills ``result``; returns the tracks' timeline
        summaries (``outputs.timeline.summarise``) and the review page's listening copies (bytes
        per track, none when ``outputs.audio_copy`` is none).

        Memory: once the events stage and the timeline summary have read the native-rate
        samples, they are let go (unless diarizing by channel, which reads them again): for
        an hour of 48-kHz stereo that is 1.4 GB not held through diarization and speech.

        progress: the "[i/n]" of the file in the batch; long files (``LONG_FILE_S``) log
        their stages as they go."""
        cfg = self.cfg
        t0 = time.perf_counter()
        _, tracks, flags = ingest.load(media, cfg.ingest)
        result.tracks, result.flags = tracks, flags
        result.timings_s["decode"] = time.perf_counter() - t0
        result.stages["ingest"] = "done"

        if cfg.events.enabled:
            t0 = time.perf_counter()
            for track in tracks:
                evs, bursts = events.detect(track, cfg.events, self.events_model, first_burst_id=len(result.bursts))
                result.events.extend(evs)
                result.bursts.extend(bursts)
            result.timings_s["events"] = time.perf_counter() - t0
            result.stages["events"] = "done"
        else:
            result.stages["events"] = "off"
        summaries = [outputs.timeline.summarise(t.audio_native, t.native_rate_hz, t.start_s) for t in tracks]
        out = cfg.outputs
        copies = ([outputs.page.audio_copy(t.audio_native, t.native_rate_hz, out.audio_copy, out.audio_copy_kbps,
                                           t.start_s)
                   for t in tracks] if out.review_page and out.audio_copy != "none" else [])
        if not (cfg.diarization.enabled and cfg.diarization.by_channel):
            tracks = [dataclasses.replace(t, audio_native=np.zeros((t.channels, 0), np.float32)) for t in tracks]
            result.tracks = tracks

        def where(track) -> str:
            return f"{progress} {media.path} track {track.index}".strip()

        long_file = any(t.duration_s >= LONG_FILE_S for t in tracks)

        def step_log(track, stage: str):
            return _StepLog(where(track), stage) if long_file else None

        if long_file:
            log.info(f"{progress} {media.path}: decoded in {result.timings_s['decode']:.0f} s; "
                     f"events {result.timings_s.get('events', 0.0):.0f} s")
        for track in tracks:
            t0 = time.perf_counter()
            speaker_turns = self.diarize(track, result, step_log(track, "diarization"))
            result.timings_s["diarization"] = result.timings_s.get("diarization", 0.0) + time.perf_counter() - t0
            if long_file and cfg.diarization.enabled:
                log.info(f"{where(track)}: diarization {time.perf_counter() - t0:.0f} s, "
                         f"{len(speaker_turns or [])} turns")
            if not cfg.speech.enabled:
                result.turns.extend(speaker_turns or [])
                continue
            t0 = time.perf_counter()
            shots = [e for e in result.events if e.track == track.index and e.is_gunshot]
            speech = self.speech().process(track, shots, speaker_turns, step_log(track, "speech"))
            result.turns.extend(speaker_turns if speaker_turns is not None else speech.turns)
            result.languages.extend(speech.languages)
            result.segments.extend(speech.segments)
            result.flags.extend(f for f in speech.flags if f not in result.flags)
            result.timings_s["speech"] = result.timings_s.get("speech", 0.0) + time.perf_counter() - t0
            for step, seconds in speech.timings_s.items():  # where the speech stage's time went
                result.timings_s[f"speech_{step}"] = result.timings_s.get(f"speech_{step}", 0.0) + seconds
            if long_file:
                log.info(f"{where(track)}: speech {time.perf_counter() - t0:.0f} s, "
                         f"{len(speech.segments)} segments")
        result.stages["speech"] = "done" if cfg.speech.enabled else "off"

        # from each track's own time onto the file's (an audio stream that begins after the video)
        start_s = {t.index: t.start_s for t in tracks}
        for name in ("turns", "languages", "segments", "events", "bursts"):
            setattr(result, name, [shifted(r, start_s[r.track]) for r in getattr(result, name)])
        result.segments, result.aligned_events = align.align(result.segments, result.events,
                                                             result.bursts, cfg.align)
        result.stages["align"] = "done"
        return summaries, copies


LONG_FILE_S = 600.0  # files at least this long log their progress inside the file


class _StepLog:
    """Logs a stage's inner steps (pyannote's segmentation and embeddings, the speech turns)
    every 20 %."""

    def __init__(self, label: str, stage: str):
        self.label, self.stage, self.last = label, stage, {}

    def __call__(self, step: str, fraction: float) -> None:
        fifth = int(fraction * 5)
        if fifth > self.last.get(step, -1):
            self.last[step] = fifth
            log.info(f"{self.label}: {self.stage} {step} {fifth * 20}%")


def _result_dir(case_dir: Path, sha256: str) -> Path:
    return outputs.file_folder(case_dir, sha256)


def _load_result(folder: Path) -> dict[str, Any] | None:
    path = folder / RESULT_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a damaged result is redone, never trusted


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
            folder = _result_dir(case_dir, item.media.sha256)
            previous = _load_result(folder)
            if previous and previous.get("resume_key") == key and (
                    previous["status"] == "ok" or previous.get("error_permanent")):
                item.status, item.error_kind, item.error = (previous["status"], previous.get("error_kind"),
                                                            previous.get("error"))
                summary.reused += 1
                log.info(f"{item.progress} unchanged, not redone: {item.media.path} ({item.status})")
                advance(item)
            else:
                paths = [i.media.path for i in inputs if i.media.sha256 == item.media.sha256]
                jobs.append(Job(item, folder, key, paths))

        def finish(job: Job, outcome: FileOutcome) -> None:
            _write(job.item, job.folder, outcome, cfg)
            summary.analysed += job.item.status == "ok"
            advance(job.item)

        if cfg.run.executor == "ray":
            from . import scale  # Ray is imported only here: the local executor never needs it
            scale.analyse(jobs, cfg, finish)
        else:
            for job in jobs:
                outcome = _analyse_here(analyzer, job, cfg.run.max_retries)
                finish(job, outcome)
                if outcome.worker != "lost":  # the run did not end in it; a skipped file keeps its count
                    (job.folder / BEGUN_NAME).unlink(missing_ok=True)
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


@dataclass
class Job:
    """A file to analyse: its row, its result folder, its resume key, its paths (duplicates)."""

    item: _Input
    folder: Path
    key: str
    paths: list[str]

    @property
    def media(self) -> MediaFile:
        return self.item.media


@dataclass
class FileOutcome:
    """What analysing one file gives back for the driver to write: the result dict, the
    tracks' timeline summaries and listening copies; where it ran (``worker``)."""

    data: dict[str, Any]
    summaries: list = field(default_factory=list)
    copies: list = field(default_factory=list)
    worker: str = "local"


def analyse_file(analyzer: Analyzer, media: MediaFile, probe: Probe | None, key: str, paths: list[str],
                 progress: str = "") -> FileOutcome:
    """The per-file error boundary: one file analysed, whatever happens, as a ``FileOutcome``
    (an error is a result with ``status: error``). Writes nothing: on Ray this runs in a worker
    and only the driver writes the case folder."""
    result = FileResult(sha256=media.sha256, paths=paths, size_bytes=media.size_bytes, status="ok", probe=probe,
                        resume_key=key, threads=analyzer.threads)
    started = time.perf_counter()
    summaries: list = []
    copies: list = []
    permanent = False
    try:
        with threadpoolctl.threadpool_limits(analyzer.threads):  # OpenMP and BLAS pools: the same sums everywhere
            summaries, copies = analyzer.analyse(media, probe, result, progress)
    except AudiopipeError as exc:
        result.status, result.error_kind, result.error = "error", exc.kind, str(exc)
        permanent = exc.permanent
    except MemoryError:
        result.status, result.error_kind, result.error = "error", "memory", f"out of memory analysing {media.path}"
    except Exception as exc:  # noqa: BLE001 - the per-file boundary: one file never ends the batch
        err = StageError(f"{type(exc).__name__} while analysing {media.path}: {exc}")
        log.exception(str(err))
        result.status, result.error_kind, result.error = "error", err.kind, str(err)
    result.timings_s["total"] = time.perf_counter() - started
    data = to_dict(result)
    data["error_permanent"] = permanent
    return FileOutcome(data, summaries, copies)


def _begun(folder: Path, key: str) -> int:
    """How many runs began analysing this file with this resume key and ended before its result
    was written."""
    try:
        mark = json.loads((folder / BEGUN_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    return int(mark.get("times", 0)) if mark.get("resume_key") == key else 0


def _analyse_here(analyzer: Analyzer, job: Job, max_retries: int) -> FileOutcome:
    """The local executor's analysis of one file, marked as begun in its result folder first.

    A crash in native code (a decoder, a model) or a kill for memory ends the whole process,
    and a resumed run would begin the same file again and end the same way: a file during
    which the run ended ``1 + max_retries`` times gets an error row instead (``worker_lost``,
    as a Ray worker that dies on every try), and the batch goes on past it. Stopping the run
    with Ctrl-C does not count."""
    times = _begun(job.folder, job.key)
    mark = job.folder / BEGUN_NAME
    if times > max_retries:
        return failed(job.media, job.item.probe, job.key, job.paths, "worker_lost",
                      f"the run ended while analysing {job.media.path} {times} time(s) (a crash in a decoder "
                      f"or model, or killed for lack of memory?); the rest of the batch went on. To try it "
                      f"again, delete {mark} and run the same command")
    if times:
        log.warning(f"{job.item.progress} {job.media.path}: the run ended while analysing it {times} time(s) "
                    f"before; trying again (try {times + 1} of {max_retries + 1}, then it is skipped)")
    try:
        job.folder.mkdir(parents=True, exist_ok=True)
        provenance.atomic_write_json(mark, {"resume_key": job.key, "times": times + 1})
    except OSError:
        pass  # no room for the mark: the result will not be written either, and says why
    try:
        return analyse_file(analyzer, job.media, job.item.probe, job.key, job.paths, job.item.progress)
    except KeyboardInterrupt:
        mark.unlink(missing_ok=True)  # the user stopped the run: not the file's doing
        raise


def failed(media: MediaFile, probe: Probe | None, key: str, paths: list[str], kind: str, message: str) -> FileOutcome:
    """The outcome of a file whose analysis never came back (its worker died every time)."""
    result = FileResult(sha256=media.sha256, paths=paths, size_bytes=media.size_bytes, status="error",
                        probe=probe, resume_key=key, error_kind=kind, error=message)
    return FileOutcome(dict(to_dict(result), error_permanent=False), worker="lost")


def _write(item: _Input, folder: Path, outcome: FileOutcome, cfg: Config) -> None:
    """The driver's half: the file's outputs written (atomically, ``result.json`` last), its
    row updated, one log line."""
    data, media = outcome.data, item.media
    status, kind, error = data["status"], data.get("error_kind"), data.get("error")
    try:
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
