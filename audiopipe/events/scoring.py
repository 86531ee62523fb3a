"""The gunshot classifier and its categories.

The gunshot score is a probability: a logistic regression (``Classifier``, weights in
``audiopipe/models/gunshot_classifier.json``) over what the AudioSet network heard on the
candidate's frame (the log-odds of its highest gun class, its highest speech class) and, under
a voice, the log-odds of a first stage over eight acoustic features (``acoustic``, the same
form). Trained by ``train/events.py`` on the real shots and look-alikes of shared/media (with
phone-like augmentations and real speech under them) and calibrated (Platt) on its
cross-validation grouped by source recording. Its two cut points come from that
cross-validation too, on the clips as recorded: ``possible_gunshot`` (and ``is_gunshot``:
counted in bursts and the timeline) from the lowest score at which at most 10 % of the
look-alike clips are called, ``gunshot`` from the lowest at which at most 3 % are."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np

from .. import models
from ..config import EventsConfig


def logistic(z: float) -> float:
    return float(1.0 / (1.0 + math.exp(-z)))


class Classifier:
    """The gunshot classifier: a logistic regression over the candidates' features,
    calibrated on grouped cross-validation (``train/events.py`` writes it; see its JSON for
    the data, the folds, the hearing and the figures it was chosen on). A classifier file with
    an ``acoustic`` first stage gives its log-odds to the second as ``acoustic_logit``; one
    without (``train/events.py`` of before) reads the acoustic features directly.

    score(f) = 1 / (1 + exp(-(a * (w . (v(f) - mean) / scale + b) + c))), where v(f) is the
    feature vector (``FEATURES``; log scales and bounds applied by ``vector``) and (a, c) the
    Platt calibration of the out-of-fold scores. ``threshold`` and ``possible_threshold``
    are the cut points chosen on the cross-validation.
    """

    def __init__(self, spec: dict):
        self.features: list[str] = spec["features"]
        self.mean = np.asarray(spec["mean"], np.float64)
        self.scale = np.asarray(spec["scale"], np.float64)
        self.coef = np.asarray(spec["coef"], np.float64)
        self.intercept = float(spec["intercept"])
        self.platt = (float(spec["calibration"]["a"]), float(spec["calibration"]["b"]))
        self.threshold = float(spec["threshold"])
        self.possible_threshold = float(spec["possible_threshold"])
        # how the AudioSet network hears a candidate, when the classifier reads it (None: it does not)
        self.audioset: dict | None = spec.get("audioset")
        # the first stage over the acoustic features, whose log-odds the classifier reads where a
        # voice covers the frame (``acoustic_in_speech``; None: no such stage)
        self.acoustic: Classifier | None = Classifier(spec["acoustic"]) if "acoustic" in spec else None

    @classmethod
    def load(cls, path: str | Path) -> Classifier:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def logit(self, f: dict[str, float]) -> float:
        if self.acoustic is not None:
            f = {**f, "acoustic_logit": self.acoustic.logit(f)}
        z = float(((vector(f, self.features) - self.mean) / self.scale) @ self.coef + self.intercept)
        return self.platt[0] * z + self.platt[1]

    def score(self, f: dict[str, float]) -> float:
        return logistic(self.logit(f))


def vector(f: dict[str, float], names: list[str]) -> np.ndarray:
    """The classifier's inputs: a candidate's features, some on a log scale (``log_`` names)
    and the level over the track bounded at 6 dB (louder than the voices by more says nothing more:
    slams near the phone are loud too)."""
    v = dict(f)
    v["log_flatness"] = math.log10(f["flatness"] + 1e-4)
    v["log_rise_time_ms"] = math.log10(f["rise_time_ms"])
    v["log_duration_ms"] = math.log10(max(1.0, f["duration_ms"]))
    v["level_over_track_db"] = min(6.0, f.get("level_over_track_db", 0.0))
    if "acoustic_logit" in f and "audioset_speech" in f:  # the acoustic evidence, where a voice masks the network's
        v["acoustic_in_speech"] = f["audioset_speech"] * f["acoustic_logit"]
    return np.array([float(v[n]) for n in names], np.float64)


@functools.lru_cache(maxsize=4)
def _classifier(path: str, sha256: str) -> Classifier:
    return Classifier.load(path)


def classifier(ref: models.ModelRef) -> Classifier:
    """The classifier a resolved model names (``models.resolve(cfg.classifier)``: the
    registry's, verified against its hash, or a JSON file written by ``train/events.py``)."""
    return _classifier(str(models.single_file(ref)), next(iter(ref.sha256.values())))


def thresholds(cfg: EventsConfig, model: Classifier) -> tuple[float, float]:
    """(gunshot, possible gunshot) thresholds: the config's where set, else the model's. An
    event from the possible threshold up is counted (``is_gunshot``: bursts, timeline)."""
    t = model.threshold if cfg.gunshot_threshold is None else cfg.gunshot_threshold
    p = model.possible_threshold if cfg.possible_threshold is None else cfg.possible_threshold
    return t, min(p, t)


def category(score: float, cut: tuple[float, float]) -> str:
    return "gunshot" if score >= cut[0] else "possible_gunshot" if score >= cut[1] else "other_impulsive"


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1.0 - 1e-9)
    return math.log(p / (1.0 - p))


