"""Soft inpainting through the whole engine on the tiny model: enabled per job with
`alwayson_scripts`, it changes the inpainted picture, records A1111's infotext (which pastes
back to the same args), and never touches a pixel outside the blurred mask."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from modules.images.masks import blur_mask
from modules.processing.request import Img2ImgRequest

TITLE = "Soft Inpainting"
CHOSEN = {
    "enabled": True,
    "mask_blend_power": 1.5,
    "mask_blend_scale": 0.75,
    "inpaint_detail_preservation": 8.0,
    "composite_mask_influence": 0.25,
    "composite_difference_threshold": 1.0,
    "composite_difference_contrast": 3.0,
}


def picture(width=64, height=64) -> Image.Image:
    rng = np.random.default_rng(7)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def square_mask(width=64, height=64, box=(22, 20, 41, 43)) -> Image.Image:
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


def run(engine, soft=None, **fields):
    values = dict(prompt="a cat", steps=3, width=64, height=64, seed=3, save_images=False, denoising_strength=0.9,
                  init_images=[picture()], mask=square_mask(), mask_blur=4)  # fmt: skip
    values.update(fields)
    if soft is not None:
        values["alwayson_scripts"] = {TITLE: {"args": soft}}
    result = engine.submit_img2img(Img2ImgRequest(**values)).outcome()
    info = engine.extensions.get("soft_inpainting")
    assert info.status == "loaded" and info.errors == []
    assert not result.warnings
    return result


def pixels(result, index=0) -> np.ndarray:
    return np.asarray(result.images[index].image.convert("RGB"), dtype=np.int16)


def test_enabled_soft_inpainting_changes_the_picture_and_records_its_args(engine):
    plain = run(engine)
    soft = run(engine, CHOSEN)
    assert np.abs(pixels(soft) - pixels(plain)).max() > 0
    text = soft.images[0].infotext
    for part in ("Soft inpainting enabled: True", "Soft inpainting schedule bias: 1.5",
                 "Soft inpainting preservation strength: 0.75", "Soft inpainting transition contrast boost: 8",
                 "Soft inpainting mask influence: 0.25", "Soft inpainting difference threshold: 1",
                 "Soft inpainting difference contrast: 3"):  # fmt: skip
        assert part in text
    assert "Soft inpainting" not in plain.images[0].infotext
    fields = engine.fields_from_infotext(text)
    assert fields["alwayson_scripts"][TITLE] == CHOSEN
    assert fields["denoising_strength"] == pytest.approx(0.9)


def test_pixels_outside_the_blurred_mask_are_the_inputs(engine):
    result = run(engine, CHOSEN, batch_size=2)
    outside = np.asarray(blur_mask(square_mask(), 4, 4)) == 0
    assert 1000 < outside.sum() < 64 * 64
    source = np.asarray(picture(), dtype=np.int16)
    for index in range(2):
        assert np.array_equal(pixels(result, index)[outside], source[outside])


def test_only_masked_keeps_the_rest_of_a_larger_picture(engine):
    source, mask = picture(96, 80), square_mask(96, 80, (50, 30, 69, 49))
    result = run(engine, CHOSEN, init_images=[source], mask=mask, inpaint_full_res=True,
                 inpaint_full_res_padding=8)  # fmt: skip
    image = pixels(result)
    assert image.shape == (80, 96, 3)
    outside = np.asarray(blur_mask(mask, 4, 4)) == 0
    assert np.array_equal(image[outside], np.asarray(source, dtype=np.int16)[outside])
    assert np.abs(image[~outside] - np.asarray(source, dtype=np.int16)[~outside]).max() > 0


@pytest.mark.parametrize("change", [{"mask_blend_scale": 4.0}, {"inpaint_detail_preservation": 1.0}])
def test_the_per_step_blend_follows_its_parameters(engine, change):
    # Mask influence 0: these two parameters reach the picture only through the per-step blend.
    base = {**CHOSEN, "composite_mask_influence": 0.0}
    first, second = run(engine, base), run(engine, {**base, **change})
    assert np.abs(pixels(first) - pixels(second)).max() > 0


def test_disabled_or_without_a_mask_it_stays_out(engine):
    plain = run(engine)
    disabled = run(engine, {**CHOSEN, "enabled": False})
    assert np.array_equal(pixels(disabled), pixels(plain))
    assert "Soft inpainting" not in disabled.images[0].infotext
    no_mask_plain = run(engine, mask=None)
    no_mask_soft = run(engine, CHOSEN, mask=None)
    assert np.array_equal(pixels(no_mask_soft), pixels(no_mask_plain))
    assert "Soft inpainting" not in no_mask_soft.images[0].infotext


def test_img2img_tab_shows_its_controls_in_an_accordion(engine):
    import gradio as gr

    from webui.components.scripts import build_script_controls

    with gr.Blocks():
        img2img = build_script_controls(engine, "img2img")
        txt2img = build_script_controls(engine, "txt2img")
    assert TITLE in img2img.alwayson_titles and TITLE not in txt2img.alwayson_titles
    slots = {name for title, name in img2img.by_slot if title == TITLE}
    assert slots == set(CHOSEN)
    values = {component: CHOSEN[name] for (title, name), component in img2img.by_slot.items() if title == TITLE}
    values.update({c: None for (t, _), c in img2img.by_slot.items() if t != TITLE})
    values[img2img.dropdown] = "None"
    _, _, alwayson = img2img.collect(values)
    assert alwayson[TITLE] == CHOSEN
