"""The built-in "Prompt matrix" script on the tiny model: one picture per combination of the
`|` parts, each the picture of its prompt made alone, and a grid with A1111's legends."""

import numpy as np
import pytest
from PIL import Image

from modules.images.grids import grid_layout
from modules.images.infotext import parse_infotext
from modules.processing.request import Txt2ImgRequest
from scripts.prompt_matrix import legends


def run(engine, **fields):
    fields = {"prompt": "a cat|red|blue", "steps": 2, "width": 64, "height": 64, "seed": 11, **fields}
    fields.setdefault("save_images", False)
    return engine.submit_txt2img(Txt2ImgRequest(**fields)).outcome()


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def cell(grid, layout, col: int, row: int, margin: int = 0, size: int = 64) -> np.ndarray:
    left, top = layout.pad_left + (size + margin) * col, layout.pad_top + (size + margin) * row
    return pixels(grid.crop((left, top, left + size, top + size)))


def test_two_parts_make_four_pictures_and_a_grid_with_legends(engine):
    result = run(engine, script_name="Prompt matrix", script_args={})
    grid, pictures = result.images[0].image, result.images[1:]
    expected = ["a cat", "a cat, red", "a cat, blue", "a cat, red, blue"]
    assert [parse_infotext(item.infotext)["Prompt"] for item in pictures] == expected
    assert [parse_infotext(item.infotext)["Seed"] for item in pictures] == [11] * 4
    # The grid: 2 x 2 cells with the legends' paddings on the left and top, cells as made.
    across, down = legends(["a cat", "red", "blue"])
    layout = grid_layout(64, 64, across, down)
    assert layout.pad_left > 0 and layout.pad_top > 0
    assert grid.size == (2 * 64 + layout.pad_left, 2 * 64 + layout.pad_top)
    for number, item in enumerate(pictures):
        assert np.array_equal(cell(grid, layout, number % 2, number // 2), pixels(item.image))
    # Legends: over column 0 "red" is left out (grey, no black ink), over column 1 it is active.
    top = pixels(grid.convert("L"))[: layout.pad_top]
    column0, column1 = top[:, layout.pad_left : layout.pad_left + 64], top[:, layout.pad_left + 64 :]
    # Grey ink (#999999 = 153) is never darker than 153; black ink is, even anti-aliased at this size.
    assert 153 <= column0.min() < 230  # grey text only
    assert column1.min() < 130  # black text
    left = pixels(grid.convert("L"))[layout.pad_top :, : layout.pad_left]
    assert 153 <= left[:64].min() < 230 and left[64:].min() < 130  # "blue" left out in row 0, active in row 1
    # The grid carries the first picture's infotext; each picture is that prompt made alone.
    assert result.images[0].infotext == pictures[0].infotext
    alone = run(engine, prompt="a cat, red, blue")
    assert np.array_equal(pixels(alone.images[0].image), pixels(pictures[3].image))


def test_positional_args_negative_prompt_space_start_seeds_and_margin(engine):
    # A1111's order: put_at_start, different_seeds, prompt_type, variations_delimiter, margin_size.
    result = run(
        engine,
        prompt="a dog",
        negative_prompt="blurry|dark|noisy",
        script_name="prompt matrix",
        script_args=[True, True, "negative", "space", 6],
    )
    pictures = result.images[1:]
    infos = [parse_infotext(item.infotext) for item in pictures]
    assert [info["Negative prompt"] for info in infos] == ["blurry", "dark blurry", "noisy blurry", "dark noisy blurry"]
    assert {info["Prompt"] for info in infos} == {"a dog"}
    assert [info["Seed"] for info in infos] == [11, 12, 13, 14]
    layout = grid_layout(64, 64, *legends(["blurry", "dark", "noisy"]))
    grid = result.images[0].image
    assert grid.size == (2 * 64 + 6 + layout.pad_left, 2 * 64 + 6 + layout.pad_top)
    assert np.array_equal(cell(grid, layout, 1, 1, margin=6), pixels(pictures[3].image))


def test_no_parts_gives_one_picture_and_too_many_parts_are_refused(engine):
    single = run(engine, prompt="a cat", script_name="Prompt matrix")
    assert len(single.images) == 2 and single.images[0].image.size == (64, 64)
    job = engine.submit_txt2img(
        Txt2ImgRequest(prompt="|".join("abcdefghi"), steps=2, width=64, height=64, script_name="Prompt matrix")
    )
    with pytest.raises((RuntimeError, ValueError), match="9 '\\|'-separated parts .*limit is 8 parts"):
        job.outcome()


def test_grid_is_saved_to_the_grids_folder_with_the_infotext(engine):
    result = run(engine, save_images=True, script_name="Prompt matrix")
    path = result.images[0].path
    assert path is not None and path.parent.parent.name == "txt2img-grids"
    with Image.open(path) as saved:
        assert saved.size == result.images[0].image.size
        assert saved.info["parameters"] == result.images[1].infotext
