"""audiopipe: who spoke, in what language, what was said, and when shots were fired."""

from __future__ import annotations

from .version import __version__

__all__ = ["__version__", "run"]


def run(evidence_dir, case_dir, config=None, executor: str | None = None, ray_address: str | None = None,
        quiet: bool = True):
    """Analyse every media file under ``evidence_dir`` into ``case_dir`` (resumable), as
    ``audiopipe run`` does. config: a ``Config``, a preset name or a YAML path (default: the
    default preset); executor: "local" or "ray" (default: the config's). Returns the run
    summary: ``analysed``, ``reused``, ``errors``, ``duplicates``, ``skipped``, ``case_dir``,
    ``workbook``, ``manifest`` and ``inputs`` (one row per file with its status)."""
    from . import batch
    from . import config as _config

    cfg = config if isinstance(config, _config.Config) else _config.load(config or "default")
    if executor is not None or ray_address is not None:
        cfg = cfg.replace("run", **{k: v for k, v in (("executor", executor), ("ray_address", ray_address))
                                    if v is not None})
    return batch.run(evidence_dir, case_dir, cfg, quiet=quiet)
