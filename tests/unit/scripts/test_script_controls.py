"""The three scripts' controls build in a Gradio tab and give every argument by name, and an
uploaded prompt file fills the list's textbox."""

import gradio as gr
import pytest

from scripts.loopback import Loopback
from scripts.prompt_matrix import PromptMatrix
from scripts.prompts_from_file import PromptsFromFile, load_upload


@pytest.mark.parametrize("script_class", [PromptMatrix, PromptsFromFile, Loopback])
def test_controls_cover_every_argument_with_its_default(script_class):
    with gr.Blocks():
        controls = script_class().ui()
    fields = script_class.Args.model_fields
    assert set(fields) <= set(controls)
    # The controls' starting values are the arguments' defaults: the UI and the API agree.
    values = {name: controls[name].value for name in fields}
    assert script_class.Args.model_validate(values) == script_class.Args()


def test_an_uploaded_file_fills_the_textbox_within_the_limit(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text(" a cat \n--steps 3\n")
    assert load_upload(str(path)) == (None, "a cat\n--steps 3\n")
    with pytest.raises(gr.Error, match="more than the limit of 4"):
        load_upload(str(path), limit=4)
