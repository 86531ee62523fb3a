"""The sound scene: explosions, fireworks, aircraft, sirens, screams, shouting, vehicles, crowds,
dogs, glass and music as events with a start, an end and a score (``detect``), from the
AudioSet network the events stage also uses (one load per worker). The labels and their cuts:
``labels.load``."""

from .labels import Label, check, labels_ref, load
from .stage import detect

__all__ = ["Label", "check", "detect", "labels_ref", "load"]
