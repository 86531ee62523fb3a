"""Executors: where the files of a batch are analysed. Each is one module of this package,
named as ``run.executor`` names it, with one function:

    analyse(jobs: list[Job], analyzer: Analyzer, finish: Callable[[Job, FileOutcome], None]) -> None

which analyses every job (``pipeline.analyse_file``) and calls ``finish`` on the driver as
each outcome comes back; ``finish`` writes it (the same atomic writes and resume keys for
every executor). ``analyzer`` is the driver's: the local executor runs on it, others make
their own from ``analyzer.cfg``. Adding an executor is adding its module here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ...errors import ConfigError


def load(name: str) -> ModuleType:
    """The executor module ``name`` (``local``, ``ray``): imported only when chosen."""
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        module = None
    if module is None or not hasattr(module, "analyse"):
        raise ConfigError(f"run.executor: no executor named {name!r} (audiopipe/batch/executors/{name}.py)")
    return module
