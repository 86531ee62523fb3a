"""Config: presets load, typos are refused, the hash follows the settings that matter."""

import pytest

from audiopipe import config
from audiopipe.errors import ConfigError


@pytest.mark.parametrize("name", ["default", "fast", "accurate"])
def test_presets_load_and_validate(name):
    cfg = config.load(name)
    assert cfg.preset == name and cfg.speech.engine == "faster-whisper"


def test_unknown_key_is_an_error_not_a_silent_default():
    with pytest.raises(ConfigError, match="beam_sise"):
        config.from_dict({"speech": {"beam_sise": 3}})


def test_wrong_type_is_an_error():
    with pytest.raises(ConfigError, match="speech.beam_size"):
        config.from_dict({"speech": {"beam_size": "five"}})


def test_hash_changes_with_analysis_settings_only():
    base = config.load("default")
    assert base.hash() == config.load("default").hash()
    assert base.replace("speech", beam_size=1).hash() != base.hash()
    assert base.replace("outputs", xlsx=False).hash() == base.hash()


def test_out_of_range_values_are_refused():
    with pytest.raises(ConfigError, match="events.lead_in_s"):
        config.from_dict({"events": {"lead_in_s": -1}})
    assert config.from_dict({"events": {"lead_in_s": 0}}).events.lead_in_s == 0
