"""The "Background removal" tab and the Extras step's controls, built in a real Gradio Blocks and
driven through the event handlers they registered (found by the components' elem_ids)."""

import tempfile
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest

from tests.extensions.rembg_loader import load_rembg
from tests.extensions.rembg_onnx_model import save_red_minus_blue_model
from tests.extensions.rembg_pictures import iou, pictures

PICTURE = pictures(128)[1]


class Page:
    """A built Blocks: call the handler a component's event triggers, with inputs by elem_id."""

    def __init__(self, blocks: gr.Blocks):
        self.blocks = blocks
        self.ids = {b._id: b.elem_id for b in blocks.blocks.values() if getattr(b, "elem_id", None)}

    def handler(self, elem_id: str, event: str):
        for dependency in self.blocks.fns.values():
            if any(self.ids.get(target) == elem_id and name == event for target, name in dependency.targets):
                return dependency
        raise LookupError(f"nothing listens to {event} of {elem_id}")

    def trigger(self, elem_id: str, event: str, **values) -> dict:
        dependency = self.handler(elem_id, event)
        outputs = dependency.fn(*[values[input_.elem_id] for input_ in dependency.inputs])
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return {output.elem_id: value for output, value in zip(dependency.outputs, outputs, strict=True)}


@pytest.fixture
def page(tmp_path) -> tuple[Page, Path]:
    # All the tab reads of the engine: the models folder and the pixel cap.
    settings = SimpleNamespace(get=lambda key: LIMIT)
    engine = SimpleNamespace(paths=SimpleNamespace(models_dir=tmp_path), settings=settings)
    [tabs] = load_rembg().manager.call("ui_tabs", engine=engine)
    with gr.Blocks() as blocks, gr.Tab(tabs[0].title, elem_id=tabs[0].elem_id):
        tabs[0].render()
    return Page(blocks), tmp_path


LIMIT = 16_777_216


def upload_of(image, folder: Path) -> dict:
    """What the browser's upload event delivers unprocessed (preprocess=False): the file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "upload.png"
    image.save(path)
    return {"path": str(path), "orig_name": "upload.png"}


def inputs(**changes):
    values = {
        "rembg_source": upload_of(PICTURE.image, Path(tempfile.mkdtemp())),
        "rembg_method": "opencv",
        "rembg_matting": False,
        "rembg_fg": 240,
        "rembg_bg": 10,
        "rembg_erode": 10,
        "rembg_mask_only": False,
    }
    return {**values, **changes}


def test_remove_button_cuts_out_and_says_what_it_did(page):
    page, _ = page
    shown = page.trigger("rembg_remove", "click", **inputs())
    assert shown["rembg_result"].mode == "RGBA"
    assert iou(np.asarray(shown["rembg_result"].getchannel("A")) > 127, PICTURE.mask) >= 0.96
    assert "cutout 128x128 with opencv" in shown["rembg_message"]

    shown = page.trigger("rembg_remove", "click", **inputs(rembg_mask_only=True, rembg_matting=True, rembg_erode=4))
    assert shown["rembg_result"].mode == "L" and shown["rembg_message"].startswith("mask")


def test_problems_are_shown_in_the_message_line(page):
    page, models_dir = page
    shown = page.trigger("rembg_remove", "click", **inputs(rembg_source=None))
    assert shown["rembg_result"] is None and shown["rembg_message"] == "Upload an image first."

    shown = page.trigger("rembg_remove", "click", **inputs(rembg_method="u2net"))
    assert shown["rembg_result"] is None
    assert "Error" in shown["rembg_message"] and str(models_dir / "rembg" / "u2net.onnx") in shown["rembg_message"]


def test_method_list_and_refresh(page):
    page, models_dir = page
    method = next(b for b in page.blocks.blocks.values() if getattr(b, "elem_id", None) == "rembg_method")
    assert [value for _, value in method.choices] == ["opencv"]
    note = next(b for b in page.blocks.blocks.values() if getattr(b, "elem_id", None) == "rembg_note")
    assert "Not installed: u2net" in note.value and str(models_dir / "rembg") in note.value

    save_red_minus_blue_model(models_dir / "rembg" / "u2netp.onnx")
    shown = page.trigger("rembg_refresh", "click", rembg_method="opencv")
    assert shown["rembg_method"]["choices"] == ["opencv", "u2netp"]
    assert "u2net (general use)" in shown["rembg_note"] and "u2netp (" not in shown["rembg_note"]

    shown = page.trigger("rembg_remove", "click", **inputs(rembg_method="u2netp"))
    assert shown["rembg_result"] is not None and "with u2netp" in shown["rembg_message"]


def test_matting_sliders_follow_the_checkbox(page):
    page, _ = page
    toggle = page.handler("rembg_matting", "change")
    assert toggle.fn(True)["visible"] is True and toggle.fn(False)["visible"] is False


def test_extras_step_controls_are_named_after_its_args():
    rembg = load_rembg()
    [[step]] = rembg.manager.call("postprocessing_steps")
    with gr.Blocks():
        controls = step.ui()
    assert set(controls) == set(step.Args.model_fields)
    assert [value for _, value in controls["model"].choices] == rembg.removal.all_methods()
    defaults = step.Args()
    for name, component in controls.items():
        assert component.value == getattr(defaults, name), name


def test_an_upload_over_the_pixel_cap_is_refused_before_decoding(page, tmp_path):
    from tests.integration.test_api_limits import bilevel_png

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bilevel_png(12000, 12000))  # a few KiB declaring 144 megapixels
    shown = page[0].trigger("rembg_remove", "click", **inputs(rembg_source={"path": str(bomb)}))
    assert shown["rembg_result"] is None and "more than the limit" in shown["rembg_message"]
