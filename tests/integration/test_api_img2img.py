"""POST /sdapi/v1/img2img over real HTTP with A1111 v1.10's payloads: init images as raw base64 or
data: URLs, inpainting masks (grey levels or a painted alpha layer), A1111's API defaults, the
parameters echo with and without include_init_images, and 4xx answers that name the bad field."""

import base64
import io
import json

import numpy as np
import pytest
import requests
from PIL import Image

from modules.api.models import Img2ImgBody
from modules.images.infotext import parse_infotext
from modules.images.masks import blur_kernel_size
from tests.fixtures.installing import install_fixture_extensions
from tests.server import start_api_server

SMALL = {"prompt": "a cat", "steps": 3, "width": 64, "height": 64, "seed": 11, "sampler_name": "Euler"}
BOX = (16, 16, 48, 48)  # the inpainted square of the mask: left, top, right, bottom


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("api-img2img")
    install_fixture_extensions(data_dir, "script_modes")  # scripts that run in one mode only
    running = start_api_server(data_dir, tiny_single_file.parents[1])
    yield running
    running.stop()


def post(server, path: str, body: dict) -> requests.Response:
    return requests.post(server.url + "/sdapi/v1" + path, json=body, timeout=300)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def raw_b64(image: Image.Image) -> str:
    return base64.b64encode(png_bytes(image)).decode("ascii")


def data_url(image: Image.Image) -> str:
    return "data:image/png;base64," + raw_b64(image)


