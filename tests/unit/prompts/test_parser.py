"""Attention weights, BREAK, AND parts, comments and the typed layer, vector by vector.

Expected weights are written as the products A1111 computes, in its order (innermost bracket
first, unclosed ones last), because float products differ in the last bit: 1.1 * 1.1 is
1.2100000000000002, not 1.21.
"""

import dataclasses
import sys

import pytest

from modules.prompts.parser import (
    MAX_NESTING,
    ParsedPrompt,
    PromptPart,
    get_learned_conditioning_prompt_schedules,
    get_multicond_prompt_list,
    parse_prompt,
    parse_prompt_attention,
    strip_comments,
    text_at_step,
    weighted_fragments,
)

UP = 1.1
DOWN = 1 / 1.1
BREAK = ["BREAK", -1]


# --- attention -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [["", 1.0]]),
        ("normal text", [["normal text", 1.0]]),
        ("an (important) word", [["an ", 1.0], ["important", UP], [" word", 1.0]]),
        ("a (b:1.5) c", [["a ", 1.0], ["b", 1.5], [" c", 1.0]]),
        ("((a)) [b]", [["a", 1.0 * UP * UP], [" ", 1.0], ["b", DOWN]]),
        ("[[x]]", [["x", 1.0 * DOWN * DOWN]]),
        ("((x:1.5))", [["x", 1.5 * UP]]),
        ("(a (b:2) c)", [["a ", UP], ["b", 2.0 * UP], [" c", UP]]),
        ("[(x)]", [["x", 1.0 * UP * DOWN]]),
        # A1111's own worked example: the first "(" of "(((house" is never closed.
        (
            "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
            [
                ["a ", 1.0],
                ["house", 1.3 * UP * UP],
                [" ", UP],
                ["on", DOWN * UP],
                [" a ", UP],
                ["hill", 0.5 * UP],
                [", sun, ", UP],
                ["sky", UP * UP * UP * UP],
                [".", UP],
            ],
        ),
    ],
)
def test_emphasis_and_weights(text, expected):
    assert parse_prompt_attention(text) == expected


@pytest.mark.parametrize(
    ("text", "weight"),
    [
        ("(x:1.5)", 1.5),
        ("(x: -0.5 )", -0.5),
        ("(x:.5)", 0.5),
        ("(x:+2)", 2.0),
        ("(x:0)", 0.0),
        ("(x:3.)", 3.0),
        ("(x:\n0.7\n)", 0.7),
    ],
)
def test_explicit_weight_forms(text, weight):
    assert parse_prompt_attention(text) == [["x", weight]]


