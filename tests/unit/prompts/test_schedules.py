"""Prompt editing and alternation: schedules worked out by hand.

Reading rule: `[from:to:when]` shows `from` on 1-based steps s <= when, `to` after; `[a|b|c]`
shows option (s - 1) % n. A schedule lists `[end_step, text]` at every step an edit names and
at the last step, or at every step once anything alternates (A1111's shape: see
test_a1111_vectors.py), even where the text stays the same.
"""

import pytest

from modules.prompts.parser import MAX_NESTING, get_learned_conditioning_prompt_schedules, text_at_step


def schedule(prompt, steps, hires_steps=None, old=False):
    return get_learned_conditioning_prompt_schedules([prompt], steps, hires_steps, old)[0]


@pytest.mark.parametrize(
    ("prompt", "steps", "expected"),
    [
        ("a [b:c:10] d", 20, [[10, "a b d"], [20, "a c d"]]),
        ("a [b:3]", 10, [[3, "a "], [10, "a b"]]),
        ("a [b: 3]", 10, [[3, "a "], [10, "a b"]]),
        ("[from::5]", 20, [[5, "from"], [20, ""]]),
        ("a [b : c : 1] d", 10, [[1, "a b  d"], [10, "a  c  d"]]),
        ("[a:b: 5 ]", 10, [[5, "a"], [10, "b"]]),
        ("[a:b:+5]", 10, [[5, "a"], [10, "b"]]),
        ("no brackets at all", 7, [[7, "no brackets at all"]]),
        ("", 3, [[3, ""]]),
    ],
)
def test_editing(prompt, steps, expected):
    assert schedule(prompt, steps) == expected


@pytest.mark.parametrize(
    ("prompt", "steps", "expected"),
    [
        # Integers are steps.
        ("[a:b:0]", 20, [[20, "b"]]),
        ("[a:b:-3]", 20, [[20, "b"]]),
        ("[a:b:1]", 20, [[1, "a"], [20, "b"]]),
        ("[a:b:19]", 20, [[19, "a"], [20, "b"]]),
        ("[a:b:20]", 20, [[20, "a"]]),
        ("[a:b:25]", 20, [[20, "a"]]),
        ("[a:b:1e1]", 20, [[10, "a"], [20, "b"]]),  # no decimal point: a step
        # A decimal point makes a fraction: int(when * steps).
        ("[a:b:0.5]", 20, [[10, "a"], [20, "b"]]),
        ("[a:b:.25]", 10, [[2, "a"], [10, "b"]]),
        ("[a:b:0.3]", 10, [[3, "a"], [10, "b"]]),
        ("[a:b:0.0]", 20, [[20, "b"]]),
        ("[a:b:0.01]", 20, [[20, "b"]]),
        ("[a:b:1.0]", 20, [[20, "a"]]),
        ("[a:b:5.0]", 20, [[20, "a"]]),
        ("[a:b:5.]", 20, [[20, "a"]]),
        ("[a:b:0.5]", 1, [[1, "b"]]),
    ],
)
def test_when_as_step_or_fraction(prompt, steps, expected):
    assert schedule(prompt, steps) == expected


@pytest.mark.parametrize(
    ("prompt", "steps", "expected"),
    [
        ("[a:[b:c:15]:5]", 20, [[5, "a"], [15, "b"], [20, "c"]]),
        ("[[a:b:3]:c:6]", 10, [[3, "a"], [6, "b"], [10, "c"]]),
        ("a[b:[c:d:2]:1]e", 10, [[1, "abe"], [2, "ace"], [10, "ade"]]),
        # The inner switch at 8 happens after the outer one: nothing changes there, listed anyway.
        ("[[a:b:8]:c:5]", 10, [[5, "a"], [8, "c"], [10, "c"]]),
        ("[a:b:3] [c:d:7]", 10, [[3, "a c"], [7, "b c"], [10, "b d"]]),
        ("[a:b:5] [c:d:5]", 10, [[5, "a c"], [10, "b d"]]),
        ("[a:a:5]", 10, [[5, "a"], [10, "a"]]),
        ("[a:b:0.5] " * 3, 4, [[2, "a a a "], [4, "b b b "]]),
    ],
)
def test_nested_and_multiple_edits(prompt, steps, expected):
    assert schedule(prompt, steps) == expected


