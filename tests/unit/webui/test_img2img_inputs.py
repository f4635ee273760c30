"""The img2img tab's picture reading: editor values and uploads within the pixel cap, the init
image and mask of each sub-tab, the "Resize by" size and label, pasted radio labels, and the
gallery picture a send-to button sends."""

import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from webui.components.img2img_inputs import (
    KEPT_EDITOR_UPLOADS,
    EditorImages,
    NoPicture,
    UploadError,
    detected_size,
    editor_size,
    inpaint_inputs,
    inpaint_sketch_inputs,
    inpaint_upload_inputs,
    label_of,
    painted_mask,
    read_editor,
    resize_label,
    scaled_size,
    sketch_init,
    take_editor_uploads,
    upload_size,
)
from webui.components.send_to import gallery_pick
from webui.tabs.generation_ui import selected_image

RESIZE = ("Just resize", "Crop and resize", "Resize and fill", "Just resize (latent upscale)")
AREAS = ("Whole picture", "Only masked")


def picture(size=(32, 24), colour=(10, 120, 200)) -> Image.Image:
    return Image.new("RGB", size, colour)


def stroke_layer(size=(32, 24), box=(8, 4, 20, 12), alpha=255) -> Image.Image:
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    layer.paste((255, 255, 255, alpha), box)
    return layer


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def file_data(tmp_path, name: str, image: Image.Image) -> dict:
    path = tmp_path / name
    path.write_bytes(png(image))
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def test_resize_by_rounds_each_side_down_to_a_multiple_of_8():
    assert scaled_size(96, 64, 1.5) == (144, 96)
    assert scaled_size(100, 70, 1.0) == (96, 64)
    assert scaled_size(513, 512, 0.5) == (256, 256)
    assert resize_label((96, 64), 1.5) == "resize: from 96x64 to 144x96"
    assert resize_label(None, 2.0) == "no image selected"


def test_detected_size_fits_the_sliders():
    assert detected_size((100, 3000)) == (96, 2048)
    assert detected_size((10, 70)) == (64, 72)
    assert detected_size(None) is None


@pytest.mark.parametrize(
    ("labels", "value", "expected"),
    [
        (RESIZE, 1, "Crop and resize"),
        (RESIZE, "resize and fill", "Resize and fill"),
        (RESIZE, "3", "Just resize (latent upscale)"),
        (RESIZE, 7, None),
        (RESIZE, "Stretch", None),
        (AREAS, True, "Only masked"),
        (AREAS, False, "Whole picture"),
        (RESIZE, True, None),  # a bool names one of two choices only
        (AREAS, None, None),
    ],
)
def test_pasted_values_become_radio_labels(labels, value, expected):
    assert label_of(labels, value) == expected


def test_painted_mask_takes_strokes_above_the_alpha_threshold():
    strong = stroke_layer(box=(0, 0, 4, 4), alpha=255)
    faint = stroke_layer(box=(10, 10, 14, 14), alpha=100)
    mask = np.asarray(painted_mask([strong, faint], (32, 24)))
    assert mask[:4, :4].min() == 255 and mask[10:14, 10:14].max() == 0  # A1111: alpha above 128
    assert int((mask > 0).sum()) == 16
    everything = np.asarray(painted_mask([strong, faint], (32, 24), threshold=0))
    assert int((everything > 0).sum()) == 32
    with pytest.raises(UploadError, match="layer 0 is 16x16"):
        painted_mask([stroke_layer(size=(16, 16))], (32, 24))


def test_inpaint_uses_the_picture_and_the_strokes():
    background = picture()
    init, mask = inpaint_inputs(EditorImages(background, [stroke_layer()], background))
    assert init is background
    assert mask.getbbox() == (8, 4, 20, 12)
    with pytest.raises(NoPicture, match="mask is empty"):
        inpaint_inputs(EditorImages(background, [], background))
    with pytest.raises(NoPicture, match="Upload an image first"):
        inpaint_inputs(EditorImages())


def test_sketch_starts_from_what_the_user_sees():
    background, drawn = picture(colour=(0, 0, 0)), picture(colour=(255, 0, 0))
    assert sketch_init(EditorImages(background, [], drawn)) is drawn
    assert sketch_init(EditorImages(background, [], None)) is background
    with pytest.raises(NoPicture):
        sketch_init(EditorImages())


