"""The PNG Info tab: an image's generation parameters (PNG "parameters" chunk, or the EXIF
UserComment of JPEG and WebP) and its other text metadata, with buttons sending them on.

The upload is untrusted: the handler takes its path unopened (no Gradio preprocessing) and the
pixel cap (setting image_max_pixels) is checked from the header before anything is decoded.
"""

import html
from dataclasses import dataclass, field

import gradio as gr

from modules.engine import Engine
from modules.images.decoding import BadImageError, ImageTooLargeError, open_image
from modules.images.uploads import UploadError, upload_bytes, upload_path
from webui.components.progress import message_html
from webui.components.send_to import NothingToSend, SendTargets, wire_send_buttons

NO_PARAMETERS = "This image holds no generation parameters"


@dataclass(frozen=True)
class ImageMetadata:
    """What the tab shows of one image: the infotext ("" when none) and its other text chunks."""

    parameters: str
    items: dict[str, str] = field(default_factory=dict)


def read_metadata(raw: bytes, max_pixels: int) -> ImageMetadata:
    """Encoded image bytes -> its metadata. Raises ImageTooLargeError (more pixels than
    `max_pixels`, refused before decoding) or BadImageError (not an image)."""
    from modules.images.saving import read_generation_text

    with open_image(raw, max_pixels) as image:
        # After open_image's load(): text chunks written after the pixel data are read too.
        items = {key: value for key, value in image.info.items() if isinstance(value, str) and key != "parameters"}
        return ImageMetadata(read_generation_text(image), items)


def metadata_html(metadata: ImageMetadata) -> str:
    """As A1111's html_info: one heading and text per chunk, the parameters first; an image with
    no parameters says so above whatever else it holds."""
    parts = [] if metadata.parameters else [message_html(NO_PARAMETERS, "info")]
    chunks = {"parameters": metadata.parameters, **metadata.items} if metadata.parameters else metadata.items
    for key, text in chunks.items():
        parts.append(f"<div><p><b>{_text_html(key)}</b></p><p>{_text_html(text)}</p></div>")
    return "\n".join(parts)


def build_png_info_tab(engine: Engine, targets: SendTargets) -> gr.Image:
    """Builds the tab; returns its upload (the Outputs tab's "Open in PNG Info" fills it)."""
    with gr.Row(equal_height=False):
        with gr.Column(variant="panel"):
            upload = gr.Image(label="Source", type="filepath", sources=["upload"], elem_id="pnginfo_image")
        with gr.Column(variant="panel"):
            info = gr.HTML(elem_id="html_info_pnginfo")
            with gr.Row():
                to_txt2img = gr.Button("Send to txt2img", elem_id="pnginfo_send_txt2img")
                to_img2img = gr.Button("Send to img2img", elem_id="pnginfo_send_img2img")
                to_inpaint = gr.Button("Send to inpaint", elem_id="pnginfo_send_inpaint")
                to_extras = gr.Button("Send to extras", elem_id="pnginfo_send_extras")
            message = gr.HTML(elem_id="pnginfo_message")
    # The accepted image: its path and infotext; empty until one passed the pixel cap.
    shown = gr.State({})

    def read(upload_data: dict | None):
        # Unprocessed (preprocess=False): Gradio has checked the path is one of its uploads, and has not
        # opened the file (its own opening answers an image over twice Pillow's limit with a bare "Error").
        try:
            raw = upload_bytes(upload_data)
            if raw is None:
                return "", "", {}
            metadata = read_metadata(raw, int(engine.settings.get("image_max_pixels")))
        except (ImageTooLargeError, BadImageError, UploadError) as error:
            return "", message_html(str(error), "error"), {}
        return metadata_html(metadata), "", {"path": upload_path(upload_data), "parameters": metadata.parameters}

    upload.change(read, inputs=upload, outputs=[info, message, shown], queue=False, preprocess=False)

    def pick(state):
        if not (state or {}).get("path"):
            raise NothingToSend(_nothing_to_send(state, "image"))
        # The file as uploaded (checked against the pixel cap above): no re-encoding on the way; the
        # picture goes even without parameters, as A1111's.
        return state["path"], state.get("parameters") or ""

    wire_send_buttons(targets, message, pick, [shown], txt2img=to_txt2img, img2img=to_img2img, inpaint=to_inpaint,
                      pictures=[(to_extras, targets.extras_image, "extras")],
                      no_parameters="Nothing to send: the image holds no generation parameters")  # fmt: skip
    return upload


def _nothing_to_send(state, what: str) -> str:
    if not state:
        return "Upload an image first (or one within the size limit)"
    return f"Nothing to send: the image holds no {what}"


def _text_html(text: str) -> str:
    return html.escape(str(text)).replace("\n", "<br>")
