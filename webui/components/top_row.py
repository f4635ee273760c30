"""The row above a generation tab's settings: the prompt boxes (with styles),
Generate / Interrupt / Skip, the clear-prompt and paste-parameters icons; and the seed row under
the sliders."""

from dataclasses import dataclass

import gradio as gr

from modules.engine import Engine
from modules.processing.request import GenerationRequest
from webui.components.field_group import number_for
from webui.components.icon_button import icon_button
from webui.components.prompt_box import PromptBox, build_prompt_box, build_styles

GENERATE_LABEL = "Generate"
# Generate's label while a job of its tab runs; webui/static/keyboard.js and generate_forever.js
# read it to know whether a job runs.
BUSY_LABEL = "Generating..."
CLEAR_PROMPT_JS = """(prompt, negative) => window.confirm("Delete the prompt and the negative prompt?")
  ? ["", ""] : [prompt, negative]"""


@dataclass
class TopRow:
    box: PromptBox
    generate: gr.Button
    interrupt: gr.Button
    skip: gr.Button
    paste: gr.Button
    clear: gr.Button
    # A PNG dropped onto the prompt box lands here (webui/static/png_drop.js) and is read as a paste.
    png_drop: gr.File

    def busy_from(self, trigger):
        """Generate shows BUSY_LABEL from `trigger` (an event method, e.g. generate.click); chain the
        job on the returned event and hand its end to `idle_after`. Set in the page, with no server
        round trip, so a key pressed right after already sees it; chained, not a listener of its own,
        which the page would run only once the job's listener had finished."""
        return trigger(None, js=f"() => {BUSY_LABEL!r}", outputs=self.generate, queue=False, show_progress="hidden")

    def idle_after(self, job) -> None:
        """Generate reads GENERATE_LABEL again once the event chain `job` ends, failed or not."""
        job.then(None, js=f"() => {GENERATE_LABEL!r}", outputs=self.generate, queue=False, show_progress="hidden")


def theme_class(engine: Engine) -> list[str]:
    """`--theme dark|light` as a class the page script (webui/static/keyboard.js) applies on load."""
    theme = getattr(engine.flags, "theme", None)
    return [f"sd-theme-{theme}"] if theme else []


def build_top_row(engine: Engine, tab: str) -> TopRow:
    with gr.Row(elem_id=f"{tab}_toprow", elem_classes=["sd-toprow", *theme_class(engine)]):
        box = build_prompt_box(engine, tab)
        # First on a phone (style.css): Generate stays above the fold.
        with gr.Column(scale=1, min_width=250, elem_id=f"{tab}_actions_column", elem_classes=["sd-actions"]):
            generate = gr.Button(GENERATE_LABEL, variant="primary", elem_id=f"{tab}_generate")
            with gr.Row(elem_classes=["sd-stop-row"]):
                interrupt = gr.Button("Interrupt", elem_id=f"{tab}_interrupt", min_width=60)
                skip = gr.Button("Skip", elem_id=f"{tab}_skip", min_width=60)
            with gr.Row(elem_classes=["sd-tools-row"]):
                paste = icon_button("↙️", f"{tab}_paste")
                clear = icon_button("🗑️", f"{tab}_clear_prompt")
            build_styles(engine, tab, box)
            # In the page (the script needs its file input) but never shown.
            png_drop = gr.File(visible="hidden", elem_id=f"{tab}_png_drop", file_types=["image"])
    clear.click(None, inputs=[box.prompt, box.negative], outputs=[box.prompt, box.negative], js=CLEAR_PROMPT_JS,
                queue=False, show_progress="hidden")  # fmt: skip
    return TopRow(box, generate, interrupt, skip, paste, clear, png_drop)


@dataclass
class SeedRow:
    seed: gr.Number
    random: gr.Button
    reuse: gr.Button


def build_seed_row(tab: str) -> SeedRow:
    with gr.Row(elem_classes=["sd-seed-row"]):
        seed = number_for(GenerationRequest, "seed", label="Seed", elem_id=f"{tab}_seed", scale=4)
        random_seed = icon_button("🎲", f"{tab}_random_seed")
        reuse_seed = icon_button("♻️", f"{tab}_reuse_seed")
    return SeedRow(seed, random_seed, reuse_seed)
