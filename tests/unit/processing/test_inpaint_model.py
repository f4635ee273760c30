"""The extra UNet input channels of 9-channel inpainting models and instruct-pix2pix, against the
tensors diffusers' own pipelines build from the same picture and mask on the same tiny VAE."""

import numpy as np
import pytest
import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionInpaintPipeline,
    StableDiffusionInstructPix2PixPipeline,
    UNet2DConditionModel,
)
from PIL import Image, ImageDraw, ImageFilter

from modules.images.pixels import to_model_pixels
from modules.models.loading import SD1_CONFIG_DIR
from modules.processing import inpaint_model
from tests.fixtures.tiny_model import UNET_CONFIG, VAE_CONFIG


def near_deterministic_vae(seed: int = 0) -> AutoencoderKL:
    """The tiny VAE with its posterior's log-variance pinned at the clamp floor (-30): diffusers'
    inpaint pipeline samples the posterior, we take its mean; with std ~3e-7 the two agree."""
    torch.manual_seed(seed)
    vae = AutoencoderKL(**VAE_CONFIG).eval()
    latent = VAE_CONFIG["latent_channels"]
    with torch.no_grad():
        vae.quant_conv.weight[latent:] = 0
        vae.quant_conv.bias[latent:] = -30
    return vae


def pipeline(kind, in_channels: int, vae: AutoencoderKL):
    torch.manual_seed(1)
    unet = UNet2DConditionModel(**{**UNET_CONFIG, "in_channels": in_channels}).eval()
    scheduler = EulerDiscreteScheduler.from_pretrained(SD1_CONFIG_DIR / "scheduler")
    return kind(vae=vae, text_encoder=None, tokenizer=None, unet=unet, scheduler=scheduler, safety_checker=None,
                feature_extractor=None, requires_safety_checker=False)  # fmt: skip


def picture(seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8))


def soft_mask() -> Image.Image:
    """A box with blurred edges: grey levels on both sides of one half, so rounding matters."""
    mask = Image.new("L", (64, 64))
    ImageDraw.Draw(mask).rectangle((13, 21, 44, 50), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(4))


def test_inpainting_channels_match_the_inpaint_pipeline():
    vae = near_deterministic_vae()
    pipe = pipeline(StableDiffusionInpaintPipeline, 9, vae)
    image, mask = picture(), soft_mask()
    init = pipe.image_processor.preprocess(image, height=64, width=64).float()
    mask_condition = pipe.mask_processor.preprocess(mask, height=64, width=64)
    masked = init * (mask_condition < 0.5)
    expected_mask, expected_latents = pipe.prepare_mask_latents(
        mask_condition, masked, 1, 64, 64, torch.float32, "cpu", torch.Generator().manual_seed(0), False
    )  # fmt: skip

    ours = inpaint_model.inpainting_channels(vae, to_model_pixels([image]), inpaint_model.conditioning_mask(mask),
                                             (8, 8), weight=1.0)  # fmt: skip

    assert ours.shape == (1, 5, 8, 8)
    assert torch.equal(ours[:, :1], expected_mask)
    assert 0 < float(expected_mask.mean()) < 1  # a real mask: some cells repaint, some keep
    torch.testing.assert_close(ours[:, 1:], expected_latents, atol=2e-5, rtol=1e-4)


def test_mask_strength_zero_shows_the_whole_picture_and_one_masks_it():
    vae = near_deterministic_vae()
    pipe = pipeline(StableDiffusionInpaintPipeline, 9, vae)
    image, mask = picture(2), soft_mask()
    pixels = to_model_pixels([image])
    whole = pipe._encode_vae_image(pipe.image_processor.preprocess(image, height=64, width=64).float(),
                                   torch.Generator().manual_seed(0))  # fmt: skip
    weights = inpaint_model.conditioning_mask(mask)
    shown = inpaint_model.inpainting_channels(vae, pixels, weights, (8, 8), weight=0.0)
    masked = inpaint_model.inpainting_channels(vae, pixels, weights, (8, 8), weight=1.0)
    half = inpaint_model.inpainting_channels(vae, pixels, weights, (8, 8), weight=0.5)
    torch.testing.assert_close(shown[:, 1:], whole, atol=2e-5, rtol=1e-4)
    assert not torch.allclose(masked[:, 1:], whole, atol=1e-3)
    expected_half = inpaint_model.encode_scaled(vae, pixels * (1 - 0.5 * weights))
    torch.testing.assert_close(half[:, 1:], expected_half, atol=2e-5, rtol=1e-4)
    assert torch.equal(shown[:, :1], masked[:, :1])  # the mask channel is the mask whatever the strength


