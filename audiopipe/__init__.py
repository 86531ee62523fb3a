"""audiopipe: who spoke, in what language, what was said, and when shots were fired."""

__version__ = "0.1.0"
