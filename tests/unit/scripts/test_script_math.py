"""The pure parts of the prompt matrix and loopback scripts: combinations, legends, curves."""

import pytest

from modules.plugins.scripts import parse_script_args
from scripts.loopback import Loopback, LoopbackArgs, loop_strengths
from scripts.prompt_matrix import combinations, legends, split_parts


def test_combinations_follow_a1111_bit_order_and_joining():
    parts = split_parts("a cat|red, | blue")
    assert combinations(parts, False, ", ") == ["a cat", "a cat, red", "a cat, blue", "a cat, red, blue"]
    assert combinations(parts, True, " ") == ["a cat", "red a cat", "blue a cat", "red blue a cat"]
    assert combinations(["only"], False, ", ") == ["only"]


def test_parts_are_limited():
    assert len(combinations(split_parts("|".join("abcdefgh")), False, " ")) == 128
    with pytest.raises(ValueError, match="9 '\\|'-separated parts \\(256 pictures\\)"):
        split_parts("|".join("abcdefghi"))


def test_legends_split_parts_between_columns_and_rows():
    across, down = legends(["base", "a", "b", "c"])
    assert [[(label.text, label.is_active) for label in column] for column in across] == [
        [("a", False), ("b", False)],
        [("a", True), ("b", False)],
        [("a", False), ("b", True)],
        [("a", True), ("b", True)],
    ]
    assert [[(label.text, label.is_active) for label in row] for row in down] == [[("c", False)], [("c", True)]]


@pytest.mark.parametrize(
    "curve, expected",
    [
        ("Linear", [0.75, 0.5, 0.25]),
        ("Aggressive", [0.75, 0.75 - 0.5 * 0.7071067811865476, 0.25]),  # sin(pi/4): most change early
        ("Lazy", [0.75, 0.75 - 0.5 * (1 - 0.7071067811865476), 0.25]),  # 1 - cos(pi/4): most change late
    ],
)
def test_loopback_curves(curve, expected):
    assert loop_strengths(0.75, 0.25, 3, curve) == pytest.approx(expected, abs=1e-12)


def test_loopback_curves_at_more_loops_and_one_loop():
    assert loop_strengths(0.2, 0.8, 4, "Linear") == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert loop_strengths(0.0, 1.0, 4, "Aggressive") == pytest.approx([0.0, 0.5, 0.8660254037844386, 1.0])
    assert loop_strengths(0.0, 1.0, 4, "Lazy") == pytest.approx([0.0, 1 - 0.8660254037844386, 0.5, 1.0])
    assert loop_strengths(0.6, 0.1, 1, "Lazy") == [0.6]


def test_loopback_args_limits_and_a1111_positional_order():
    args = LoopbackArgs.model_validate({"loops": 3, "final_denoising_strength": 0.2, "denoising_curve": "Lazy"})
    assert (args.loops, args.append_interrogation) == (3, "None")
    assert parse_script_args(Loopback, [5, 0.3, "Aggressive", "None"]).denoising_curve == "Aggressive"
    for bad in ({"loops": 33}, {"loops": 0}, {"denoising_curve": "Steep"}, {"append_interrogation": "CLIP"}):
        with pytest.raises(ValueError):
            LoopbackArgs.model_validate(bad)


def test_an_interrupted_script_hands_back_an_empty_interrupted_result():
    import types

    from modules.processing.request import Txt2ImgRequest
    from scripts._results import combine

    request = Txt2ImgRequest(prompt="a", steps=3, width=64, height=64)
    model = types.SimpleNamespace(info=types.SimpleNamespace(model_name="tiny"), short_hash="abc")
    p = types.SimpleNamespace(request=request, prompt="a", negative_prompt="", seed=5, width=64, height=64,
                              steps=3, cfg_scale=7.0, model=model, warnings=["w"])  # fmt: skip
    result = combine(p, [])
    assert (result.images, result.interrupted, result.seed, result.warnings) == ([], True, 5, ["w"])
