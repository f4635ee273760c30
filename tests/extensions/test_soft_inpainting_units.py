"""Soft inpainting's parts on small tensors and pictures: the per-step latent blend (A1111's
formulas), the adaptive composite, and the script's contract (args, infotext, stage methods)."""

import functools
import importlib
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from modules.config.paths import BUNDLED_EXTENSIONS_DIR
from modules.plugins.discovery import find_extensions
from modules.plugins.manager import ExtensionManager
from modules.plugins.scripts import args_from_infotext, args_to_infotext, parse_script_args
from modules.plugins.types import MaskBlendParams, MaskOverlayParams
from modules.processing.context import ProcessingContext
from modules.processing.request import Img2ImgRequest

FOLDER = BUNDLED_EXTENSIONS_DIR / "soft_inpainting"


@functools.cache
def load() -> SimpleNamespace:
    """The bundled extension loaded as the app loads it (the tests exercise that code)."""
    others = {e.name for e in find_extensions([BUNDLED_EXTENSIONS_DIR]) if e.path.resolve() != FOLDER.resolve()}
    manager = ExtensionManager([BUNDLED_EXTENSIONS_DIR], bundled=frozenset({FOLDER}), disabled=others)
    manager.load()
    info = manager.get("soft_inpainting")
    assert info is not None and info.status == "loaded", info and info.errors
    package = info.module_name
    [[script_class]] = manager.call("scripts")
    return SimpleNamespace(
        manager=manager,
        script=script_class(),
        blending=importlib.import_module(f"{package}.blending"),
        composite=importlib.import_module(f"{package}.composite"),
    )


@pytest.fixture(scope="module")
def ext():
    return load()


# --- the per-step latent blend -------------------------------------------------------------


def test_modified_nmask_is_a1111s_power_of_sigma(ext):
    nmask = torch.tensor([0.0, 0.25, 0.5, 0.9, 1.0]).reshape(1, 1, 1, 5)
    for sigma, power, scale in ((2.0, 1.0, 0.5), (2.0, 1.5, 0.5), (0.3, 2.0, 3.0), (14.6, 1.0, 0.5)):
        got = ext.blending.modified_nmask(nmask, sigma, power, scale)
        exponent = sigma**power * scale
        expected = [0.0] + [value**exponent for value in (0.25, 0.5, 0.9, 1.0)]
        assert got.flatten().tolist() == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_high_noise_keeps_more_of_the_original_in_partial_mask(ext):
    edge = torch.full((1, 1, 2, 2), 0.5)
    early = ext.blending.modified_nmask(edge, 10.0, 1.0, 0.5)
    late = ext.blending.modified_nmask(edge, 0.1, 1.0, 0.5)
    stronger = ext.blending.modified_nmask(edge, 10.0, 1.0, 2.0)
    assert float(early.max()) < 0.05 < 0.9 < float(late.min())  # original early, generated late
    assert float(stronger.max()) < float(early.min())  # a larger preservation strength keeps more


def test_per_image_sigma_gives_a_weight_per_image(ext):
    nmask = torch.full((1, 1, 3, 3), 0.5)
    weights = ext.blending.modified_nmask(nmask, torch.tensor([1.0, 4.0]), 1.0, 1.0)
    assert weights.shape == (2, 1, 3, 3)
    assert weights[0].unique().tolist() == pytest.approx([0.5])
    assert weights[1].unique().tolist() == pytest.approx([0.5**4])


def test_nothing_to_inpaint_stays_nothing_even_at_scale_zero(ext):
    nmask = torch.tensor([0.0, 0.5, 1.0]).reshape(1, 1, 1, 3)
    assert ext.blending.modified_nmask(nmask, 5.0, 1.0, 0.0).flatten().tolist() == [0.0, 1.0, 1.0]


