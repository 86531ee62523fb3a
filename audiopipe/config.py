"""One configuration object for a run: loaded from ``audiopipe/configs/*.yaml``, validated once,
hashed for the resume key, and written whole into the manifest.

A preset file holds only the keys it changes; everything else comes from the defaults
declared here. Unknown keys are an error (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent  # a checkout's root (or, installed, the folder that holds the package)
CONFIGS_DIR = PACKAGE_ROOT / "configs"  # the presets, package data
MODELS_ENV = "AUDIOPIPE_MODELS_DIR"


def default_models_dir() -> Path:
    """Where installed model weights live when neither ``--models-dir`` nor ``run.models_dir``
    says: ``$AUDIOPIPE_MODELS_DIR``; else, run from a checkout, its ``models/`` (where ``make
    install`` puts them); else the per-user data folder (``$XDG_DATA_HOME/audiopipe/models``,
    by default ``~/.local/share/audiopipe/models``)."""
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV]).expanduser()
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "models").is_dir():
        return REPO_ROOT / "models"
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "audiopipe" / "models"


@dataclass(frozen=True)
class IngestConfig:
    extensions: tuple[str, ...] = (
        ".mp4", ".mov", ".mkv", ".webm", ".avi", ".3gp", ".m4v", ".ts",
        ".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".amr", ".wma",
    )
    max_file_bytes: int = 20 * 1024**3  # larger files are skipped with a clear reason
    model_rate_hz: int = 16000
    # a native-rate track above this many bytes of float32 samples is decoded to an unlinked
    # scratch file and memory-mapped (0 = always in memory); scratch_dir None = system temp
    spill_native_bytes: int = 512 * 1024**2
    scratch_dir: str | None = None


@dataclass(frozen=True)
class EventsConfig:
    enabled: bool = True
    hop_ms: float = 1.0
    window_ms: float = 2.0
    highpass_hz: float = 2000.0
    background_window_s: float = 0.5  # running median of the envelope, the adaptive floor
    min_rise_db: float = 15.0  # envelope rise over the background needed for a candidate
    rise_span_ms: float = 6.0  # ... within this many milliseconds
    min_level_dbfs: float = -55.0  # absolute floor for a candidate's peak (high-passed)
    min_gap_ms: float = 50.0  # two onsets closer than this are one event (1200 rpm max)
    echo_drop_db: float = 8.0  # an onset this far below a recent event's peak ...
    echo_window_s: float = 0.6  # ... within this time of it is taken as its echo
    classifier: str = "gunshot-classifier"  # a registry model or a JSON file of train/events.py
    audioset: str = "yamnet"  # the AudioSet network that hears each candidate (a registry model or its folder)
    # the calibrated score's cut points; None: the classifier's, chosen on its grouped cross-validation
    gunshot_threshold: float | None = None  # category "gunshot" from here
    possible_threshold: float | None = None  # "possible_gunshot" (and is_gunshot: counted in bursts) from here
    block_s: float = 60.0  # audio is read in blocks this long (memory bound for long files)
    # quiet taken before a track's first sample, so that a shot on a file's first samples is found;
    # 0: the file continues a recording (a long recording split into files: no rise from quiet at the cut)
    lead_in_s: float = 0.5
    track_level_percentile: float = 90.0  # the track's loud level (50-ms frames) for level_over_track_db
    rhythm_bonus: float = 4.0  # z added to events that keep the rhythm of automatic fire; 0 = off
    rhythm_min_score: float = 0.02  # ... each at least this score
    rhythm_anchor_min_score: float = 0.35  # ... with a sure gunshot among them, or every one at least this score
    rhythm_max_spread_db: float = 6.0  # ... and the rounds of one train this close in peak level
    # sporadic fire: a near miss (at least sporadic_min_score) this close to a sure gunshot, and at most
    # sporadic_max_drop_db softer than it, is raised to the possible cut (near_gunfire); 0 = off
    sporadic_window_s: float = 3.0
    sporadic_min_score: float = 0.35
    sporadic_max_drop_db: float = 3.0
    burst_gap_s: float = 0.5  # shots closer than this belong to one burst
    auto_min_shots: int = 3
    auto_max_cv: float = 0.25  # coefficient of variation of the intervals for "automatic"
    auto_interval_s: tuple[float, float] = (0.04, 0.2)  # cyclic rates 300-1500 rpm
    crack_min_centroid_hz: float = 5000.0
    crack_max_duration_ms: float = 30.0
    crack_max_gap_s: float = 1.0
    crack_max_drop_db: float = 6.0  # a crack is at most this much quieter than its blast
    speed_of_sound_m_s: float = 343.0
    bullet_speed_m_s: tuple[float, float] = (700.0, 1000.0)


@dataclass(frozen=True)
class SpeechConfig:
    enabled: bool = True
    engine: str = "faster-whisper"  # or "openai-whisper"
    model: str = "whisper-base-ct2"  # a registry name, a local directory, or a hub name
    device: str = "cpu"  # "cpu", "cuda", "auto"
    compute_type: str = "int8"  # CTranslate2 type: int8 on CPU, float16 on GPU
    cpu_threads: int = 0  # 0: let the engine decide
    beam_size: int = 5
    language: str | None = None  # force one language for every turn
    languages: tuple[str, ...] = ()  # restrict detection to these
    language_threshold: float = 0.5
    min_certain_turn_s: float = 1.0
    # language evidence per turn: its first language_evidence_max_s, zero samples appended up to
    # language_min_window_s (30 = Whisper's whole window: slower, a little more accurate on short turns)
    language_evidence_max_s: float = 10.0
    language_min_window_s: float = 3.0
    # one speaker's consecutive turns with pauses up to this are also heard together (language.stretches)
    language_join_gap_s: float = 0.5
    # the decision over the file (language.decide): a turn's evidence counts fully from this length ...
    language_evidence_full_s: float = 3.0
    language_switch_cost: float = 1.75  # nats for one speaker to change language between turns
    language_file_prior_weight: float = 1.0  # how much a speaker's first turn leans on the file's languages
    # ... the other speakers' languages, that is, mixed with a flat prior at this share (never the
    # speaker's own turns: each turn's evidence counts once)
    language_prior_share: float = 0.25
    language_gunfire_weight: float = 0.5  # ... and at this weight when gunshots fall inside the turn
    language_switch_min_prob: float = 0.8  # a turn where its speaker changes language is uncertain below this
    # decoding: consecutive turns of one language packed into windows of at most window_s
    # (gaps between them cut out, pack_pad_s of context kept around each turn); batch_size
    # windows (or turns, for the language evidence) go through the model together (1 on a
    # CPU, where batching gains nothing; 8-16 on a GPU)
    window_s: float = 30.0
    pack_pad_s: float = 0.2
    batch_size: int = 1
    translate: bool = True
    initial_prompt: str | None = None
    hotwords: str | None = None
    vad_threshold: float = 0.35
    vad_min_speech_ms: int = 250
    vad_min_silence_ms: int = 1000
    vad_pad_ms: int = 200
    max_turn_s: float = 30.0
    mask_gunshots: bool = True  # attenuate detected shots before VAD and decoding
    mask_ms: float = 60.0
    text_lid: bool = True
    flag_compression_ratio: float = 2.4
    flag_avg_logprob: float = -1.0
    flag_no_speech_prob: float = 0.6


@dataclass(frozen=True)
class DiarizationConfig:
    enabled: bool = True
    # a whole pyannote pipeline instead of the offline one: a hub name (online, with HF_TOKEN
    # for gated ones, e.g. pyannote/speaker-diarization-community-1) or a local folder
    # holding its config.yaml; None: segmentation-3.0 + CAM++ below, offline
    pipeline: str | None = None
    segmentation_model: str = "pyannote-segmentation-3.0"
    embedding_model: str = "campplus-cn-en-common"
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    by_channel: bool = False  # stereo calls: one speaker per channel
    clustering_method: str = "centroid"
    clustering_threshold: float = 0.9
    min_cluster_size: int = 3  # at most the chunks one turn of min_active_s spans (diarize.BriefSpeakerClustering)
    min_active_s: float = 0.5  # clean speech a (chunk, speaker) embedding needs to be clustered (pyannote: 2 s)
    min_duration_off_s: float = 0.0
    embedding_exclude_overlap: bool = False
    resegment_window_s: float = 1.5  # 0 turns the re-segmentation pass off
    resegment_hop_s: float = 0.5
    resegment_margin: float = 0.0
    # a turn too short to scan (under two windows) goes to another speaker when its own
    # CAM++ embedding is this much more like that speaker's centroid than its own; 0 = off
    resegment_short_margin: float = 0.1
    resegment_split_similarity: float = 0.3  # a turn is cut where its two sides are less alike; 0 = no cuts
    speaker_split_similarity: float = 0.4  # a speaker is split where groups of its turns are less alike; 0 = off
    embedding_batch_size: int = 16
    segmentation_batch_size: int = 16
    segmentation_step: float = 0.25  # pyannote's 10-s windows every step x 10 s (each window's speakers embedded)
    # loud sounds that are not speech, turned down to the level of the speech around them in what
    # diarization hears (diarize.loud): the events stage's gunshot-like events, and the scene
    # stage's sound events of these labels ([] and false: nothing turned down)
    turn_down_shots: bool = True
    turn_down_sounds: tuple[str, ...] = ("explosion", "fireworks", "gunfire", "glass", "aircraft", "siren",
                                         "vehicle", "dog")


@dataclass(frozen=True)
class SceneConfig:
    """The sound scene: explosions, aircraft, sirens, screams ... (``audiopipe.scene``)."""

    enabled: bool = True
    labels: str = "scene_labels"  # a labels file of audiopipe/configs by name, or a path
    thresholds: str = "scene_thresholds"  # the calibrated cuts (train/scene.py); a name or a path
    audioset: str = "yamnet"  # the AudioSet network (shared with the events stage: one load)
    hop_s: float = 0.24  # a 0.975-s frame every hop_s
    off_ratio: float = 0.5  # an event lasts while its score stays above this share of its cut
    merge_gap_s: float = 1.0  # events closer than this (a frame's length) are one sound: of a label, or of labels in a rule
    silence_dbfs: float = -60.0  # a frame whose samples never reach this level is not run


@dataclass(frozen=True)
class SyncConfig:
    """Files that hear the same moments, on one clock (``audiopipe.sync``)."""

    enabled: bool = True
    min_votes: int = 20  # landmark pairs agreeing on an offset for two tracks to be one moment
    min_confidence: float = 0.04  # envelope correlation at the refined offset (two microphones: 0.05-0.5)
    min_overlap_s: float = 3.0
    same_recording_level: float = 0.8  # level contours agreeing this well: one recording (a copy); else another device


@dataclass(frozen=True)
class AlignConfig:
    window_s: float = 5.0  # events within this distance of a turn are listed with it
    sound_flags: tuple[str, ...] = ("explosion", "scream")  # speech over these sounds is flagged during_<label>


@dataclass(frozen=True)
class OutputsConfig:
    xlsx: bool = True
    timeline_png: bool = True
    max_cell_chars: int = 32767
    max_sheet_rows: int = 1_048_575  # a worksheet's rows but the header: a longer table goes on "Words (2)", ...
    review_page: bool = True  # review.html per case and per file
    audio_copy: str = "opus"  # the page's listening copy of each track: opus (WebM), mp3 or none
    audio_copy_kbps: int = 48


@dataclass(frozen=True)
class RunConfig:
    """Where files are analysed; none of it changes a result (not in the config hash)."""

    executor: str = "local"  # or "ray": files as tasks of Ray actors, the driver writes
    ray_address: str | None = None  # None: a Ray cluster on this machine; "HOST:PORT": join that one
    workers: int = 0  # Ray actors; 0: as many as the cluster's CPUs (GPUs) allow
    cpus_per_worker: float = 2.0
    gpus_per_worker: float = 0.0  # > 0: each actor holds that share of a GPU (speech.device cuda or auto)
    # a file whose worker dies (Ray), or during which the run ends (local: counted across
    # resumed runs), is tried again this many times, then an error row
    max_retries: int = 2
    # installed model weights (registry names resolve here); None: config.default_models_dir()
    models_dir: str | None = None


@dataclass(frozen=True)
class Config:
    preset: str = "default"
    ingest: IngestConfig = field(default_factory=IngestConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    scene: SceneConfig = field(default_factory=SceneConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    diarization: DiarizationConfig = field(default_factory=DiarizationConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def hash(self) -> str:
        """SHA-256 of the settings that change results (the preset name does not)."""
        d = self.to_dict()
        d.pop("preset")
        d["outputs"] = None  # outputs are rebuilt from stored results, not part of the key
        d.pop("run")  # where a file ran does not change its result
        blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()

    def replace(self, section: str, **changes: Any) -> "Config":
        """A copy with some keys of one section changed (validated like a YAML file)."""
        merged = dataclasses.asdict(getattr(self, section)) | changes
        return dataclasses.replace(self, **{section: _build(_SECTIONS[section], merged, section)})


_SECTIONS = {
    "ingest": IngestConfig,
    "events": EventsConfig,
    "scene": SceneConfig,
    "sync": SyncConfig,
    "speech": SpeechConfig,
    "diarization": DiarizationConfig,
    "align": AlignConfig,
    "outputs": OutputsConfig,
    "run": RunConfig,
}


def _coerce(value: Any, default: Any, where: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if default and all(isinstance(d, (int, float)) for d in default):
            return tuple(float(v) for v in value)
        return tuple(value)
    if isinstance(default, float):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if isinstance(default, int) or default is None and isinstance(value, int):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    return value


def _build(cls: type, values: dict[str, Any], section: str) -> Any:
    defaults = cls()
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [{section}]: {', '.join(sorted(unknown))}")
    kwargs = {k: _coerce(v, getattr(defaults, k), f"{section}.{k}") if v is not None else None
              for k, v in values.items()}
    return cls(**kwargs)


def _validate(cfg: Config) -> None:
    s, e = cfg.speech, cfg.events
    if s.engine not in ("faster-whisper", "openai-whisper"):
        raise ConfigError(f"speech.engine must be faster-whisper or openai-whisper, not {s.engine!r}")
    if not 0.0 <= s.language_prior_share <= 1.0:
        raise ConfigError("speech.language_prior_share must be within [0, 1]")
    if not 0.0 <= s.language_threshold <= 1.0:
        raise ConfigError("speech.language_threshold must be within [0, 1]")
    if s.batch_size < 1:
        raise ConfigError("speech.batch_size must be 1 or more")
    if not 1.0 <= s.window_s <= 30.0 or s.pack_pad_s < 0 or 2 * s.pack_pad_s >= s.window_s:
        raise ConfigError("speech.window_s must be within [1, 30] s (Whisper reads 30 s) and above 2 x pack_pad_s")
    if not 0.1 <= s.language_min_window_s <= 30.0 or s.language_evidence_max_s <= 0:
        raise ConfigError("speech.language_min_window_s must be within [0.1, 30] s, language_evidence_max_s > 0")
    if s.language_switch_cost < 0 or s.language_evidence_full_s <= 0 or s.language_join_gap_s < 0:
        raise ConfigError("speech.language_switch_cost and language_join_gap_s must be >= 0, "
                          "language_evidence_full_s > 0")
    if s.device not in ("cpu", "cuda", "auto"):
        raise ConfigError(f"speech.device must be cpu, cuda or auto, not {s.device!r}")
    for name in ("gunshot_threshold", "possible_threshold"):
        value = getattr(e, name)
        if value is not None and (not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0):
            raise ConfigError(f"events.{name} must be within [0, 1] (or null: the classifier's)")
    if cfg.outputs.audio_copy not in ("opus", "mp3", "none") or not 8 <= cfg.outputs.audio_copy_kbps <= 320:
        raise ConfigError("outputs.audio_copy must be opus, mp3 or none, and outputs.audio_copy_kbps within [8, 320]")
    r = cfg.run
    if not r.executor.isidentifier() or r.workers < 0 or r.cpus_per_worker <= 0 or r.gpus_per_worker < 0 \
            or r.max_retries < 0:
        raise ConfigError("run.executor must name an executor (local, ray); run.workers >= 0, cpus_per_worker > 0, "
                          "gpus_per_worker >= 0, max_retries >= 0")
    if r.executor == "ray" and r.gpus_per_worker > 0 and s.device == "cpu":
        raise ConfigError("run.gpus_per_worker holds GPUs for each Ray worker: set speech.device to cuda "
                          "(--device cuda) to use them")
    if e.hop_ms <= 0 or e.window_ms < e.hop_ms:
        raise ConfigError("events.hop_ms must be > 0 and events.window_ms >= events.hop_ms")
    n = cfg.scene
    if not 0.05 <= n.hop_s <= 0.975 or not 0.0 < n.off_ratio <= 1.0 or n.merge_gap_s < 0:
        raise ConfigError("scene.hop_s must be within [0.05, 0.975] s, off_ratio within (0, 1], "
                          "merge_gap_s >= 0")
    if not 0.0 <= e.lead_in_s <= 10.0:
        raise ConfigError("events.lead_in_s must be within [0, 10] s")
    if len(e.bullet_speed_m_s) != 2 or min(e.bullet_speed_m_s) <= e.speed_of_sound_m_s:
        raise ConfigError("events.bullet_speed_m_s must be two speeds above the speed of sound")


def from_dict(data: dict[str, Any], preset: str = "custom") -> Config:
    data = dict(data or {})
    unknown = set(data) - set(_SECTIONS) - {"preset"}
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(sorted(unknown))}")
    sections = {name: _build(cls, data.get(name) or {}, name) for name, cls in _SECTIONS.items()}
    cfg = Config(preset=str(data.get("preset", preset)), **sections)
    _validate(cfg)
    return cfg


def config_file(name_or_path: str | Path) -> Path:
    """A file of ``audiopipe/configs`` by name (``default``, ``scene_labels``), or a path."""
    path = Path(name_or_path)
    return path if path.suffix else CONFIGS_DIR / f"{name_or_path}.yaml"


def read_yaml(name_or_path: str | Path) -> dict[str, Any]:
    """The mapping a YAML file of ``audiopipe/configs`` (by name) or a path holds; a clear
    ``ConfigError`` where it is missing, not YAML, or not a mapping."""
    path = config_file(name_or_path)
    if not path.is_file():
        raise ConfigError(f"config not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load(name_or_path: str | Path = "default") -> Config:
    """Load a preset by name (``audiopipe/configs/<name>.yaml``) or a YAML file by path."""
    return from_dict(read_yaml(name_or_path), preset=config_file(name_or_path).stem)
