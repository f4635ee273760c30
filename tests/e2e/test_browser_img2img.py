"""The img2img tab in a real browser on the tiny model: a txt2img result sent to Inpaint, a mask
painted with the mouse, and the saved picture unchanged outside the (blurred) mask; the img2img
sub-tab's resize modes and live "Resize by" size; PNG Info's send-to; Inpaint upload with a mask
file; a PNG dropped onto the prompt box."""

import io
import json
import time

import numpy as np
import pytest
from PIL import Image

from modules.images.infotext import parse_infotext
from modules.images.masks import blur_mask
from modules.images.saving import png_bytes
from tests.e2e.browser import open_ui, set_number, start_ui_server

pytestmark = pytest.mark.browser

IMG2IMG_INFOTEXT = (
    "a harbour at dawn, watercolour\n"
    "Negative prompt: people\n"
    "Steps: 5, Sampler: Euler, CFG scale: 6.5, Seed: 4321, Size: 96x64, Model: tiny, Denoising strength: 0.35, "
    "Mask blur: 9, Masked content: latent noise, Inpaint area: Only masked, Masked area padding: 20"
)


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("ui-img2img")
    # Each init image is kept (outputs/init-images): the Sketch test looks at what was drawn.
    (data_dir / "config.json").write_text(json.dumps({"save_init_img": True}))
    running = start_ui_server(data_dir, tiny_single_file)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("img2img-pictures")
    # A gradient, so that any resize or re-encode on the way would show in the pixels.
    gradient = Image.new("RGB", (96, 64))
    gradient.putdata([(x * 2, y * 3, (x * y) % 256) for y in range(64) for x in range(96)])
    gradient.save(folder / "gradient.png")
    mask = Image.new("L", (96, 64), 0)
    mask.paste(255, (40, 16, 72, 48))
    mask.save(folder / "mask.png")
    (folder / "with_parameters.png").write_bytes(png_bytes(gradient, IMG2IMG_INFOTEXT))
    return {"gradient_image": gradient, "mask_image": mask, **{p.stem: p for p in folder.iterdir()}}


def text_of(page, selector: str) -> str:
    return page.evaluate(f"(document.querySelector({selector!r})?.innerText || '')")


def wait_for_text(page, selector: str, text: str, timeout: int = 60_000) -> None:
    page.wait_for_function(
        f"(document.querySelector({selector!r})?.innerText || '').includes({text!r})", timeout=timeout
    )


def pick(page, elem_id: str, label: str) -> None:
    """Choose a radio option as a user does."""
    page.locator(f"#{elem_id}").get_by_label(label, exact=True).check()


def newest_png(folder) -> Image.Image:
    newest = max(folder.rglob("*.png"), key=lambda p: p.stat().st_mtime_ns)
    with Image.open(newest) as image:
        image.load()
        return image


