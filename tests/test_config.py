import pytest

from sigctl.config import LossSettings, SinGANSettings, load_settings, preset_names
from sigctl.errors import SettingsError


def test_paper_preset_is_the_paper():
    settings = load_settings("paper")
    assert settings == SinGANSettings()
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


def test_a_super_resolution_factor_means_alpha_100_for_every_caller(tmp_path):
    # Through the Python API, not only the CLI: the rule lives in the settings.
    for settings in (SinGANSettings(super_resolution_factor=4.0), load_settings("tiny", overrides={"super_resolution_factor": 4.0})):
        assert settings.recipe == "singan" and settings.loss.reconstruction_weight == 100.0
    # An explicit alpha wins, from a config file or from Python.
    config = tmp_path / "sr.yaml"
    config.write_text("super_resolution_factor: 2.0\nloss:\n  reconstruction_weight: 30\n")
    assert load_settings("paper", config).loss.reconstruction_weight == 30
    assert SinGANSettings(super_resolution_factor=2.0, loss=LossSettings(reconstruction_weight=5.0)).loss.reconstruction_weight == 5.0
    # Plain SinGAN keeps alpha 10, and sr without a factor is refused.
    assert SinGANSettings().loss.reconstruction_weight == 10.0
    with pytest.raises(SettingsError, match="recipe"):
        load_settings("paper", overrides={"recipe": "sr"})  # super-resolution is a SinGAN setting, not a recipe


def test_a_resolved_sr_run_reads_back_the_same_settings():
    settings = load_settings("tiny", overrides={"super_resolution_factor": 4.0})
    assert SinGANSettings.model_validate(settings.model_dump(mode="json")) == settings


def test_settings_that_would_crash_training_are_refused_when_read():
    with pytest.raises(SettingsError, match="betas"):
        load_settings("paper", overrides={"optimizer": {"betas": [1.5, 0.999]}})
    with pytest.raises(SettingsError, match="kernel size must be odd"):
        load_settings("paper", overrides={"network": {"kernel_size": 4}})
