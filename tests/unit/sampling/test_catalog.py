import subprocess
import sys
from pathlib import Path

import pytest

from modules.models.loading import SD1_CONFIG_DIR
from modules.sampling import catalog

REPO = Path(__file__).resolve().parents[3]


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


def sd1_base() -> dict:
    import json

    return json.loads((SD1_CONFIG_DIR / "scheduler" / "scheduler_config.json").read_text())


A1111_SAMPLERS = (
    "Euler a", "Euler", "LMS", "Heun", "DPM2", "DPM2 a", "DPM++ 2S a", "DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE",
    "DPM++ 2M SDE Heun", "DPM++ 3M SDE", "DDIM", "PLMS", "UniPC", "LCM",
)  # fmt: skip


def test_a1111_samplers_are_all_there_and_schedule_labels_iterate():
    assert set(A1111_SAMPLERS) <= set(catalog.sampler_names())
    assert list(catalog.SCHEDULE_TYPES) == ["Automatic", "Uniform", "Karras", "Exponential", "SGM Uniform", "Beta"]
    assert catalog.DEFAULT_SAMPLER in catalog.sampler_names()


@pytest.mark.parametrize("spec", catalog.SAMPLERS, ids=lambda s: s.name)
def test_every_sampler_builds_with_each_schedule_it_claims_and_refuses_the_rest(spec):
    base = sd1_base()
    for label, schedule in catalog.SCHEDULE_TYPES.items():
        if spec.supports_schedule(label):
            scheduler = spec.build(base, label)
            scheduler.set_timesteps(10)
            assert len(scheduler.timesteps) >= 10
            for key, value in schedule.overrides.items():
                assert scheduler.config[key] == value, (label, key)
            assert catalog.resolve(spec.name, label) == (spec, label)
        else:
            with pytest.raises(catalog.UnknownSamplerError, match=f"does not support the {label} schedule.*Automatic"):
                catalog.resolve(spec.name, label)
            with pytest.raises(catalog.UnknownSamplerError, match="does not support"):
                spec.build(base, label)


def test_schedules_select_what_a1111_means():
    base = sd1_base()
    euler = catalog.resolve("Euler")[0]

    def timesteps(label):
        scheduler = euler.build(base, label)
        scheduler.set_timesteps(4)
        return [round(float(t)) for t in scheduler.timesteps]

    assert timesteps("Automatic") == [751, 501, 251, 1]  # the model config's "leading" spacing
    assert timesteps("Uniform") == [999, 666, 333, 0]  # k-diffusion get_sigmas: 999..0 evenly
    assert timesteps("SGM Uniform") == [999, 749, 499, 249]  # n+1 points 999..0, last dropped
    exponential = euler.build({**base, "use_karras_sigmas": True}, "Exponential")
    assert exponential.config.use_exponential_sigmas and not exponential.config.use_karras_sigmas


def test_automatic_is_the_samplers_own_choice_as_in_a1111():
    base = sd1_base()
    assert catalog.resolve("DPM++ 2M")[0].build(base).config.use_karras_sigmas is True
    assert catalog.resolve("DPM++ 2M SDE")[0].build(base).config.use_exponential_sigmas is True
    assert catalog.resolve("Euler")[0].build(base).config.use_karras_sigmas is False
    assert catalog.resolve("DPM++ 2M")[0].api_options() == {"scheduler": "karras"}
    assert catalog.resolve("Euler a")[0].api_options() == {"uses_ensd": "True"}


def test_the_configured_options_reach_the_scheduler():
    base = sd1_base()
    heun = catalog.resolve("DPM++ 2M SDE Heun")[0].build(base).config
    assert (heun.algorithm_type, heun.solver_type, heun.solver_order) == ("sde-dpmsolver++", "heun", 2)
    three = catalog.resolve("DPM++ 3M SDE")[0].build(base).config
    assert (three.algorithm_type, three.solver_order) == ("sde-dpmsolver++", 3)
    assert type(catalog.resolve("LCM")[0].build(base)).__name__ == "LCMScheduler"
    # Keys meant for the model's own scheduler class are not passed on.
    assert "skip_prk_steps" not in catalog.resolve("Euler")[0].build(base).config


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("DPM++ 2M Karras", ("DPM++ 2M", "Karras")),
        ("DPM++ SDE Karras", ("DPM++ SDE", "Karras")),
        ("DPM++ 2M SDE Exponential", ("DPM++ 2M SDE", "Exponential")),
        ("DPM++ 2M SDE Heun Karras", ("DPM++ 2M SDE Heun", "Karras")),
        ("Euler SGM Uniform", ("Euler", "SGM Uniform")),
        ("Euler Uniform", ("Euler", "Uniform")),
        ("Euler a", ("Euler a", "Automatic")),
        ("k_euler_ancestral", ("Euler a", "Automatic")),
        ("k_dpmpp_2m_sde_heun", ("DPM++ 2M SDE Heun", "Automatic")),
        ("k_dpmpp_sde", ("DPM++ SDE", "Automatic")),
        ("k_dpmpp_2s_a", ("DPM++ 2S a", "Automatic")),
        ("K_LCM", ("LCM", "Automatic")),
        ("  ddim ", ("DDIM", "Automatic")),
    ],
)
def test_combined_names_and_aliases_resolve(name, expected):
    spec, schedule = catalog.resolve(name)
    assert (spec.name, schedule) == expected


