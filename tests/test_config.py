import pytest

from sigctl.config import TrainSettings, load_settings, preset_names
from sigctl.errors import SettingsError


def test_paper_preset_is_the_paper():
    settings = load_settings("paper")
    assert settings == TrainSettings()
    assert settings.pyramid.max_size == 250 and settings.pyramid.min_size == 25
    assert settings.optimizer.iterations_per_scale == 2000 and settings.optimizer.lr_decay_at == 0.8
    assert (settings.optimizer.discriminator_steps, settings.optimizer.generator_steps) == (3, 3)
    assert settings.loss.gradient_penalty_weight == 0.1 and settings.loss.reconstruction_weight == 10
    assert [settings.network.channels_at(n) for n in (0, 3, 4, 8, 12)] == [32, 32, 64, 128, 128]


def test_presets_resolve_and_config_files_override(tmp_path):
    assert {"paper", "quick", "tiny"} <= set(preset_names())
    config = tmp_path / "c.yaml"
    config.write_text("optimizer:\n  iterations_per_scale: 7\n")
    settings = load_settings("quick", config, {"seed": 3})
    assert settings.optimizer.iterations_per_scale == 7
    assert settings.pyramid.max_size == 64  # from the preset, untouched by the file
    assert settings.seed == 3


def test_bad_settings_name_the_field(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("optimizer:\n  iterations_per_scale: -4\n")
    with pytest.raises(SettingsError, match="optimizer.iterations_per_scale"):
        load_settings("paper", config)
    config.write_text("optimiser: {}\n")
    with pytest.raises(SettingsError, match="optimiser"):
        load_settings("paper", config)
    with pytest.raises(SettingsError, match="unknown preset"):
        load_settings("fastest")
