"""ui-config.json on real Gradio Blocks: keys as A1111 writes them, the file written when missing
and grown by new controls, valid entries applied to the page's config, bad ones ignored."""

import json
import os

import gradio as gr
import pytest

from webui.ui_config import apply_ui_config


def build_page(extra_control: bool = False) -> gr.Blocks:
    with gr.Blocks(analytics_enabled=False) as blocks:
        gr.Dropdown(["a.safetensors"], value="a.safetensors", label="Checkpoint")  # outside the tabs: not kept
        with gr.Tabs():
            with gr.Tab("txt2img", id="txt2img"):
                gr.Slider(1, 150, value=20, step=1, label="Sampling steps", elem_id="txt2img_steps")
                gr.Radio(["Euler", "DDIM"], value="Euler", label="Sampling method")
                gr.Checkbox(value=False, label="Hires. fix")
                gr.Number(value=512, precision=0, minimum=64, maximum=2048, label="Width", elem_id="txt2img_width")
                gr.Number(value=1024, precision=0, minimum=64, maximum=2048, label="Width", elem_id="txt2img_hr_width")
                gr.Textbox(value="", label="Prompt")
                gr.Textbox(label="Notes")  # no value: stays empty, no warning on the next start
                gr.Number(value=1, precision=0, label="Page")  # no bounds: none written, none warned about
                gr.Textbox(value="out", label="Infotext", interactive=False)  # an output: not kept
                gr.Textbox(value="", label="Bridge", visible="hidden")  # for the page's scripts: not kept
                if extra_control:
                    gr.Slider(0, 1, value=0.5, label="New knob")
            with gr.Tab("Extras", id="extras"):
                gr.Slider(1, 8, value=2, step=0.05, label="Resize")
            with gr.Tab("Settings", id="settings"):
                gr.Checkbox(value=True, label="Always save all generated images")
            with gr.Tab("Extensions", id="extensions"):
                gr.CheckboxGroup(["rembg"], value=["rembg"], label="Enabled")
    return blocks


def config_of(blocks: gr.Blocks, label: str, elem_id: str | None = None) -> dict:
    """The component's props in the config Gradio serves the page."""
    config = blocks.get_config_file()
    for component in config["components"]:
        props = component.get("props", {})
        if props.get("label") == label and (elem_id is None or props.get("elem_id") == elem_id):
            return props
    raise AssertionError(f"no component {label!r}")


def test_first_start_writes_every_control_with_a1111_keys(tmp_path):
    path = tmp_path / "ui-config.json"
    apply_ui_config(build_page(), path, warn=pytest.fail)
    written = json.loads(path.read_text())
    assert written["txt2img/Sampling steps/value"] == 20
    assert written["txt2img/Sampling steps/minimum"] == 1
    assert written["txt2img/Sampling steps/maximum"] == 150
    assert written["txt2img/Sampling steps/step"] == 1
    assert written["txt2img/Sampling steps/visible"] is True
    assert written["txt2img/Sampling method/value"] == "Euler"
    assert written["txt2img/Hires. fix/value"] is False
    assert written["extras/Resize/step"] == 0.05
    # A repeated label gets the control's elem_id, so both keep their own default.
    assert written["txt2img/Width/value"] == 512
    assert written["txt2img/Width [txt2img_hr_width]/value"] == 1024
    assert not any(key.startswith(("settings/", "extensions/", "Checkpoint")) for key in written)
    assert written["txt2img/Notes/value"] is None and written["txt2img/Page/maximum"] is None
    assert "txt2img/Infotext/value" not in written and "txt2img/Bridge/value" not in written
    assert not [name for name in os.listdir(tmp_path) if name != "ui-config.json"]  # atomic: no temp left


