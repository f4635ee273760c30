import pytest

from modules.models.loading import SD1_CONFIG_DIR
from modules.sampling import catalog


def test_required_samplers_resolve_and_build():
    import json

    base = json.loads((SD1_CONFIG_DIR / "scheduler" / "scheduler_config.json").read_text())
    for name in ("Euler a", "Euler", "DPM++ 2M", "DDIM", *catalog.sampler_names()):
        spec, schedule = catalog.resolve(name)
        scheduler = spec.build(base, schedule)
        scheduler.set_timesteps(10)
        assert len(scheduler.timesteps) >= 10


def test_karras_schedule_and_old_combined_names():
    spec, schedule = catalog.resolve("DPM++ 2M Karras")
    assert (spec.name, schedule) == ("DPM++ 2M", "Karras")
    assert catalog.resolve("dpm++ 2m", "karras") == (spec, "Karras")
    assert catalog.resolve("k_euler_a")[0].name == "Euler a"
    scheduler = spec.build({"num_train_timesteps": 1000}, "Karras")
    assert scheduler.config.use_karras_sigmas is True


def test_unknown_names_are_rejected_with_the_choices():
    with pytest.raises(catalog.UnknownSamplerError, match="Euler a"):
        catalog.resolve("Nope")
    with pytest.raises(catalog.UnknownSamplerError, match="schedule"):
        catalog.resolve("Euler", "Sideways")
    with pytest.raises(catalog.UnknownSamplerError, match="does not support"):
        catalog.resolve("DDIM", "Karras")
