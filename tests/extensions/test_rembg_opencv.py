"""The offline OpenCV method on synthetic pictures with a known foreground, and the output modes."""

import numpy as np
import pytest
from PIL import Image

from tests.extensions.rembg_loader import load_rembg
from tests.extensions.rembg_pictures import iou, pictures

# IoU of alpha > 127 against the drawn mask, measured at 128 px (OpenCV 5.0.0, see the README);
# the floors leave 0.03 for other OpenCV builds.
MEASURED_IOU = {"gradient": 0.959, "texture": 0.999, "portrait": 0.998, "dark": 0.977, "low-contrast": 0.992}
PICTURES = {picture.name: picture for picture in pictures(128)}


@pytest.fixture(scope="module")
def removal():
    return load_rembg().removal


@pytest.mark.parametrize("name", sorted(MEASURED_IOU))
def test_opencv_keeps_the_foreground_and_drops_the_background(removal, name):
    picture = PICTURES[name]
    cutout = removal.remove_background(picture.image, "opencv")

    assert cutout.mode == "RGBA" and cutout.size == picture.image.size
    kept = np.asarray(cutout.getchannel("A")) > 127
    assert iou(kept, picture.mask) >= MEASURED_IOU[name] - 0.03
    assert kept[picture.mask].mean() >= 0.95  # foreground kept
    assert (~kept[~picture.mask]).mean() >= 0.97  # background dropped
    # The cutout keeps the picture's own colours where it is opaque.
    assert np.array_equal(np.asarray(cutout)[..., :3], np.asarray(picture.image))


def test_a_larger_picture_is_worked_on_smaller_and_the_mask_scaled_back(removal):
    picture = pictures(512)[0]  # above the 320 px working size
    mask = removal.remove_background(picture.image, "opencv", mask_only=True)
    assert mask.mode == "L" and mask.size == (512, 512)
    assert iou(np.asarray(mask) > 127, picture.mask) >= 0.95  # measured 0.981


def test_mask_only_alpha_matting_and_background_colour_modes(removal):
    picture = PICTURES["gradient"]
    mask = removal.remove_background(picture.image, "", mask_only=True)
    assert mask.mode == "L" and mask.size == picture.image.size
    assert iou(np.asarray(mask) > 127, picture.mask) >= 0.93

    matted = removal.remove_background(picture.image, "opencv", alpha_matting=True)
    assert matted.mode == "RGBA" and matted.size == picture.image.size
    assert iou(np.asarray(matted.getchannel("A")) > 127, picture.mask) >= 0.93  # measured 0.999

    matted_mask = removal.remove_background(picture.image, "opencv", alpha_matting=True, mask_only=True)
    assert matted_mask.mode == "L" and matted_mask.size == picture.image.size
    # The same matte (pymatting's iterative solver differs by a few levels from run to run).
    difference = np.asarray(matted_mask, np.int16) - np.asarray(matted.getchannel("A"), np.int16)
    assert np.abs(difference).max() <= 8

    # Thresholds that leave no sure background: matting is skipped and the plain mask returned.
    unmatted = removal.remove_background(picture.image, "opencv", alpha_matting=True, bg_threshold=0)
    assert np.array_equal(np.asarray(unmatted.getchannel("A")), np.asarray(mask))

    filled = removal.remove_background(picture.image, "opencv", background_color=(0, 255, 0))
    pixels = np.asarray(filled)
    assert filled.mode == "RGBA" and (pixels[..., 3] == 255).all()
    assert (pixels[~picture.mask & (np.asarray(mask) == 0)][:, :3] == (0, 255, 0)).all()


def test_a_picture_that_was_already_transparent_stays_transparent_there(removal):
    picture = PICTURES["dark"]
    source = picture.image.convert("RGBA")
    source.putalpha(Image.new("L", source.size, 255).crop((0, 0, 64, 128)).resize(source.size))
    alpha = np.asarray(source.getchannel("A")).copy()
    alpha[:, 64:] = 0  # the right half was already cut away
    source.putalpha(Image.fromarray(alpha))

    cutout = removal.remove_background(source, "opencv")
    result = np.asarray(cutout.getchannel("A"))
    assert (result[:, 64:] == 0).all()
    assert (result[:, :64][picture.mask[:, :64]] > 127).mean() >= 0.95


def test_tiny_pictures_are_kept_whole(removal):
    cutout = removal.remove_background(Image.new("RGB", (5, 3), "white"), "opencv")
    assert cutout.size == (5, 3) and (np.asarray(cutout.getchannel("A")) == 255).all()


def test_method_names(removal, tmp_path):
    assert removal.all_methods()[0] == "opencv"
    assert {"u2net", "u2netp", "u2net_human_seg", "silueta", "isnet-general-use", "isnet-anime"} <= set(
        removal.all_methods()
    )
    assert removal.normalise_method("") == removal.normalise_method("None") == "opencv"
    assert removal.normalise_method(None) == "opencv" and removal.normalise_method("U2NET") == "u2net"
    with pytest.raises(ValueError, match="known: opencv, u2net"):
        removal.remove_background(Image.new("RGB", (8, 8)), "no-such-model", tmp_path)
    assert removal.available_methods(tmp_path) == removal.available_methods(None) == ["opencv"]