def test_values_from_the_file_become_the_served_defaults(tmp_path):
    path = tmp_path / "ui-config.json"
    apply_ui_config(build_page(), path, warn=pytest.fail)
    edited = json.loads(path.read_text())
    edited.update({
        "txt2img/Sampling steps/value": 42, "txt2img/Sampling steps/maximum": 300,
        "txt2img/Sampling method/value": "DDIM", "txt2img/Hires. fix/value": True,
        "txt2img/Width [txt2img_hr_width]/value": 768, "txt2img/Prompt/visible": False,
    })  # fmt: skip
    path.write_text(json.dumps(edited))
    blocks = build_page()
    apply_ui_config(blocks, path, warn=pytest.fail)
    steps = config_of(blocks, "Sampling steps")
    assert (steps["value"], steps["maximum"], steps["minimum"]) == (42, 300, 1)
    assert config_of(blocks, "Sampling method")["value"] == "DDIM"
    assert config_of(blocks, "Hires. fix")["value"] is True
    assert config_of(blocks, "Width", "txt2img_hr_width")["value"] == 768
    assert config_of(blocks, "Width", "txt2img_width")["value"] == 512
    assert config_of(blocks, "Prompt")["visible"] is False


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("txt2img/Sampling steps/value", "many"),
        ("txt2img/Sampling steps/value", 151),
        ("txt2img/Sampling steps/value", True),
        ("txt2img/Sampling method/value", "Heun"),
        ("txt2img/Hires. fix/value", "yes"),
        ("txt2img/Width/value", 100.5),
        ("txt2img/Sampling steps/visible", "no"),
        ("txt2img/Sampling steps/minimum", "one"),
    ],
)
def test_a_bad_entry_is_ignored_with_a_warning(tmp_path, key, bad):
    path = tmp_path / "ui-config.json"
    apply_ui_config(build_page(), path, warn=pytest.fail)
    edited = json.loads(path.read_text())
    edited[key] = bad
    edited["extras/Resize/value"] = 4  # a good entry beside it still applies
    path.write_text(json.dumps(edited))
    warnings = []
    blocks = build_page()
    apply_ui_config(blocks, path, warn=warnings.append)
    assert len(warnings) == 1 and warnings[0].startswith(key)
    assert config_of(blocks, "Sampling steps")["value"] == 20
    assert config_of(blocks, "Sampling steps")["minimum"] == 1
    assert config_of(blocks, "Sampling method")["value"] == "Euler"
    assert config_of(blocks, "Resize")["value"] == 4
    assert json.loads(path.read_text())[key] == bad  # the user's file is not rewritten behind them


def test_a_range_that_would_exclude_the_default_is_refused(tmp_path):
    path = tmp_path / "ui-config.json"
    path.write_text(json.dumps({"txt2img/Sampling steps/maximum": 10, "txt2img/Sampling steps/minimum": 30}))
    warnings = []
    blocks = build_page()
    apply_ui_config(blocks, path, warn=warnings.append)
    assert len(warnings) == 1 and "minimum 30 is above maximum 10" in warnings[0]
    assert (config_of(blocks, "Sampling steps")["minimum"], config_of(blocks, "Sampling steps")["maximum"]) == (1, 150)


def test_new_controls_are_added_and_the_users_values_kept(tmp_path):
    path = tmp_path / "ui-config.json"
    apply_ui_config(build_page(), path, warn=pytest.fail)
    edited = json.loads(path.read_text())
    edited["txt2img/Sampling steps/value"] = 33
    path.write_text(json.dumps(edited))
    apply_ui_config(build_page(extra_control=True), path, warn=pytest.fail)  # the file's own values: no warning
    grown = json.loads(path.read_text())
    assert grown["txt2img/New knob/value"] == 0.5 and grown["txt2img/Sampling steps/value"] == 33
    assert set(grown) - set(edited) == {f"txt2img/New knob/{field}" for field in
                                        ("value", "minimum", "maximum", "step", "visible")}  # fmt: skip


def test_a_file_that_is_not_json_is_kept_and_start_up_goes_on(tmp_path):
    path = tmp_path / "ui-config.json"
    path.write_text("{not json")
    warnings = []
    blocks = build_page()
    apply_ui_config(blocks, path, warn=warnings.append)
    assert len(warnings) == 1 and "not valid JSON" in warnings[0]
    assert path.read_text() == "{not json"
    assert config_of(blocks, "Sampling steps")["value"] == 20
