"""The package as a whole: its modules import downwards only (the pipeline's layers, no
cycle, no stage reaching into another), none grows past one idea, and a wheel built from
the repository installs and runs on its own, away from the checkout."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SPEECH

PACKAGE = REPO / "audiopipe"

#: the layers, lowest first: a module imports from its own layer or below, never above.
#: Each entry is a module or a package (all its modules). A new module must be placed here.
LAYERS: list[tuple[str, ...]] = [
    ("audiopipe.errors", "audiopipe.records", "audiopipe.version"),
    ("audiopipe.config",),
    ("audiopipe.provenance", "audiopipe.models", "audiopipe.review"),
    # the stages: each reads records and config, never another stage (data flows through records)
    ("audiopipe.ingest", "audiopipe.diarize", "audiopipe.speech", "audiopipe.events", "audiopipe.scene",
     "audiopipe.sync", "audiopipe.align"),
    ("audiopipe.outputs",),
    ("audiopipe.pipeline",),  # the per-file analysis: the only place that knows the stages' order
    ("audiopipe.batch.marks", "audiopipe.batch.logs"),
    ("audiopipe.batch.executors",),  # local, ray: peers above the per-file analysis
    ("audiopipe.batch.loop", "audiopipe.batch"),
    ("audiopipe.cli", "audiopipe"),
]
STAGES = LAYERS[3]
MAX_LINES = 320  # "about 300": past it a module holds two ideas
#: modules allowed past MAX_LINES, and why (the README's architecture section says the same)
ONE_IDEA = {"audiopipe.config": "the one config object: its sections, their defaults and their validation"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The audiopipe modules ``name`` imports, at its top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "audiopipe"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            if base.split(".")[0] != "audiopipe":
                continue
            subs = {f"{base}.{a.name}" for a in node.names} & known  # "from . import speech": a module
            found |= subs or {base}
            if subs != {f"{base}.{a.name}" for a in node.names}:
                found.add(base)  # names taken from the module itself
    return {m for m in found if m != name}


def _layer(name: str) -> tuple[int, str]:
    """(layer index, the entry that holds it): the longest entry that is the module or its package."""
    best = None
    for i, layer in enumerate(LAYERS):
        for entry in layer:
            if (name == entry or name.startswith(entry + ".")) and (best is None or len(entry) > len(best[1])):
                best = (i, entry)
    if best is None:
        pytest.fail(f"{name} is in no layer: place it in tests/test_package.py's LAYERS")
    return best


def test_modules_import_downwards_only_and_no_stage_reaches_into_another():
    mods = _modules()
    wrong = []
    for name, path in mods.items():
        own, own_entry = _layer(name)
        for dep in sorted(_imports(name, path, set(mods))):
            level, entry = _layer(dep)
            if level > own:
                wrong.append(f"{name} imports {dep}, which stands above it")
            elif level == own and entry != own_entry and own_entry in STAGES:
                wrong.append(f"the stage {own_entry} reaches into the stage {entry} ({name} imports {dep})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    mods = _modules()
    graph = {name: _imports(name, path, set(mods)) & set(mods) for name, path in mods.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]) if dep in path else f"{node} -> {dep}")
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "\n".join(cycles)


def test_the_layer_rules_see_an_upward_import(tmp_path):
    """The check itself: a stage that imports the pipeline is caught."""
    mods = set(_modules())
    bad = tmp_path / "stage.py"
    bad.write_text("from ..pipeline import Analyzer\nfrom . import windows\n")
    deps = _imports("audiopipe.speech.stage", bad, mods)
    assert deps == {"audiopipe.pipeline", "audiopipe.speech.windows"}
    assert _layer("audiopipe.pipeline")[0] > _layer("audiopipe.speech.stage")[0]


def test_no_module_holds_two_ideas():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES and name not in ONE_IDEA}
    assert not long, f"modules past {MAX_LINES} lines (split them, or say in ONE_IDEA and the README why not): {long}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel ``pip wheel .`` builds, installed into a folder of its own (no dependencies:
    those come from this environment)."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"  # a copy of the repository's files, so that the build writes nothing into the checkout
    top = {".venv", ".git", "models", "demo-case", "bench", "build", ".pytest_cache"}  # weights, outputs, caches

    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
        return skip | (top & set(names) if Path(folder) == REPO else set())

    shutil.copytree(REPO, src, ignore=ignore)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(work / "dist"), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (work / "dist").glob("audiopipe-*.whl")
    target = work / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                           str(wheel)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return target


def _installed_cli(target: Path, args: list[str], cwd: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    """``audiopipe ARGS`` from the installed wheel, the checkout off the path (run elsewhere)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AUDIOPIPE_MODELS_DIR")}
    env.update(PYTHONPATH=str(target), **env_extra)
    code = ("import sys, audiopipe, audiopipe.cli; "
            f"assert audiopipe.__file__.startswith({str(target)!r}), audiopipe.__file__; "
            "sys.exit(audiopipe.cli.main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_the_wheel_holds_presets_registry_classifier_and_schema(installed):
    pkg = installed / "audiopipe"
    for rel in ("configs/default.yaml", "configs/fast.yaml", "configs/accurate.yaml", "models/registry.yaml",
                "models/gunshot_classifier.json", "models/ct2_whisper.py", "schema/result.schema.json",
                "outputs/review_page.html", "speech/engine.py", "batch/executors/ray.py"):
        assert (pkg / rel).is_file(), rel
    assert not (installed / "tests").exists() and not (installed / "bench").exists()


def test_an_installed_wheel_lists_its_models_and_runs_a_file(installed, tmp_path):
    """As a new user: the installed ``audiopipe models list`` finds the registry and says where
    the models are (the per-user folder by default, or the one named), and a one-file run with
    every stage on works from there, with the models of the named folder."""
    home = tmp_path / "home"
    home.mkdir()
    proc = _installed_cli(installed, ["models", "list"], tmp_path, {"HOME": str(home), "XDG_DATA_HOME": ""})
    assert proc.returncode == 0, proc.stderr
    assert f"models folder: {home / '.local/share/audiopipe/models'}" in proc.stdout
    assert "whisper-base-ct2" in proc.stdout and "not installed" in proc.stdout

    models_dir = REPO / "models"  # where make install put them
    proc = _installed_cli(installed, ["models", "list", "--models-dir", str(models_dir)], tmp_path, {"HOME": str(home)})
    assert proc.returncode == 0 and "gunshot-classifier" in proc.stdout, proc.stderr
    listed = [line for line in proc.stdout.splitlines() if line.startswith("whisper-base-ct2")]
    assert listed and " installed " in listed[0], proc.stdout

    evidence = tmp_path / "evidence"
    evidence.mkdir()
    shutil.copy(SPEECH / "jfk_en.flac", evidence / "jfk.flac")
    case = tmp_path / "case"
    proc = _installed_cli(installed, ["run", str(evidence), "--out", str(case), "--quiet", "--no-translate",
                                      "--models-dir", str(models_dir)], tmp_path, {"HOME": str(home)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (case / "segments.csv").read_text(encoding="utf-8").lower()
    assert "what you can do for your country" in text
    assert (case / "case.xlsx").is_file() and (case / "manifest.json").is_file()
    stages = json.loads(next(case.glob("files/*/result.json")).read_text(encoding="utf-8"))["stages"]
    assert {stages[k] for k in ("ingest", "events", "diarization", "speech", "align")} == {"done"}, stages
