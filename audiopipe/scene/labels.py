"""The sound-scene labels (``Label``): groups of AudioSet classes with their cuts.

A label is defined in a labels file (``configs/scene_labels.yaml``, or the user's own, named by
``scene.labels``): its AudioSet classes, what it means, the labels it is more specific than
(``over``) and those it competes with for the same frames (``rivals``). Its cut comes from the
calibration file (``configs/scene_thresholds.yaml``, written by ``train/scene.py`` from the
shared clips), else from the labels file's own ``threshold``, else ``UNCALIBRATED``; so does the
time its score must hold above the cut (``hold_s``: a blast's rumble lasts, a door slam's not)
and the running median its frame scores are smoothed with (``smooth_frames``).
"""

from __future__ import annotations

from dataclasses import dataclass
import hashlib

from ..config import config_file, read_yaml
from ..errors import ConfigError
from ..models import ModelRef

UNCALIBRATED = 0.3  # the cut of a label no calibration has seen (the untrained group score of the issue)


@dataclass(frozen=True)
class Label:
    name: str
    classes: tuple[str, ...]
    about: str
    threshold: float
    calibrated: bool  # the cut was chosen on real clips (scene_thresholds.yaml), not given
    over: tuple[str, ...] = ()
    rivals: tuple[str, ...] = ()
    hold_s: float = 0.0  # how long the score must stay above the cut for an event to begin
    smooth_frames: int = 3  # the running median its frame scores are smoothed with
    yields_to_gunshots: str = ""  # the label an event takes where it begins at a gunshot of the events stage


def load(labels: str = "scene_labels", thresholds: str | None = "scene_thresholds") -> list[Label]:
    """The labels of a labels file with their cuts, checked: every ``over``/``rivals`` name is a
    label of the file, every cut within (0, 1]."""
    path = config_file(labels)
    entries = read_yaml(path).get("labels") or {}
    chosen = read_yaml(thresholds) if thresholds else {}
    cuts, holds, smooths = (chosen.get(k) or {} for k in ("thresholds", "hold_s", "smooth_frames"))
    out = []
    for name, e in entries.items():
        if not isinstance(e, dict) or not e.get("classes"):
            raise ConfigError(f"{path}: label {name!r} needs a list of AudioSet classes")
        unknown = set(e) - {"classes", "about", "over", "rivals", "threshold", "hold_s", "smooth_frames", "yields_to_gunshots"}
        if unknown:
            raise ConfigError(f"{path}: label {name!r}: unknown key(s) {', '.join(sorted(unknown))}")
        calibrated = name in cuts
        cut = float(cuts[name] if calibrated else e.get("threshold", UNCALIBRATED))
        if not 0.0 < cut <= 1.0:
            raise ConfigError(f"{path}: label {name!r}: threshold must be within (0, 1]")
        out.append(Label(str(name), tuple(e["classes"]), str(e.get("about", "")), cut, calibrated,
                         tuple(e.get("over") or ()), tuple(e.get("rivals") or ()),
                         float(holds.get(name, e.get("hold_s", 0.0))), int(smooths.get(name, e.get("smooth_frames", 3))),
                         str(e.get("yields_to_gunshots") or "")))
    names = {lab.name for lab in out}
    for lab in out:
        stray = (set(lab.over) | set(lab.rivals) | ({lab.yields_to_gunshots} - {""})) - names
        if stray:
            raise ConfigError(f"{path}: label {lab.name!r} names unknown label(s) {', '.join(sorted(stray))}")
    return out


def check(labels: list[Label], net, named: dict[str, tuple[str, ...]] | None = None) -> None:
    """Every class a label names is one of the network's, and every label a setting names
    (``named``: setting -> labels, e.g. ``align.sound_flags``) is one of ``labels`` (a typo is
    an error at start, not a label that never fires)."""
    for lab in labels:
        try:
            net.index(list(lab.classes))
        except KeyError as exc:
            raise ConfigError(f"scene label {lab.name!r}: {exc.args[0]}") from None
    known = {lab.name for lab in labels}
    for setting, names in (named or {}).items():
        unknown = sorted(set(names) - known)
        if unknown:
            raise ConfigError(f"{setting} names {', '.join(unknown)}, not a scene label "
                              f"(the labels: {', '.join(sorted(known))})")


def labels_ref(labels: str, thresholds: str | None) -> ModelRef:
    """The labels and cuts files as the manifest records a model: their paths and SHA-256."""
    files = [config_file(labels)] + ([config_file(thresholds)] if thresholds else [])
    return ModelRef("scene_labels", str(files[0]), "audiopipe", None,
                    {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files})
