"""FP8 weight storage on the tiny UNet: resident bytes measured, outputs close to full precision,
A1111's setting values per family, patches merged into and restored from 8-bit weights."""

from types import SimpleNamespace

import pytest
import torch

from modules.models.fp8 import fp8_wanted, parameter_bytes, store_weights_fp8, weights_in_fp8
from modules.models.patcher import Patch, PatchSet
from tests.extensions.lycoris_support import loaded_model


def unet_output(unet) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(1, unet.config.in_channels, 8, 8, generator=generator)
    context = torch.randn(1, 77, unet.config.cross_attention_dim, generator=generator)
    with torch.no_grad():
        return unet(latents, torch.tensor([500]), context).sample


def test_fp8_storage_quarters_the_fp32_linear_and_conv_weights_and_stays_close():
    model = loaded_model()
    full = unet_output(model.unet)
    before = parameter_bytes(model.unet)
    assert not weights_in_fp8(model.unet)
    saved = store_weights_fp8(model.unet, torch.float32)
    after = parameter_bytes(model.unet)
    print(f"tiny UNet parameters: {before} bytes fp32 -> {after} bytes with FP8 weight ({after / before:.3f})")
    assert saved == before - after and weights_in_fp8(model.unet)
    assert after <= before / 2  # fp32 -> 1 byte for every Linear / Conv weight; norms stay full
    assert model.unet.dtype == torch.float32  # what callers make inputs in: the compute dtype
    assert store_weights_fp8(model.unet, torch.float32) == 0  # already stored so
    fp8 = unet_output(model.unet)
    assert fp8.dtype == torch.float32
    difference = (fp8 - full).abs().max().item()
    print(f"UNet output max difference fp8 vs fp32: {difference:.4f} (output scale {full.abs().max().item():.3f})")
    assert 0 < difference < 0.5 * full.abs().max().item()


def test_a1111_setting_values_per_family():
    sdxl, sd1 = SimpleNamespace(latent_space="sdxl"), SimpleNamespace(latent_space="sd")
    assert fp8_wanted("Enable", sd1) and fp8_wanted("Enable", sdxl)
    assert fp8_wanted("Enable for SDXL", sdxl) and not fp8_wanted("Enable for SDXL", sd1)
    assert not fp8_wanted("Disable", sdxl)
    with pytest.raises(ValueError, match="Enable for SDXL"):
        fp8_wanted("Maybe", sd1)
    with pytest.raises(ValueError, match="compute dtype"):
        store_weights_fp8(loaded_model().unet, torch.float8_e4m3fn)


def test_patches_merge_into_fp8_weights_and_restore_their_exact_bytes():
    model = loaded_model()
    store_weights_fp8(model.unet, torch.float32)
    layer = model.unet.get_submodule("down_blocks.1.attentions.0.proj_in")
    stored = layer.weight.detach().clone()
    assert stored.dtype == torch.float8_e4m3fn

    def delta(original):
        return torch.full_like(original, 0.5), None

    model.patcher.apply(PatchSet([Patch("unet", "down_blocks.1.attentions.0.proj_in", delta, 1.0, "half")]))
    assert layer.weight.dtype == torch.float8_e4m3fn  # still 8 bits: the merge went into the stored weight
    expected = (stored.float() + 0.5).to(torch.float8_e4m3fn)
    assert torch.equal(layer.weight.view(torch.uint8), expected.view(torch.uint8))
    unet_output(model.unet)  # runs with the merged 8-bit weights
    model.patcher.restore()
    assert torch.equal(layer.weight.view(torch.uint8), stored.view(torch.uint8))


def test_cached_full_precision_weights_are_what_patches_start_from():
    model = loaded_model()
    path = "down_blocks.1.attentions.0.proj_in"
    full = model.unet.get_submodule(path).weight.detach().clone()
    kept = model.patcher.keep_full_precision("unet", torch.float32)
    store_weights_fp8(model.unet, torch.float32)
    assert kept > 0 and model.patcher.keeps_full_precision
    seen = []

    def delta(original):
        seen.append(original.clone())
        return torch.zeros_like(original), None

    model.patcher.apply(PatchSet([Patch("unet", path, delta, 1.0, "zero")]))
    assert torch.equal(seen[0], full)  # not the fp8-rounded weight
    rounded = full.to(torch.float8_e4m3fn)
    assert torch.equal(model.unet.get_submodule(path).weight.view(torch.uint8), rounded.view(torch.uint8))
