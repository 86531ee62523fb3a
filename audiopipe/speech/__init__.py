"""The speech stage, one module per job:

- ``language``: what each turn says of its language, and what is decided over the file;
- ``engine``: the engines' one interface and the choice of engine (``faster_whisper_engine``,
  ``openai_whisper_engine``);
- ``decoding``: Whisper's decoding rules, shared by both engines;
- ``windows``: turns packed into decoder windows, and times and words given back to turns;
- ``quality``: the flags on invented text, and the text-language cross-check;
- ``segments``: the output segments, their flags and translations;
- ``stage``: the stage that runs them on one track (``SpeechStage.process``).

The pipeline calls ``load_engine`` once per run and ``SpeechStage.process`` per track.
"""

from .stage import SpeechResult, SpeechStage, load_engine

__all__ = ["SpeechResult", "SpeechStage", "load_engine"]
