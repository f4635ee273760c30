"""The built-in "Loopback" script (img2img) on the tiny model: each loop starts from the last
loop's picture, the denoising strength follows A1111's curves, the seed goes up by one a loop."""

import numpy as np
import pytest
from PIL import Image

from modules.images.infotext import parse_infotext
from modules.processing.batch_loop import decode_latents
from modules.processing.hires import encode_images
from modules.processing.request import Img2ImgRequest
from scripts.loopback import Loopback


def noise_picture(seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8))


def run(engine, script_args, **fields):
    base = {"init_images": [noise_picture()], "steps": 2, "width": 64, "height": 64, "seed": 11, "save_images": False}
    request = Img2ImgRequest(**{**base, "script_name": "Loopback", "script_args": script_args, **fields})
    return engine.submit_img2img(request).outcome()


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize(
    "curve, strengths",
    [
        ("Linear", [0.75, 0.5, 0.25]),
        ("Aggressive", [0.75, 0.39644660940672627, 0.25]),  # 0.75 - 0.5 sin(pi/4)
        ("Lazy", [0.75, 0.6035533905932737, 0.25]),  # 0.75 - 0.5 (1 - cos(pi/4))
    ],
)
def test_each_loop_records_its_denoising_strength_and_seed(engine, curve, strengths):
    result = run(engine, [3, 0.25, curve, "None"], denoising_strength=0.75)
    grid, loops = result.images[0], result.images[1:]
    assert len(loops) == 3
    infos = [parse_infotext(item.infotext) for item in loops]
    assert [info["Denoising strength"] for info in infos] == pytest.approx(strengths, abs=1e-9)
    assert [info["Seed"] for info in infos] == [11, 12, 13]
    assert {(info["Final denoising strength"], info["Denoising curve"]) for info in infos} == {(0.25, curve)}
    # The grid: every loop's picture in one row, first in the result.
    assert grid.image.size == (3 * 64, 64)
    for index, item in enumerate(loops):
        assert np.array_equal(pixels(grid.image.crop((64 * index, 0, 64 * (index + 1), 64))), pixels(item.image))


def test_each_loop_starts_from_the_last_loops_picture(engine):
    """At strength 0 a loop is one VAE round trip of its init image: the chain is visible."""
    start = noise_picture(3)
    result = run(engine, {"loops": 3, "final_denoising_strength": 0.0}, init_images=[start], denoising_strength=0.0)
    model = engine.models.get()
    previous = start
    for item in result.images[1:]:
        expected = decode_latents(model, encode_images(model, [previous]))[0]
        assert np.array_equal(pixels(item.image), pixels(expected))
        previous = item.image
    assert not np.array_equal(pixels(result.images[1].image), pixels(result.images[3].image))


def test_batch_count_repeats_the_chain_keeping_each_last_picture(engine):
    result = run(engine, {"loops": 2, "final_denoising_strength": 0.5}, n_iter=2, batch_size=2, denoising_strength=0.5)
    grid, kept = result.images[0], result.images[1:]
    # A1111: with several chains only each chain's last picture is kept; seeds run on across chains.
    assert [parse_infotext(item.infotext)["Seed"] for item in kept] == [12, 14]
    assert grid.image.size == (2 * 64, 64)
    single = run(engine, {"loops": 1})
    assert len(single.images) == 1  # one picture: no grid


def test_the_grid_is_saved_to_the_img2img_grids_folder(engine):
    result = run(engine, {"loops": 2}, save_images=True)
    grid = result.images[0]
    assert grid.path is not None and grid.path.parent.parent.name == "img2img-grids"
    with Image.open(grid.path) as saved:
        assert saved.size == (2 * 64, 64) and saved.info["parameters"] == result.images[1].infotext


def test_loopback_runs_in_img2img_only_and_limits_loops(engine):
    from modules.processing.request import Txt2ImgRequest

    with pytest.raises(ValueError, match="Loopback"):
        engine.submit_txt2img(Txt2ImgRequest(prompt="x", steps=2, width=64, height=64, script_name="Loopback"))
    with pytest.raises(ValueError, match="loops"):
        run(engine, {"loops": 33})


def test_the_script_menu_offers_it_on_img2img_only_with_named_args(engine):
    import gradio as gr

    from webui.components.scripts import build_script_controls

    with gr.Blocks():
        img2img = build_script_controls(engine, "img2img")
        txt2img = build_script_controls(engine, "txt2img")
    builtin = ["Prompt matrix", "Prompts from file or textbox"]
    assert [t for t in img2img.dropdown.choices if t[0] in builtin] == [(t, t) for t in builtin]
    assert "Loopback" in dict(img2img.dropdown.choices) and "Loopback" not in dict(txt2img.dropdown.choices)
    chosen = {"loops": 3.0, "final_denoising_strength": 0.2, "denoising_curve": "Lazy", "append_interrogation": "None"}
    values = {component: None for component in img2img.components}
    values.update({c: chosen[name] for (title, name), c in img2img.by_slot.items() if title == "Loopback"})
    values[img2img.dropdown] = "Loopback"
    name, args, _ = img2img.collect(values)
    assert name == "Loopback" and Loopback.Args.model_validate(args).loops == 3