def test_square_bracket_inside_a_weight_multiplies():
    assert parse_prompt_attention("(a [b]:1.5)") == [["a ", 1.5], ["b", DOWN * 1.5]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Only ":number)" is a weight; otherwise the colon is text and the bracket is plain emphasis.
        ("(x:abc)", [["x:abc", UP]]),
        ("(x:1.2.3)", [["x:1.2.3", UP]]),
        ("(x:)", [["x:", UP]]),
        ("(x:1e5)", [["x:1e5", UP]]),
        ("(a:b:1.5)", [["a:b", 1.5]]),
        # With no "(" open, ":1.5)" is text.
        ("a:1.5) b", [["a:1.5) b", 1.0]]),
    ],
)
def test_colons_that_are_not_weights(text, expected):
    assert parse_prompt_attention(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(unbalanced", [["unbalanced", UP]]),
        ("a [b", [["a ", 1.0], ["b", DOWN]]),
        ("((a)", [["a", 1.0 * UP * UP]]),
        ("a) b", [["a) b", 1.0]]),
        ("a] b", [["a] b", 1.0]]),
        ("(a]", [["a]", UP]]),
        ("[a)", [["a)", DOWN]]),
        # Round and square brackets keep separate stacks: ")" closes the "(" across an open "[".
        ("(a [b)", [["a ", UP], ["b", UP * DOWN]]),
        ("()", [["", 1.0]]),
        ("[]", [["", 1.0]]),
    ],
)
def test_unbalanced_brackets(text, expected):
    assert parse_prompt_attention(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\(literal\]", [["(literal]", 1.0]]),
        (r"\[x\]", [["[x]", 1.0]]),
        (r"a \\ b", [["a \\ b", 1.0]]),
        (r"(\(x\))", [["(x)", UP]]),
        (r"\(x:1.5\)", [["(x:1.5)", 1.0]]),
        # A lone backslash is dropped, as in A1111.
        (r"C:\path", [["C:path", 1.0]]),
        (r"(a)\ ", [["a", UP], [" ", 1.0]]),
    ],
)
def test_escapes(text, expected):
    assert parse_prompt_attention(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a BREAK b", [["a", 1.0], BREAK, ["b", 1.0]]),
        ("BREAK", [["", 1.0], BREAK, ["", 1.0]]),
        ("a\nBREAK\nb", [["a", 1.0], BREAK, ["b", 1.0]]),
        ("a BREAK BREAK b", [["a", 1.0], BREAK, ["", 1.0], BREAK, ["b", 1.0]]),
        # \b, not whitespace, delimits the word (A1111's regex): punctuation next to it still splits.
        ("a,BREAK,b", [["a,", 1.0], BREAK, [",b", 1.0]]),
    ],
)
def test_break(text, expected):
    assert parse_prompt_attention(text) == expected
    assert weighted_fragments(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(a BREAK b)", [["a", UP], BREAK, ["b", UP]]),
        ("a (BREAK) b", [["a ", 1.0], ["", UP], BREAK, ["", UP], [" b", 1.0]]),
        ("[x BREAK y:0.5]", [["x", DOWN], BREAK, ["y:0.5", DOWN]]),
        # Never multiplied and never merged, even next to text of weight -1.
        ("(x BREAK:-1)", [["x", -1.0], BREAK, ["", -1.0]]),
    ],
)
def test_break_in_brackets_stays_a_chunk_break_for_the_encoder(text, expected):
    # parse_prompt_attention multiplies these breaks as A1111 does: see test_a1111_vectors.py.
    assert weighted_fragments(text) == expected


@pytest.mark.parametrize(
    "text", ["BREAKFAST", "a break b", "a Break b", "aBREAK b", "a BREAKs", "a_BREAK b", "a BREAK2"]
)
def test_break_only_as_an_uppercase_whole_word(text):
    assert parse_prompt_attention(text) == [[text, 1.0]]


def test_adjacent_equal_weights_merge():
    assert parse_prompt_attention("(unnecessary)(parens)") == [["unnecessaryparens", UP]]
    assert parse_prompt_attention("a (b:1.0) c") == [["a b c", 1.0]]


def test_editing_syntax_handed_over_directly_is_square_emphasis():
    assert parse_prompt_attention("[a:b:0.5]") == [["a:b:0.5", DOWN]]
    assert parse_prompt_attention("[a|b]") == [["a|b", DOWN]]


def test_brackets_past_the_nesting_cap_are_dropped_without_weight():
    expected_weight = 1.0
    for _ in range(MAX_NESTING):
        expected_weight *= UP
    assert parse_prompt_attention("(" * (MAX_NESTING + 1) + "x") == [["x", expected_weight]]
    # Its closer goes with it, so the brackets below still pair up.
    deep = "(" * (MAX_NESTING + 1) + "x" + ")" * (MAX_NESTING + 1)
    assert parse_prompt_attention(deep) == [["x", expected_weight]]
    assert parse_prompt_attention("[" * 10_000 + "x")[0][0] == "x"


def test_weights_stay_finite():
    assert parse_prompt_attention("(x:" + "9" * 400 + ")") == [["x", sys.float_info.max]]
    assert parse_prompt_attention("((x:-" + "9" * 400 + "))") == [["x", -sys.float_info.max]]


# --- AND (composable diffusion) -----------------------------------------------------------------


def test_multicond_splits_on_and():
    assert get_multicond_prompt_list(["a cat AND a dog"]) == (
        [[(0, 1.0), (1, 1.0)]],
        ["a cat", " a dog"],
        {"a cat": 0, " a dog": 1},
    )


