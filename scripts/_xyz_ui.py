"""The X/Y/Z plot's controls (web UI only: imported from XyzPlot.ui(), never by the engine).

Values are typed in A1111's syntax; no elem_ids (the same controls are built in both tabs:
find them inside #<tab>_script_group_x_y_z_plot by label). Picking an axis type with a list of
choices (sampler, schedule type, checkpoint, styles, upscalers, RNG source...) shows a dropdown
picker filled from the axis's own choices, read from the engine at that moment (a checkpoint
added since start-up is offered)."""

from typing import Any

from scripts._xyz_axes import axes_for, axis_labels, engine_context


def choices_for(label: str, engine) -> list[str]:
    """The picker's choices for the axis `label` (either tab's), [] for a typed-only axis."""
    axes = {axis.label: axis for mode in ("txt2img", "img2img") for axis in axes_for(mode)}
    axis = axes.get(label)
    if axis is None or axis.choices is None:
        return []
    mode = axis.modes[0]
    return list(axis.choices(engine_context(engine, mode)) or [])


def build_ui(engine=None) -> dict[str, Any]:
    import gradio as gr

    labels = list(dict.fromkeys([*axis_labels("txt2img"), *axis_labels("img2img")]))
    controls: dict[str, Any] = {}
    defaults = {"x": "Seed", "y": "Nothing", "z": "Nothing"}
    for name in ("x", "y", "z"):
        with gr.Row():
            kind = gr.Dropdown(label=f"{name.upper()} type", choices=labels, value=defaults[name])
            values = gr.Textbox(label=f"{name.upper()} values", lines=1)
            picks = gr.Dropdown(
                label=f"{name.upper()} values (pick)", multiselect=True, choices=[], value=[], visible=False
            )

        def show_picks(label: str):
            choices = choices_for(label, engine)
            return gr.update(choices=choices, value=[], visible=bool(choices))

        kind.change(show_picks, inputs=kind, outputs=picks, queue=False)
        controls[f"{name}_type"], controls[f"{name}_values"], controls[f"{name}_values_dropdown"] = kind, values, picks
    with gr.Row():
        controls["draw_legend"] = gr.Checkbox(label="Draw legend", value=True)
        controls["no_fixed_seeds"] = gr.Checkbox(label="Keep -1 for seeds", value=False)
        for name in ("x", "y", "z"):
            controls[f"vary_seeds_{name}"] = gr.Checkbox(label=f"Vary seeds for {name.upper()}", value=False)
    with gr.Row():
        controls["include_lone_images"] = gr.Checkbox(label="Include Sub Images", value=False)
        controls["include_sub_grids"] = gr.Checkbox(label="Include Sub Grids", value=False)
        controls["csv_mode"] = gr.Checkbox(label="Use text inputs instead of dropdowns", value=False)
    controls["margin_size"] = gr.Slider(label="Grid margins (px)", minimum=0, maximum=500, value=0, step=2)
    return controls
