"""A1111's prompt-line options (Prompts from file or textbox): parsing, limits, the upload reader."""

import pytest

from modules.plugins.scripts import parse_script_args
from scripts import _prompt_lines as lines
from scripts.prompts_from_file import PromptsFromFile, PromptsFromFileArgs


def test_options_become_request_fields():
    parsed = lines.parse_line(
        '--prompt "a red cat" on a mat --negative_prompt blurry --steps 10 --seed 5 --cfg_scale 6.5 '
        '--sampler_name "DPM++ 2M" --width 96 --height 64 --styles "one, two" --batch_size 2 --n_iter 3 '
        "--do_not_save_samples true --sd_model tiny"
    )
    assert parsed == {
        "prompt": "a red cat on a mat",  # unquoted words up to the next option join the prompt (A1111)
        "negative_prompt": "blurry",
        "steps": 10,
        "seed": 5,
        "cfg_scale": 6.5,
        "sampler_name": "DPM++ 2M",
        "width": 96,
        "height": 64,
        "styles": ["one", "two"],
        "batch_size": 2,
        "n_iter": 3,
        "save_images": False,
        "checkpoint": "tiny",
    }


def test_a_line_without_leading_option_is_a_prompt():
    assert lines.parse_line("a cat --steps 3") == {"prompt": "a cat --steps 3"}


def test_sampler_index_and_ignored_options():
    from modules.sampling.catalog import sampler_names

    assert lines.parse_line("--sampler_index 1 --do_not_save_grid true") == {"sampler_name": sampler_names()[1]}


@pytest.mark.parametrize(
    "line, message",
    [
        ("--bogus 1", "unknown option --bogus"),
        ("--steps", "--steps has no value"),
        ("--steps ten", "--steps: bad value 'ten'"),
        ("--seed 1 stray", "expected an option starting with '--', got 'stray'"),
        ('--prompt "open', "No closing quotation"),
        ("--outpath_samples /tmp", "output folders are not taken"),
        ("--tiling true", "tiling is not available"),
        ("--do_not_save_samples maybe", "expected true or false"),
        ("--sampler_index 999", "out of range"),
    ],
)
def test_bad_options_are_refused_with_the_reason(line, message):
    with pytest.raises(ValueError, match=message):
        lines.parse_line(line)


def test_limits_are_checked_before_parsing():
    assert lines.split_lines("  a \n\n b\n") == ["a", "b"]
    with pytest.raises(ValueError, match="1001 lines, more than the limit of 1000"):
        lines.split_lines("x\n" * 1001)
    with pytest.raises(ValueError, match="line 2 is 10001 characters"):
        lines.split_lines("ok\n" + "y" * 10_001)


def test_args_name_the_bad_line_when_submitted():
    with pytest.raises(ValueError, match=r"line 2 \('--steps 999'\): steps: .*less than or equal to 150"):
        PromptsFromFileArgs(prompt_txt="a cat\n--steps 999")
    with pytest.raises(ValueError, match=r"line 3 .*unknown option --nope"):
        PromptsFromFileArgs(prompt_txt="a\n\nb\n--nope 1")  # empty lines are not counted, as A1111
    assert parse_script_args(PromptsFromFile, [True, False, "end", "--steps 3"]).prompt_position == "end"


def test_uploaded_file_is_read_within_the_limit(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_bytes(b"  a cat \r\n--steps 3\xff\n")
    assert lines.read_prompt_file(path) == "a cat\n--steps 3\n"
    with pytest.raises(ValueError, match="more than the limit of 10"):
        lines.read_prompt_file(path, limit=10)
