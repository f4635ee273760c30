"""The img2img tab's controls take their limits and defaults from the request model (Denoising
strength starting at A1111's img2img 0.75), its radios offer the request's labels, and every
elem_id appears once in the page."""

import pytest

from modules.processing.request import INPAINT_AREAS, MASK_MODES, MASKED_CONTENT, RESIZE_MODES, Img2ImgRequest
from webui.components.field_group import field_limits
from webui.tabs.img2img import DENOISING_DEFAULT

# elem_id -> the request field the control carries.
IMG2IMG_CONTROLS = {
    "img2img_steps": "steps",
    "img2img_width": "width",
    "img2img_height": "height",
    "img2img_batch_count": "n_iter",
    "img2img_batch_size": "batch_size",
    "img2img_cfg_scale": "cfg_scale",
    "img2img_seed": "seed",
    "img2img_subseed_strength": "subseed_strength",
    "img2img_denoising_strength": "denoising_strength",
    "img2img_mask_blur": "mask_blur",
    "img2img_inpaint_full_res_padding": "inpaint_full_res_padding",
}
RADIOS = {
    "img2img_resize_mode": (RESIZE_MODES, "Just resize"),
    "img2img_mask_mode": (MASK_MODES, "Inpaint masked"),
    "img2img_inpainting_fill": (MASKED_CONTENT, "original"),
    "img2img_inpaint_full_res": (INPAINT_AREAS, "Whole picture"),
}


@pytest.fixture(scope="module")
def blocks(engine):
    from webui.app import build_blocks

    return build_blocks(engine)


def by_elem_id(blocks, elem_id: str):
    found = [block for block in blocks.blocks.values() if getattr(block, "elem_id", None) == elem_id]
    assert len(found) == 1, (elem_id, len(found))
    return found[0]


def test_img2img_controls_have_the_request_fields_limits(blocks):
    for elem_id, name in IMG2IMG_CONTROLS.items():
        control = by_elem_id(blocks, elem_id)
        limits = field_limits(Img2ImgRequest, name)
        assert (control.minimum, control.maximum) == (limits.minimum, limits.maximum), elem_id
        if name == "denoising_strength":
            assert control.value == DENOISING_DEFAULT == 0.75
        elif name not in ("width", "height"):
            assert control.value == limits.default, elem_id


def test_radios_offer_the_labels_the_request_accepts(blocks):
    for elem_id, (labels, default) in RADIOS.items():
        radio = by_elem_id(blocks, elem_id)
        assert [choice[0] for choice in radio.choices] == list(labels), elem_id
        assert radio.value == default and radio.type == "index", elem_id


def test_every_picture_sub_tab_and_send_button_is_there(blocks):
    for elem_id in ("img2img_image", "img2img_sketch", "img2maskimg", "inpaint_sketch", "img_inpaint_base",
                    "img_inpaint_mask", "img2img_batch_input_dir", "img2img_batch_output_dir",
                    "img2img_batch_inpaint_mask_dir", "img2img_batch_use_png_info", "img2img_scale",
                    "txt2img_send_to_img2img", "txt2img_send_to_inpaint", "txt2img_send_to_extras",
                    "img2img_send_to_img2img", "img2img_send_to_inpaint", "img2img_send_to_extras",
                    "pnginfo_send_img2img", "pnginfo_send_inpaint", "txt2img_png_drop",
                    "img2img_png_drop"):  # fmt: skip
        by_elem_id(blocks, elem_id)
