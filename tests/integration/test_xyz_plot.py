"""The built-in "X/Y/Z plot" on the tiny model: each cell is the picture its request makes alone,
the grid has the right size and legends, checkpoints load once each, a refused cell is drawn as
an error and the rest go on, values are checked before any work, and the API's positional
`script_args` (as webuiapi sends them) work over HTTP."""

import base64
import io
import shutil

import numpy as np
import pytest
import requests
from PIL import Image

from modules.images.grids import GridLabel, grid_layout
from modules.images.infotext import parse_infotext
from modules.processing.request import Txt2ImgRequest
from scripts.xyz_grid import ERROR_CELL_COLOR
from tests.conftest import make_engine
from tests.server import start_api_server

BASE = {"prompt": "a cat", "steps": 2, "width": 64, "height": 64, "seed": 11, "save_images": False}


def request(**fields):
    return Txt2ImgRequest(**{**BASE, **fields})


def plot(engine, args, **fields):
    return engine.submit_txt2img(request(script_name="x/y/z plot", script_args=args, **fields)).outcome()


def alone(engine, **fields):
    return engine.submit_txt2img(request(**fields)).outcome().images[0].image


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def crop(grid, layout, col, row, margin=0, size=64):
    left, top = layout.pad_left + (size + margin) * col, layout.pad_top + (size + margin) * row
    return pixels(grid.crop((left, top, left + size, top + size)))


