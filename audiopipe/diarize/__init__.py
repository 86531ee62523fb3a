"""Diarization: who spoke when, with pyannote.audio, fully offline. One module per job:

- ``stage``: pyannote's pipeline and its offline wiring (``load``, ``load_named``, ``Diarizer``);
- ``campplus``: the CAM++ speaker embedding as a pyannote ``Model``;
- ``clustering``: agglomerative clustering that keeps brief speakers, and its settings;
- ``resegment``: re-segmentation after pyannote (``Resegmenter``);
- ``speakers``: speaker labels over turns, and one label on two voices split.

pyannote.audio sends usage metrics by default; ``PYANNOTE_METRICS_ENABLED=0`` is set here,
before pyannote is first imported, so that evidence never leaves the machine.
The pipeline calls ``load`` (or ``load_named``) once per run and the ``Diarizer`` per track.
"""

import os
import warnings

os.environ["PYANNOTE_METRICS_ENABLED"] = "0"  # before any pyannote import: no telemetry

with warnings.catch_warnings():
    # torchcodec (a pyannote dependency) warns that it finds no FFmpeg: audiopipe decodes itself
    warnings.simplefilter("ignore")
    import pyannote.audio  # noqa: F401 - imported here first, its warnings silenced

from .stage import Diarizer, load, load_named  # noqa: E402 - after the environment is set

__all__ = ["Diarizer", "load", "load_named"]
