"""A generation tab's output side: the gallery (live preview in its place while a job runs) with
its buttons (Open folder, Save, Zip, send-to), progress, the selected image's infotext, the job's
"Time taken" and messages; and following a queued job into it."""

import asyncio
import html
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from modules.atomic import write_bytes_atomic
from modules.config.flags import listens_beyond_localhost
from modules.engine import Engine
from modules.images import output_actions
from modules.images.output_actions import OutputPicture
from modules.jobs import Job, JobState
from modules.processing.result import preview_at_output_size, time_taken_text
from webui.components.progress import message_html, progress_html
from webui.components.send_to import EMPTY_GALLERY

POLL_SECONDS = 0.25
GALLERY_HEIGHT = 500


@dataclass
class OutputPanel:
    """Handlers update it with dicts {component: value}: `components` are all it may update."""

    tab: str
    gallery: gr.Gallery
    progress: gr.HTML
    infotext: gr.HTML
    time_taken: gr.HTML
    message: gr.HTML
    open_folder: gr.Button
    save: gr.Button
    zip: gr.Button
    downloads: gr.File
    send_to_img2img: gr.Button
    send_to_inpaint: gr.Button
    send_to_extras: gr.Button

    @property
    def components(self) -> list:
        return [self.gallery, self.progress, self.infotext, self.time_taken, self.message, self.downloads]

    def refused(self, session: gr.State, state: dict, reason: str) -> dict:
        return {self.progress: "", self.message: message_html(reason, "error"), session: state}

    async def follow_job(self, engine: Engine, session: gr.State, job: Job, state: dict) -> AsyncIterator[dict]:
        """Progress, live previews (in the gallery's place, at the output size) and finally the
        pictures of a queued job."""
        state = {**(state or {}), "job_id": job.id}
        shown = None
        # Polled on the event loop: a browser waiting in the queue holds no worker thread.
        while not job.done:
            await asyncio.sleep(POLL_SECONDS)
            if job.done:
                break
            progress = progress_html(job, engine.queue.position(job), engine.model_loading())
            update = {self.progress: progress, session: state}
            if job.preview is not None and job.preview is not shown:
                preview = await asyncio.to_thread(preview_at_output_size, job.preview)
                update[self.gallery] = gr.Gallery(value=[preview], columns=1, selected_index=None)
            shown = job.preview
            yield update
        if job.state == JobState.CANCELLED:
            yield {self.progress: "", self.message: message_html("Interrupted before it started", "info"),
                   session: state, **self._restore(state)}  # fmt: skip
            return
        try:
            result = job.outcome()
        except (LookupError, RuntimeError, ValueError) as error:
            yield {self.progress: "", self.message: message_html(str(error), "error"), session: state,
                   **self._restore(state)}  # fmt: skip
            return
        notes = list(result.warnings)
        if result.interrupted:
            notes.append(f"Interrupted: {len(result.images)} image(s) made")
        save_error = getattr(result, "save_error", None)
        if save_error:  # the pictures are still shown: download them before they are lost
            notes.append(f"Not saved: {save_error}")
        pictures = [OutputPicture(item.image, item.infotext) for item in result.images]
        try:
            folder, files = await asyncio.to_thread(write_gallery_files, engine, pictures)
        except OSError as error:  # shown anyway, re-encoded by Gradio: only downloads lose the parameters
            notes.append(f"Gallery files not written ({error.strerror or error}): downloads lack parameters")
            folder, files = "", [item.image for item in result.images]
        _remove_gallery_folder(engine, state.get("gallery_dir"))
        # Each image's own infotext and seed, shown (and reused, and sent on) when it is selected;
        # the files the gallery serves (PNGs with their parameters) are what Save and Zip read.
        state = {**state, "last_seed": result.seed, "infotexts": result.infotexts, "seeds": result.seeds,
                 "selected": None, "gallery_dir": str(folder),
                 "files": [str(path) for path in files if isinstance(path, Path)]}  # fmt: skip
        info = infotext_html(result.infotexts[0]) if result.infotexts else ""
        kind = "error" if save_error else "info"
        images = [(shown if isinstance(shown, Image.Image) else str(shown), f"Seed {item.seed}")
                  for shown, item in zip(files, result.images, strict=True)]  # fmt: skip
        yield {self.gallery: gallery_update(images), self.progress: "", self.infotext: info,
               self.time_taken: time_taken_html(time_taken_text(result)),
               self.message: message_html("; ".join(notes), kind), session: state,
               self.downloads: gr.File(value=None, visible=False)}  # fmt: skip

    def _restore(self, state: dict) -> dict:
        """The gallery as it was before the job (its preview goes), when the job made nothing."""
        files = state.get("files") or []
        seeds = state.get("seeds") or []
        return {
            self.gallery: gallery_update([(path, f"Seed {seed}") for path, seed in zip(files, seeds, strict=False)])
        }

    def wire_select(self, session: gr.State) -> None:
        """Selecting a gallery image shows its infotext and makes it the one Reuse and send-to use."""

        def show_selected(state, event: gr.SelectData):
            shown, state = selected_image(state, event.index)
            return (gr.skip() if shown is None else infotext_html(shown)), state

        self.gallery.select(show_selected, inputs=session, outputs=[self.infotext, session], queue=False)

    def wire_actions(self, engine: Engine, session: gr.State) -> None:
        """Open folder (only when the server listens on this machine alone), Save and Zip."""
        self.open_folder.visible = not listens_beyond_localhost(engine.flags)
        outputs_dir = engine.paths.outputs_dir / f"{self.tab}-images"

        def open_outputs():
            if listens_beyond_localhost(engine.flags):  # a remote user must not open windows here
                return message_html("Open folder works only when the server listens on localhost", "error")
            problem = output_actions.open_folder(outputs_dir)
            return message_html(problem, "error") if problem else message_html(f"Opened {outputs_dir}", "info")

        def save(state):
            pictures = pictures_of(state, selected_only=True)
            if not pictures:
                return message_html(EMPTY_GALLERY, "error"), gr.skip()
            try:
                saved = output_actions.save_to_log(pictures, engine.paths.data_dir / "log")
                offered = offer_copies(engine, saved)
            except OSError as error:
                return message_html(f"Could not save to the log folder: {error.strerror or error}", "error"), gr.skip()
            names = ", ".join(path.name for path in saved)
            note = f"Saved {names} to {saved[0].parent} and a line each to log.csv"
            return message_html(note, "info"), gr.File(value=[str(path) for path in offered], visible=True)

        def zip_all(state):
            pictures = pictures_of(state, selected_only=False)
            if not pictures:
                return message_html(EMPTY_GALLERY, "error"), gr.skip()
            try:
                path = output_actions.write_zip(pictures, download_folder(engine), "images.zip")
            except OSError as error:
                return message_html(f"Could not write the zip: {error.strerror or error}", "error"), gr.skip()
            return message_html(f"Zip of {len(pictures)} image(s) ready", "info"), gr.File(
                value=[str(path)], visible=True
            )

        self.open_folder.click(open_outputs, outputs=self.message, queue=False)
        self.save.click(save, inputs=session, outputs=[self.message, self.downloads])
        self.zip.click(zip_all, inputs=session, outputs=[self.message, self.downloads])


