"""The prompt and negative prompt boxes with their live token counters, and the styles row
(choose styles, apply them into the boxes, save the boxes as a new style)."""

import html
from dataclasses import dataclass

import gradio as gr

from modules.engine import Engine
from modules.processing.request import Txt2ImgRequest
from modules.prompts.chunks import CHUNK_TOKENS
from webui.components.progress import message_html

# Scheduled prompts are counted at this many steps until the steps slider says otherwise.
DEFAULT_STEPS = Txt2ImgRequest.model_fields["steps"].default


@dataclass
class PromptBox:
    prompt: gr.Textbox
    negative: gr.Textbox
    styles: gr.Dropdown
    prompt_counter: gr.HTML
    negative_counter: gr.HTML


def counter_html(engine: Engine, text: str, steps) -> str:
    try:
        count, limit = engine.tokens.count(text or "", int(steps or DEFAULT_STEPS))
    except Exception as error:  # noqa: BLE001 - the counter must never break typing
        return f'<span class="token-counter error" title="{html.escape(str(error))}">?/{CHUNK_TOKENS}</span>'
    warn = " over" if count > CHUNK_TOKENS else ""
    return f'<span class="token-counter{warn}">{count}/{limit}</span>'


def style_names(engine: Engine) -> list[str]:
    engine.styles.reload()
    return list(engine.styles.styles)


def build_prompt_box(engine: Engine, tab: str) -> PromptBox:
    with gr.Column(scale=6):
        prompt = gr.Textbox(label="Prompt", lines=3, elem_id=f"{tab}_prompt", placeholder="Prompt")
        prompt_counter = gr.HTML(counter_html(engine, "", DEFAULT_STEPS), elem_id=f"{tab}_token_counter")
        negative = gr.Textbox(
            label="Negative prompt", lines=2, elem_id=f"{tab}_neg_prompt", placeholder="Negative prompt"
        )
        negative_counter = gr.HTML(counter_html(engine, "", DEFAULT_STEPS), elem_id=f"{tab}_negative_token_counter")
        with gr.Row(elem_id=f"{tab}_styles_row"):
            styles = gr.Dropdown(
                label="Styles", choices=style_names(engine), value=[], multiselect=True, elem_id=f"{tab}_styles",
                scale=4,
            )  # fmt: skip
            apply = gr.Button("Apply styles to prompt", elem_id=f"{tab}_style_apply", size="sm", scale=1)
            refresh = gr.Button("↻", elem_id=f"{tab}_style_refresh", size="sm", scale=0, min_width=40)
        with gr.Row():
            new_name = gr.Textbox(label="New style name", elem_id=f"{tab}_style_name", scale=4)
            save = gr.Button("Save prompts as style", elem_id=f"{tab}_style_create", size="sm", scale=1)
        message = gr.HTML(elem_id=f"{tab}_style_message")

    def apply_styles(names, prompt_text, negative_text):
        try:
            styled = engine.styles.apply(prompt_text or "", negative_text or "", names or [])
        except ValueError as error:
            return gr.skip(), gr.skip(), gr.skip(), message_html(str(error), "error")
        return *styled, [], message_html("")

    def save_style(name, prompt_text, negative_text):
        from modules.prompts.styles import Style

        try:
            engine.styles.save(Style((name or "").strip(), prompt_text or "", negative_text or ""))
        except (ValueError, OSError) as error:
            return gr.skip(), message_html(str(error), "error")
        return gr.update(choices=style_names(engine)), message_html(f"Saved style {name.strip()!r}")

    apply.click(apply_styles, inputs=[styles, prompt, negative], outputs=[prompt, negative, styles, message],
                queue=False)  # fmt: skip
    refresh.click(lambda: gr.update(choices=style_names(engine)), outputs=styles, queue=False)
    save.click(save_style, inputs=[new_name, prompt, negative], outputs=[styles, message], queue=False)
    return PromptBox(prompt, negative, styles, prompt_counter, negative_counter)


def wire_token_counters(engine: Engine, box: PromptBox, steps: gr.Slider) -> None:
    for textbox, counter in ((box.prompt, box.prompt_counter), (box.negative, box.negative_counter)):
        textbox.change(
            lambda text, n: counter_html(engine, text, n),
            inputs=[textbox, steps],
            outputs=counter,
            queue=False,
            trigger_mode="always_last",
            show_progress="hidden",
        )
