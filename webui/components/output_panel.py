"""A generation tab's output side: the gallery with its send-to buttons, progress, live preview,
the selected image's infotext and messages; and following a queued job into it."""

import asyncio
import html
from collections.abc import AsyncIterator
from dataclasses import dataclass

import gradio as gr

from modules.engine import Engine
from modules.jobs import Job, JobState
from webui.components.progress import message_html, progress_html

POLL_SECONDS = 0.25


@dataclass
class OutputPanel:
    """Handlers update it with dicts {component: value}: `components` are all it may update."""

    gallery: gr.Gallery
    progress: gr.HTML
    preview: gr.Image
    infotext: gr.HTML
    message: gr.HTML
    send_to_img2img: gr.Button
    send_to_inpaint: gr.Button
    send_to_extras: gr.Button

    @property
    def components(self) -> list:
        return [self.gallery, self.progress, self.preview, self.infotext, self.message]

    def refused(self, session: gr.State, state: dict, reason: str) -> dict:
        return {self.progress: "", self.message: message_html(reason, "error"), session: state}

    async def follow_job(self, engine: Engine, session: gr.State, job: Job, state: dict) -> AsyncIterator[dict]:
        """Progress, live previews and finally the pictures of a queued job."""
        state = {**(state or {}), "job_id": job.id}
        shown = None
        # Polled on the event loop: a browser waiting in the queue holds no worker thread.
        while not job.done:
            await asyncio.sleep(POLL_SECONDS)
            if job.done:
                break
            update = {self.progress: progress_html(job, engine.queue.position(job)), session: state}
            if job.preview is not shown:
                update[self.preview] = job.preview
            shown = job.preview
            yield update
        if job.state == JobState.CANCELLED:
            yield {self.progress: "", self.message: message_html("Interrupted before it started", "info"),
                   session: state, self.preview: None}  # fmt: skip
            return
        try:
            result = job.outcome()
        except (LookupError, RuntimeError, ValueError) as error:
            yield {self.progress: "", self.message: message_html(str(error), "error"), session: state,
                   self.preview: None}  # fmt: skip
            return
        images = [(item.image, f"Seed {item.seed}") for item in result.images]
        notes = list(result.warnings)
        if result.interrupted:
            notes.append(f"Interrupted: {len(result.images)} image(s) made")
        save_error = getattr(result, "save_error", None)
        if save_error:  # the pictures are still shown: download them before they are lost
            notes.append(f"Not saved: {save_error}")
        # Each image's own infotext and seed, shown (and reused, and sent on) when it is selected.
        state = {**state, "last_seed": result.seed, "infotexts": result.infotexts, "seeds": result.seeds,
                 "selected": None}  # fmt: skip
        info = infotext_html(result.infotexts[0]) if result.infotexts else ""
        kind = "error" if save_error else "info"
        yield {self.gallery: images, self.progress: "", self.infotext: info,
               self.message: message_html("; ".join(notes), kind), session: state, self.preview: None}  # fmt: skip

    def wire_select(self, session: gr.State) -> None:
        """Selecting a gallery image shows its infotext and makes it the one Reuse and send-to use."""

        def show_selected(state, event: gr.SelectData):
            shown, state = selected_image(state, event.index)
            return (gr.skip() if shown is None else infotext_html(shown)), state

        self.gallery.select(show_selected, inputs=session, outputs=[self.infotext, session], queue=False)


def build_output_panel(tab: str) -> OutputPanel:
    gallery = gr.Gallery(label="Output", elem_id=f"{tab}_gallery", columns=2, format="png", interactive=False,
                         height=512)  # fmt: skip
    with gr.Row(elem_id=f"{tab}_send_row"):
        to_img2img = gr.Button("Send to img2img", elem_id=f"{tab}_send_to_img2img", size="sm")
        to_inpaint = gr.Button("Send to inpaint", elem_id=f"{tab}_send_to_inpaint", size="sm")
        to_extras = gr.Button("Send to extras", elem_id=f"{tab}_send_to_extras", size="sm")
    progress = gr.HTML(elem_id=f"{tab}_progress")
    preview = gr.Image(label="Live preview", type="pil", format="png", interactive=False, visible=True,
                       elem_id=f"{tab}_live_preview", height=192)  # fmt: skip
    infotext = gr.HTML(elem_id=f"html_info_{tab}")
    message = gr.HTML(elem_id=f"{tab}_message")
    return OutputPanel(gallery, progress, preview, infotext, message, to_img2img, to_inpaint, to_extras)


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
