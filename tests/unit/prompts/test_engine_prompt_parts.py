"""The engine's own reading of a prompt (modules/processing/prompting.py) on top of the
A1111-shaped parser functions: what it encodes must not change with their list shapes."""

from modules.processing.prompting import prompt_parts
from modules.prompts.parser import get_multicond_prompt_list


def test_the_space_after_and_is_not_a_second_text():
    # A1111's list keeps " red" apart from "red"; encoding both would only double the work.
    assert get_multicond_prompt_list(["red AND red:0.5"])[1] == ["red", " red"]
    parts = prompt_parts("red AND red:0.5", 4)
    assert [(part.weight, part.schedule) for part in parts] == [(1.0, ((4, "red"),)), (0.5, ((4, "red"),))]


def test_every_step_reads_the_text_it_read_before():
    # A1111's schedules list steps where nothing changes ([fe|||]male, [a:a:2]); the text at each
    # sampler step is what a merged schedule gives: female on index 0-1, then A1111's cycle.
    (part,) = prompt_parts("[fe|||]male [a:a:2]", 8)
    assert len(part.schedule) == 8
    texts = [part.text_at(i) for i in range(8)]
    assert texts == ["female a", "female a", "male a", "male a", "male a", "female a", "male a", "male a"]
