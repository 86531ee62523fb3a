"""The AudioSet network (YAMNet, 521 classes) heard on 0.975-s frames of 16-kHz audio
(``AudioSet``, ``network``).

YAMNet (Google, Apache-2.0; MobileNet-v1 trained on AudioSet) is the registry model
``yamnet``: a TensorFlow Lite file and its class map, run with LiteRT (``ai-edge-litert``) on
the CPU. The file's graph has a fixed batch of one frame (its XNNPack delegate refuses
another shape), so a batch of frames is run one after the other on one interpreter: about
0.6 ms a frame on one core. LiteRT has no CUDA runtime: with ``--device cuda`` this network
still runs on the CPU (the speech and diarization models use the GPU).

Where a frame reaches before a track's first sample or after its last, the missing part is
faint quiet (``LEAD_IN_RMS``, the quiet the events stage's onset detector takes before a track
too), never zeros: digital silence next to a sound looks like an edit to a network trained on
real audio. The events stage (each gunshot candidate) and the scene stage (a grid of frames)
share one network per process (``network``).
"""

from __future__ import annotations

import csv
import functools
import threading
from pathlib import Path

import numpy as np

from . import ModelRef

LEAD_IN_RMS = 1e-4  # level of the faint quiet a frame is padded with (the events stage's lead-in too)
RATE_HZ = 16000
FRAME = 15600  # samples of one frame (0.975 s at 16 kHz)
FRAME_S = FRAME / RATE_HZ
BATCH = 256  # frames cut and scored at a time (16 MB)
#: the faint quiet a frame is padded with beyond the track, and after a louder onset (the same
#: every time; made once, not per frame)
QUIET_BEFORE = LEAD_IN_RMS * np.random.default_rng(0).standard_normal(FRAME).astype(np.float32)
QUIET_AFTER = LEAD_IN_RMS * np.random.default_rng(1).standard_normal(FRAME).astype(np.float32)


class AudioSet:
    """YAMNet from a resolved registry model (its folder holds ``yamnet.tflite`` and
    ``yamnet_class_map.csv``). ``classes``: the 521 display names, by index."""

    def __init__(self, folder: str | Path, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter  # the runtime only where the stage runs

        folder = Path(folder)
        with open(folder / "yamnet_class_map.csv", encoding="utf-8") as f:
            self.classes: list[str] = [r["display_name"] for r in csv.DictReader(f)]
        self._interpreter = Interpreter(model_path=str(folder / "yamnet.tflite"), num_threads=threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._scores = self._interpreter.get_output_details()[0]["index"]
        self._lock = threading.Lock()  # one interpreter, one frame at a time

    def index(self, names: list[str]) -> list[int]:
        """Rows of the class map for display names (a name not in it is an error)."""
        missing = [n for n in names if n not in self.classes]
        if missing:
            raise KeyError(f"not AudioSet classes of this model: {missing}")
        return [self.classes.index(n) for n in names]

    def scores(self, frames: np.ndarray) -> np.ndarray:
        """Class scores of frames. frames: float32, shape = (n, 15600), 16 kHz in [-1, 1].
        Returns float32, shape = (n, 521)."""
        out = np.empty((frames.shape[0], len(self.classes)), np.float32)
        with self._lock:
            for i, frame in enumerate(frames):
                self._interpreter.set_tensor(self._input, frame[None, :].astype(np.float32, copy=False))
                self._interpreter.invoke()
                out[i] = self._interpreter.get_tensor(self._scores)[0]
        return out

    def on_onsets(self, audio_16k: np.ndarray, times_s: list[float], onset_at_s: float, peak: float | None,
                  until_s: list[float | None] | None = None) -> np.ndarray:
        """Class scores of one frame per onset, the onset ``onset_at_s`` into its frame, each
        frame scaled to the peak ``peak`` (None: as recorded). ``until_s``: per onset, how long
        after it the frame is heard (the rest replaced by quiet; None: to the frame's end).
        Frames are cut ``BATCH`` at a time, so memory stays bounded on an hour of candidates.
        Returns shape = (n, 521)."""
        out = np.zeros((len(times_s), len(self.classes)), np.float32)
        until_s = until_s or [None] * len(times_s)
        for a in range(0, len(times_s), BATCH):
            frames = np.stack([cut(audio_16k, t - onset_at_s) for t in times_s[a: a + BATCH]])
            for frame, until in zip(frames, until_s[a: a + BATCH]):
                if until is not None:
                    silence_after(frame, onset_at_s + until)
            if peak is not None:
                frames *= peak / (np.abs(frames).max(axis=1, keepdims=True) + 1e-9)
            out[a: a + frames.shape[0]] = self.scores(frames)
        return out

    def top(self, scores: np.ndarray, k: int = 3) -> str:
        """The ``k`` highest classes with their scores, e.g. ``Fireworks 0.41; Explosion 0.22; ...``."""
        best = np.argsort(-scores, kind="stable")[:k]
        return "; ".join(f"{self.classes[i]} {scores[i]:.2f}" for i in best)


def to_16k(audio_native: np.ndarray, rate_hz: int) -> np.ndarray:
    """Mono 16-kHz float32 of native-rate audio, shape = (n_channels, n_samples) (for audio made
    in memory; ingest gives every track its own 16-kHz mono)."""
    from math import gcd

    from scipy.signal import resample_poly

    mono = np.asarray(audio_native, np.float64).mean(axis=0)
    g = gcd(int(rate_hz), RATE_HZ)
    return resample_poly(mono, RATE_HZ // g, int(rate_hz) // g).astype(np.float32)


def silence_after(frame: np.ndarray, at_s: float) -> None:
    """Replace a frame's audio from ``at_s`` on with faint quiet (a 5-ms fade first), in place."""
    a = max(0, int(round(at_s * RATE_HZ)))
    fade = np.linspace(1.0, 0.0, min(80, max(0, frame.size - a)), dtype=np.float32)
    frame[a: a + fade.size] *= fade
    rest = frame.size - a - fade.size
    if rest > 0:
        frame[a + fade.size:] = QUIET_AFTER[:rest]


def cut(audio_16k: np.ndarray, start_s: float) -> np.ndarray:
    """One frame of a 16-kHz mono track starting at ``start_s``, padded with faint quiet
    (the same every time) where it reaches beyond the track. Returns float32, shape = (15600,)."""
    a = int(round(start_s * RATE_HZ))
    frame = QUIET_BEFORE.copy()
    lo, hi = max(0, a), min(audio_16k.size, a + FRAME)
    if hi > lo:
        frame[lo - a: hi - a] = audio_16k[lo:hi]
    return frame


@functools.lru_cache(maxsize=2)
def _network(folder: str, digest: str) -> AudioSet:
    return AudioSet(folder)


def network(ref: ModelRef) -> AudioSet:
    """The network of a resolved model (``models.resolve("yamnet")``), loaded once per process."""
    return _network(ref.path, "".join(sorted(ref.sha256.values())))
