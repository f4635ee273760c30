"""instruct-pix2pix guidance: its rows and its combine, against the formula of diffusers'
StableDiffusionInstructPix2PixPipeline and A1111's combine_denoised_for_edit_model."""

import torch
from diffusers import UNet2DConditionModel

from modules.processing.hooks import StepHooks
from modules.sampling import catalog
from modules.sampling.denoiser import DenoiseInputs, denoise
from modules.sampling.guidance import GuidancePlan, Part
from modules.sampling.ip2p_guidance import InstructPix2PixPlan, ip2p_plan_for
from tests.fixtures.tiny_model import UNET_CONFIG


def hidden(seed: int) -> torch.Tensor:
    return torch.randn(1, 77, 8, generator=torch.Generator().manual_seed(seed))


def static_plan(cfg: float, batch: int) -> GuidancePlan:
    return GuidancePlan.static(hidden(1), hidden(2), cfg, batch)


def test_rows_are_negative_with_picture_negative_without_then_prompt():
    plan = InstructPix2PixPlan.from_plan(static_plan(7.0, 2), 1.5)
    cond, uncond = plan.contexts(0)
    assert cond.shape == (2, 77, 8) and uncond.shape == (4, 77, 8)
    assert torch.equal(uncond[0], hidden(2)[0]) and torch.equal(uncond[3], hidden(2)[0])
    latents = torch.arange(2.0).view(2, 1, 1, 1).expand(2, 4, 2, 2)
    rows = plan.model_input(latents)
    assert rows[:, 0, 0, 0].tolist() == [0, 1, 0, 1, 0, 1]
    picture = torch.arange(1.0, 3.0).view(2, 1, 1, 1).expand(2, 4, 2, 2)
    extra = plan.extra_channel_rows(picture)
    assert extra[:, 0, 0, 0].tolist() == [1, 2, 0, 0, 1, 2]  # the middle rows see no picture
    assert picture.min() == 1  # the caller's tensor is left alone


def test_combine_is_the_pipelines_formula():
    cfg, image_cfg = 7.5, 1.25
    plan = InstructPix2PixPlan.from_plan(static_plan(cfg, 2), image_cfg)
    generator = torch.Generator().manual_seed(3)
    text, image, uncond = (torch.randn(2, 4, 8, 8, generator=generator) for _ in range(3))
    combined = plan.combine(torch.cat([image, uncond, text]))  # our row order
    expected = uncond + cfg * (text - image) + image_cfg * (image - uncond)  # diffusers' line
    assert torch.equal(combined, expected)


def test_cfg_1_still_runs_the_negative_rows():
    plan = InstructPix2PixPlan.from_plan(static_plan(1.0, 1), 2.0)
    cond, uncond = plan.contexts(0)
    assert uncond is not None and uncond.shape[0] == 2
    text, image, uncond_pred = torch.ones(1, 4, 2, 2), torch.zeros(1, 4, 2, 2), torch.full((1, 4, 2, 2), -1.0)
    combined = plan.combine(torch.cat([image, uncond_pred, text]))
    assert torch.equal(combined, uncond_pred + 1.0 * (text - image) + 2.0 * (image - uncond_pred))


def test_and_parts_sum_their_weighted_differences_from_the_picture_row():
    parts = [[Part.fixed("a", 1.0), Part.fixed("b", 0.5)]]
    encode = {"a": hidden(4)[0], "b": hidden(5)[0], "": hidden(6)[0]}.__getitem__
    plan = InstructPix2PixPlan(encode, parts, [Part.fixed("")], 5.0, 10, image_cfg_scale=1.5)
    cond, uncond = plan.contexts(0)
    assert cond.shape[0] == 2 and uncond.shape[0] == 2
    g = torch.Generator().manual_seed(7)
    image, uncond_pred, cond_a, cond_b = (torch.randn(1, 4, 2, 2, generator=g) for _ in range(4))
    combined = plan.combine(torch.cat([image, uncond_pred, cond_a, cond_b]))
    expected = uncond_pred + 5.0 * (cond_a - image) + 2.5 * (cond_b - image) + 1.5 * (image - uncond_pred)
    torch.testing.assert_close(combined, expected)


def test_image_cfg_1_or_none_keeps_the_plain_plan():
    plan = static_plan(7.0, 1)
    assert ip2p_plan_for(plan, 1.0) is plan
    assert ip2p_plan_for(plan, None) is plan
    edit = ip2p_plan_for(plan, 1.5)
    assert isinstance(edit, InstructPix2PixPlan) and edit.image_cfg_scale == 1.5 and edit.cfg_scale == 7.0


def test_row_wise_unet_arguments_follow_the_rows():
    def unet_inputs(pooled, negative):
        return {"added_cond_kwargs": {"text_embeds": pooled, "negative": negative.float()}}

    encode = {"p": hidden(8)[0], "n": hidden(9)[0]}.__getitem__
    base = GuidancePlan(encode, [[Part.fixed("p")]], [Part.fixed("n")], 7.0, 4, unet_inputs=unet_inputs)
    plan = InstructPix2PixPlan.from_plan(base, 1.5)

    def encode_pooled(text):
        return type("Conditioning", (), {"hidden": encode(text), "pooled": torch.full((4,), float(len(text)))})()

    plan.encode = encode_pooled
    plan.contexts(0)
    kwargs = plan.unet_kwargs(0)["added_cond_kwargs"]
    assert kwargs["negative"].tolist() == [1.0, 1.0, 0.0]
    assert kwargs["text_embeds"].shape == (3, 4)


def test_step_hooks_see_the_plans_rows_and_change_nothing_by_passing_through():
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**{**UNET_CONFIG, "in_channels": 8}).eval()
    cond, uncond = torch.randn(1, 77, 32), torch.randn(1, 77, 32)
    picture = torch.randn(1, 4, 8, 8)
    seen = []

    def run(step_hooks):
        plan = InstructPix2PixPlan.from_plan(GuidancePlan.static(cond, uncond, 5.0, 1), 1.5)
        inputs = DenoiseInputs(latents=torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1)),
                               guidance=plan, generators=[torch.Generator().manual_seed(1)],
                               extra_channels=picture)  # fmt: skip
        scheduler = catalog.resolve("Euler")[0].build({"num_train_timesteps": 1000})
        return denoise(unet, scheduler, inputs, 2, lambda *_: None, lambda: False, step_hooks)[0]

    hooks = StepHooks(before=lambda params: seen.append((params.cond.shape[0], params.uncond.shape[0])),
                      after=lambda params: None)  # fmt: skip
    assert torch.equal(run(hooks), run(None))
    assert seen == [(1, 2), (1, 2)]  # the prompt row; the negative rows with and without the picture