@pytest.mark.parametrize(
    ("prompt", "parts"),
    [
        ("a cat :1.2 AND a dog:0.5", [("a cat", 1.2), (" a dog", 0.5)]),
        ("x:-0.5", [("x", -0.5)]),
        ("x: .5 ", [("x", 0.5)]),
        ("x:+2", [("x", 2.0)]),
        ("x:5.", [("x", 5.0)]),
        # A single prompt takes a weight too (A1111 does the same).
        ("a cat:2", [("a cat", 2.0)]),
        ("x:abc", [("x:abc", 1.0)]),
        ("x:1.2.3", [("x:1.2.3", 1.0)]),
        ("x:1e5", [("x:1e5", 1.0)]),
        ("(x:1.2)", [("(x:1.2)", 1.0)]),
        ("[a:b:5]", [("[a:b:5]", 1.0)]),
        ("a:1 b", [("a:1 b", 1.0)]),
        # As A1111: leading whitespace stays, trailing whitespace goes.
        ("  a  AND  b ", [("  a", 1.0), ("  b", 1.0)]),
        ("a,AND,b", [("a,", 1.0), (",b", 1.0)]),
        ("", [("", 1.0)]),
        ("AND", [("", 1.0), ("", 1.0)]),
    ],
)
def test_multicond_parts_and_weights(prompt, parts):
    res_indexes, flat, _ = get_multicond_prompt_list([prompt])
    assert [(flat[index], weight) for index, weight in res_indexes[0]] == parts


@pytest.mark.parametrize("prompt", ["ANDROID", "a and b", "a And b", "aAND b", "BRAND new", "a_AND_b"])
def test_and_only_as_an_uppercase_whole_word(prompt):
    assert get_multicond_prompt_list([prompt]) == ([[(0, 1.0)]], [prompt], {prompt: 0})


def test_identical_sub_prompts_share_an_index():
    res_indexes, flat, indexes = get_multicond_prompt_list(["a AND b", "b AND c:0.3", "a AND b AND a:0.5"])
    assert flat == ["a", " b", "b", " c", " a"]
    assert indexes == {"a": 0, " b": 1, "b": 2, " c": 3, " a": 4}
    assert res_indexes == [[(0, 1.0), (1, 1.0)], [(2, 1.0), (3, 0.3)], [(0, 1.0), (1, 1.0), (4, 0.5)]]


# --- comments -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\n# comment\nb", "a\nb"),
        ("# only a comment", ""),
        ("#", ""),
        ("# c\nb\n", "b\n"),
        ("a\n# c", "a"),
        ("  # indented comment\nx", "x"),
        ("a # b", "a"),
        ("a#b", "a"),
        ("(a:1.2), b # c\nd", "(a:1.2), b\nd"),
        ("a\n\nb", "a\n\nb"),
        ("a\r\n# c\r\nb", "a\r\nb"),
        ("no comment", "no comment"),
        # An escaped # is text; the attention parser later drops the backslash.
        (r"a \# b", r"a \# b"),
        # An escaped backslash does not escape the # after it.
        ("a \\\\# b", "a \\\\"),
        ("a \\", "a \\"),
    ],
)
def test_strip_comments(text, expected):
    assert strip_comments(text) == expected


def test_escaped_hash_reaches_the_encoder_as_hash():
    assert parse_prompt_attention(strip_comments(r"issue \#1")) == [["issue #1", 1.0]]


# --- the typed layer -------------------------------------------------------------------------------


def test_parse_prompt_parts_schedules_and_steps():
    parsed = parse_prompt("a [b:c:0.5] AND d:0.5", steps=10)
    assert parsed == ParsedPrompt(
        parts=(
            PromptPart("a [b:c:0.5]", 1.0, ((5, "a b"), (10, "a c"))),
            PromptPart("d", 0.5, ((10, "d"),)),
        ),
        steps=10,
    )
    assert parsed.texts() == ("a b", "a c", "d")
    assert parsed.at_step(0) == (("a b", 1.0), ("d", 0.5))
    assert parsed.at_step(5) == (("a b", 1.0), ("d", 0.5))  # A1111 switches after index 5
    assert parsed.at_step(6) == (("a c", 1.0), ("d", 0.5))
    assert parsed.at_step(9) == (("a c", 1.0), ("d", 0.5))