@pytest.mark.parametrize(
    ("prompt", "steps", "expected"),
    [
        ("(x [a:b:0.5])", 10, [[5, "(x a)"], [10, "(x b)"]]),
        ("(x [a:b:0.5]:1.2)", 10, [[5, "(x a:1.2)"], [10, "(x b:1.2)"]]),
        # Colons inside balanced parentheses belong to the weight, not to the edit.
        ("[(a:2):3]", 10, [[3, ""], [10, "(a:2)"]]),
        ("[(a:1.2):(b:0.8):0.5]", 10, [[5, "(a:1.2)"], [10, "(b:0.8)"]]),
        ("a [[[b]]:2]", 10, [[2, "a "], [10, "a [[b]]"]]),
        # A parenthesis A1111's grammar cannot read as emphasis makes the group literal.
        ("[(a:b:3]", 10, [[10, "[(a:b:3]"]]),
        ("[a):b:3] [c:d:5]", 10, [[5, "[a):b:3] c"], [10, "[a):b:3] d"]]),
        ("[(a:b:c):5]", 10, [[10, "[(a:b:c):5]"]]),
        ("[x|(a|b)]", 10, [[10, "[x|(a|b)]"]]),
        ("[(a (b:1.2):2):c:5]", 10, [[5, "(a (b:1.2):2)"], [10, "c"]]),
    ],
)
def test_edits_with_attention_syntax(prompt, steps, expected):
    assert schedule(prompt, steps) == expected


@pytest.mark.parametrize(
    ("prompt", "steps", "expected"),
    [
        ("[a|b|c]", 7, [[1, "a"], [2, "b"], [3, "c"], [4, "a"], [5, "b"], [6, "c"], [7, "a"]]),
        ("[a|(b:1.1)]", 4, [[1, "a"], [2, "(b:1.1)"], [3, "a"], [4, "(b:1.1)"]]),
        ("[fe|]male", 4, [[1, "female"], [2, "male"], [3, "female"], [4, "male"]]),
        ("[fe|||]male", 4, [[1, "female"], [2, "male"], [3, "male"], [4, "male"]]),
        ("[|]", 3, [[1, ""], [2, ""], [3, ""]]),
        ("[a|b]", 1, [[1, "a"]]),
        # A nested alternation is read at the same step: on even steps [b|c] shows c.
        ("[a|[b|c]]", 4, [[1, "a"], [2, "c"], [3, "a"], [4, "c"]]),
        ("[a|[b|c|d]]", 4, [[1, "a"], [2, "c"], [3, "a"], [4, "b"]]),
        ("[a|[b:c:2]]", 4, [[1, "a"], [2, "b"], [3, "a"], [4, "c"]]),
        ("[[a|b]:c:3]", 5, [[1, "a"], [2, "b"], [3, "a"], [4, "c"], [5, "c"]]),
        ("x [a|b] [c|d|e]", 3, [[1, "x a c"], [2, "x b d"], [3, "x a e"]]),
    ],
)
def test_alternation(prompt, steps, expected):
    assert schedule(prompt, steps) == expected


@pytest.mark.parametrize(
    "prompt",
    [
        "[x]",
        "[[x]]",
        "[]",
        "[a:b]",
        "[a:b:c:5]",
        "[a:b:x]",
        "[a:b:]",
        "[a:b:5|c]",
        "[a|b:c]",
        "a]b[",
        "a [unbalanced",
        "(a:1.2) [b] ((c))",
        r"\[a:b:5\]",
        r"[a\|b]",
        "a | b : c",
    ],
)
def test_what_is_not_editing_or_alternation_stays_literal(prompt):
    assert schedule(prompt, 10) == [[10, prompt]]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        # Literal brackets around a real edit keep both.
        ("[x [a:b:5]]", [[5, "[x a]"], [10, "[x b]"]]),
        ("((a][:b:c [d:3]", [[3, "((a][:b:c "], [10, "((a][:b:c d"]]),
        # Pinned: an edit wins when a group reads as both (A1111 reads `[{b|d{:.5]` so).
        ("a [{b|d{:.5] c", [[5, "a  c"], [10, "a {b|d{ c"]]),
        # Escapes stay in the text, backslash included, for the attention parser.
        (r"[a\:b:5]", [[5, ""], [10, r"a\:b"]]),
        (r"[\(a\):b:5]", [[5, r"\(a\)"], [10, "b"]]),
        # A group that does not parse leaves the rest of the prompt scheduled (A1111 gives up on all of it).
        ("a | b [c:d:5]", [[5, "a | b c"], [10, "a | b d"]]),
    ],
)
def test_literal_and_scheduled_side_by_side(prompt, expected):
    assert schedule(prompt, 10) == expected


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        # Base 20 steps, hires 10: fractions 1..2 and steps 21..30 land in the hires pass.
        ("[a:b:1.5]", [[5, "a"], [10, "b"]]),
        ("[a:b:1.25]", [[2, "a"], [10, "b"]]),
        ("[a:b:2.0]", [[10, "a"]]),
        ("[a:b:25]", [[5, "a"], [10, "b"]]),
        ("[a:b:30]", [[10, "a"]]),
        # Switched during the first pass: the hires pass reads `to` throughout.
        ("[a:b:0.5]", [[10, "b"]]),
        ("[a:b:1.0]", [[10, "b"]]),
        ("[a:b:10]", [[10, "b"]]),
        ("[a:b:20]", [[10, "b"]]),
        (
            "[a|b]",
            [[1, "a"], [2, "b"], [3, "a"], [4, "b"], [5, "a"], [6, "b"], [7, "a"], [8, "b"], [9, "a"], [10, "b"]],
        ),
    ],
)
def test_hires_pass(prompt, expected):
    assert schedule(prompt, 20, hires_steps=10) == expected


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        # Below 1 a fraction, from 1 on a step, decimal point or not.
        ("[a:b:0.5]", [[10, "a"], [20, "b"]]),
        ("[a:b:5.0]", [[5, "a"], [20, "b"]]),
        ("[a:b:1.0]", [[1, "a"], [20, "b"]]),
        ("[a:b:5]", [[5, "a"], [20, "b"]]),
        ("[a:b:30.5]", [[20, "a"]]),
    ],
)
def test_old_scheduling(prompt, expected):
    assert schedule(prompt, 20, old=True) == expected


