"""Send-to buttons: a gallery's selected picture (or its first), with its infotext, into img2img,
inpaint or Extras, switching to that tab, as A1111's buttons under every gallery do."""

from dataclasses import dataclass

import gradio as gr

from modules.images.uploads import upload_path
from webui.components.progress import message_html

EMPTY_GALLERY = "Generate an image first: the gallery is empty"


@dataclass(frozen=True)
class SendTargets:
    """Where send-to buttons deliver: the Tabs to switch, the txt2img tab's paste logic, the Extras
    tab's input image and the img2img tab (its `receive` puts a picture in a sub-tab)."""

    tabs: gr.Tabs
    txt2img_paste: object  # ParametersPaste
    extras_image: gr.Image
    img2img: object = None  # Img2ImgTab


def gallery_pick(gallery_value, state: dict | None) -> tuple[str | None, str]:
    """(path, infotext) of the picture a send-to button sends from a raw (unprocessed) gallery
    value: the one selected in this session, else the first; (None, "") for an empty gallery."""
    items = list(gallery_value or [])
    if not items:
        return None, ""
    state = state or {}
    index = state.get("selected")
    if not isinstance(index, int) or not 0 <= index < len(items):
        index = 0
    item = items[index]
    picture = item.get("image", item) if isinstance(item, dict) else item
    infotexts = state.get("infotexts") or []
    return upload_path(picture), (infotexts[index] if index < len(infotexts) else "")


class NothingToSend(ValueError):
    """Why a send-to button has nothing to send; shown as the source's message."""


def wire_send_buttons(targets: SendTargets, message, pick, inputs, *, txt2img=None, img2img=None, inpaint=None,
                      pictures=(), no_parameters: str = "Nothing to send: the picture holds no parameters",
                      preprocess: bool = True) -> None:  # fmt: skip
    """Every source's send-to buttons, one way (A1111's under its galleries, PNG Info, Outputs).

    `pick(*values of inputs) -> (path, infotext)` reads the picture the source shows, raising
    NothingToSend with the reason. `txt2img` fills the txt2img fields from the infotext;
    `img2img` / `inpaint` put the picture (and its infotext) into that img2img sub-tab;
    `pictures`: (button, image component, tab id) pairs that put the picture alone into a tab's
    image (Extras, PNG Info). Each switches to its tab; a missing button is left out."""
    tabs = targets.tabs
    common = {"inputs": inputs, "preprocess": preprocess, "queue": False}

    def picked(values) -> tuple[tuple | None, dict]:
        try:
            return pick(*values), {}
        except NothingToSend as reason:
            return None, {message: message_html(str(reason), "error")}

    if txt2img is not None:
        paste = targets.txt2img_paste

        def to_txt2img(*values):
            chosen, refused = picked(values)
            if chosen is None:
                return refused
            if not chosen[1]:
                return {message: message_html(no_parameters, "error")}
            return {**paste.apply(chosen[1]), tabs: gr.Tabs(selected="txt2img"), message: ""}

        txt2img.click(to_txt2img, outputs=[*paste.outputs, tabs, message], **common)

    receiver = targets.img2img
    for button, target in ((img2img, "img2img"), (inpaint, "inpaint")):
        if button is None or receiver is None:
            continue

        def to_img2img(*values, target=target):
            chosen, refused = picked(values)
            if chosen is None:
                return refused
            return {**receiver.receive(*chosen, target), tabs: gr.Tabs(selected="img2img"), message: ""}

        outputs = list(dict.fromkeys([*receiver.receive_outputs, tabs, message]))
        receiver.after_receive(button.click(to_img2img, outputs=outputs, **common))

    for button, image, tab_id in pictures:

        def to_picture(*values, image=image, tab_id=tab_id):
            chosen, refused = picked(values)
            if chosen is None:
                return refused
            return {image: chosen[0], tabs: gr.Tabs(selected=tab_id), message: ""}

        button.click(to_picture, outputs=[image, tabs, message], **common)


def wire_gallery_send_buttons(source, targets: SendTargets) -> None:
    """`source`: a GenerationTab whose output panel holds the gallery and its buttons."""
    panel = source.output
    panel.wire_actions(source.engine, source.session)  # Open folder, Save, Zip: beside the send-to buttons

    def pick(gallery_value, state):
        path, infotext = gallery_pick(gallery_value, state)
        if path is None:
            raise NothingToSend(EMPTY_GALLERY)
        return path, infotext

    wire_send_buttons(targets, panel.message, pick, [panel.gallery, source.session], img2img=panel.send_to_img2img,
                      inpaint=panel.send_to_inpaint, pictures=[(panel.send_to_extras, targets.extras_image, "extras")],
                      preprocess=False)  # fmt: skip