def wait_for_new_png(page, folder, before: set, timeout: float = 120) -> Image.Image:
    """The next picture saved into `folder`; fails with the tab's message if none comes."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        fresh = [p for p in folder.rglob("*.png") if p not in before] if folder.exists() else []
        if fresh:
            with Image.open(max(fresh, key=lambda p: p.stat().st_mtime_ns)) as image:
                image.load()
                return image
        page.wait_for_timeout(200)
    raise AssertionError(f"no new PNG in {folder}; the tab says: {text_of(page, '#img2img_message')!r}")


def saved(folder) -> set:
    return set(folder.rglob("*.png")) if folder.exists() else set()


def unchanged_outside(result: Image.Image, original: Image.Image, mask: Image.Image, blur: int):
    """(pixels outside the blurred mask that differ, pixels inside the mask that differ)."""
    reach = np.asarray(blur_mask(mask, blur, blur)) > 0
    differs = np.any(np.asarray(result.convert("RGB")) != np.asarray(original.convert("RGB")), axis=-1)
    return int((differs & ~reach).sum()), int((differs & (np.asarray(mask) > 0)).sum())


def test_txt2img_result_sent_to_inpaint_painted_and_generated(ui_server, page):
    outputs = ui_server.data_dir / "outputs"
    open_ui(page, ui_server)
    page.fill("#txt2img_prompt textarea", "a red circle")
    for elem_id, value in (("txt2img_steps", 2), ("txt2img_width", 128), ("txt2img_height", 128)):
        set_number(page, elem_id, value)
    page.click("#txt2img_generate")
    wait_for_text(page, "#html_info_txt2img", "a red circle")
    source = newest_png(outputs / "txt2img-images")

    page.click("#txt2img_send_to_inpaint")
    page.wait_for_function("document.querySelector('#img2img_prompt textarea')?.value === 'a red circle'")
    assert page.locator("#mode_img2img [role=tab][aria-selected=true]").inner_text().strip() == "Inpaint"
    assert page.input_value("#img2img_steps input[type=number]") == "2"
    assert page.input_value("#img2img_width input[type=number]") == "128"

    # A short stroke across the middle of the picture, drawn with the mouse (the brush is 25
    # picture pixels wide by default).
    canvas = page.locator("#img2maskimg canvas").first
    canvas.wait_for(timeout=30_000)
    canvas.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # the editor fits the picture to the canvas
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 15, cy)
    page.mouse.down()
    page.mouse.move(cx + 15, cy, steps=8)
    page.mouse.up()

    pick(page, "img2img_inpainting_fill", "fill")
    pick(page, "img2img_inpaint_full_res", "Only masked")
    before = saved(outputs / "img2img-images")
    page.click("#img2img_generate")
    result = wait_for_new_png(page, outputs / "img2img-images", before)
    wait_for_text(page, "#html_info_img2img", "Denoising strength")

    # The mask the browser painted: the layer it uploaded (alpha above 128, A1111's rule).
    layers = sorted((ui_server.data_dir).rglob("layer_0.png"), key=lambda p: p.stat().st_mtime_ns)
    assert layers, "the editor uploaded no mask layer"
    with Image.open(layers[-1]) as layer:
        mask = Image.fromarray(np.where(np.asarray(layer.convert("RGBA"))[..., 3] > 128, 255, 0).astype(np.uint8))
    assert mask.size == (128, 128) and mask.getbbox() is not None
    assert result.size == (128, 128)
    outside, inside = unchanged_outside(result, source, mask, blur=4)
    assert outside == 0, f"{outside} pixels outside the blurred mask changed"
    assert inside > 0
    parsed = parse_infotext(result.info["parameters"])
    assert parsed["Denoising strength"] == 0.75
    assert parsed["Masked content"] == "fill" and parsed["Inpaint area"] == "Only masked"
    assert parsed["Prompt"] == "a red circle"

    # The img2img gallery's own send-to buttons: the result into the img2img sub-tab, and to Extras.
    page.click("#img2img_send_to_img2img")
    page.wait_for_function(
        "document.querySelector('#mode_img2img [role=tab][aria-selected=true]')?.innerText.trim() === 'img2img'"
    )
    page.wait_for_selector("#img2img_image img", timeout=30_000)
    page.click("#img2img_send_to_extras")
    page.wait_for_selector("#extras_image img", timeout=30_000)
    sent = Image.open(io.BytesIO(page.request.get(page.get_attribute("#extras_image img", "src")).body()))
    assert sent.convert("RGB").tobytes() == result.convert("RGB").tobytes()


def test_img2img_crop_and_resize_and_the_resize_by_label(ui_server, page, pictures):
    outputs = ui_server.data_dir / "outputs" / "img2img-images"
    open_ui(page, ui_server)
    page.get_by_role("tab", name="img2img", exact=True).click()
    page.set_input_files("#img2img_image input[type=file]", str(pictures["gradient"]))
    page.wait_for_selector("#img2img_image img", timeout=30_000)
    page.fill("#img2img_prompt textarea", "cropped")
    pick(page, "img2img_resize_mode", "Crop and resize")
    for elem_id, value in (("img2img_steps", 2), ("img2img_width", 64), ("img2img_height", 80)):
        set_number(page, elem_id, value)
    before = saved(outputs)
    page.click("#img2img_generate")
    result = wait_for_new_png(page, outputs, before)
    assert result.size == (64, 80)
    assert parse_infotext(result.info["parameters"])["Resize mode"] == "Crop and resize"

    page.get_by_role("tab", name="Resize by", exact=True).click()
    wait_for_text(page, "#img2img_scale_resolution_preview", "resize: from 96x64 to 96x64")
    set_number(page, "img2img_scale", 1.5)
    wait_for_text(page, "#img2img_scale_resolution_preview", "resize: from 96x64 to 144x96")
    before = saved(outputs)
    page.click("#img2img_generate")
    assert wait_for_new_png(page, outputs, before).size == (144, 96)
    # "Auto detect size" puts the picture's own size into "Resize to".
    page.get_by_role("tab", name="Resize to", exact=True).click()
    page.click("#img2img_detect_image_size_btn")
    page.wait_for_function("document.querySelector('#img2img_width input[type=number]').value === '96'")
    assert page.input_value("#img2img_height input[type=number]") == "64"


def test_png_info_sends_to_img2img_and_inpaint(ui_server, page, pictures):
    open_ui(page, ui_server)
    page.get_by_role("tab", name="PNG Info", exact=True).click()
    page.set_input_files("#pnginfo_image input[type=file]", str(pictures["with_parameters"]))
    wait_for_text(page, "#html_info_pnginfo", "Seed: 4321")
    page.click("#pnginfo_send_img2img")
    page.wait_for_function("document.querySelector('#img2img_prompt textarea')?.value.startsWith('a harbour')")
    assert page.input_value("#img2img_prompt textarea") == "a harbour at dawn, watercolour"
    assert page.input_value("#img2img_steps input[type=number]") == "5"
    assert float(page.input_value("#img2img_denoising_strength input[type=number]")) == 0.35
    page.wait_for_selector("#img2img_image img", timeout=30_000)
    assert page.locator("#mode_img2img [role=tab][aria-selected=true]").inner_text().strip() == "img2img"
    sent = Image.open(io.BytesIO(page.request.get(page.get_attribute("#img2img_image img", "src")).body()))
    assert sent.convert("RGB").tobytes() == pictures["gradient_image"].tobytes()

    page.get_by_role("tab", name="PNG Info", exact=True).click()
    page.click("#pnginfo_send_inpaint")
    page.wait_for_function(
        "document.querySelector('#mode_img2img [role=tab][aria-selected=true]')?.innerText.trim() === 'Inpaint'"
    )
    # The picture is in the editor: Generate asks for a mask, not for a picture.
    page.click("#img2img_generate")
    wait_for_text(page, "#img2img_message", "Paint over the area to repaint")


def test_inpaint_upload_keeps_the_unmasked_pixels(ui_server, page, pictures):
    outputs = ui_server.data_dir / "outputs" / "img2img-images"
    open_ui(page, ui_server)
    page.get_by_role("tab", name="img2img", exact=True).click()
    page.get_by_role("tab", name="Inpaint upload", exact=True).click()
    page.set_input_files("#img_inpaint_base input[type=file]", str(pictures["gradient"]))
    page.set_input_files("#img_inpaint_mask input[type=file]", str(pictures["mask"]))
    page.wait_for_selector("#img_inpaint_mask img", timeout=30_000)
    page.wait_for_selector("#img2img_mask_controls", state="visible")
    page.fill("#img2img_prompt textarea", "uploaded mask")
    for elem_id, value in (("img2img_steps", 2), ("img2img_width", 96), ("img2img_height", 64),
                           ("img2img_mask_blur", 2), ("img2img_denoising_strength", 1)):  # fmt: skip
        set_number(page, elem_id, value)
    pick(page, "img2img_inpainting_fill", "latent noise")
    before = saved(outputs)
    page.click("#img2img_generate")
    result = wait_for_new_png(page, outputs, before)
    assert result.size == (96, 64)
    outside, inside = unchanged_outside(result, pictures["gradient_image"], pictures["mask_image"], blur=2)
    assert outside == 0 and inside > 0
    parsed = parse_infotext(result.info["parameters"])
    assert parsed["Mask blur"] == 2 and parsed["Masked content"] == "latent noise"


def drop_file(page, selector: str, data: bytes, name: str = "dropped.png") -> None:
    """Drop a file onto an element as the browser does when a user drags one there."""
    page.evaluate(
        """([selector, bytes, name]) => {
            const carried = new DataTransfer();
            carried.items.add(new File([new Uint8Array(bytes)], name, {type: 'image/png'}));
            const box = document.querySelector(selector);
            box.dispatchEvent(new DragEvent('drop', {dataTransfer: carried, bubbles: true, cancelable: true}));
        }""",
        [selector, list(data), name],
    )


def test_png_dropped_on_the_prompt_fills_the_img2img_fields(ui_server, page, pictures):
    open_ui(page, ui_server)
    data = pictures["with_parameters"].read_bytes()
    drop_file(page, "#txt2img_prompt textarea", data)
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value.startsWith('a harbour')")
    assert page.input_value("#txt2img_steps input[type=number]") == "5"
    page.get_by_role("tab", name="img2img", exact=True).click()
    drop_file(page, "#img2img_prompt textarea", data)
    page.wait_for_function("document.querySelector('#img2img_prompt textarea').value.startsWith('a harbour')")
    assert page.input_value("#img2img_neg_prompt textarea") == "people"
    assert page.input_value("#img2img_steps input[type=number]") == "5"
    assert page.input_value("#img2img_seed input") == "4321"
    assert float(page.input_value("#img2img_cfg_scale input[type=number]")) == 6.5
    assert float(page.input_value("#img2img_denoising_strength input[type=number]")) == 0.35
    page.get_by_role("tab", name="Inpaint upload", exact=True).click()  # shows the mask controls
    assert page.input_value("#img2img_mask_blur input[type=number]") == "9"
    assert page.input_value("#img2img_inpaint_full_res_padding input[type=number]") == "20"
    assert page.locator("#img2img_inpainting_fill").get_by_label("latent noise", exact=True).is_checked()
    assert page.locator("#img2img_inpaint_full_res").get_by_label("Only masked", exact=True).is_checked()


def test_sketch_colours_become_the_init_image(ui_server, page, pictures):
    outputs = ui_server.data_dir / "outputs"
    open_ui(page, ui_server)
    page.get_by_role("tab", name="img2img", exact=True).click()
    page.get_by_role("tab", name="Sketch", exact=True).click()
    page.wait_for_selector("#img2img_sketch canvas")  # an upload before the editor is drawn is lost
    page.set_input_files("#img2img_sketch input[type=file]", str(pictures["gradient"]))
    # The editor shows its invitation until the picture is on its canvas.
    page.wait_for_function("!document.querySelector('#img2img_sketch').innerText.includes('Upload an image')")
    page.get_by_role("tab", name="Resize by", exact=True).click()
    wait_for_text(page, "#img2img_scale_resolution_preview", "resize: from 96x64 to 96x64")  # the picture is in
    page.get_by_role("tab", name="Resize to", exact=True).click()
    canvas = page.locator("#img2img_sketch canvas").first
    canvas.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 10, cy)
    page.mouse.down()
    page.mouse.move(cx + 10, cy, steps=6)
    page.mouse.up()
    page.fill("#img2img_prompt textarea", "sketched")
    for elem_id, value in (("img2img_steps", 2), ("img2img_width", 96), ("img2img_height", 64)):
        set_number(page, elem_id, value)
    before = saved(outputs / "init-images")
    page.click("#img2img_generate")
    init = np.asarray(wait_for_new_png(page, outputs / "init-images", before).convert("RGB")).astype(int)
    wait_for_text(page, "#html_info_img2img", "sketched")
    # The init image is the drawing: the black stroke (the brush's first colour) across the middle
    # of the picture, which is untouched at its corners.
    gradient = np.asarray(pictures["gradient_image"]).astype(int)
    assert init.shape == gradient.shape
    assert init[32, 48].sum() == 0 and gradient[32, 48].sum() > 0
    for y, x in ((0, 0), (0, 95), (63, 0), (63, 95)):
        assert (init[y, x] == gradient[y, x]).all()
    assert parse_infotext(newest_png(outputs / "img2img-images").info["parameters"])["Prompt"] == "sketched"


def test_batch_processes_a_folder_and_reports_an_unreadable_file(ui_server, page, pictures, tmp_path):
    source, masks, written = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    source.mkdir()
    masks.mkdir()
    pictures["gradient_image"].save(source / "one.png")
    pictures["gradient_image"].transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(source / "two.png")
    (source / "broken.png").write_bytes(b"not a picture")
    pictures["mask_image"].save(masks / "one.png")
    open_ui(page, ui_server)
    page.get_by_role("tab", name="img2img", exact=True).click()
    page.get_by_role("tab", name="Batch", exact=True).click()
    page.fill("#img2img_batch_input_dir textarea, #img2img_batch_input_dir input", str(source))
    page.fill("#img2img_batch_output_dir textarea, #img2img_batch_output_dir input", str(written))
    page.fill("#img2img_batch_inpaint_mask_dir textarea, #img2img_batch_inpaint_mask_dir input", str(masks))
    page.fill("#img2img_prompt textarea", "batch")
    for elem_id, value in (("img2img_steps", 2), ("img2img_width", 96), ("img2img_height", 64)):
        set_number(page, elem_id, value)
    page.click("#img2img_generate")
    wait_for_text(page, "#img2img_message", "broken.png", timeout=180_000)
    assert sorted(p.name for p in written.iterdir()) == ["one.png", "two.png"]
    with Image.open(written / "one.png") as one:
        outside, inside = unchanged_outside(one, pictures["gradient_image"], pictures["mask_image"], blur=4)
        assert outside == 0 and inside > 0
        assert "Mask blur: 4" in one.info["parameters"]
    assert page.locator("#img2img_gallery img").count() == 2
