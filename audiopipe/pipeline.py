"""The per-file analysis: the only place that knows the order of the stages.

Per file: decode (ingest) -> gunshot-like events -> sound scene -> speech turns (diarization or VAD) ->
language per turn -> transcription -> alignment, and the timeline summary and listening copy
the outputs need, and each track's sync fingerprint (``Analyzer.analyse``). ``analyse_file`` is the per-file error boundary: an
``AudiopipeError`` (or an OS error such as a full disk) becomes a result with ``status:
error``, and the batch goes on. It writes nothing: the batch loop (``audiopipe.batch``) writes
the case folder, and its executors (local, Ray) call this module, never the other way round.
Records: ``Job`` (a file to analyse), ``FileOutcome`` (what comes back).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import threadpoolctl

from . import align, events, ingest, models, outputs, scene, sync
from .config import Config
from .errors import AudiopipeError, StageError
from .records import FileResult, MediaFile, Probe, shifted, to_dict

log = logging.getLogger("audiopipe")


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
        folder = Path(cfg.run.models_dir).expanduser() if cfg.run.models_dir else None

        def resolve(name: str) -> models.ModelRef:
            return models.resolve(name, folder)

        if cfg.diarization.enabled and cfg.diarization.pipeline:
            self.model_refs["diarization"] = resolve(cfg.diarization.pipeline)
        elif cfg.diarization.enabled:
            self.model_refs["segmentation"] = resolve(cfg.diarization.segmentation_model)
            self.model_refs["embedding"] = resolve(cfg.diarization.embedding_model)
        if cfg.events.enabled:
            self.model_refs["events"] = resolve(cfg.events.classifier)
            self.events_model = events.classifier(self.model_refs["events"])
            self.model_refs["audioset"] = resolve(cfg.events.audioset)
            self.audioset = events.network(self.model_refs["audioset"])
        if cfg.scene.enabled:
            self.scene_labels = scene.load(cfg.scene.labels, cfg.scene.thresholds)
            ref = resolve(cfg.scene.audioset)
            if ref != self.model_refs.get("audioset"):
                self.model_refs["scene_audioset"] = ref
            self.scene_net = events.network(ref)  # the events stage's network when the same model: one load
            scene.check(self.scene_labels, self.scene_net,
                        {"align.sound_flags": cfg.align.sound_flags,
                         "diarization.turn_down_sounds": cfg.diarization.turn_down_sounds})
            self.model_refs["scene_labels"] = scene.labels_ref(cfg.scene.labels, cfg.scene.thresholds)
        if cfg.speech.enabled:
            self.model_refs["speech"] = resolve(models.for_engine(cfg.speech.model, cfg.speech.engine))
            confusions = models.confusions_for(cfg.speech.model)
            if confusions:
                self.model_refs["language_confusions"] = resolve(confusions)
            if cfg.speech.text_lid:
                self.model_refs["text_lid"] = resolve("fasttext-lid176")

    def _pin_threads(self) -> None:
        """Torch (diarization, openai-whisper) on ``threads`` threads, as CTranslate2 is."""
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(self.threads)

    @property
    def model_hashes(self) -> dict[str, dict[str, str]]:
        return {k: (r.sha256 or {"name": r.path}) for k, r in self.model_refs.items()}

    def speech(self):
        if self._speech is None:
            from . import speech  # heavy imports only when speech is on

            self._speech = speech.load_engine(dataclasses.replace(self.cfg.speech, cpu_threads=self.threads),
                                              self.model_refs["speech"], self.model_refs.get("text_lid"),
                                              self.model_refs.get("language_confusions"))
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

    def diarize(self, track, shots: list, result: FileResult, progress=None):
        """Speaker turns of one track, or None (VAD turns) when diarization is off or fails. What
        the events and scene stages found loud and not speech (``shots``: the track's gunshot-like
        events; the scene's sound events in ``result``) is turned down in what it hears
        (``diarize.loud``). progress: passed on to the diarizer (``_StepLog`` for long files)."""
        if not self.cfg.diarization.enabled:
            result.stages["diarization"] = "off (VAD regions used as turns)"
            return None
        d = self.cfg.diarization
        shots_s = [e.time_s for e in shots] if d.turn_down_shots else []
        sounds_s = [(n.start_s, n.end_s) for n in result.sounds
                    if n.track == track.index and n.label in d.turn_down_sounds]
        try:
            diarizer = self.diarizer()
            from .diarize import loud  # with the diarizer: torch and pyannote only when diarization is on

            turns = diarizer(track, progress=progress, loud_spans_s=loud.spans_s(shots_s, sounds_s))
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed diarization falls back, the file goes on
            result.stages["diarization"] = f"failed: {type(exc).__name__}: {exc}"
            result.flags.append("diarization_failed_vad_turns")
            log.warning(f"diarization failed on track {track.index}; VAD regions used instead: {exc}")
            return None
        result.stages["diarization"] = "done"
        return turns

    def analyse(self, media: MediaFile, probed: Probe, result: FileResult, progress: str = ""
                ) -> tuple[list, list, list]:
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
                evs, bursts = events.detect(track, cfg.events, self.events_model, first_burst_id=len(result.bursts),
                                              net=self.audioset)
                result.events.extend(evs)
                result.bursts.extend(bursts)
            result.timings_s["events"] = time.perf_counter() - t0
            result.stages["events"] = "done"
        else:
            result.stages["events"] = "off"
        if cfg.scene.enabled:
            t0 = time.perf_counter()
            for track in tracks:
                shots_s = [e.time_s for e in result.events if e.track == track.index and e.category == "gunshot"]
                result.sounds.extend(scene.detect(track, cfg.scene, self.scene_net, self.scene_labels, shots_s))
            result.timings_s["scene"] = time.perf_counter() - t0
            result.stages["scene"] = "done"
        else:
            result.stages["scene"] = "off"
        prints = []
        if cfg.sync.enabled:  # what lines this file up with others of the same moment (matched by the batch)
            t0 = time.perf_counter()
            prints = [sync.compute(t.audio_16k, t.start_s) for t in tracks]
            result.timings_s["sync_fingerprint"] = time.perf_counter() - t0
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
                     f"events {result.timings_s.get('events', 0.0):.0f} s, scene {result.timings_s.get('scene', 0.0):.0f} s")
        for track in tracks:
            t0 = time.perf_counter()
            shots = [e for e in result.events if e.track == track.index and e.is_gunshot]
            speaker_turns = self.diarize(track, shots, result, step_log(track, "diarization"))
            result.timings_s["diarization"] = result.timings_s.get("diarization", 0.0) + time.perf_counter() - t0
            if long_file and cfg.diarization.enabled:
                log.info(f"{where(track)}: diarization {time.perf_counter() - t0:.0f} s, "
                         f"{len(speaker_turns or [])} turns")
            if not cfg.speech.enabled:
                result.turns.extend(speaker_turns or [])
                continue
            t0 = time.perf_counter()
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
        for name in ("turns", "languages", "segments", "events", "bursts", "sounds"):
            setattr(result, name, [shifted(r, start_s[r.track]) for r in getattr(result, name)])
        result.segments, result.aligned_events = align.align(result.segments, result.events,
                                                             result.bursts, cfg.align, result.sounds)
        result.stages["align"] = "done"
        return summaries, copies, prints


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


@dataclass(frozen=True)
class Job:
    """A file to analyse: what it is, where its results go, its resume key, every path it has
    in the evidence folder (duplicates), and its place in the batch ("[i/n]", for the log)."""

    media: MediaFile
    probe: Probe | None
    folder: Path
    key: str
    paths: list[str]
    progress: str = ""


@dataclass
class FileOutcome:
    """What analysing one file gives back for the driver to write: the result dict, the
    tracks' timeline summaries, listening copies and sync fingerprints; where it ran (``worker``)."""

    data: dict[str, Any]
    summaries: list = field(default_factory=list)
    copies: list = field(default_factory=list)
    worker: str = "local"
    prints: list = field(default_factory=list)  # sync.Fingerprint per track


def analyse_file(analyzer: Analyzer, job: Job) -> FileOutcome:
    """The per-file error boundary: one file analysed, whatever happens, as a ``FileOutcome``
    (an error is a result with ``status: error``). Writes nothing: on Ray this runs in a worker
    and only the driver writes the case folder."""
    media = job.media
    result = FileResult(sha256=media.sha256, paths=job.paths, size_bytes=media.size_bytes, status="ok",
                        probe=job.probe, resume_key=job.key, threads=analyzer.threads)
    started = time.perf_counter()
    summaries: list = []
    copies: list = []
    prints: list = []
    permanent = False
    try:
        with threadpoolctl.threadpool_limits(analyzer.threads):  # OpenMP and BLAS pools: the same sums everywhere
            summaries, copies, prints = analyzer.analyse(media, job.probe, result, job.progress)
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
    return FileOutcome(data, summaries, copies, prints=prints)



def failed(job: Job, kind: str, message: str) -> FileOutcome:
    """The outcome of a file whose analysis never came back (its worker died every time, or
    the run ended in it too often)."""
    result = FileResult(sha256=job.media.sha256, paths=job.paths, size_bytes=job.media.size_bytes, status="error",
                        probe=job.probe, resume_key=job.key, error_kind=kind, error=message)
    return FileOutcome(dict(to_dict(result), error_permanent=False), worker="lost")
