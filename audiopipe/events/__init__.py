"""Gunshot-like transients: onsets at ~1 ms resolution on the native-rate audio, features,
a gunshot score, bursts with rate of fire, and supersonic crack / muzzle blast pairs.
One module per job:

- ``audioset``: the AudioSet network (YAMNet) that hears each candidate's frame (``network``);
- ``onsets``: candidate transients, echoes removed (``candidates``, ``Candidate``);
- ``features``: what describes each candidate, the classifier's inputs;
- ``scoring``: the calibrated classifier, its cut points and categories;
- ``rhythm``: the rhythm of automatic fire, sporadic fire beside sure shots, bursts, rate of fire and fire mode;
- ``cracks``: supersonic crack / muzzle blast pairs;
- ``stage``: all of it on one track (``detect``).

The pipeline calls ``classifier`` and ``network`` once per run and ``detect`` per track.
"""

from ..models.audioset import network
from .scoring import classifier
from .stage import detect

__all__ = ["classifier", "detect", "network"]