def _random_latents(seed: int, shape=(2, 4, 5, 6)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_blend_ends_are_the_two_latents(ext):
    init, denoised = _random_latents(1), _random_latents(2)
    zeros, ones = torch.zeros(1, 1, 5, 6), torch.ones(1, 1, 5, 6)
    assert torch.allclose(ext.blending.latent_blend(init, denoised, zeros, 4.0), init, rtol=1e-4, atol=1e-5)
    assert torch.allclose(ext.blending.latent_blend(init, denoised, ones, 4.0), denoised, rtol=1e-4, atol=1e-5)


def test_blend_keeps_magnitude_where_a_lerp_loses_it(ext):
    # Two orthogonal latent vectors of the same length: the plain lerp halfway is 1/sqrt(2) as long.
    init = torch.tensor([3.0, 0.0, 0.0, 0.0]).reshape(1, 4, 1, 1)
    denoised = torch.tensor([0.0, 3.0, 0.0, 0.0]).reshape(1, 4, 1, 1)
    half = torch.full((1, 1, 1, 1), 0.5)
    lerp = init * 0.5 + denoised * 0.5
    blended = ext.blending.latent_blend(init, denoised, half, 4.0)
    assert float(lerp.norm()) == pytest.approx(3 / math.sqrt(2), rel=1e-5)
    assert float(blended.norm()) == pytest.approx(3.0, rel=1e-5)
    cosine = torch.nn.functional.cosine_similarity(blended.flatten(), lerp.flatten(), dim=0)
    assert float(cosine) == pytest.approx(1.0, abs=1e-6)  # same direction as the lerp


def test_blend_length_is_the_detail_power_mean(ext):
    init, denoised = _random_latents(3), _random_latents(4) * 3
    weight = torch.rand((2, 1, 5, 6), generator=torch.Generator().manual_seed(5))
    for detail in (1.0, 4.0, 32.0):
        blended = ext.blending.latent_blend(init, denoised, weight, detail)
        a, b = init.double().norm(dim=1, keepdim=True), denoised.double().norm(dim=1, keepdim=True)
        wanted = ((1 - weight.double()) * a**detail + weight.double() * b**detail) ** (1 / detail)
        assert torch.allclose(blended.double().norm(dim=1, keepdim=True), wanted, rtol=1e-4)
    high = ext.blending.latent_blend(init, denoised, weight, 32.0).norm(dim=1)
    low = ext.blending.latent_blend(init, denoised, weight, 1.0).norm(dim=1)
    assert bool((high >= low - 1e-5).all())  # more detail preservation: never shorter


def test_blend_accepts_a_weight_per_channel(ext):
    init, denoised = _random_latents(6), _random_latents(7)
    weight = torch.rand((2, 1, 5, 6), generator=torch.Generator().manual_seed(8))
    one = ext.blending.latent_blend(init, denoised, weight, 4.0)
    four = ext.blending.latent_blend(init, denoised, weight.expand(2, 4, 5, 6), 4.0)
    assert torch.allclose(one, four)


def _context(request=None) -> ProcessingContext:
    return ProcessingContext(request=request, model=None, settings=None, models_dir=None, prompt="", negative_prompt="")


def test_script_mask_blend_per_step_and_final(ext):
    args = parse_script_args(ext.script, {"enabled": True, "mask_blend_power": 1.5, "mask_blend_scale": 0.75})
    init, denoised = _random_latents(9, (1, 4, 3, 3)), _random_latents(10, (1, 4, 3, 3))
    nmask = torch.tensor([[0.0, 0.3, 1.0]] * 3).reshape(1, 1, 3, 3)
    params = MaskBlendParams(denoised=denoised, init_latent=init, mask=1 - nmask, nmask=nmask,
                             sigma=torch.tensor([2.0]), step=0, total_steps=3, is_final=False)  # fmt: skip
    blended = ext.script.mask_blend(_context(), args, params)
    weight = nmask ** (2.0**1.5 * 0.75)
    assert torch.allclose(blended, ext.blending.latent_blend(init, denoised, weight, 4.0))
    assert torch.allclose(blended[..., 0], init[..., 0], rtol=1e-4, atol=1e-5)  # unmasked: the init
    assert torch.allclose(blended[..., 2], denoised[..., 2], rtol=1e-4, atol=1e-5)  # fully masked: denoised
    # After the last step A1111 keeps the sampled latent whole: the adaptive overlay decides.
    final = MaskBlendParams(denoised=denoised, init_latent=init, mask=1 - nmask, nmask=nmask,
                            sigma=torch.tensor([0.0]), step=3, total_steps=3, is_final=True)  # fmt: skip
    assert ext.script.mask_blend(_context(), args, final) is denoised


# --- the adaptive composite ------------------------------------------------------------------


def test_kernel_is_a1111s_tapered_gaussian(ext):
    kernel = ext.composite.gaussian_kernel()
    assert kernel.shape == (5, 5) and kernel[2, 2] == 1.0
    assert np.allclose(kernel, kernel.T) and np.allclose(kernel, kernel[::-1])
    floor = math.exp(-9 / 2.25)
    assert kernel[2, 3] == pytest.approx((math.exp(-1 / 2.25) - floor) / (1 - floor))
    assert 0 < kernel[0, 0] < kernel[0, 1] < kernel[0, 2] < kernel[1, 2]


def _reference_filter(values, kernel, low, high, min_width=1.0):
    """The filter written out cell by cell, the slow way."""
    out = np.zeros_like(values, dtype=np.float64)
    radius = kernel.shape[0] // 2
    for y in range(values.shape[0]):
        for x in range(values.shape[1]):
            items = []
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    if 0 <= y + dy < values.shape[0] and 0 <= x + dx < values.shape[1]:
                        items.append((values[y + dy, x + dx], kernel[dy + radius, dx + radius]))
            items.sort(key=lambda item: item[0])
            total = sum(w for _, w in items)
            start, end = total * low, total * high
            if end - start < min_width:
                centre = (start + end) / 2
                start, end = centre - min_width / 2, centre + min_width / 2
                if end > total:
                    start, end = total - min_width, total
                if start < 0:
                    start, end = 0, min_width
            acc = weight_sum = 0.0
            bottom = 0.0
            for value, w in items:
                top = bottom + w
                overlap = max(0.0, min(end, top) - max(start, bottom))
                acc, weight_sum = acc + value * overlap, weight_sum + overlap
                bottom = top
            out[y, x] = acc / weight_sum if weight_sum else 0.0
    return out


@pytest.mark.parametrize("window", [(0.9, 1.0), (0.25, 0.75), (0.0, 1.0), (0.5, 0.5)])
def test_histogram_filter_matches_the_cell_by_cell_definition(ext, window):
    values = np.random.default_rng(11).random((6, 7))
    kernel = ext.composite.gaussian_kernel()
    got = ext.composite.weighted_histogram_filter(values, kernel, *window)
    assert np.allclose(got, _reference_filter(values, kernel, *window))


def test_histogram_filter_spreads_then_removes_a_spike(ext):
    spike = np.zeros((9, 9))
    spike[4, 4] = 1.0
    kernel = ext.composite.gaussian_kernel()
    spread = ext.composite.weighted_histogram_filter(spike, kernel, 0.9, 1.0)
    expected = np.zeros((9, 9))
    expected[2:7, 2:7] = kernel  # the top 1 weight unit of each neighbourhood: the spike's share
    assert np.allclose(spread, expected)
    assert np.allclose(ext.composite.weighted_histogram_filter(spike, kernel, 0.25, 0.75), 0.0)


def _pictures(size=(48, 40)):
    rng = np.random.default_rng(12)
    original = Image.fromarray(rng.integers(30, 220, (size[1], size[0], 3), dtype=np.uint8))
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle((12, 10, 35, 29), fill=255)
    return original, mask.filter(ImageFilter.GaussianBlur(3))


def _overlay(ext, image, original, mask, **changes):
    args = parse_script_args(ext.script, {"enabled": True, **changes})
    params = MaskOverlayParams(image=image, original=original, mask=mask, index=0)
    return np.asarray(ext.script.mask_overlay(_context(), args, params), dtype=np.int16)


def test_overlay_is_exactly_the_original_where_the_mask_is_zero(ext):
    original, mask = _pictures()
    image = Image.fromarray(255 - np.asarray(original))  # as different as it gets
    result = _overlay(ext, image, original, mask)
    outside = np.asarray(mask) == 0
    assert outside.sum() > 500 and (~outside).sum() > 500
    assert np.array_equal(result[outside], np.asarray(original, dtype=np.int16)[outside])


def test_overlay_keeps_the_original_where_nothing_changed(ext):
    original, mask = _pictures()
    assert np.array_equal(_overlay(ext, original.copy(), original, mask), np.asarray(original))
    # A change far below the threshold (3 levels per channel) gives the original back, too.
    nudged = Image.fromarray(np.asarray(original) + 3)
    assert np.array_equal(_overlay(ext, nudged, original, mask), np.asarray(original))


def test_overlay_takes_the_generated_picture_where_it_changed_a_lot(ext):
    original = Image.new("RGB", (64, 64), (60, 60, 60))
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((8, 8, 55, 55), fill=255)
    image = Image.new("RGB", (64, 64), (240, 200, 20))
    result = _overlay(ext, image, original, mask)
    inner = np.asarray(mask) == 255
    # A1111's curve leaves the original a trace (0.3 % at this distance): within one level.
    assert np.abs(result[inner] - np.asarray(image, dtype=np.int16)[inner]).max() <= 1
    assert np.array_equal(result[~inner], np.asarray(original, dtype=np.int16)[~inner])
    # Black to white (the largest distance) is all generated.
    white = _overlay(ext, Image.new("RGB", (64, 64), "white"), Image.new("RGB", (64, 64), "black"), mask)
    assert np.array_equal(white[inner], np.full((inner.sum(), 3), 255))


def test_overlay_threshold_and_mask_influence(ext):
    original = Image.new("RGB", (64, 64), (100, 100, 100))
    image = Image.new("RGB", (64, 64), (151, 100, 100))  # distance 51 / 127.5 = 0.4 everywhere
    full = Image.new("L", (64, 64), 255)
    at_threshold = _overlay(ext, image, original, full, composite_difference_threshold=0.4)
    assert np.abs(at_threshold[..., 0] - (100 + 51 * 128 / 255)).max() <= 1  # half of each (share 128/255)
    below = _overlay(ext, image, original, full, composite_difference_threshold=4.0)
    above = _overlay(ext, image, original, full, composite_difference_threshold=0.1)
    assert np.array_equal(below, np.asarray(original)) and np.array_equal(above, np.asarray(image))
    # With full mask influence a fully masked pixel takes any change, however small.
    nudged = Image.fromarray(np.asarray(original) + 3)
    follows_mask = _overlay(ext, nudged, original, full, composite_mask_influence=1.0)
    assert np.array_equal(follows_mask, np.asarray(nudged))


def test_overlay_leaves_pictures_of_another_size_to_the_default(ext):
    original, mask = _pictures()
    args = parse_script_args(ext.script, {"enabled": True})
    params = MaskOverlayParams(image=original.resize((24, 20)), original=original, mask=mask, index=0)
    assert ext.script.mask_overlay(_context(), args, params) is None


# --- the script's contract -------------------------------------------------------------------


def test_script_declaration(ext):
    script = ext.script
    assert (script.title, script.alwayson, script.modes) == ("Soft Inpainting", True, ("img2img",))
    defaults = parse_script_args(script, None)
    assert defaults.model_dump() == {
        "enabled": False, "mask_blend_power": 1.0, "mask_blend_scale": 0.5, "inpaint_detail_preservation": 4.0,
        "composite_mask_influence": 0.0, "composite_difference_threshold": 0.5, "composite_difference_contrast": 2.0,
    }  # fmt: skip
    assert not script.enabled(defaults)
    positional = parse_script_args(script, [True, 2, 1, 8, 0.5, 1, 3])  # A1111 clients' order
    assert script.enabled(positional) and positional.inpaint_detail_preservation == 8.0
    for bad in ({"mask_blend_power": 9}, {"inpaint_detail_preservation": 0.5}, {"composite_mask_influence": 2}):
        with pytest.raises(ValueError, match="Soft Inpainting"):
            parse_script_args(script, bad)


def test_infotext_uses_a1111s_keys_and_reads_back(ext):
    args = parse_script_args(ext.script, {"enabled": True, "mask_blend_power": 1.5, "composite_difference_contrast": 3})
    written = args_to_infotext(ext.script, args)
    assert written == {
        "Soft inpainting enabled": True,
        "Soft inpainting schedule bias": 1.5,
        "Soft inpainting preservation strength": 0.5,
        "Soft inpainting transition contrast boost": 4.0,
        "Soft inpainting mask influence": 0.0,
        "Soft inpainting difference threshold": 0.5,
        "Soft inpainting difference contrast": 3.0,
    }
    pasted = {key: str(value) for key, value in written.items()}  # parsed infotext holds text
    assert args_from_infotext(ext.script, pasted) == args
    assert args_from_infotext(ext.script, {"Steps": "20"}) is None


def _request(with_mask: bool) -> Img2ImgRequest:
    picture = Image.new("RGB", (64, 64), "gray")
    return Img2ImgRequest(init_images=[picture], mask=Image.new("L", (64, 64), 255) if with_mask else None)


def test_process_softens_the_mask_only_for_inpainting(ext):
    args = parse_script_args(ext.script, {"enabled": True})
    inpaint = _context(_request(with_mask=True))
    inpaint.extra_generation_params.update(args_to_infotext(ext.script, args))
    ext.script.process(inpaint, args)
    assert inpaint.mask_round is False and inpaint.extra_generation_params["Soft inpainting enabled"] is True
    plain = _context(_request(with_mask=False))
    plain.extra_generation_params.update({"Denoising strength": 0.75, **args_to_infotext(ext.script, args)})
    ext.script.process(plain, args)
    assert plain.mask_round is True and plain.extra_generation_params == {"Denoising strength": 0.75}


def test_controls_are_the_args(ext):
    import gradio as gr

    with gr.Blocks():
        controls = ext.script.ui()
    fields = ext.script.Args.model_fields
    assert list(controls) == list(fields)
    assert isinstance(controls["enabled"], gr.Checkbox) and controls["enabled"].value is False
    slider = controls["inpaint_detail_preservation"]
    assert (slider.minimum, slider.maximum, slider.value, slider.label) == (1, 32, 4.0, "Transition contrast boost")
    for name in list(fields)[1:]:
        assert controls[name].value == fields[name].default
