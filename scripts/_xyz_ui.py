"""The X/Y/Z plot's controls (web UI only: imported from XyzPlot.ui(), never by the engine).

Values are typed in A1111's syntax; no elem_ids (the same controls are built in both tabs:
find them inside #<tab>_script_group_x_y_z_plot by label); the dropdown pickers of choice axes (sampler, schedule type)
fill the text from the choices when a type is picked. Checkpoints and styles are typed by name
(they are checked against their lists when the job starts)."""

from typing import Any

from scripts._xyz_axes import axis_labels


def _choices_for(label: str) -> list[str]:
    from modules.sampling import catalog

    if label in ("Sampler", "Hires sampler"):
        return catalog.sampler_names()
    if label == "Schedule type":
        return list(catalog.SCHEDULE_TYPES)
    return []


def build_ui() -> dict[str, Any]:
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
            choices = _choices_for(label)
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
