"""The X/Y/Z axis table: A1111's labels and indices, the infotext-key axes offered without code of
their own, what each axis changes in a cell's request, and checks made before any cell."""

import pytest

from modules.images.infotext import infotext_keys
from modules.processing.request import Txt2ImgRequest
from scripts._xyz_axes import A1111_IMG2IMG_AXES, A1111_TXT2IMG_AXES, AxisContext, axis_labels, find_axis
from scripts.xyz_grid import MAX_CELLS, XyzArgs


def test_index_means_what_it_means_in_a1111():
    assert A1111_TXT2IMG_AXES[4] == "Steps" and find_axis("txt2img", 4, "X").label == "Steps"
    assert find_axis("txt2img", 6, "X").label == "CFG Scale"
    assert find_axis("img2img", 5, "X").label == "CFG Scale"  # img2img's list has no Hires steps
    assert find_axis("txt2img", "11", "X").label == "Checkpoint name"
    assert find_axis("txt2img", A1111_TXT2IMG_AXES.index("Size"), "X").label == "Size"
    assert find_axis("img2img", A1111_IMG2IMG_AXES.index("Denoising"), "X").label == "Denoising"
    assert find_axis("txt2img", A1111_TXT2IMG_AXES.index("VAE"), "Y").label == "VAE"
    assert find_axis("img2img", A1111_IMG2IMG_AXES.index("Image CFG Scale"), "X").label == "Image CFG Scale"
    with pytest.raises(ValueError, match="'Face restore' is not an axis here"):
        find_axis("txt2img", A1111_TXT2IMG_AXES.index("Face restore"), "Y")
    with pytest.raises(ValueError, match="Z type: index 999 is out of range"):
        find_axis("txt2img", 999, "Z")


def test_labels_any_case_and_mode_specific_axes():
    assert find_axis("txt2img", "cfg scale", "X").label == "CFG Scale"
    assert "Hires steps" in axis_labels("txt2img") and "Hires steps" not in axis_labels("img2img")
    assert "Mask blur" in axis_labels("img2img") and "Mask blur" not in axis_labels("txt2img")


def test_every_infotext_key_is_an_axis_or_covered_by_a_named_one():
    labels = set(axis_labels("txt2img")) | set(axis_labels("img2img"))
    covered = {"Variation seed": "Var. seed", "Variation seed strength": "Var. strength", "CFG scale": "CFG Scale",
               "Denoising strength": "Denoising", "Model": "Checkpoint name", "Refiner": "Refiner checkpoint",
               "Noise multiplier": "Initial noise multiplier", "Hires steps": "Hires steps", "RNG": "RNG source",
               "Prompt": "Prompt S/R", "Image CFG scale": "Image CFG Scale",
               "Conditional mask weight": "Cond. Image Mask Weight"}  # fmt: skip
    for key in infotext_keys():
        assert key.key in labels or covered.get(key.key) in labels, key.key


def apply(mode, label, text, request, **ctx):
    axis = find_axis(mode, label, "X")
    values = axis.parse(text, AxisContext(request, mode, **ctx), "X")
    cells = []
    for value in values:
        overrides = {}
        axis.apply(overrides, value, values, request)
        cells.append(overrides)
    return cells


def test_axes_change_request_fields_and_settings():
    request = Txt2ImgRequest(prompt="a red cat, dog, tree", negative_prompt="blurry red", styles=["s0"])
    assert apply("txt2img", "Steps", "1-3", request) == [{"steps": 1}, {"steps": 2}, {"steps": 3}]
    assert apply("txt2img", "Size", "64x96, 128 x 64", request) == [
        {"width": 64, "height": 96},
        {"width": 128, "height": 64},
    ]
    assert apply("txt2img", "Prompt S/R", "red, blue", request)[1] == {
        "prompt": "a blue cat, dog, tree",
        "negative_prompt": "blurry blue",
    }
    orders = [cell["prompt"] for cell in apply("txt2img", "Prompt order", "dog, tree", request)]
    assert orders == ["a red cat, dog, tree", "a red cat, tree, dog"]
    assert apply("txt2img", "Styles", "a,b", request, styles=["a", "b"]) == [
        {"styles": ["s0", "a"]},
        {"styles": ["s0", "b"]},
    ]
    assert apply("txt2img", "RNG source", "cpu,GPU", request, setting_choices=lambda key: ("CPU", "GPU")) == [
        {"override_settings": {"randn_source": "CPU"}},
        {"override_settings": {"randn_source": "GPU"}},
    ]
    assert apply("txt2img", "Sampler", "euler a, DDIM", request) == [
        {"sampler_name": "Euler a"},
        {"sampler_name": "DDIM"},
    ]
    assert apply("txt2img", "Hires resize", "128x96", request) == [{"hr_resize_x": 128, "hr_resize_y": 96}]
    assert apply("txt2img", "Refiner checkpoint", "None, b", request, checkpoints=["a", "b"]) == [
        {"refiner_checkpoint": None},
        {"refiner_checkpoint": "b"},
    ]


def test_checks_before_any_cell():
    request = Txt2ImgRequest(prompt="a cat")
    with pytest.raises(ValueError, match=r"X axis \(Sampler\): unknown value 'Nope'"):
        apply("txt2img", "Sampler", "Euler, Nope", request)
    with pytest.raises(ValueError, match=r"X axis \(Prompt S/R\): 'dog' is not in the prompt"):
        apply("txt2img", "Prompt S/R", "dog, cow", request)
    with pytest.raises(ValueError, match=r"X axis \(Size\): '64' is not a size"):
        apply("txt2img", "Size", "64", request)
    with pytest.raises(ValueError, match=r"X axis \(Checkpoint name\): unknown value 'c'"):
        apply("txt2img", "Checkpoint name", "a, c", request, checkpoints=["a", "b"])


def test_args_positional_order_and_cell_limit():
    names = list(XyzArgs.model_fields)
    assert names[:9] == ["x_type", "x_values", "x_values_dropdown", "y_type", "y_values", "y_values_dropdown",
                         "z_type", "z_values", "z_values_dropdown"]  # fmt: skip
    assert names[9:] == ["draw_legend", "include_lone_images", "include_sub_grids", "no_fixed_seeds", "vary_seeds_x",
                         "vary_seeds_y", "vary_seeds_z", "margin_size", "csv_mode"]  # fmt: skip
    XyzArgs(x_type="Steps", x_values="1-20", y_type="Seed", y_values=f"1-{MAX_CELLS // 20}")
    with pytest.raises(ValueError, match=f"too many cells \\(at most {MAX_CELLS}\\)"):
        XyzArgs(x_type="Steps", x_values="1-21", y_type="Seed", y_values="1-20")
    with pytest.raises(ValueError, match=r"Y axis \(CFG Scale\): 'x' is not a number"):
        XyzArgs(x_type="Steps", x_values="1", y_type="CFG Scale", y_values="x")
    # The dropdown's picks win unless csv_mode (A1111's "Use text inputs instead of dropdowns").
    args = XyzArgs(x_type="Sampler", x_values="DDIM", x_values_dropdown=["Euler", "Heun"])
    assert args.values_text(0) == "Euler,Heun"
    assert (
        XyzArgs(x_type="Sampler", x_values="DDIM", x_values_dropdown=["Euler"], csv_mode=True).values_text(0) == "DDIM"
    )
