"""The Script-menu controls of SD upscale and the outpaintings: every control is an argument of the
script, keyed by its name, and the controls' initial values are valid arguments (A1111's defaults)."""

import gradio as gr
import pytest

from modules.plugins.scripts import parse_script_args
from scripts.outpainting_mk2 import OutpaintingMk2
from scripts.poor_mans_outpainting import PoorMansOutpainting
from scripts.sd_upscale import SDUpscale


@pytest.mark.parametrize("script_class", [SDUpscale, OutpaintingMk2, PoorMansOutpainting])
def test_controls_are_named_arguments_with_valid_defaults(script_class):
    with gr.Blocks():
        controls = script_class().ui()
    assert controls and set(controls) <= set(script_class.Args.model_fields)
    args = parse_script_args(script_class, {name: component.value for name, component in controls.items()})
    assert args == parse_script_args(script_class, None)  # the UI starts at the API's defaults


def test_sd_upscale_lists_the_upscalers_of_the_engine_it_is_given(engine):
    script = SDUpscale()
    script.engine = engine  # how the app would hand over its upscaler list (the UI has no `p`)
    with gr.Blocks():
        radio = script.ui()["upscaler_index"]
    names = [choice[0] for choice in radio.choices]
    assert names == list(engine.upscalers.names()) and names[:3] == ["None", "Lanczos", "Nearest"]
