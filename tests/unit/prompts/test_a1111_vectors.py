"""The A1111-named parser functions return exactly what AUTOMATIC1111's return (v1.10,
modules/prompt_parser.py), list shapes included, because extensions call them.

The first vectors are A1111's own doctests, verbatim: inputs and outputs, floats to the last
digit. The rest are worked out by hand from A1111's code for what its doctests leave out
(BREAK inside brackets, whitespace around AND parts, edits that change nothing).
"""

import pytest

from modules.prompts.parser import (
    get_learned_conditioning_prompt_schedules,
    get_multicond_prompt_list,
    parse_prompt_attention,
    weighted_fragments,
)

# --- get_learned_conditioning_prompt_schedules: A1111's doctests --------------------------------

BASE_10 = [
    ("test", [[10, "test"]]),
    ("a [b:3]", [[3, "a "], [10, "a b"]]),
    ("a [b: 3]", [[3, "a "], [10, "a b"]]),
    ("a [[[b]]:2]", [[2, "a "], [10, "a [[b]]"]]),
    ("[(a:2):3]", [[3, ""], [10, "(a:2)"]]),
    ("a [b : c : 1] d", [[1, "a b  d"], [10, "a  c  d"]]),
    ("a[b:[c:d:2]:1]e", [[1, "abe"], [2, "ace"], [10, "ade"]]),
    ("a [unbalanced", [[10, "a [unbalanced"]]),
    ("a [b:.5] c", [[5, "a  c"], [10, "a b c"]]),
    ("a [{b|d{:.5] c", [[5, "a  c"], [10, "a {b|d{ c"]]),
    ("((a][:b:c [d:3]", [[3, "((a][:b:c "], [10, "((a][:b:c d"]]),
    (
        "[a|(b:1.1)]",
        [[1, "a"], [2, "(b:1.1)"], [3, "a"], [4, "(b:1.1)"], [5, "a"]]
        + [[6, "(b:1.1)"], [7, "a"], [8, "(b:1.1)"], [9, "a"], [10, "(b:1.1)"]],
    ),
    (
        "[fe|]male",
        [[1, "female"], [2, "male"], [3, "female"], [4, "male"], [5, "female"]]
        + [[6, "male"], [7, "female"], [8, "male"], [9, "female"], [10, "male"]],
    ),
    (
        "[fe|||]male",
        [[1, "female"], [2, "male"], [3, "male"], [4, "male"], [5, "female"]]
        + [[6, "male"], [7, "male"], [8, "male"], [9, "female"], [10, "male"]],
    ),
]


@pytest.mark.parametrize(("prompt", "expected"), BASE_10)
def test_a1111_schedule_doctests(prompt, expected):
    assert get_learned_conditioning_prompt_schedules([prompt], 10)[0] == expected


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a [b:.5] c", [[10, "a b c"]]),
        ("a [b:1.5] c", [[5, "a  c"], [10, "a b c"]]),
    ],
)
def test_a1111_schedule_doctests_for_the_hires_pass(prompt, expected):
    assert get_learned_conditioning_prompt_schedules([prompt], 10, 10)[0] == expected


# --- schedules: A1111's rule where its doctests are silent -------------------------------------
# Its end steps are the set {steps} + {every step an edit names, within 1..steps}, or every step
# once anything alternates; each is listed even when the text does not change there.


@pytest.mark.parametrize(
    ("prompt", "steps", "expected"),
    [
        ("[a:a:5]", 10, [[5, "a"], [10, "a"]]),
        # The inner edit's step 8 comes after the outer switch at 5: listed all the same.
        ("[[a:b:8]:c:5]", 10, [[5, "a"], [8, "c"], [10, "c"]]),
        ("[|]", 3, [[1, ""], [2, ""], [3, ""]]),
        ("[x|x] y", 3, [[1, "x y"], [2, "x y"], [3, "x y"]]),
        # An edit in an alternation option not shown names its step anyway.
        ("[a|[b:c:2]]", 3, [[1, "a"], [2, "b"], [3, "a"]]),
        # Steps outside the pass are not listed.
        ("[a:b:0] [c:d:25]", 20, [[20, "b c"]]),
    ],
)
def test_every_named_step_is_listed(prompt, steps, expected):
    assert get_learned_conditioning_prompt_schedules([prompt], steps)[0] == expected


def test_a_list_of_prompts_gets_a_schedule_each_in_order():
    assert get_learned_conditioning_prompt_schedules(["[a:a:1]", "b", "[a:a:1]"], 2) == [
        [[1, "a"], [2, "a"]],
        [[2, "b"]],
        [[1, "a"], [2, "a"]],
    ]


# --- parse_prompt_attention: A1111's doctests ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("normal text", [["normal text", 1.0]]),
        ("an (important) word", [["an ", 1.0], ["important", 1.1], [" word", 1.0]]),
        ("(unbalanced", [["unbalanced", 1.1]]),
        ("\\(literal\\]", [["(literal]", 1.0]]),
        ("(unnecessary)(parens)", [["unnecessaryparens", 1.1]]),
        (
            "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
            [
                ["a ", 1.0],
                ["house", 1.5730000000000004],
                [" ", 1.1],
                ["on", 1.0],
                [" a ", 1.1],
                ["hill", 0.55],
                [", sun, ", 1.1],
                ["sky", 1.4641000000000006],
                [".", 1.1],
            ],
        ),
    ],
)
def test_a1111_attention_doctests(text, expected):
    assert parse_prompt_attention(text) == expected