def test_combined_name_with_a_schedule_the_sampler_lacks_is_refused():
    with pytest.raises(catalog.UnknownSamplerError, match="does not support the Karras"):
        catalog.resolve("Euler a Karras")


def test_step_kwargs_passes_only_what_step_accepts():
    base = sd1_base()
    options = catalog.SamplerOptions(eta=0.5, s_churn=1.0, s_noise=1.003)
    euler = catalog.resolve("Euler")[0].build(base)
    assert catalog.step_kwargs(euler, options) == {
        "s_churn": 1.0,
        "s_tmin": 0.0,
        "s_tmax": float("inf"),
        "s_noise": 1.003,
    }
    assert catalog.step_kwargs(catalog.resolve("DDIM")[0].build(base), options) == {"eta": 0.5}
    assert catalog.step_kwargs(catalog.resolve("DDIM")[0].build(base), catalog.SamplerOptions()) == {}
    assert catalog.step_kwargs(catalog.resolve("Euler a")[0].build(base), options) == {}
    assert catalog.step_kwargs(euler, None) == {}
    assert catalog.ignored_options(catalog.resolve("Euler a")[0].build(base), options) == ["eta", "s_churn", "s_noise"]
    assert catalog.ignored_options(euler, options) == ["eta"]


def test_step_kwargs_really_drive_the_step():
    import torch

    base = sd1_base()
    ddim = catalog.resolve("DDIM")[0].build(base)
    ddim.set_timesteps(4)
    sample, prediction = torch.ones(1, 4, 8, 8), torch.zeros(1, 4, 8, 8)
    t = ddim.timesteps[1]
    plain = ddim.step(prediction, t, sample, **catalog.step_kwargs(ddim, catalog.SamplerOptions())).prev_sample
    noisy_kwargs = catalog.step_kwargs(ddim, catalog.SamplerOptions(eta=1.0))
    noisy = ddim.step(prediction, t, sample, generator=torch.Generator().manual_seed(0), **noisy_kwargs).prev_sample
    assert not torch.equal(plain, noisy)


def test_ancestral_seeds_offset_by_ensd():
    assert catalog.ancestral_seeds([1, 2], 31337) == [31338, 31339]
    assert catalog.ancestral_seeds([5], 0) == [5]


def test_ancestral_marks_samplers_that_draw_noise_per_step():
    marked = {spec.name for spec in catalog.SAMPLERS if spec.ancestral}
    assert {"Euler a", "DPM2 a", "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 3M SDE", "LCM"} <= marked
    assert not marked & {"Euler", "DPM++ 2M", "DDIM", "UniPC", "Heun", "LMS", "PLMS"}


@pytest.mark.parametrize("spec", catalog.SAMPLERS, ids=lambda s: s.name)
def test_ancestral_flag_is_true_exactly_when_the_step_noise_changes_the_result(spec):
    import inspect

    import torch

    def run(noise_seed):
        scheduler = spec.build(sd1_base())
        scheduler.set_timesteps(4)
        latents = torch.ones(1, 4, 8, 8) * scheduler.init_noise_sigma
        kwargs = {}
        if "generator" in inspect.signature(scheduler.step).parameters:
            kwargs["generator"] = torch.Generator().manual_seed(noise_seed)
        for t in scheduler.timesteps:
            prediction = 0.1 * scheduler.scale_model_input(latents, t)  # a fixed stand-in for the UNet
            latents = scheduler.step(prediction, t, latents, **kwargs).prev_sample
        return latents

    assert (not torch.equal(run(0), run(1))) is spec.ancestral


def test_a_schedule_check_while_another_thread_imports_diffusers_waits_for_it():
    # diffusers swaps its module object when its import ends: a lookup on the half-built one
    # never succeeds. Needs a fresh process, where diffusers is not imported yet.
    script = (
        "import threading, time\n"
        "from modules.sampling import catalog\n"
        "spec, _ = catalog.resolve('DPM++ 2M', 'Automatic')\n"
        "importer = threading.Thread(target=lambda: __import__('diffusers'))\n"
        "importer.start(); time.sleep(0.3)\n"
        "print(spec.scheduler_type().__name__)\n"
        "importer.join()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("DPMSolverMultistepScheduler")
