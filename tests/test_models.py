"""Model registry: installed weights match their hashes; a damaged file is refused."""

import shutil

import pytest

from audiopipe import models
from audiopipe.errors import ModelError


def test_installed_whisper_base_matches_the_registry_hash():
    ref = models.resolve("whisper-base-ct2")
    assert ref.sha256["model.bin"] == "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
    assert ref.licence == "MIT"


def test_damaged_weights_are_refused(tmp_path):
    models._verified_hashes.cache_clear()
    src = models.default_models_dir() / "fasttext-lid176"
    dst = tmp_path / "fasttext-lid176"
    shutil.copytree(src, dst)
    data = bytearray((dst / "lid.176.ftz").read_bytes())
    data[1000] ^= 0xFF
    (dst / "lid.176.ftz").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its registry hash"):
        models.resolve("fasttext-lid176", models_dir=tmp_path)


def test_install_is_idempotent_and_verifies(tmp_path):
    logs = []
    models.install("fasttext-lid176", models_dir=tmp_path, log=logs.append)
    models.install("fasttext-lid176", models_dir=tmp_path, log=logs.append)
    assert sum("installed" in line for line in logs) == 1
    assert models.resolve("fasttext-lid176", models_dir=tmp_path).sha256["lid.176.ftz"].startswith("8f3472cf")


def _yamnet_copy(tmp_path, flip_byte: int | None = None):
    """A folder holding yamnet/ as shared/models does (copied from the installed model), one
    byte of the network changed where asked."""
    src = models.default_models_dir() / "yamnet"
    dst = tmp_path / "given" / "yamnet"
    shutil.copytree(src, dst)
    if flip_byte is not None:
        data = bytearray((dst / "yamnet.tflite").read_bytes())
        data[flip_byte] ^= 0xFF
        (dst / "yamnet.tflite").write_bytes(bytes(data))
    return dst.parent


def _cli(*args: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "audiopipe.cli", *args], capture_output=True, text=True)


def test_yamnet_is_installed_from_a_folder_and_verified(tmp_path):
    """`audiopipe models install yamnet --from DIR` takes both files from DIR/yamnet/, checks
    their hashes and installs them: the run resolves the model from there, offline."""
    proc = _cli("models", "install", "yamnet", "--from", str(_yamnet_copy(tmp_path)), "--models-dir", str(tmp_path / "m"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("taken from") == 2 and proc.stdout.count("verified") == 2, proc.stdout
    ref = models.resolve("yamnet", models_dir=tmp_path / "m")
    assert ref.sha256["yamnet.tflite"].startswith("469be6a3") and ref.licence == "Apache-2.0"


def test_yamnet_with_one_byte_changed_is_refused_with_the_ways_to_get_it(tmp_path):
    """One byte of the network changed: not installed, and the one error names both ways to
    get the right file (a folder with --from, or its public address)."""
    target = tmp_path / "m"
    proc = _cli("models", "install", "yamnet", "--from", str(_yamnet_copy(tmp_path, flip_byte=4000)),
                "--models-dir", str(target))
    assert proc.returncode == 2
    err = proc.stderr
    assert "SHA-256 mismatch for yamnet/yamnet.tflite" in err and "469be6a3" in err, err
    assert "--from DIR" in err and "raw.githubusercontent.com/Jaskaran197/Speaker-Detector/4ec29b69" in err, err
    assert not (target / "yamnet" / "yamnet.tflite").exists()


def test_a_run_without_yamnet_says_how_to_get_it(tmp_path):
    """Not installed: the run's model check fails before any file, naming both ways, and
    downloads nothing."""
    with pytest.raises(ModelError, match="not installed") as err:
        models.resolve("yamnet", models_dir=tmp_path)
    assert "--from DIR" in str(err.value) and "Speaker-Detector" in str(err.value)