def test_inpaint_sketch_masks_the_painted_area_dimmed_by_its_transparency():
    background = picture(colour=(0, 0, 0))
    drawn = background.copy()
    drawn.paste((255, 0, 0), (8, 4, 20, 12))
    editor = EditorImages(background, [stroke_layer(alpha=40)], drawn)  # any painted alpha counts
    init, mask = inpaint_sketch_inputs(editor, transparency=50, blur=0)
    assert set(np.unique(np.asarray(mask))) == {0, 127}  # 255 x 0.5, as PIL (and A1111) dims it
    assert init.getpixel((10, 6))[:3] == (255, 0, 0)
    # With a blur the painted edge is softened into the picture; far from it the picture stays.
    init, _ = inpaint_sketch_inputs(editor, transparency=0, blur=2)
    assert init.getpixel((0, 23))[:3] == (0, 0, 0)
    assert 0 < init.getpixel((7, 8))[0] < 255
    with pytest.raises(NoPicture, match="nothing is drawn"):
        inpaint_sketch_inputs(EditorImages(background, [], background), 0, 4)


def test_read_editor_reads_files_within_the_pixel_cap(tmp_path):
    payload = {
        "background": file_data(tmp_path, "background.png", picture()),
        "layers": [file_data(tmp_path, "layer_0.png", stroke_layer())],
        "composite": file_data(tmp_path, "composite.png", picture(colour=(1, 2, 3))),
        "id": None,
    }
    read = read_editor(payload, max_pixels=32 * 24)
    assert read.background.size == (32, 24) and read.composite.getpixel((0, 0))[:3] == (1, 2, 3)
    assert len(read.layers) == 1 and read.layers[0].mode == "RGBA"
    with pytest.raises(UploadError, match="more than the limit of 100"):
        read_editor(payload, max_pixels=100)
    assert read_editor(None, 1000) == EditorImages()


def test_read_editor_takes_a_stroke_upload_by_id_and_trims_the_store():
    blobs = SimpleNamespace(background=png(picture()), layers=[png(stroke_layer()), None], composite=None)
    storage = {f"old{i}": object() for i in range(KEPT_EDITOR_UPLOADS + 5)}
    storage["abc"] = blobs
    read = read_editor({"background": None, "layers": [], "composite": None, "id": "abc"}, 10_000, storage)
    assert read.background.size == (32, 24) and len(read.layers) == 1 and read.composite is None
    assert "abc" not in storage and len(storage) == KEPT_EDITOR_UPLOADS
    assert take_editor_uploads(storage, "missing") is None


def test_inpaint_upload_reads_the_mask_by_luminance_or_painted_alpha(tmp_path):
    base = file_data(tmp_path, "base.png", picture())
    white_box = Image.new("L", (32, 24), 0)
    white_box.paste(255, (4, 4, 10, 10))
    init, mask = inpaint_upload_inputs(base, file_data(tmp_path, "mask.png", white_box), 10_000)
    assert init.size == (32, 24) and mask.getbbox() == (4, 4, 10, 10)
    _, painted = inpaint_upload_inputs(base, file_data(tmp_path, "strokes.png", stroke_layer()), 10_000)
    assert painted.getbbox() == (8, 4, 20, 12)
    with pytest.raises(NoPicture, match="mask"):
        inpaint_upload_inputs(base, None, 10_000)
    with pytest.raises(NoPicture, match="image to inpaint"):
        inpaint_upload_inputs(None, None, 10_000)


def test_sizes_come_from_the_header_upright(tmp_path):
    rotated = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: shown as 24x32
    picture().save(rotated, exif=exif)
    assert upload_size({"path": str(rotated)}) == (24, 32)
    (tmp_path / "junk.png").write_bytes(b"not a picture")
    assert upload_size(str(tmp_path / "junk.png")) is None
    assert upload_size(None) is None
    editor = {"background": None, "layers": [], "composite": file_data(tmp_path, "c.png", picture((40, 16)))}
    assert editor_size(editor) == (40, 16)
    store = {"x": SimpleNamespace(background=png(picture((8, 8))), composite=None)}
    assert editor_size({"id": "x"}, store) == (8, 8)
    assert "x" in store  # left for Generate to read


def test_send_to_sends_the_selected_picture_or_the_first():
    gallery = [{"image": {"path": "/cache/a.png"}, "caption": "Seed 1"}, {"image": {"path": "/cache/b.png"}}]
    state = {"infotexts": ["first", "second"]}
    assert gallery_pick(gallery, state) == ("/cache/a.png", "first")
    _, state = selected_image(state, 1)
    assert gallery_pick(gallery, state) == ("/cache/b.png", "second")
    assert gallery_pick(gallery, {"selected": 5, "infotexts": []}) == ("/cache/a.png", "")
    assert gallery_pick([], state) == (None, "")
