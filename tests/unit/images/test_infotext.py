from modules.images.infotext import build_infotext, infotext_to_fields, parse_infotext


def test_build_matches_a1111_layout():
    text = build_infotext(
        "a cat",
        "blurry",
        {"Steps": 20, "Sampler": "Euler a", "CFG scale": 7.0, "Seed": 1, "Size": "512x512", "Schedule type": None},
    )
    assert text == "a cat\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512"


def test_round_trip_with_multiline_prompts_and_quoted_values():
    params = {
        "Steps": 31,
        "Sampler": "DPM++ 2M",
        "Schedule type": "Karras",
        "CFG scale": 6.5,
        "Seed": 4294967295,
        "Size": "640x384",
        "Model hash": "b44059c12f",
        "Model": "my, model: v2",
    }
    text = build_infotext("line one\n(line: two)", "bad,\nworse", params)
    parsed = parse_infotext(text)
    assert parsed["Prompt"] == "line one\n(line: two)"
    assert parsed["Negative prompt"] == "bad,\nworse"
    assert parsed["Model"] == "my, model: v2"
    assert parsed["CFG scale"] == 6.5 and parsed["Steps"] == 31 and parsed["Seed"] == 4294967295
    assert (parsed["Size-1"], parsed["Size-2"]) == (640, 384)
    fields = infotext_to_fields(parsed)
    assert fields == {
        "prompt": "line one\n(line: two)",
        "negative_prompt": "bad,\nworse",
        "steps": 31,
        "sampler_name": "DPM++ 2M",
        "scheduler": "Karras",
        "cfg_scale": 6.5,
        "seed": 4294967295,
        "width": 640,
        "height": 384,
        "checkpoint": "my, model: v2",
    }


def test_parses_text_written_by_a1111():
    text = (
        "masterpiece, 1girl\nNegative prompt: lowres\n"
        "Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5.5, Seed: 123, Size: 512x768, "
        'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "x: 1a2b, y: 3c4d", Version: v1.10.1'
    )
    parsed = parse_infotext(text)
    assert parsed["Prompt"] == "masterpiece, 1girl"
    assert parsed["Lora hashes"] == "x: 1a2b, y: 3c4d"
    assert parsed["Version"] == "v1.10.1"
    assert (parsed["Size-1"], parsed["Size-2"]) == (512, 768)


def test_prompt_without_parameters_is_all_prompt():
    parsed = parse_infotext("just a prompt, with commas")
    assert parsed == {"Prompt": "just a prompt, with commas", "Negative prompt": ""}
