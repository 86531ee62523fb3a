"""Ingest: walk the evidence folder, hash, probe and decode every audio track. One module per job:

- ``files``: the media files under a folder, what is skipped, sizes and SHA-256;
- ``container``: what a file is by its own bytes (its format against its name, a WAV's
  declared length, bytes after the container's end: ``inspect``);
- ``media``: container and stream facts (``probe``);
- ``tracks``: every audio track decoded, 16 kHz mono and native rate (``decode``, ``load``).

Originals are only ever opened for reading; nothing is written inside the evidence folder.
"""

from .files import Skipped, check_size, printable, sha256_file, walk
from .media import probe
from .tracks import decode, load

__all__ = ["Skipped", "check_size", "decode", "load", "printable", "probe", "sha256_file", "walk"]
