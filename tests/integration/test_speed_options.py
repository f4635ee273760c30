"""A1111's speed options through the engine on a tiny model whose top level has self-attention:
each changes what the UNet runs (counted with a forward hook) and the picture as measured, is
written in the infotext only when not at its default, and pastes back as override_settings."""

import numpy as np
import pytest
import torch
from diffusers import UNet2DConditionModel
from PIL import Image

from modules.images.infotext import infotext_to_fields, parse_infotext
from modules.models.ldm_layout import save_single_file
from modules.processing.request import Img2ImgRequest, Txt2ImgRequest
from modules.sampling.token_merging import is_merging
from tests.conftest import make_engine
from tests.fixtures.tiny_families import save_tiny_family
from tests.fixtures.tiny_model import UNET_CONFIG, build_modules

STEPS = 4
BASE = {"prompt": "a red cat", "negative_prompt": "blurry", "steps": STEPS, "width": 64, "height": 64, "seed": 5,
        "sampler_name": "Euler", "save_images": False}  # fmt: skip
# Self-attention at the full-resolution level, where token merging works.
TOP_ATTENTION = {
    **UNET_CONFIG,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
}
SPEED_KEYS = ("Token merging ratio", "NGMS", "Batch cond/uncond", "Pad conds")


@pytest.fixture(scope="module")
def speed_engine(tmp_path_factory):
    models = tmp_path_factory.mktemp("speed-models")
    _, vae, text_encoder = build_modules(0)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**TOP_ATTENTION).eval()
    save_single_file(unet, vae, text_encoder, models / "Stable-diffusion" / "top-attention.safetensors")
    engine = make_engine(tmp_path_factory.mktemp("speed-data"), "--models-dir", str(models))
    yield engine
    engine.queue.shutdown()


class CallLog:
    """(rows, context tokens) of every call of the current model's UNet while it is open."""

    def __init__(self, engine):
        self.unet = engine.models.get(None).unet
        self.calls: list[tuple[int, int]] = []

    def __enter__(self):
        self._handle = self.unet.register_forward_pre_hook(self._record, with_kwargs=True)
        return self

    def __exit__(self, *exc):
        self._handle.remove()

    def _record(self, module, args, kwargs):
        sample = args[0] if args else kwargs["sample"]
        self.calls.append((sample.shape[0], kwargs["encoder_hidden_states"].shape[1]))


def txt2img(engine, **fields):
    return engine.submit_txt2img(Txt2ImgRequest(**{**BASE, **fields})).outcome().images[0]


def pixels(item) -> np.ndarray:
    return np.asarray(item.image.convert("RGB")).astype(int)


def pasted_overrides(engine, infotext: str) -> dict:
    """What pasting the infotext sets, checked against the declared options as a request's are."""
    return engine.settings.checked_overrides(infotext_to_fields(parse_infotext(infotext)).get("override_settings"))


@pytest.fixture(scope="module")
def default_image(speed_engine):
    with CallLog(speed_engine) as log:
        image = txt2img(speed_engine)
    assert log.calls == [(2, 77)] * STEPS  # negative and prompt rows together, one call a step
    assert not any(f"{key}:" in image.infotext for key in SPEED_KEYS)
    return image


def test_token_merging_half_changes_the_picture_and_is_recorded_and_pasted_back(speed_engine, default_image):
    merged = txt2img(speed_engine, override_settings={"token_merging_ratio": 0.5})
    assert "Token merging ratio: 0.5" in merged.infotext
    difference = np.abs(pixels(merged) - pixels(default_image))
    assert difference.max() > 0  # measured max 6, mean 0.69 levels of 255 on this random model
    assert difference.mean() < 8  # the same picture, merged, not another one
    assert pasted_overrides(speed_engine, merged.infotext) == {"token_merging_ratio": 0.5}
    again = txt2img(speed_engine, **{"override_settings": pasted_overrides(speed_engine, merged.infotext)})
    assert np.array_equal(pixels(again), pixels(merged))
    # Removed after the job: ratio 0 is the untouched UNet's exact picture.
    assert not is_merging(speed_engine.models.get(None).unet)
    assert np.array_equal(pixels(txt2img(speed_engine)), pixels(default_image))


def test_the_hires_pass_has_its_own_ratio(speed_engine):
    hires = {"enable_hr": True, "hr_scale": 1.5, "hr_upscaler": "Latent", "denoising_strength": 0.5}
    plain = txt2img(speed_engine, **hires)
    merged = txt2img(speed_engine, **hires, override_settings={"token_merging_ratio_hr": 0.5})
    assert "Token merging ratio hr: 0.5" in merged.infotext
    assert "Token merging ratio:" not in merged.infotext  # the first pass did not merge
    assert not np.array_equal(pixels(plain), pixels(merged))
    assert pasted_overrides(speed_engine, merged.infotext) == {"token_merging_ratio_hr": 0.5}