def test_soft_mask_is_kept_when_rounding_is_off():
    mask = soft_mask()
    rounded = inpaint_model.conditioning_mask(mask)
    soft = inpaint_model.conditioning_mask(mask, round_mask=False)
    assert set(torch.unique(rounded).tolist()) == {0.0, 1.0}
    assert ((soft > 0) & (soft < 1)).any()
    assert torch.equal(torch.round(soft), rounded)


def test_img2img_without_mask_masks_everything():
    vae = near_deterministic_vae()
    pixels = to_model_pixels([picture(3)])
    channels = inpaint_model.inpainting_channels(vae, pixels, None, (8, 8), weight=1.0)
    grey = inpaint_model.encode_scaled(vae, torch.zeros(1, 3, 64, 64))
    assert torch.equal(channels[:, :1], torch.ones(1, 1, 8, 8))
    torch.testing.assert_close(channels[:, 1:], grey)


def test_txt2img_conditioning_of_an_inpainting_model_is_a_full_mask_over_grey():
    vae = near_deterministic_vae()
    pipe = pipeline(StableDiffusionInpaintPipeline, 9, vae)
    channels = inpaint_model.txt2img_inpainting_channels(vae, 2, 64, 48)
    grey = pipe._encode_vae_image(torch.zeros(1, 3, 48, 64), torch.Generator().manual_seed(0))
    assert channels.shape == (2, 5, 6, 8)
    assert torch.equal(channels[:, :1], torch.ones(2, 1, 6, 8))
    torch.testing.assert_close(channels[:1, 1:], grey, atol=2e-5, rtol=1e-4)
    assert torch.equal(channels[0], channels[1])


def test_ip2p_channels_match_the_instruct_pix2pix_pipeline():
    torch.manual_seed(4)
    vae = AutoencoderKL(**VAE_CONFIG).eval()  # ip2p takes the mode: no sampling to pin down
    pipe = pipeline(StableDiffusionInstructPix2PixPipeline, 8, vae)
    images = [picture(5), picture(6)]
    processed = pipe.image_processor.preprocess(images).float()
    expected = pipe.prepare_image_latents(processed, 2, 1, torch.float32, "cpu", False)
    ours = inpaint_model.ip2p_image_channels(vae, to_model_pixels(images))
    assert ours.shape == (2, 4, 8, 8)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
    # Unscaled: the VAE's scaling factor is not applied (an ordinary encode would be ~0.18x these).
    torch.testing.assert_close(
        ours * vae.config.scaling_factor, inpaint_model.encode_scaled(vae, to_model_pixels(images))
    )


@pytest.mark.parametrize(("channels", "expected"), [(4, None), (8, (2, 4, 8, 8)), (9, (2, 5, 8, 8))])
def test_txt2img_extra_channels_by_unet_width(channels, expected):
    torch.manual_seed(0)
    model = type("Model", (), {})()
    model.vae = near_deterministic_vae()
    model.unet = UNet2DConditionModel(**{**UNET_CONFIG, "in_channels": channels})
    result = inpaint_model.txt2img_extra_channels(model, 2, 64, 64)
    assert (None if result is None else tuple(result.shape)) == expected
    if channels == 8:
        assert not result.any()  # no picture to edit: the "no image" rows' zeros


def test_an_unknown_unet_width_is_refused_with_the_reason():
    model = type("Model", (), {})()
    model.vae = near_deterministic_vae()
    model.unet = UNet2DConditionModel(**{**UNET_CONFIG, "in_channels": 7})
    with pytest.raises(ValueError, match="7 input channels"):
        inpaint_model.txt2img_extra_channels(model, 1, 64, 64)


def test_hires_pass_shows_the_first_pass_only_below_full_mask_strength():
    torch.manual_seed(0)
    model = type("Model", (), {})()
    model.vae = near_deterministic_vae()
    model.unet = UNet2DConditionModel(**{**UNET_CONFIG, "in_channels": 9})
    pictures = [picture(7), picture(8)]
    grey = inpaint_model.txt2img_extra_channels(model, 2, 64, 64)
    full = inpaint_model.txt2img_extra_channels(model, 2, 64, 64, pictures, mask_weight=1.0)
    partial = inpaint_model.txt2img_extra_channels(model, 2, 64, 64, pictures, mask_weight=0.25)
    assert torch.equal(full, grey)
    expected = inpaint_model.encode_scaled(model.vae, 0.75 * to_model_pixels(pictures))
    torch.testing.assert_close(partial[:, 1:], expected, atol=2e-5, rtol=1e-4)
    assert torch.equal(partial[:, :1], torch.ones(2, 1, 8, 8))
    assert inpaint_model.conditioning_infotext(model, 0.25) == {"Conditional mask weight": 0.25}
