"""The prompt and negative prompt boxes with their live token counters, and the styles row
(choose styles, apply them into the boxes, save the boxes as a new style)."""

import html
from dataclasses import dataclass

import gradio as gr

from modules.engine import Engine
from modules.processing.request import Txt2ImgRequest
from modules.prompts.chunks import CHUNK_TOKENS
from webui.components.icon_button import icon_button
from webui.components.progress import message_html

# Scheduled prompts are counted at this many steps until the steps slider says otherwise.
DEFAULT_STEPS = Txt2ImgRequest.model_fields["steps"].default


@dataclass
class PromptBox:
    prompt: gr.Textbox
    negative: gr.Textbox
    prompt_counter: gr.HTML
    negative_counter: gr.HTML
    styles: gr.Dropdown | None = None  # built where the tab places it (build_styles)


# ✎ with the name box empty asks for the name; a cancelled question saves nothing (the handler
# refuses an empty name with a message).
ASK_STYLE_NAME_JS = """(name, prompt, negative) => {
  const chosen = (name || "").trim() ? name : window.prompt("Style name");
  return [chosen || "", prompt, negative];
}"""


# An empty prompt's count, without the tokenizer: loading it here would delay the page at start-up.
EMPTY_COUNTER = f'<span class="token-counter">0/{CHUNK_TOKENS}</span>'


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
    with gr.Column(scale=6, elem_id=f"{tab}_prompt_column"):
        # Each counter sits in its box's top-right corner (style.css), as in A1111.
        with gr.Column(elem_classes=["sd-prompt-wrap"]):
            prompt = gr.Textbox(label="Prompt", lines=3, elem_id=f"{tab}_prompt", placeholder="Prompt")
            prompt_counter = gr.HTML(EMPTY_COUNTER, elem_id=f"{tab}_token_counter",
                                     elem_classes=["sd-token-counter"])  # fmt: skip
        with gr.Column(elem_classes=["sd-prompt-wrap"]):
            negative = gr.Textbox(
                label="Negative prompt", lines=2, elem_id=f"{tab}_neg_prompt", placeholder="Negative prompt"
            )
            negative_counter = gr.HTML(EMPTY_COUNTER, elem_classes=["sd-token-counter"],
                                       elem_id=f"{tab}_negative_token_counter")  # fmt: skip
    return PromptBox(prompt, negative, prompt_counter, negative_counter)


def build_styles(engine: Engine, tab: str, box: PromptBox) -> gr.Dropdown:
    """The styles row (choose, apply into the boxes, save the boxes as a new style), built where
    it is called (A1111 puts it under Generate); sets `box.styles`."""
    prompt, negative = box.prompt, box.negative
    with gr.Column(elem_id=f"{tab}_styles_column", elem_classes=["sd-styles-column"]):
        styles = gr.Dropdown(
            label="Styles", choices=style_names(engine), value=[], multiselect=True, elem_id=f"{tab}_styles",
            show_label=False, container=False,
        )  # fmt: skip
        with gr.Row(elem_id=f"{tab}_styles_row", elem_classes=["sd-styles-row"]):
            # The name of a new style: typed here, or asked for when ✎ finds this box empty.
            new_name = gr.Textbox(label="New style name", show_label=False, container=False, scale=2, min_width=100,
                                  placeholder="New style name", elem_id=f"{tab}_style_name")  # fmt: skip
            apply = icon_button("📋", f"{tab}_style_apply")
            refresh = icon_button("🔄", f"{tab}_style_refresh")
            save = icon_button("✎", f"{tab}_style_create")
        message = gr.HTML(elem_id=f"{tab}_style_message", elem_classes=["sd-style-message"])

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
    save.click(save_style, inputs=[new_name, prompt, negative], outputs=[styles, message], queue=False,
               js=ASK_STYLE_NAME_JS)  # fmt: skip
    box.styles = styles
    return styles


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