def test_parse_prompt_strips_comments_before_splitting_on_and():
    assert parse_prompt("a # AND b\nc", 5).parts == (PromptPart("a\nc", 1.0, ((5, "a\nc"),)),)
    assert parse_prompt("a # b", 5, comments=False).parts == (PromptPart("a # b", 1.0, ((5, "a # b"),)),)


def test_negative_prompt_is_one_part():
    parsed = parse_prompt("a AND b:0.5", 4, negative=True)
    assert parsed.parts == (PromptPart("a AND b:0.5", 1.0, ((4, "a AND b:0.5"),)),)


def test_parse_prompt_for_the_hires_pass():
    parsed = parse_prompt("[a:b:1.5]", 20, hires_steps=10)
    assert parsed.steps == 10
    assert parsed.parts[0].schedule == ((5, "a"), (10, "b"))
    assert parse_prompt("[a:b:1.0]", 20, hires_steps=10, use_old_scheduling=True).parts[0].schedule == (
        (1, "a"),
        (10, "b"),
    )


def test_repeated_parts_share_their_texts():
    parsed = parse_prompt("[x|y] AND [x|y]:0.5", 3)
    assert parsed.texts() == ("x", "y")
    assert parsed.at_step(2) == (("y", 1.0), ("y", 0.5))  # A1111's step convention: see text_at_step
    assert parsed.parts[0].text_at(3) == "x"


def test_parsed_prompt_is_immutable():
    parsed = parse_prompt("a", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.steps = 2


# --- speed and depth ----------------------------------------------------------------------------

PATHOLOGICAL = {
    "10,000 (": "(" * 10_000,
    "10,000 [": "[" * 10_000,
    "10,000 (a": "(a" * 10_000,
    "10,000 nested pairs": "(" * 5_000 + "[" * 5_000 + "x" + "]" * 5_000 + ")" * 5_000,
    "10,000 nested alternations": "[a|" * 10_000 + "x" + "]" * 10_000,
    "10,000 nested edits": "[a:" * 10_000 + "x" + ":0.5]" * 10_000,
    "2,000 edits": "[a:b:0.5] " * 2_000,
    "300 bracketed words": ", ".join(f"(w{i}:1.{i % 9}) [e{i}:f{i}:{i % 30}] [x{i}|y{i}]" for i in range(100)),
}


@pytest.mark.parametrize("name", PATHOLOGICAL)
def test_pathological_prompts_parse_in_linear_work(name):
    prompt = PATHOLOGICAL[name]
    calls = [
        lambda: parse_prompt_attention(prompt),
        lambda: get_learned_conditioning_prompt_schedules([prompt], 150),
        lambda: get_learned_conditioning_prompt_schedules([prompt], 150, 150),
        lambda: get_multicond_prompt_list([prompt]),
        lambda: strip_comments(prompt),
        lambda: parse_prompt(prompt, 150),
    ]
    for call in calls:
        # Counted, not timed: the function calls a parse makes grow with the prompt's length (at
        # most ~90 a character today), where a quadratic or backtracking parser would make millions.
        assert python_calls(call) <= CALLS_PER_CHARACTER * len(prompt)


CALLS_PER_CHARACTER = 200


def python_calls(call) -> int:
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return count


def test_long_prompt_schedules_every_step():
    schedule = get_learned_conditioning_prompt_schedules([PATHOLOGICAL["300 bracketed words"]], 150)[0]
    assert [end for end, _ in schedule] == list(range(1, 151))  # alternations change every step
    assert text_at_step(schedule, 1).startswith("(w0:1.0) f0 x0, (w1:1.1) e1 x1, (w2:1.2) e2 x2")
    assert text_at_step(schedule, 2).startswith("(w0:1.0) f0 y0, (w1:1.1) f1 y1, (w2:1.2) e2 y2")