def test_old_scheduling_for_the_hires_pass_counts_within_that_pass():
    # Pinned: no first-pass offsets; fractions and steps are of the hires pass itself.
    assert schedule("[a:b:0.5]", 20, hires_steps=10, old=True) == [[5, "a"], [10, "b"]]
    assert schedule("[a:b:3]", 20, hires_steps=10, old=True) == [[3, "a"], [10, "b"]]


def test_groups_past_the_nesting_cap_are_literal():
    assert schedule("[a|" * MAX_NESTING + "x" + "]" * MAX_NESTING, 2) == [[1, "a"], [2, "x"]]
    deeper = MAX_NESTING + 1
    assert schedule("[a|" * deeper + "x" + "]" * deeper, 2) == [[1, "a"], [2, "[a|x]"]]
    edit = "[" * (MAX_NESTING - 1) + "[a:b:1]" + "]" * (MAX_NESTING - 1)
    assert schedule(edit, 2) == [[1, edit.replace("[a:b:1]", "a")], [2, edit.replace("[a:b:1]", "b")]]
    buried = "[" * (MAX_NESTING + 5) + "a:b:1" + "]" * (MAX_NESTING + 5)
    assert schedule(buried, 2) == [[2, buried]]
    assert schedule(buried + " [c:d:1]", 2) == [[1, buried + " c"], [2, buried + " d"]]


def test_many_prompts_keep_order_and_do_not_share_lists():
    result = get_learned_conditioning_prompt_schedules(["[a:b:1]", "x", "[a:b:1]"], 2)
    assert result == [[[1, "a"], [2, "b"]], [[2, "x"]], [[1, "a"], [2, "b"]]]
    result[0][0][1] = "changed"
    assert result[2][0][1] == "a"


def test_steps_below_one_count_as_one():
    assert schedule("[a|b]", 0) == [[1, "a"]]


# --- text_at_step: 0-based sampler steps ---------------------------------------------------------


def test_text_at_step_boundaries():
    pairs = [[10, "x"], [20, "y"]]
    assert [text_at_step(pairs, i) for i in (0, 9, 10, 11, 19)] == ["x", "x", "x", "y", "y"]
    assert text_at_step(pairs, 25) == "y"  # past the end: the last text stays
    assert text_at_step(pairs, -1) == "x"
    assert text_at_step(((3, "t"),), 0) == "t"  # tuples work too


def test_text_at_step_follows_a1111s_sampler():
    # A1111 compares the 0-based step with end_at_step: switches land one step late.
    pairs = schedule("[a|b|c]", 7)
    assert [text_at_step(pairs, i) for i in range(7)] == ["a", "a", "b", "c", "a", "b", "c"]
    pairs = schedule("[a:b:10]", 20)
    assert [text_at_step(pairs, i) for i in range(20)] == ["a"] * 11 + ["b"] * 9


def test_text_at_step_needs_a_schedule():
    with pytest.raises(ValueError):
        text_at_step([], 0)
