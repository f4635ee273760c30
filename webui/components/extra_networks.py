"""Pick an extra network (LoRA, ...) from a list and insert its tag into the prompt."""

import gradio as gr

from modules.engine import Engine


def network_choices(engine: Engine) -> list[tuple[str, str]]:
    """(label, tag) for every item every registered network lists right now."""
    choices = []
    for name, network in engine.plugins.networks_unique():
        try:
            items = network.list_items()
        except Exception as error:  # noqa: BLE001
            engine.extensions.report_error(engine.plugins.network_owner[name], f"list_items: {error}")
            continue
        choices += [(f"{name}: {item.name}", item.prompt) for item in items]
    # Textual-inversion embeddings are used by writing their name; listed once a model has
    # told which of them fit its text encoder.
    loaded = engine.models.loaded
    if loaded is not None:
        choices += [(f"embedding: {name}", name) for name in engine.embeddings_for(loaded).embeddings]
    return choices


def build_extra_networks_row(engine: Engine, prompt: gr.Textbox, tab: str) -> None:
    # Closed until wanted: the prompt row stays compact (A1111 hides its cards behind a button too).
    with (
        gr.Accordion("Extra networks", open=False, elem_id=f"{tab}_extra_networks_accordion"),
        gr.Row(elem_id=f"{tab}_extra_networks"),
    ):
        picker = gr.Dropdown(
            label="Extra networks",
            choices=network_choices(engine),
            value=None,
            elem_id=f"{tab}_extra_networks_list",
            scale=4,
            info="LoRA files in models/Lora, embeddings in models/embeddings, ...",
        )
        add = gr.Button("Add to prompt", elem_id=f"{tab}_extra_networks_add", scale=0, min_width=120, size="sm")
        refresh = gr.Button("Refresh", elem_id=f"{tab}_extra_networks_refresh", scale=0, min_width=80, size="sm")

    def insert(tag, text):
        if not tag:
            return gr.skip()
        text = text or ""
        return f"{text} {tag}".strip() if tag not in text else text

    add.click(insert, inputs=[picker, prompt], outputs=prompt, queue=False)
    refresh.click(lambda: gr.update(choices=network_choices(engine), value=None), outputs=picker, queue=False)