def noise_image(width: int = 64, height: int = 64, seed: int = 0) -> Image.Image:
    """A picture whose every pixel differs from its neighbours: any change to it shows."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def box_mask(size=(64, 64), box=BOX) -> Image.Image:
    """Black and white, white = inpaint: what A1111 clients send as `mask`."""
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return mask.convert("RGB")


def painted_mask(size=(64, 64), box=BOX) -> Image.Image:
    """A painted mask layer (A1111's create_binary_mask reading): opaque strokes = inpaint, the
    rest transparent. The strokes are black, so only the alpha channel can say where they are."""
    layer = Image.new("RGBA", size, (255, 255, 255, 0))
    layer.paste((0, 0, 0, 255), box)
    return layer


def box_array(box=BOX, size=(64, 64), grow: int = 0) -> np.ndarray:
    """True inside `box` grown by `grow` pixels on each side (clamped to the picture)."""
    inside = np.zeros((size[1], size[0]), dtype=bool)
    left, top, right, bottom = box
    inside[max(0, top - grow) : bottom + grow, max(0, left - grow) : right + grow] = True
    return inside


def answer_images(response: requests.Response) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(item))) for item in response.json()["images"]]


def infotext_of(image: Image.Image) -> dict:
    return parse_infotext(image.info["parameters"])


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


# -- img2img ------------------------------------------------------------------------------------


@pytest.mark.parametrize("encode", [raw_b64, data_url], ids=["raw-base64", "data-url"])
def test_img2img_answers_pictures_of_the_asked_size_with_the_strength_recorded(server, encode):
    init = encode(noise_image(96, 80))
    response = post(server, "/img2img", {**SMALL, "init_images": [init], "denoising_strength": 0.5})
    assert response.status_code == 200, response.text
    (image,) = answer_images(response)
    assert image.size == (64, 64)
    recorded = infotext_of(image)
    assert recorded["Denoising strength"] == 0.5 and recorded["Seed"] == 11
    parameters = response.json()["parameters"]
    assert parameters["denoising_strength"] == 0.5 and parameters["prompt"] == "a cat"
    assert parameters["init_images"] is None and parameters["mask"] is None  # include_init_images false
    info = json.loads(response.json()["info"])
    assert (info["denoising_strength"], info["width"], info["height"], info["seed"]) == (0.5, 64, 64, 11)
    assert info["infotexts"][0] == image.info["parameters"]


def test_raw_base64_and_data_url_give_the_same_picture_and_the_init_image_counts(server):
    def generate(init: str) -> np.ndarray:
        response = post(server, "/img2img", {**SMALL, "init_images": [init], "denoising_strength": 0.5})
        assert response.status_code == 200, response.text
        return pixels(answer_images(response)[0])

    first = generate(raw_b64(noise_image(seed=1)))
    assert np.array_equal(first, generate(data_url(noise_image(seed=1))))
    assert not np.array_equal(first, generate(raw_b64(Image.new("RGB", (64, 64), "white"))))


@pytest.mark.parametrize("resize_mode", [0, 1, 2, 3])
def test_each_resize_mode_gives_width_x_height_from_a_non_square_init(server, resize_mode):
    body = {**SMALL, "width": 64, "height": 96, "resize_mode": resize_mode, "denoising_strength": 0.5}
    response = post(server, "/img2img", {**body, "init_images": [raw_b64(noise_image(128, 64))]})
    assert response.status_code == 200, response.text
    (image,) = answer_images(response)
    assert image.size == (64, 96)
    assert response.json()["parameters"]["resize_mode"] == resize_mode


def test_a_batch_of_two_init_images(server):
    inits = [raw_b64(noise_image(seed=2)), data_url(noise_image(seed=3))]
    response = post(server, "/img2img", {**SMALL, "init_images": inits, "batch_size": 2})
    assert response.status_code == 200, response.text
    images = answer_images(response)
    assert [image.size for image in images] == [(64, 64), (64, 64)]
    assert len(json.loads(response.json()["info"])["infotexts"]) == 2


def test_save_images_writes_the_pictures_to_img2img_images_and_nothing_by_default(server):
    folder = server.data_dir / "outputs" / "img2img-images"
    body = {**SMALL, "init_images": [raw_b64(noise_image())], "seed": 4242, "prompt": "kept"}
    assert post(server, "/img2img", body).status_code == 200
    assert list(folder.rglob("*-4242.png")) == []  # A1111's API default: save_images false
    response = post(server, "/img2img", {**body, "save_images": True})
    assert response.status_code == 200, response.text
    (saved,) = folder.rglob("*-4242.png")
    with Image.open(saved) as image:
        assert image.info["parameters"] == answer_images(response)[0].info["parameters"]
        assert infotext_of(image)["Prompt"] == "kept"


def test_scripts_are_the_img2img_ones(server):
    body = {**SMALL, "init_images": [raw_b64(noise_image())], "denoising_strength": 0.5}
    ran = post(server, "/img2img", {**body, "script_name": "modes img2img only"})
    assert ran.status_code == 200, ran.text
    assert [image.size for image in answer_images(ran)] == [(64, 64)]
    refused = post(server, "/img2img", {**body, "alwayson_scripts": {"modes txt2img always-on": {"args": []}}})
    assert refused.status_code == 422 and "does not run in img2img" in refused.text, refused.text


# -- inpainting ---------------------------------------------------------------------------------


def a1111_inpaint_payload(init: Image.Image, mask: Image.Image, **changes) -> dict:
    """What an A1111 client (webuiapi, a browser extension) posts, unknown fields included."""
    payload = {
        "init_images": [data_url(init)],
        "mask": data_url(mask),
        "prompt": "a dog",
        "negative_prompt": "",
        "seed": 5,
        "subseed": -1,
        "subseed_strength": 0,
        "sampler_name": "Euler a",
        "batch_size": 1,
        "n_iter": 1,
        "steps": 4,
        "cfg_scale": 7,
        "image_cfg_scale": 1.5,  # instruct-pix2pix only: accepted
        "width": 64,
        "height": 64,
        "restore_faces": False,  # A1111 fields we do not have: ignored
        "tiling": False,
        "do_not_save_samples": False,
        "do_not_save_grid": False,
        "eta": None,
        "denoising_strength": 0.75,
        "resize_mode": 0,
        "inpainting_fill": 1,
        "inpaint_full_res": False,
        "inpaint_full_res_padding": 32,
        "inpainting_mask_invert": 0,
        "mask_blur": 0,
        "initial_noise_multiplier": None,
        "override_settings": {},
        "script_args": [],
        "alwayson_scripts": {},
        "send_images": True,
        "save_images": False,
        "include_init_images": False,
    }
    return {**payload, **changes}


@pytest.mark.parametrize("mask", [box_mask, painted_mask], ids=["grey-levels", "painted-alpha"])
def test_inpainting_keeps_every_pixel_outside_the_mask_and_repaints_inside(server, mask):
    init = noise_image(seed=4)
    response = post(server, "/img2img", a1111_inpaint_payload(init, mask()))
    assert response.status_code == 200, response.text
    (image,) = answer_images(response)
    assert image.size == (64, 64)
    out, original, inside = pixels(image), pixels(init), box_array()
    assert np.array_equal(out[~inside], original[~inside])
    assert np.abs(out[inside] - original[inside]).mean() > 10
    recorded = infotext_of(image)
    assert recorded["Denoising strength"] == 0.75 and recorded.get("Mask blur", 0) == 0
    assert recorded["Masked content"] == "original"


def test_inpaint_not_masked_keeps_the_pixels_inside_the_mask(server):
    init = noise_image(seed=6)
    payload = a1111_inpaint_payload(init, box_mask(), inpainting_mask_invert=1)
    response = post(server, "/img2img", payload)
    assert response.status_code == 200, response.text
    out, original, inside = pixels(answer_images(response)[0]), pixels(init), box_array()
    assert np.array_equal(out[inside], original[inside])
    assert np.abs(out[~inside] - original[~inside]).mean() > 10
    assert infotext_of(answer_images(response)[0])["Mask mode"] == "Inpaint not masked"


def test_a1111_api_defaults_inpaint_only_the_masked_area_with_fill(server):
    # Nothing but the pictures and the size: fill, "Only masked" with no padding, mask blur 4.
    init = noise_image(seed=7)
    box = (24, 24, 40, 40)
    body = {"init_images": [raw_b64(init)], "mask": raw_b64(box_mask(box=box)), "steps": 3, "width": 64, "height": 64}
    response = post(server, "/img2img", body)
    assert response.status_code == 200, response.text
    (image,) = answer_images(response)
    assert image.size == init.size  # "Only masked" pastes back into the init image's own size
    blurred = box_array(box, grow=blur_kernel_size(4) // 2)  # where the blurred mask can reach
    out, original = pixels(image), pixels(init)
    assert np.array_equal(out[~blurred], original[~blurred])
    assert not np.array_equal(out[box_array(box)], original[box_array(box)])
    recorded = infotext_of(image)
    assert (recorded["Denoising strength"], recorded["Mask blur"]) == (0.75, 4)
    assert (recorded["Masked content"], recorded["Inpaint area"]) == ("fill", "Only masked")
    assert recorded["Masked area padding"] == 0
    parameters = response.json()["parameters"]
    assert (parameters["inpainting_fill"], parameters["inpaint_full_res"], parameters["steps"]) == (0, True, 3)


# -- the parameters echo ------------------------------------------------------------------------


def test_include_init_images_echoes_the_images_and_the_mask(server):
    init, mask = data_url(noise_image(seed=8)), raw_b64(box_mask())
    body = a1111_inpaint_payload(noise_image(), box_mask(), steps=2, send_images=False)
    shown = post(server, "/img2img", {**body, "init_images": [init], "mask": mask, "include_init_images": True})
    assert shown.status_code == 200, shown.text
    assert shown.json()["images"] == []  # send_images false
    parameters = shown.json()["parameters"]
    assert (parameters["init_images"], parameters["mask"], parameters["include_init_images"]) == ([init], mask, True)
    hidden = post(server, "/img2img", {**body, "init_images": [init], "mask": mask})
    assert hidden.status_code == 200, hidden.text
    parameters = hidden.json()["parameters"]
    assert (parameters["init_images"], parameters["mask"], parameters["include_init_images"]) == (None, None, False)
    assert parameters["image_cfg_scale"] == 1.5 and parameters["prompt"] == "a dog"


# -- refusals -----------------------------------------------------------------------------------


def test_a_mask_of_another_size_is_422_naming_both_sizes(server):
    body = a1111_inpaint_payload(noise_image(), box_mask(size=(32, 48), box=(0, 0, 8, 8)))
    response = post(server, "/img2img", body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "32x48" in detail and "64x64" in detail


@pytest.mark.parametrize(
    "bad", [base64.b64encode(b"not an image at all").decode(), "!!not base64!!"], ids=["not-an-image", "not-base64"]
)
def test_a_bad_second_init_image_or_mask_is_422_naming_the_field(server, bad):
    good = raw_b64(noise_image())
    response = post(server, "/img2img", {**SMALL, "init_images": [good, bad]})
    assert response.status_code == 422, response.text
    assert "init_images[1]" in response.json()["detail"]
    response = post(server, "/img2img", {**SMALL, "init_images": [good], "mask": bad})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("mask:")


@pytest.mark.parametrize("init_images", [[], None, "missing"], ids=["empty", "null", "missing"])
def test_img2img_without_init_images_is_422(server, init_images):
    body = dict(SMALL) if init_images == "missing" else {**SMALL, "init_images": init_images}
    response = post(server, "/img2img", body)
    assert response.status_code == 422, response.text
    assert any("init_images" in map(str, error["loc"]) for error in response.json()["detail"])


def test_more_than_eight_init_images_are_refused_before_decoding(server):
    response = post(server, "/img2img", {**SMALL, "init_images": ["not decoded"] * 9})
    assert response.status_code == 422, response.text
    assert any("init_images" in map(str, error["loc"]) for error in response.json()["detail"])


def test_latent_mask_is_refused_with_the_reason(server):
    response = post(server, "/img2img", {**SMALL, "init_images": [raw_b64(noise_image())], "latent_mask": "abc"})
    assert response.status_code == 422, response.text
    assert "latent_mask is not supported" in response.text


def header_only_png(width: int, height: int) -> str:
    """A PNG that declares width x height but whose pixel data is cut off: decoding it would fail
    (422), so a 413 shows that its size was refused from the header, before decoding."""
    raw = png_bytes(Image.new("RGB", (width, height), "red"))
    return base64.b64encode(raw[: raw.index(b"IDAT") + 9]).decode("ascii")


def test_pictures_over_image_max_pixels_are_413_before_decoding(server):
    assert post(server, "/options", {"image_max_pixels": 4096}).status_code == 200
    try:
        good = raw_b64(noise_image())  # 64x64: exactly the limit
        response = post(server, "/img2img", {**SMALL, "init_images": [good, header_only_png(128, 64)]})
        assert response.status_code == 413, response.text
        detail = response.json()["detail"]
        assert detail.startswith("init_images[1]:") and "128x64" in detail and "4096" in detail
        response = post(server, "/img2img", {**SMALL, "init_images": [good], "mask": header_only_png(65, 64)})
        assert response.status_code == 413 and response.json()["detail"].startswith("mask:"), response.text
    finally:
        assert post(server, "/options", {"image_max_pixels": 16_777_216}).status_code == 200


# -- the body on its own ------------------------------------------------------------------------


def test_nulls_are_a1111s_img2img_api_defaults():
    nulls = {name: None for name in Img2ImgBody.model_fields}
    body = Img2ImgBody.model_validate({**nulls, "init_images": ["x"]})
    defaults = Img2ImgBody(init_images=["x"])
    assert body.model_dump(exclude={"script_args"}) == defaults.model_dump(exclude={"script_args"})
    assert (body.denoising_strength, body.inpainting_fill, body.inpaint_full_res) == (0.75, 0, True)
    assert (body.inpaint_full_res_padding, body.mask_blur, body.mask_blur_x, body.mask_blur_y) == (0, None, 4, 4)
    assert (body.resize_mode, body.inpainting_mask_invert, body.steps, body.sampler_index) == (0, 0, 50, "Euler")
    assert body.include_init_images is False and body.save_images is False and body.send_images is True


def test_mask_blur_sets_both_directions_and_the_mask_mode_takes_a1111s_spellings():
    picture = Image.new("RGB", (64, 64))
    both = Img2ImgBody(init_images=["x"], mask_blur=7, mask_blur_x=1, mask_blur_y=2).to_request([picture], None)
    assert both.blur_xy == (7, 7)
    apart = Img2ImgBody(init_images=["x"], mask_blur_x=1, mask_blur_y=2).to_request([picture], None)
    assert apart.blur_xy == (1, 2)
    for spelling in (1, True, "1", "Inpaint not masked"):
        body = Img2ImgBody(init_images=["x"], inpainting_mask_invert=spelling)
        assert body.inpainting_mask_invert == 1 and body.to_request([picture], None).inpainting_mask_invert is True
    request = Img2ImgBody(init_images=["x"], sampler_index="DDIM", steps=9).to_request([picture], None)
    assert (request.sampler_name, request.steps, request.denoising_strength) == ("DDIM", 9, 0.75)
    assert (request.inpainting_fill, request.inpaint_full_res, request.inpaint_full_res_padding) == (0, True, 0)