def build_output_panel(tab: str) -> OutputPanel:
    # Whole images (contain, never crop); no share button (Gradio's fails offline with a JS error).
    gallery = gr.Gallery(label="Output", elem_id=f"{tab}_gallery", elem_classes=["sd-gallery"], columns=2,
                         format="png", interactive=False, height=GALLERY_HEIGHT, object_fit="contain",
                         buttons=["download", "fullscreen"], preview=False)  # fmt: skip
    with gr.Row(elem_id=f"{tab}_send_row", elem_classes=["sd-gallery-buttons"]):
        open_folder = gr.Button("📂", elem_id=f"{tab}_open_folder", size="sm", min_width=40, scale=0)
        save = gr.Button("💾", elem_id=f"{tab}_save", size="sm", min_width=40, scale=0)
        zip_button = gr.Button("🗃️", elem_id=f"{tab}_zip", size="sm", min_width=40, scale=0)
        to_img2img = gr.Button("Send to img2img", elem_id=f"{tab}_send_to_img2img", size="sm")
        to_inpaint = gr.Button("Send to inpaint", elem_id=f"{tab}_send_to_inpaint", size="sm")
        to_extras = gr.Button("Send to extras", elem_id=f"{tab}_send_to_extras", size="sm")
    downloads = gr.File(label="Download", file_count="multiple", interactive=False, visible=False,
                        elem_id=f"{tab}_download_files")  # fmt: skip
    progress = gr.HTML(elem_id=f"{tab}_progress")
    infotext = gr.HTML(elem_id=f"html_info_{tab}")
    time_taken = gr.HTML(elem_id=f"html_log_{tab}")
    message = gr.HTML(elem_id=f"{tab}_message")
    return OutputPanel(tab, gallery, progress, infotext, time_taken, message, open_folder, save, zip_button,
                       downloads, to_img2img, to_inpaint, to_extras)  # fmt: skip


