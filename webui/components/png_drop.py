"""A PNG dropped onto a prompt box: its generation parameters fill the tab's fields, as A1111's
drop does. The page script (webui/static/png_drop.js) hands the file to the tab's hidden upload;
the file is read here, unprocessed, within the pixel cap."""

import gradio as gr

from modules.engine import Engine
from modules.images.decoding import BadImageError, ImageTooLargeError
from modules.images.uploads import UploadError, upload_bytes
from webui.components.progress import message_html


def wire_png_drop(engine: Engine, drop: gr.File, paste, message: gr.HTML) -> None:
    """`paste`: the tab's ParametersPaste; the dropped file's infotext goes through it."""
    from webui.tabs.png_info import NO_PARAMETERS, read_metadata

    def read_dropped(upload):
        # The hidden upload is emptied each time, so dropping the same file again reads it again.
        try:
            raw = upload_bytes(upload)
            if raw is None:
                return {drop: None}
            metadata = read_metadata(raw, int(engine.settings.get("image_max_pixels")))
        except (ImageTooLargeError, BadImageError, UploadError) as error:
            return {message: message_html(str(error), "error"), drop: None}
        if not metadata.parameters:
            return {message: message_html(NO_PARAMETERS, "error"), drop: None}
        return {**paste.apply(metadata.parameters), drop: None}

    drop.upload(read_dropped, inputs=drop, outputs=[*paste.outputs, drop], preprocess=False, queue=False)
