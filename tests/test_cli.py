"""The command line lays its options over the preset, and nothing else."""

from audiopipe import cli


def test_options_override_the_preset_and_absent_ones_do_not():
    args = cli._parser().parse_args(["run", "ev", "--out", "case", "--languages", "az, ru,hy", "--no-translate",
                                     "--num-speakers", "3", "--no-events", "--beam-size", "2", "--batch-size", "8",
                                     "--diarization-pipeline", "pyannote/speaker-diarization-community-1"])
    cfg = cli._config_from(args)
    assert cfg.speech.languages == ("az", "ru", "hy")
    assert cfg.speech.translate is False and cfg.speech.beam_size == 2 and cfg.speech.enabled is True
    assert cfg.speech.batch_size == 8
    assert cfg.diarization.num_speakers == 3 and cfg.diarization.enabled is True
    assert cfg.diarization.pipeline == "pyannote/speaker-diarization-community-1"
    assert cfg.events.enabled is False
    plain = cli._config_from(cli._parser().parse_args(["run", "ev", "--out", "case"]))
    assert plain == cli.config.load("default")