def gallery_update(images: list) -> gr.Gallery:
    """The gallery showing `images`, in a grid whose columns keep a batch's pictures all in view
    (4 -> 2x2, 9 -> 3x3, as A1111's grid); nothing selected."""
    count = len(images)
    columns = max(1, min(4, ceil_sqrt(count)))
    return gr.Gallery(value=images, columns=columns, selected_index=None)


def ceil_sqrt(count: int) -> int:
    root = 1
    while root * root < count:
        root += 1
    return root


def write_gallery_files(engine: Engine, pictures: list[OutputPicture]) -> tuple[Path, list[Path]]:
    """The PNGs the gallery serves, each with its parameters, in a fresh folder of Gradio's own
    temp dir (a folder Gradio serves from wherever the data dir is)."""
    folder = engine.paths.gradio_temp_dir / "gallery" / uuid.uuid4().hex
    files = [output_actions.write_gallery_png(picture, folder / f"{index:05d}-{picture.seed}.png")
             for index, picture in enumerate(pictures)]  # fmt: skip
    return folder, files


def _remove_gallery_folder(engine: Engine, folder: str | None) -> None:
    """The previous result's gallery files, once replaced (Gradio has its own copies)."""
    root = engine.paths.gradio_temp_dir / "gallery"
    if folder and Path(folder).parent == root:
        shutil.rmtree(folder, ignore_errors=True)


def pictures_of(state: dict | None, selected_only: bool) -> list[OutputPicture]:
    """The session's gallery pictures read back from the files this server wrote (paths kept in the
    server-side session state, never taken from the request); with `selected_only`, the selected
    one when there is one, as A1111's Save."""
    state = state or {}
    files, infotexts = state.get("files") or [], state.get("infotexts") or []
    indexes = range(len(files))
    selected = state.get("selected")
    if selected_only and isinstance(selected, int) and 0 <= selected < len(files):
        indexes = [selected]
    pictures = []
    for index in indexes:
        try:
            with Image.open(files[index]) as image:
                image.load()
                pictures.append(OutputPicture(image, infotexts[index] if index < len(infotexts) else ""))
        except OSError:
            continue  # its temp file is gone: the others are still worth saving
    return pictures


def download_folder(engine: Engine) -> Path:
    return engine.paths.gradio_temp_dir / "downloads" / uuid.uuid4().hex


def offer_copies(engine: Engine, saved: list[Path]) -> list[Path]:
    """Copies of the saved files in Gradio's temp dir, the only place it serves downloads from
    wherever the data dir is."""
    folder = download_folder(engine)
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in saved:
        copy = folder / path.name
        write_bytes_atomic(copy, path.read_bytes())
        copies.append(copy)
    return copies


def time_taken_html(text: str) -> str:
    return f'<div class="sd-time-taken">{html.escape(text)}</div>' if text else ""


def selected_image(state: dict | None, index) -> tuple[str | None, dict]:
    """Gallery image `index` chosen: its infotext (None when unknown) and the session state with
    its seed as the one "Reuse" puts back, as A1111 does for the selected image, and its index as
    the one the send-to buttons send."""
    state = dict(state or {})
    infotexts, seeds = state.get("infotexts") or [], state.get("seeds") or []
    if not isinstance(index, int) or not 0 <= index < len(infotexts):
        return None, state
    if index < len(seeds):
        state["last_seed"] = seeds[index]
    state["selected"] = index
    return infotexts[index], state


def infotext_html(text: str) -> str:
    return f'<div class="infotext">{html.escape(text).replace(chr(10), "<br>")}</div>'
