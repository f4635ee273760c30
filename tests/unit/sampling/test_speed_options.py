"""A1111's sampling speed options in the denoising loop, on a real tiny UNet: how many UNet calls
and rows each step runs (counted with a forward hook) and what that does to the result."""

import pytest
import torch
from diffusers import EulerDiscreteScheduler, UNet2DConditionModel

from modules.models.loading import SD1_CONFIG_DIR
from modules.sampling.denoiser import DenoiseInputs, SpeedOptions, denoise
from modules.sampling.guidance import GuidancePlan, Part
from modules.sampling.ip2p_guidance import InstructPix2PixPlan
from tests.fixtures.tiny_model import UNET_CONFIG

STEPS = 4
HIDDEN = 32


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return UNet2DConditionModel(**UNET_CONFIG).eval()


@pytest.fixture(scope="module")
def texts():
    generator = torch.Generator().manual_seed(3)
    return {
        "long": torch.randn(154, HIDDEN, generator=generator),  # two 75-token chunks
        "short": torch.randn(77, HIDDEN, generator=generator),
        "other": torch.randn(77, HIDDEN, generator=generator),
        "": torch.randn(77, HIDDEN, generator=generator),
    }


class CallLog:
    """(rows, context tokens) of every UNet call."""

    def __init__(self, unet):
        self.calls: list[tuple[int, int]] = []
        self._handle = unet.register_forward_pre_hook(self._record, with_kwargs=True)

    def _record(self, module, args, kwargs):
        sample = args[0] if args else kwargs["sample"]
        self.calls.append((sample.shape[0], kwargs["encoder_hidden_states"].shape[1]))

    @property
    def rows(self) -> int:
        return sum(rows for rows, _ in self.calls)

    def close(self):
        self._handle.remove()


def plan_for(texts, prompt: str, negative: str, batch: int = 1, cls=GuidancePlan, **extra):
    return cls(texts.__getitem__, [[Part.fixed(prompt)]] * batch, [Part.fixed(negative)], 7.0, STEPS,
               empty=texts[""], **extra)  # fmt: skip


def run(unet, plan, speed: SpeedOptions | None = None, batch: int = 1):
    scheduler = EulerDiscreteScheduler.from_pretrained(SD1_CONFIG_DIR, subfolder="scheduler")
    noise = torch.randn(batch, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    inputs = DenoiseInputs(latents=noise, guidance=plan, generators=[], speed=speed)
    log = CallLog(unet)
    try:
        latents, stopped = denoise(unet, scheduler, inputs, STEPS, lambda step, total: None, lambda: False)
    finally:
        log.close()
    assert not stopped
    return latents, log


def test_default_options_are_the_loop_without_options(unet, texts):
    default, log = run(unet, plan_for(texts, "long", "short"), SpeedOptions())
    untouched, _ = run(unet, plan_for(texts, "long", "short"), None)
    assert torch.equal(default, untouched)
    assert log.calls == [(2, 154)] * STEPS  # padded and batched: one call per step


def test_batch_cond_uncond_off_runs_each_kind_of_row_alone(unet, texts):
    on, on_log = run(unet, plan_for(texts, "short", "other", batch=2), SpeedOptions(), batch=2)
    off, off_log = run(unet, plan_for(texts, "short", "other", batch=2), SpeedOptions(batch_cond_uncond=False),
                       batch=2)  # fmt: skip
    assert on_log.calls == [(4, 77)] * STEPS
    assert off_log.calls == [(2, 77)] * (2 * STEPS)  # a batch of images a call: two calls per step
    # The same rows through the same weights: only float rounding differs (measured 1.8e-5 on
    # latents up to 16).
    assert (on - off).abs().max() < 1e-4


def test_ngms_skips_the_negative_rows_every_other_step_below_its_sigma(unet, texts):
    full, full_log = run(unet, plan_for(texts, "short", "other"), SpeedOptions())
    # Sigma 15 is above every sigma of this schedule (the first is ~14.6): every other step is skipped.
    fast, fast_log = run(unet, plan_for(texts, "short", "other"), SpeedOptions(s_min_uncond=15.0))
    assert full_log.rows == 2 * STEPS
    assert fast_log.calls == [(2, 77), (1, 77)] * (STEPS // 2)
    assert fast_log.rows == 2 * STEPS - STEPS // 2
    assert not torch.equal(full, fast)
    # Below every sigma: nothing is skipped and the result is the untouched one.
    same, same_log = run(unet, plan_for(texts, "short", "other"), SpeedOptions(s_min_uncond=0.01))
    assert same_log.rows == 2 * STEPS and torch.equal(same, full)


def test_ngms_never_skips_an_edit_models_negative_rows(unet, texts):
    plan = plan_for(texts, "short", "other", cls=InstructPix2PixPlan, image_cfg_scale=1.5)
    _, log = run(unet, plan, SpeedOptions(s_min_uncond=15.0))
    assert log.calls == [(3, 77)] * STEPS


def test_without_padding_a_long_prompt_and_short_negative_go_in_two_calls(unet, texts):
    padded, padded_log = run(unet, plan_for(texts, "long", "short"), SpeedOptions(pad_cond_uncond=True))
    apart, apart_log = run(unet, plan_for(texts, "long", "short"), SpeedOptions(pad_cond_uncond=False))
    assert padded_log.calls == [(2, 154)] * STEPS
    assert apart_log.calls == [(1, 77), (1, 154)] * STEPS  # the negative at its own length, then the prompt
    difference = (padded - apart).abs()
    # The negative padded with an empty chunk is another conditioning, close to it: measured max
    # 0.48 (3% of the largest value, 15.6), mean 0.09 (2.6% of the mean magnitude, 3.46).
    assert difference.max() > 1e-3
    assert difference.max() < 0.06 * padded.abs().max()
    assert difference.mean() < 0.05 * padded.abs().mean()
    # Same lengths: padding changes nothing, one call either way.
    _, same_log = run(unet, plan_for(texts, "short", "other"), SpeedOptions(pad_cond_uncond=False))
    assert same_log.calls == [(2, 77)] * STEPS
