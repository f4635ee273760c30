"""The Outputs tab: past pictures under outputs/ by kind and day, newest first, a page at a time;
the selected one's parameters, send-to buttons, open in PNG Info, and Delete (to the trash).

The gallery shows small thumbnails (a page of big pictures stays quick to send). The page state
holds the listed entries' keys only: the server looks each key up in a fresh listing
(modules/images/output_index.py) and never opens a client's string as a path. A picture sent on is
copied into Gradio's upload folder first, so the receiving image fields take it as any upload.
"""

import hashlib
from pathlib import Path

import gradio as gr

from modules.atomic import write_bytes_atomic
from modules.engine import Engine
from modules.images.decoding import BadImageError, ImageTooLargeError, open_image
from modules.images.output_index import OUTPUT_KINDS, OutputIndex, UnknownOutputError
from webui.components.output_panel import infotext_html
from webui.components.progress import message_html
from webui.components.send_to import NothingToSend, SendTargets, wire_send_buttons

PER_PAGE = 24
THUMBNAIL_SIZE = 256
ALL = "All"
NOTHING_SELECTED = "Select a picture first"


def output_index(engine: Engine) -> OutputIndex:
    return OutputIndex(engine.paths.outputs_dir, engine.paths.data_dir / "trash")


def thumbnail(path: Path, max_pixels: int):
    """A small copy of the picture for the gallery, None when it cannot be read as one."""
    try:
        image = open_image(path.read_bytes(), max_pixels, path.name)
    except (OSError, BadImageError, ImageTooLargeError):
        return None
    image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    return image.convert("RGBA") if image.mode not in ("RGB", "RGBA") else image