def test_img2img_uses_its_own_ratio(speed_engine):
    init = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    fields = {**BASE, "init_images": [init], "denoising_strength": 0.8}
    plain = speed_engine.submit_img2img(Img2ImgRequest(**fields)).outcome().images[0]
    overrides = {"token_merging_ratio_img2img": 0.5}
    merged = speed_engine.submit_img2img(Img2ImgRequest(**fields, override_settings=overrides)).outcome().images[0]
    assert "Token merging ratio: 0.5" in merged.infotext
    assert not np.array_equal(pixels(plain), pixels(merged))


def test_ngms_skips_negative_rows_changes_the_picture_and_is_recorded(speed_engine, default_image):
    with CallLog(speed_engine) as log:
        fast = txt2img(speed_engine, override_settings={"s_min_uncond": 15})  # above every sigma of the schedule
    assert log.calls == [(2, 77), (1, 77)] * (STEPS // 2)  # every other step without the negative row
    assert "NGMS: 15" in fast.infotext
    assert not np.array_equal(pixels(fast), pixels(default_image))
    assert pasted_overrides(speed_engine, fast.infotext) == {"s_min_uncond": 15.0}


def test_batch_cond_uncond_off_makes_two_calls_a_step_and_the_same_picture(speed_engine, default_image):
    with CallLog(speed_engine) as log:
        apart = txt2img(speed_engine, override_settings={"batch_cond_uncond": False})
    assert log.calls == [(1, 77)] * (2 * STEPS)
    assert "Batch cond/uncond: False" in apart.infotext
    # Measured: at most 1 level of 255 apart, mean 0.0002 (float rounding of the batched matmuls).
    assert np.abs(pixels(apart) - pixels(default_image)).max() <= 2
    assert pasted_overrides(speed_engine, apart.infotext) == {"batch_cond_uncond": False}


def test_without_padding_a_long_prompt_runs_apart_from_a_short_negative(speed_engine):
    long_prompt = ", ".join(["a red cat on a green sofa"] * 14)  # more than 75 tokens: two chunks
    with CallLog(speed_engine) as padded_log:
        padded = txt2img(speed_engine, prompt=long_prompt)
    with CallLog(speed_engine) as apart_log:
        apart = txt2img(speed_engine, prompt=long_prompt, override_settings={"pad_cond_uncond": False})
    assert padded_log.calls == [(2, 154)] * STEPS
    assert apart_log.calls == [(1, 77), (1, 154)] * STEPS
    assert "Pad conds: False" in apart.infotext and "Pad conds" not in padded.infotext
    difference = np.abs(pixels(apart) - pixels(padded))
    # The negative padded with an empty chunk moves the picture a little: measured max 5 and mean
    # 0.53 levels of 255 on this model.
    assert difference.max() > 0
    assert difference.max() <= 12 and difference.mean() < 2
    assert pasted_overrides(speed_engine, apart.infotext) == {"pad_cond_uncond": False}


@pytest.fixture(scope="module")
def sdxl_engine(tmp_path_factory):
    models = tmp_path_factory.mktemp("speed-xl-models")
    save_tiny_family("sdxl", models / "Stable-diffusion" / "xl.safetensors", seed=2)
    engine = make_engine(tmp_path_factory.mktemp("speed-xl-data"), "--models-dir", str(models))
    yield engine
    engine.queue.shutdown()


def test_sdxl_rows_split_with_their_pooled_and_size_inputs(sdxl_engine):
    """SDXL's added UNet inputs (pooled text, size ids) are row-wise: calls of part of the rows get
    their rows of them (a mismatch would fail in the UNet's added embedding)."""
    batch = {"batch_size": 2, "negative_prompt": "blurry, dark"}
    together = sdxl_engine.submit_txt2img(Txt2ImgRequest(**{**BASE, **batch})).outcome().images
    with CallLog(sdxl_engine) as log:
        overrides = {"batch_cond_uncond": False}
        apart = sdxl_engine.submit_txt2img(Txt2ImgRequest(**{**BASE, **batch}, override_settings=overrides))
        apart = apart.outcome().images
    assert [rows for rows, _ in log.calls] == [2] * (2 * STEPS)  # two images a call
    for one, other in zip(together, apart, strict=True):
        assert np.abs(pixels(one) - pixels(other)).max() <= 2
    with CallLog(sdxl_engine) as log:
        skipped = sdxl_engine.submit_txt2img(
            Txt2ImgRequest(**{**BASE, **batch}, override_settings={"s_min_uncond": 15})
        )
        skipped = skipped.outcome().images
    assert [rows for rows, _ in log.calls] == [4, 2] * (STEPS // 2)
    assert not np.array_equal(pixels(skipped[0]), pixels(together[0]))
