"""The Checkpoint Merger tab, laid out as A1111's: A, B, C, Custom Name, Multiplier (M),
Interpolation Method, format, float16, Copy config from, Bake in VAE, Discard weights, metadata,
Merge. The merge runs as a job in the queue (modules.models.merging), never beside a generation;
the new file is offered at once in this tab's lists and in the top checkpoint dropdown."""

import gradio as gr

from modules.engine import Engine
from modules.models.merge_recipe import CONFIG_SOURCES, INTERP_METHODS, MergeRecipe, submit_merge
from webui.components.checkpoint import checkpoint_choices
from webui.components.icon_button import icon_button
from webui.components.progress import message_html

NO_VAE = "None"
FORMAT_NOTE = (
    "Only safetensors: a .ckpt is a pickle, and loading a pickle can run code hidden in it, "
    "so merges are never written in that format."
)
_POLL_SECONDS = 0.5


def vae_choices(engine: Engine) -> list[str]:
    """What "Bake in VAE" offers: None, then the listed VAE files (engine.vaes, as "SD VAE" lists them)."""
    return [NO_VAE, *engine.vaes.names()]


def build_checkpoint_merger_tab(engine: Engine, top_checkpoint: gr.Dropdown, tab=None) -> None:
    """`top_checkpoint`: the quicksettings dropdown, given the merged file's name once it exists.
    `tab`: this tab (selecting it lists the checkpoints and VAEs on disk now)."""
    choices = checkpoint_choices(engine)
    with gr.Row(equal_height=False):
        with gr.Column(variant="compact"):
            gr.HTML(
                "<p>A merger of the two checkpoints will be generated in your <b>checkpoint</b> directory.</p>",
                elem_id="modelmerger_intro",
            )
            with gr.Row(elem_id="modelmerger_models"):
                models, refreshes = [], []
                for letter, label in (("A", "Primary"), ("B", "Secondary"), ("C", "Tertiary")):
                    models.append(gr.Dropdown(label=f"{label} model ({letter})", choices=choices, value=None,
                                              elem_id=f"modelmerger_{label.lower()}_model_name", scale=3))  # fmt: skip
                    refreshes.append(icon_button("🔄", f"refresh_checkpoint_{letter}"))
            custom_name = gr.Textbox(label="Custom Name (Optional)", elem_id="modelmerger_custom_name")
            multiplier = gr.Slider(minimum=0.0, maximum=1.0, step=0.05, value=0.3, elem_id="modelmerger_interp_amount",
                                   label="Multiplier (M) - set to 0 to get model A")  # fmt: skip
            interp = gr.Radio(choices=list(INTERP_METHODS), value="Weighted sum", label="Interpolation Method",
                              elem_id="modelmerger_interp_method")  # fmt: skip
            with gr.Row():
                gr.Radio(choices=["safetensors"], value="safetensors", label="Checkpoint format", info=FORMAT_NOTE,
                         elem_id="modelmerger_checkpoint_format")  # fmt: skip
                save_as_half = gr.Checkbox(value=False, label="Save as float16", elem_id="modelmerger_save_as_half")
            with gr.Row():
                config_source = gr.Radio(choices=list(CONFIG_SOURCES), value=CONFIG_SOURCES[0],
                                         label="Copy config from", elem_id="modelmerger_config_method")  # fmt: skip
                with gr.Row():
                    bake_in_vae = gr.Dropdown(choices=vae_choices(engine), value=NO_VAE, label="Bake in VAE",
                                              elem_id="modelmerger_bake_in_vae", scale=3)  # fmt: skip
                    refresh_vae = icon_button("🔄", "modelmerger_refresh_bake_in_vae")
            discard_weights = gr.Textbox(label="Discard weights with matching name",
                                         elem_id="modelmerger_discard_weights")  # fmt: skip
            with gr.Accordion("Metadata", open=False):
                save_metadata = gr.Checkbox(value=True, label="Save metadata", elem_id="modelmerger_save_metadata")
            merge = gr.Button("Merge", variant="primary", elem_id="modelmerger_merge")
        with gr.Column(variant="compact", elem_id="modelmerger_results_container"):
            result = gr.HTML(elem_id="modelmerger_result")

    def refreshed_models():
        return gr.Dropdown(choices=checkpoint_choices(engine))

    for dropdown, refresh in zip(models, refreshes, strict=True):
        refresh.click(refreshed_models, outputs=dropdown, show_progress="hidden")
    refresh_vae.click(lambda: gr.Dropdown(choices=vae_choices(engine)), outputs=bake_in_vae, show_progress="hidden")
    if tab is not None:
        tab.select(lambda: [refreshed_models() for _ in models] + [gr.Dropdown(choices=vae_choices(engine))],
                   outputs=[*models, bake_in_vae], show_progress="hidden")  # fmt: skip

    def run_merge(a, b, c, name, m, method, half, config, vae, discard, metadata):
        unchanged = [gr.skip()] * (len(models) + 1)
        try:
            recipe = MergeRecipe(primary=a or "", secondary=b or None, tertiary=c or None, interp=method,
                                 multiplier=float(m), custom_name=name or "", save_as_half=bool(half),
                                 bake_in_vae=None if vae in (None, NO_VAE) else vae, copy_config_from=config,
                                 discard_weights=discard or "", save_metadata=bool(metadata))  # fmt: skip
            job = submit_merge(engine, recipe)
        except (LookupError, ValueError) as error:
            yield message_html(f"Error: {error}", "error"), *unchanged
            return
        while not job.wait(_POLL_SECONDS):
            yield _progress_text(engine, job), *unchanged
        try:
            merged = job.outcome()
        except Exception as error:  # noqa: BLE001 - whatever stopped it is said where the user looks
            yield message_html(f"Error: {error}", "error"), *unchanged
            return
        listed = checkpoint_choices(engine)
        text = f"Checkpoint saved to {merged.path}"
        yield message_html(text), *[gr.Dropdown(choices=listed) for _ in range(len(models) + 1)]

    inputs = [*models, custom_name, multiplier, interp, save_as_half, config_source, bake_in_vae, discard_weights,
              save_metadata]  # fmt: skip
    merge.click(run_merge, inputs=inputs, outputs=[result, *models, top_checkpoint], show_progress="minimal")


def _progress_text(engine: Engine, job) -> str:
    position = engine.queue.position(job)
    if position:
        return message_html(f"Merging: waiting in queue, position {position}")
    if job.steps:
        return message_html(f"Merging: tensor {job.step}/{job.steps}")
    return message_html("Merging: hashing and reading the inputs")