def build_outputs_tab(engine: Engine, targets: SendTargets, tab: gr.Tab, png_info_image: gr.Image) -> None:
    """`tab`: the Tab it is built in (opening it lists what is on disk now); `png_info_image`:
    the PNG Info tab's upload, which "Open in PNG Info" fills."""
    index = output_index(engine)
    with gr.Row(equal_height=True):
        kind = gr.Dropdown([ALL, *OUTPUT_KINDS], value=ALL, label="Kind", elem_id="outputs_kind", scale=2)
        day = gr.Dropdown([ALL], value=ALL, label="Date", elem_id="outputs_day", scale=2)
        page = gr.Number(1, label="Page", precision=0, minimum=1, elem_id="outputs_page", scale=1)
        previous = gr.Button("◀ Previous", elem_id="outputs_previous", size="sm", scale=1)
        following = gr.Button("Next ▶", elem_id="outputs_next", size="sm", scale=1)
        refresh = gr.Button("Refresh", elem_id="outputs_refresh", size="sm", scale=1)
    summary = gr.HTML(elem_id="outputs_summary")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            gallery = gr.Gallery(label="Outputs", elem_id="outputs_gallery", columns=6, height=560,
                                 object_fit="contain", format="png", interactive=False)  # fmt: skip
        with gr.Column(scale=2):
            name = gr.Textbox(label="File", elem_id="outputs_selected_name", interactive=False)
            info = gr.HTML(elem_id="html_info_outputs")
            with gr.Row():
                to_txt2img = gr.Button("Send to txt2img", elem_id="outputs_send_txt2img", size="sm")
                to_img2img = gr.Button("Send to img2img", elem_id="outputs_send_img2img", size="sm")
                to_inpaint = gr.Button("Send to inpaint", elem_id="outputs_send_inpaint", size="sm")
                to_extras = gr.Button("Send to extras", elem_id="outputs_send_extras", size="sm")
            with gr.Row():
                to_png_info = gr.Button("Open in PNG Info", elem_id="outputs_open_pnginfo", size="sm")
                delete = gr.Button("Delete", elem_id="outputs_delete", size="sm", variant="stop")
            message = gr.HTML(elem_id="outputs_message")
    # {"keys": the shown page's entry keys, "selected": the selected key or None}
    shown = gr.State({})
    max_pixels = lambda: int(engine.settings.get("image_max_pixels"))  # noqa: E731 - read when used

    def listing(kind_value, day_value, page_value, state, note: str = ""):
        wanted_kind = None if kind_value in (None, ALL) else kind_value
        try:
            days = index.days(wanted_kind)
            wanted_day = day_value if day_value in days else None
            found = index.page(int(page_value or 1), PER_PAGE, wanted_kind, wanted_day)
        except (UnknownOutputError, ValueError, OSError) as error:
            return {message: message_html(str(error), "error")}
        # A file that cannot be read as a picture is left out; keys stay aligned with the gallery.
        readable = [(entry, thumbnail(entry.path, max_pixels())) for entry in found.entries]
        readable = [(entry, picture) for entry, picture in readable if picture is not None]
        text = f"{found.total} picture(s) · page {found.page} of {found.pages}" if found.total else "No outputs yet"
        keys = [entry.key for entry, _ in readable]
        pictures = [(picture, entry.name) for entry, picture in readable]
        # A selection still listed (back on this tab, or a refresh) stays selected, shown as such.
        kept = (state or {}).get("selected")
        kept = kept if kept in keys else None
        return {
            gallery: gr.Gallery(pictures, selected_index=keys.index(kept) if kept else None),
            day: gr.Dropdown(choices=[ALL, *days], value=wanted_day or ALL),
            page: found.page,
            summary: f'<div class="outputs-summary">{text}</div>',
            shown: {"keys": keys, "selected": kept},
            name: gr.skip() if kept else "",
            info: gr.skip() if kept else "",
            message: message_html(note, "info") if note else "",
        }

    listed = [gallery, day, page, summary, shown, name, info, message]
    controls = [kind, day, page, shown]
    load = lambda k, d, p, s: listing(k, d, p, s)  # noqa: E731
    refresh.click(load, inputs=controls, outputs=listed)
    kind.input(lambda k, d, p, s: listing(k, ALL, 1, s), inputs=controls, outputs=listed)
    day.input(lambda k, d, p, s: listing(k, d, 1, s), inputs=controls, outputs=listed)
    page.submit(load, inputs=controls, outputs=listed)
    previous.click(lambda k, d, p, s: listing(k, d, max(1, int(p or 1) - 1), s), inputs=controls, outputs=listed)
    following.click(lambda k, d, p, s: listing(k, d, int(p or 1) + 1, s), inputs=controls, outputs=listed)
    # Opening the tab lists what is on disk now (new pictures since the page loaded).
    tab.select(load, inputs=controls, outputs=listed)

    def select(state, event: gr.SelectData):
        keys = (state or {}).get("keys") or []
        if not isinstance(event.index, int) or not 0 <= event.index < len(keys):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        key = keys[event.index]
        try:
            parameters = index.parameters(key, max_pixels())
        except (UnknownOutputError, BadImageError, ImageTooLargeError, OSError) as error:
            return "", "", {**state, "selected": None}, message_html(str(error), "error")
        text = infotext_html(parameters) if parameters else message_html("This picture holds no parameters", "info")
        return key, text, {**state, "selected": key}, ""

    gallery.select(select, inputs=shown, outputs=[name, info, shown, message], queue=False)

    def chosen(state):
        """(entry, infotext) of the selected picture; raises UnknownOutputError with the reason."""
        key = (state or {}).get("selected")
        if not key:
            raise UnknownOutputError(NOTHING_SELECTED)
        entry = index.find(key)
        try:
            return entry, index.parameters(key, max_pixels())
        except (BadImageError, ImageTooLargeError) as error:
            raise UnknownOutputError(str(error)) from error

    def staged(entry) -> str:
        # One copy per file version: sending the same picture again reuses it.
        version = hashlib.sha256(f"{entry.key}\0{entry.mtime}".encode()).hexdigest()[:16]
        target = Path(_upload_folder()) / "outputs" / version / entry.name
        if not target.is_file():
            write_bytes_atomic(target, entry.path.read_bytes())
        return str(target)

    def pick(state):
        try:
            entry, parameters = chosen(state)
            return staged(entry), parameters or ""
        except (UnknownOutputError, OSError) as error:
            raise NothingToSend(str(error)) from error

    pictures = [(to_extras, targets.extras_image, "extras"), (to_png_info, png_info_image, "pnginfo")]
    wire_send_buttons(targets, message, pick, [shown], txt2img=to_txt2img, img2img=to_img2img, inpaint=to_inpaint,
                      pictures=pictures)  # fmt: skip

    def remove(kind_value, day_value, page_value, state):
        key = (state or {}).get("selected")
        if not key:
            return {message: message_html(NOTHING_SELECTED, "error")}
        try:
            moved = index.trash(key)
        except (UnknownOutputError, OSError) as error:
            return {message: message_html(str(error), "error")}
        return listing(kind_value, day_value, page_value, {}, f"Moved {Path(key).name} to {_shown_path(moved, engine)}")

    delete.click(remove, inputs=controls, outputs=listed)


def _upload_folder() -> str:
    from gradio.utils import get_upload_folder

    return get_upload_folder()


def _shown_path(path: Path, engine: Engine) -> str:
    try:
        return path.parent.relative_to(engine.paths.data_dir).as_posix()
    except ValueError:
        return str(path.parent)
