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