def test_steps_by_cfg_cells_equal_requests_made_alone(engine):
    args = {"x_type": "Steps", "x_values": "1-3", "y_type": "CFG Scale", "y_values": "4, 9",
            "include_lone_images": True, "margin_size": 2}  # fmt: skip
    result = plot(engine, args)
    grid, cells = result.images[0].image, result.images[1:]
    assert len(cells) == 6
    steps_cfg = [(s, c) for c in (4.0, 9.0) for s in (1, 2, 3)]  # reading order: rows (Y), then columns (X)
    for item, (steps, cfg) in zip(cells, steps_cfg, strict=True):
        params = parse_infotext(item.infotext)
        assert (params["Steps"], params["CFG scale"], params["Seed"]) == (steps, cfg, 11)
        assert np.array_equal(pixels(item.image), pixels(alone(engine, steps=steps, cfg_scale=cfg)))
    hor = [[GridLabel(f"Steps: {s}")] for s in (1, 2, 3)]
    ver = [[GridLabel(f"CFG Scale: {c}")] for c in (4.0, 9.0)]
    layout = grid_layout(64, 64, hor, ver)
    assert layout.pad_left == 48 and layout.pad_top > 0
    assert grid.size == (3 * 64 + 2 * 2 + 48, 2 * 64 + 2 + layout.pad_top)
    for index, item in enumerate(cells):
        assert np.array_equal(crop(grid, layout, index % 3, index // 3, margin=2), pixels(item.image))
    assert pixels(grid.convert("L"))[: layout.pad_top, 48:].min() < 100  # legend text on top
    info = parse_infotext(result.images[0].infotext)
    assert (info["Steps"], info["CFG scale"]) == (1, 4)  # the first cell's ...
    assert (info["X Type"], info["X Values"], info["Y Type"], info["Y Values"]) == ("Steps", "1-3", "CFG Scale", "4, 9")


def test_without_legend_or_lone_images_only_the_bare_grid(engine):
    result = plot(engine, {"x_type": "Steps", "x_values": "1,2", "draw_legend": False})
    assert len(result.images) == 1 and result.images[0].image.size == (128, 64)
    assert np.array_equal(pixels(result.images[0].image)[:, 64:], pixels(alone(engine, steps=2)))


def test_z_axis_sub_grids_side_by_side_with_titles(engine):
    args = {"x_type": "Steps", "x_values": "1,2", "z_type": "CFG Scale", "z_values": "3,5", "include_sub_grids": True}
    result = plot(engine, args)
    z_grid, subs = result.images[0].image, [item.image for item in result.images[1:]]
    assert len(subs) == 2 and subs[0].size == subs[1].size
    title = grid_layout(*subs[0].size, [[GridLabel("CFG Scale: 3.0")], [GridLabel("CFG Scale: 5.0")]], [[GridLabel()]])
    assert z_grid.size == (2 * subs[0].width, subs[0].height + title.pad_top)
    assert np.array_equal(
        pixels(z_grid.crop((subs[0].width, title.pad_top, z_grid.width, z_grid.height))), pixels(subs[1])
    )


def test_seeds_fixed_and_varied(engine):
    result = plot(engine, {"x_type": "Seed", "x_values": "-1, 5", "include_lone_images": True}, seed=-1)
    seeds = [item.seed for item in result.images[1:]]
    assert seeds[1] == 5 and 0 <= seeds[0] and seeds[0] != -1
    assert parse_infotext(result.images[0].infotext)["Fixed X Values"] == f"{seeds[0]}, 5"
    varied = plot(engine, {"x_type": "Steps", "x_values": "1,2", "y_type": "CFG Scale", "y_values": "3,4",
                           "vary_seeds_x": True, "vary_seeds_y": True, "include_lone_images": True})  # fmt: skip
    assert [item.seed for item in varied.images[1:]] == [11, 12, 13, 14]
    same = plot(engine, {"x_type": "Steps", "x_values": "1,2", "include_lone_images": True}, seed=-1)
    assert same.images[1].seed == same.images[2].seed != -1  # -1 fixed once for the whole plot


def test_a_refused_cell_is_drawn_as_an_error_and_the_rest_go_on(engine):
    result = plot(engine, {"x_type": "Steps", "x_values": "2, 500", "include_lone_images": True, "draw_legend": False})
    grid = result.images[0].image
    assert len(result.images) == 2  # the grid and the one cell made
    assert np.array_equal(pixels(grid)[:, :64], pixels(alone(engine, steps=2)))
    error_cell = pixels(grid)[:, 64:]
    assert (error_cell == ERROR_CELL_COLOR).all(axis=2).mean() > 0.5  # grey ...
    assert (error_cell > 200).all(axis=2).any()  # ... with the reason written in white


def test_values_are_checked_before_any_work(engine):
    before = engine.queue.submitted if hasattr(engine.queue, "submitted") else None
    with pytest.raises(ValueError, match=r"X axis \(Steps\): 'abc' is not a whole number"):
        plot(engine, {"x_type": "Steps", "x_values": "1, abc"})
    with pytest.raises(ValueError, match=r"too many cells \(at most 400\)"):
        plot(engine, {"x_type": "Steps", "x_values": "1-21", "y_type": "Seed", "y_values": "1-20"})
    with pytest.raises(ValueError, match="X type: 'Nope' is not an axis here"):
        plot(engine, {"x_type": "Nope", "x_values": "1"})
    assert before is None or engine.queue.submitted == before


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("xyz-ckpt")
    models = data_dir / "models" / "Stable-diffusion"
    models.mkdir(parents=True)
    for name in ("one.safetensors", "two.safetensors"):
        shutil.copy(tiny_single_file, models / name)
    built = make_engine(data_dir)
    yield built
    built.queue.shutdown()


def test_checkpoint_axis_loads_each_checkpoint_once(two_checkpoints, monkeypatch):
    import modules.models.loading as loading

    loads = []
    real = loading.load_checkpoint

    def counting(info, *args, **kwargs):
        loads.append(info.name)
        return real(info, *args, **kwargs)

    monkeypatch.setattr(loading, "load_checkpoint", counting)
    args = {"x_type": "Steps", "x_values": "1,2", "y_type": "Checkpoint name", "y_values": "two, one.safetensors",
            "include_lone_images": True}  # fmt: skip
    result = plot(two_checkpoints, args, checkpoint="one.safetensors")
    assert sorted(loads) == sorted(set(loads)) and set(loads) <= {"one.safetensors", "two.safetensors"}
    assert "two.safetensors" in loads
    models = [parse_infotext(item.infotext)["Model"] for item in result.images[1:]]
    assert models == ["two", "two", "one", "one"]  # rows follow the axis' order


def test_pickers_offer_the_engine_lists_when_an_axis_is_picked(two_checkpoints):
    from scripts._xyz_ui import choices_for

    engine = two_checkpoints
    assert choices_for("Checkpoint name", engine) == ["one.safetensors", "two.safetensors"]
    assert choices_for("Refiner checkpoint", engine) == ["one.safetensors", "two.safetensors"]
    assert {"Latent", "Lanczos", "Nearest"} <= set(choices_for("Hires upscaler", engine))
    assert choices_for("RNG source", engine) == list(engine.settings.spec("randn_source").choices)
    assert "Euler a" in choices_for("Sampler", engine) and choices_for("Steps", engine) == []
    folder = engine.paths.models_dir / "Stable-diffusion"
    shutil.copy(folder / "one.safetensors", folder / "three.safetensors")
    try:
        assert "three.safetensors" in choices_for("Checkpoint name", engine)  # read when picked, not at start-up
    finally:
        (folder / "three.safetensors").unlink()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_single_file):
    running = start_api_server(tmp_path_factory.mktemp("xyz-api"), tiny_single_file.parents[1])
    yield running
    running.stop()


def decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_positional_script_args_over_http(server):
    # webuiapi's XYZPlotAvailableTxt2ImgScripts index 4 is "Steps", 6 "CFG Scale" (A1111's txt2img list).
    args = [4, "1,2", [], 6, "3,5", [], 0, "", [], True, True, False, False, False, False, False, 0, False]
    body = {**BASE, "script_name": "x/y/z plot", "script_args": args}
    answer = requests.post(server.url + "/sdapi/v1/txt2img", json=body, timeout=300)
    assert answer.status_code == 200, answer.text
    images = [decode(item) for item in answer.json()["images"]]
    assert len(images) == 5  # the grid, then 4 cells
    assert images[0].size[0] > 128 and images[0].size[1] > 128  # 2 x 2 cells plus legends
    named = {**body, "script_args": {"x_type": "Steps", "x_values": "2", "draw_legend": False}}
    answer = requests.post(server.url + "/sdapi/v1/txt2img", json=named, timeout=300)
    assert answer.status_code == 200 and decode(answer.json()["images"][0]).size == (64, 64)
    bad = {**body, "script_args": [4, "1-x", []]}
    refused = requests.post(server.url + "/sdapi/v1/txt2img", json=bad, timeout=60)
    assert refused.status_code == 422 and "X axis (Steps)" in refused.text


def test_prompt_search_replace_and_sampler_cells(engine):
    args = {"x_type": "Prompt S/R", "x_values": "cat, dog", "y_type": "Sampler", "y_values": "Euler, DDIM",
            "include_lone_images": True, "draw_legend": True}  # fmt: skip
    result = plot(engine, args)
    cells = result.images[1:]
    expected = [("a cat", "Euler"), ("a dog", "Euler"), ("a cat", "DDIM"), ("a dog", "DDIM")]
    for item, (prompt, sampler) in zip(cells, expected, strict=True):
        assert (parse_infotext(item.infotext)["Prompt"], parse_infotext(item.infotext)["Sampler"]) == (prompt, sampler)
        assert np.array_equal(pixels(item.image), pixels(alone(engine, prompt=prompt, sampler_name=sampler)))
    assert parse_infotext(result.images[0].infotext)["Script"] == "X/Y/Z plot"


def test_img2img_denoising_axis(engine):
    from modules.processing.request import Img2ImgRequest

    init = Image.new("RGB", (64, 64), (200, 30, 30))
    fields = {**BASE, "init_images": [init]}
    args = {"x_type": "Denoising", "x_values": "0.0-1.0 [3]", "include_lone_images": True, "draw_legend": False}
    result = engine.submit_img2img(Img2ImgRequest(**fields, script_name="x/y/z plot", script_args=args)).outcome()
    strengths = [parse_infotext(item.infotext)["Denoising strength"] for item in result.images[1:]]
    assert strengths == [0, 0.5, 1]
    for item, strength in zip(result.images[1:], (0.0, 0.5, 1.0), strict=True):
        made = engine.submit_img2img(Img2ImgRequest(**fields, denoising_strength=strength)).outcome().images[0].image
        assert np.array_equal(pixels(item.image), pixels(made))
    assert result.images[0].image.size == (3 * 64, 64)


def test_grid_saved_with_its_infotext_when_images_are_saved(tmp_path, tiny_single_file):
    from modules.images.saving import read_generation_text

    built = make_engine(tmp_path / "data", "--models-dir", str(tiny_single_file.parents[1]))
    try:
        result = plot(built, {"x_type": "Steps", "x_values": "1,2"}, save_images=True)
        grids = list((built.paths.outputs_dir / "txt2img-grids").glob("*/grid-0000.png"))
        assert len(grids) == 1 and result.images[0].path == grids[0]
        with Image.open(grids[0]) as saved:
            assert parse_infotext(read_generation_text(saved))["X Values"] == "1,2"
        off = request(script_name="x/y/z plot", script_args={"x_type": "Steps", "x_values": "1"}, save_images=True,
                      override_settings={"grid_save": False})  # fmt: skip
        assert built.submit_txt2img(off).outcome().images[0].path is None
        assert len(list((built.paths.outputs_dir / "txt2img-grids").glob("*/*.png"))) == 1
    finally:
        built.queue.shutdown()


def test_a_vae_axis_draws_each_cell_with_its_vae(tmp_path_factory, tiny_single_file):
    from scripts._xyz_ui import choices_for
    from tests.fixtures.tiny_vae import build_vae, write_vae

    models = tmp_path_factory.mktemp("xyz-vae-models")
    (models / "Stable-diffusion").mkdir()
    (models / "Stable-diffusion" / "tiny.safetensors").symlink_to(tiny_single_file)
    write_vae(models / "VAE" / "other.safetensors", build_vae(seed=9))
    engine = make_engine(tmp_path_factory.mktemp("xyz-vae-data"), "--models-dir", str(models))
    try:
        assert choices_for("VAE", engine) == ["Automatic", "None", "other.safetensors"]
        result = plot(engine, {"x_type": "VAE", "x_values": "None, other.safetensors", "include_lone_images": True})
        own, other = result.images[1:]
        assert "VAE: other" in other.infotext and "VAE" not in parse_infotext(own.infotext)
        assert np.array_equal(pixels(own.image), pixels(alone(engine)))
        with_vae = alone(engine, override_settings={"sd_vae": "other.safetensors"})
        assert np.array_equal(pixels(other.image), pixels(with_vae))
        assert np.abs(pixels(own.image) - pixels(other.image)).max() > 8
    finally:
        engine.queue.shutdown()