# --- parse_prompt_attention: BREAK, as A1111's code treats it -----------------------------------
# A1111 splits BREAK off as ["BREAK", -1] and then lets the brackets around it multiply that -1
# like any other weight, and merges neighbours of equal weight whatever their text.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a BREAK b", [["a", 1.0], ["BREAK", -1], ["b", 1.0]]),
        ("(a BREAK b)", [["a", 1.1], ["BREAK", -1.1], ["b", 1.1]]),
        ("a (BREAK) b", [["a ", 1.0], ["", 1.1], ["BREAK", -1.1], ["", 1.1], [" b", 1.0]]),
        ("(x BREAK:-1)", [["x", -1.0], ["BREAK", 1.0], ["", -1.0]]),
        ("[x BREAK y:0.5]", [["x", 1 / 1.1], ["BREAK", -1 / 1.1], ["y:0.5", 1 / 1.1]]),
        # -0.0 == 0.0: the three items merge into one, keeping the first item's weight.
        ("(BREAK:0)", [["BREAK", 0.0]]),
    ],
)
def test_brackets_weigh_a_break_as_in_a1111(text, expected):
    assert parse_prompt_attention(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(a BREAK b)", [["a", 1.1], ["BREAK", -1], ["b", 1.1]]),
        ("(x BREAK:-1)", [["x", -1.0], ["BREAK", -1], ["", -1.0]]),
        ("(BREAK:0)", [["", 0.0], ["BREAK", -1], ["", 0.0]]),
        # Everything else is parse_prompt_attention's reading.
        ("a (((house:1.3)) [on]", [["a ", 1.0], ["house", 1.5730000000000004], [" ", 1.1], ["on", 1.0]]),
    ],
)
def test_the_encoder_keeps_every_break_a_chunk_break(text, expected):
    # Our encoder's reading: a BREAK always ends the chunk, as the documentation promises, where
    # A1111's encoder would read a weighted "BREAK" as the word. Same pictures as before.
    assert weighted_fragments(text) == expected


# --- get_multicond_prompt_list: A1111's re_weight ------------------------------------------------
# `^((?:\s|.)*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$`: leading whitespace stays in the
# text, trailing whitespace and the weight go.


def test_and_parts_keep_leading_whitespace():
    assert get_multicond_prompt_list(["a cat AND a dog:0.8"]) == (
        [[(0, 1.0), (1, 0.8)]],
        ["a cat", " a dog"],
        {"a cat": 0, " a dog": 1},
    )


@pytest.mark.parametrize(
    ("prompt", "parts"),
    [
        ("  a  AND  b ", [("  a", 1.0), ("  b", 1.0)]),
        ("a :1.5\n", [("a", 1.5)]),
        ("\na\n AND\tb\t: 2 ", [("\na", 1.0), ("\tb", 2.0)]),
        ("a : b : 3", [("a : b", 3.0)]),
        ("x:\u0661.\u0665", [("x", 1.5)]),  # \d is any decimal digit, for the regex and float()
        ("AND", [("", 1.0), ("", 1.0)]),
    ],
)
def test_and_parts_and_weights_as_a1111_reads_them(prompt, parts):
    res_indexes, flat, _ = get_multicond_prompt_list([prompt])
    assert [(flat[index], weight) for index, weight in res_indexes[0]] == parts


def test_parts_differing_only_in_leading_whitespace_are_distinct():
    res_indexes, flat, indexes = get_multicond_prompt_list(["a AND a", "a"])
    assert flat == ["a", " a"]
    assert indexes == {"a": 0, " a": 1}
    assert res_indexes == [[(0, 1.0), (1, 1.0)], [(0, 1.0)]]


# --- schedules: groups A1111's grammar cannot read -----------------------------------------------
# Inside `[...]` A1111's grammar reads parentheses only as `(x)` or `(x:y)`; any other parenthesis
# leaves the group literal there, and the groups around it are still scheduled.


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("[(a:b:3]", [[10, "[(a:b:3]"]]),
        ("x [a):b:3] [c:d:5]", [[5, "x [a):b:3] c"], [10, "x [a):b:3] d"]]),
        ("[(a:b:c):5]", [[10, "[(a:b:c):5]"]]),
        ("[(a|b):c:5]", [[10, "[(a|b):c:5]"]]),
        ("[[a:b:2] (c:d:e):3]", [[2, "[a (c:d:e):3]"], [10, "[b (c:d:e):3]"]]),
        ("[(a (b:1.2):2):c:5]", [[5, "(a (b:1.2):2)"], [10, "c"]]),
        ("(x [a:b:3] y:1.2)", [[3, "(x a y:1.2)"], [10, "(x b y:1.2)"]]),
    ],
)
def test_groups_with_unreadable_parentheses_stay_literal(prompt, expected):
    assert get_learned_conditioning_prompt_schedules([prompt], 10)[0] == expected
