"""Every control of the txt2img tab set to a value other than its default from a real browser:
the Generate handler reads them by name and each one reaches the engine, as the infotext shown and
the saved PNGs' parameters record."""

import json

import pytest

from modules.images.infotext import parse_infotext
from tests.e2e.browser import choose, open_ui, set_number, start_ui_server

pytestmark = pytest.mark.browser

INFO = "document.querySelector('#html_info_txt2img').innerText"


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("ui-every-control")
    # A style to choose, saved before the server starts.
    (data_dir / "styles.csv").write_text('name,prompt,negative_prompt\nshiny,"{prompt}, shiny",dull\n')
    running = start_ui_server(data_dir, tiny_single_file)
    yield running
    running.stop()


def type_number(page, selector: str, value) -> None:
    box = page.locator(selector)
    box.fill(str(value))
    box.press("Tab")


def test_every_control_reaches_the_engine(ui_server, page):
    open_ui(page, ui_server)
    page.fill("#txt2img_prompt textarea", "a red ball")
    page.fill("#txt2img_neg_prompt textarea", "noise")
    choose(page, "txt2img_styles", "shiny")
    choose(page, "txt2img_sampling", "Euler")
    choose(page, "txt2img_scheduler", "Karras")
    for elem_id, value in (
        ("txt2img_steps", 3),
        ("txt2img_width", 80),
        ("txt2img_height", 64),
        ("txt2img_batch_count", 2),
        ("txt2img_batch_size", 2),
        ("txt2img_cfg_scale", 5.5),
        ("quicksettings_clip_skip", 2),
    ):
        set_number(page, elem_id, value)
    type_number(page, "#txt2img_seed input", 777)
    page.click("#txt2img_seed_extras")  # open the accordion
    type_number(page, "#txt2img_subseed input", 99)
    for elem_id, value in (
        ("txt2img_subseed_strength", 0.3),
        ("txt2img_seed_resize_from_w", 96),
        ("txt2img_seed_resize_from_h", 88),
    ):
        set_number(page, elem_id, value)
    page.click("#txt2img_hr")
    page.check("#txt2img_enable_hr input")
    choose(page, "txt2img_hr_upscaler", "Lanczos")
    for elem_id, value in (("txt2img_hr_scale", 4.5), ("txt2img_hires_steps", 2), ("txt2img_denoising_strength", 0.45)):
        set_number(page, elem_id, value)
    choose(page, "txt2img_hr_sampler", "DPM++ 2M")
    choose(page, "txt2img_hr_scheduler", "Exponential")
    page.fill("#txt2img_hr_prompt textarea", "a blue ball")
    page.fill("#txt2img_hr_negative_prompt textarea", "blurry")

    # Clip skip is a quick setting: saved on change, and the job reads the saved settings.
    config = ui_server.data_dir / "config.json"
    for _ in range(100):
        if config.exists() and json.loads(config.read_text()).get("CLIP_stop_at_last_layers") == 2:
            break
        page.wait_for_timeout(100)
    page.click("#txt2img_generate")
    page.wait_for_function(f"{INFO}.includes('Seed: 777')", timeout=120_000)
    expected = {
        "Prompt": "a red ball, shiny",  # the style applied
        "Negative prompt": "noise, dull",
        "Steps": 3,
        "Sampler": "Euler",
        "Schedule type": "Karras",
        "CFG scale": 5.5,
        "Seed": 777,
        "Size": "80x64",
        "Clip skip": 2,
        "Variation seed": 99,
        "Variation seed strength": 0.3,
        "Seed resize from": "96x88",
        "Denoising strength": 0.45,
        "Hires upscale": 4.5,  # beyond the 4 the slider once stopped at: the model allows 8
        "Hires steps": 2,
        "Hires upscaler": "Lanczos",
        "Hires sampler": "DPM++ 2M",
        "Hires schedule type": "Exponential",
        "Hires prompt": "a blue ball",
        "Hires negative prompt": "blurry",
    }
    shown = parse_infotext(page.inner_text("#html_info_txt2img"))
    assert {key: shown.get(key) for key in expected} == expected

    # Batch count 2 x batch size 2: four pictures at the hires size. With a variation strength the
    # seed stays and the variation seed counts up, as in A1111.
    page.wait_for_function("document.querySelectorAll('#txt2img_gallery img').length >= 4")
    saved = sorted((ui_server.data_dir / "outputs" / "txt2img-images").rglob("*.png"))
    assert [p.name.split("-", 1)[1] for p in saved] == ["777.png"] * 4
    from PIL import Image

    variation_seeds = []
    for path in saved:
        with Image.open(path) as image:
            assert image.size == (360, 288)
            parsed = parse_infotext(image.info["parameters"])
        variation_seeds.append(parsed["Variation seed"])
        assert {key: parsed.get(key) for key in expected} == {**expected, "Variation seed": parsed["Variation seed"]}
    assert sorted(variation_seeds) == [99, 100, 101, 102]
