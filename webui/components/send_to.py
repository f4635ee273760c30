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


def wire_gallery_send_buttons(source, targets: SendTargets) -> None:
    """`source`: a GenerationTab whose output panel holds the gallery and its buttons."""
    img2img, panel = targets.img2img, source.output
    message = panel.message
    panel.wire_actions(source.engine, source.session)  # Open folder, Save, Zip: beside the send-to buttons

    def sender(target: str):
        def send(gallery_value, state):
            path, infotext = gallery_pick(gallery_value, state)
            if path is None:
                return {message: message_html(EMPTY_GALLERY, "error")}
            return {message: "", **img2img.receive(path, infotext, target), targets.tabs: gr.Tabs(selected="img2img")}

        return send

    outputs = list(dict.fromkeys([*img2img.receive_outputs, targets.tabs, message]))
    for button, target in ((panel.send_to_img2img, "img2img"), (panel.send_to_inpaint, "inpaint")):
        sent = button.click(sender(target), inputs=[panel.gallery, source.session], outputs=outputs,
                            preprocess=False, queue=False)  # fmt: skip
        img2img.after_receive(sent)

    def send_to_extras(gallery_value, state):
        path, _ = gallery_pick(gallery_value, state)
        if path is None:
            return gr.skip(), gr.skip(), message_html(EMPTY_GALLERY, "error")
        return path, gr.Tabs(selected="extras"), ""

    panel.send_to_extras.click(send_to_extras, inputs=[panel.gallery, source.session],
                               outputs=[targets.extras_image, targets.tabs, message], preprocess=False,
                               queue=False)  # fmt: skip
