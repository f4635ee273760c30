"""Properties of the prompt parser over generated text: it never raises, its outputs keep their
invariants, attention parsing agrees with a naive reference, and schedules agree with the
meaning of generated edit/alternation trees at every step."""

import math
import re
from dataclasses import dataclass
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from modules.prompts.parser import (
    get_learned_conditioning_prompt_schedules,
    get_multicond_prompt_list,
    parse_prompt,
    parse_prompt_attention,
    strip_comments,
    text_at_step,
    weighted_fragments,
)

# No deadline: two shared CPU cores make per-example timings noisy; speed is tested separately.
PROFILE = settings(deadline=None, max_examples=200)

# Pieces rich in syntax, so generated prompts hit brackets, weights, escapes, BREAK and AND.
SYNTAX_PIECES = [*"()[]:|\\#\n ., -+0159abxyzé", "AND", "BREAK", " AND ", " BREAK ", "0.5", "1.5", ":0.5]", r"\(", "::"]
syntax_text = st.lists(st.sampled_from(SYNTAX_PIECES), max_size=60).map("".join)
any_text = st.one_of(syntax_text, st.text(max_size=80))
steps = st.integers(min_value=1, max_value=150)


# --- never raises, keeps its shape --------------------------------------------------------------


@PROFILE
@given(any_text)
def test_attention_items_are_text_with_finite_weights_merged_as_in_a1111(text):
    items = parse_prompt_attention(text)
    assert items
    for chunk, weight in items:
        assert isinstance(chunk, str)
        assert isinstance(weight, float) or [chunk, weight] == ["BREAK", -1]
        assert math.isfinite(weight)
    # A1111 merges any neighbours of equal weight, BREAK items included.
    assert all(a[1] != b[1] for a, b in pairwise(items))


@PROFILE
@given(any_text)
def test_encoder_fragments_are_text_with_finite_weights(text):
    items = weighted_fragments(text)
    assert items
    for i, (chunk, weight) in enumerate(items):
        assert isinstance(chunk, str)
        if [chunk, weight] == ["BREAK", -1]:
            continue
        assert isinstance(weight, float) and math.isfinite(weight)
        if i > 0 and items[i - 1] != ["BREAK", -1]:
            assert items[i - 1][1] != weight, "adjacent runs of equal weight are merged"


@PROFILE
@given(any_text, steps, st.one_of(st.none(), steps), st.booleans())
def test_schedules_are_increasing_and_end_at_the_pass_steps(prompt, base, hires, old):
    (pairs,) = get_learned_conditioning_prompt_schedules([prompt], base, hires, old)
    ends = [end for end, _ in pairs]
    assert ends[-1] == (base if hires is None else hires)
    assert ends[0] >= 1
    assert all(a < b for a, b in pairwise(ends))
    assert all(isinstance(text, str) for _, text in pairs)
    for end, text in pairs:
        assert text_at_step(pairs, end) == text


@PROFILE
@given(st.lists(any_text, max_size=4))
def test_multicond_indexes_are_consistent(prompts):
    res_indexes, flat, indexes = get_multicond_prompt_list(prompts)
    assert len(res_indexes) == len(prompts)
    assert len(set(flat)) == len(flat)
    assert indexes == {text: i for i, text in enumerate(flat)}
    for prompt, entries in zip(prompts, res_indexes, strict=True):
        assert len(entries) == len(re.split(r"\bAND\b", prompt))
        for index, weight in entries:
            assert 0 <= index < len(flat)
            assert math.isfinite(weight)


@PROFILE
@given(any_text)
def test_comments_are_gone_and_stripping_is_idempotent(text):
    stripped = strip_comments(text)
    assert re.search(r"(?<!\\)(?:\\\\)*#", stripped) is None
    assert strip_comments(stripped) == stripped
    if "#" not in text:
        assert stripped == text


@PROFILE
@given(any_text, steps, st.one_of(st.none(), steps), st.booleans(), st.booleans())
def test_parse_prompt_never_raises(text, base, hires, negative, comments):
    parsed = parse_prompt(text, base, hires, negative=negative, comments=comments)
    assert parsed.parts
    for i in range(parsed.steps):
        assert len(parsed.at_step(i)) == len(parsed.parts)
    assert set(parsed.texts()) == {text for part in parsed.parts for _, text in part.schedule}


@PROFILE
@given(st.text(alphabet=st.characters(blacklist_characters="()[]:|\\"), max_size=60), steps)
def test_text_without_syntax_passes_through(text, n):
    assert get_learned_conditioning_prompt_schedules([text], n) == [[[n, text]]]
    if "BREAK" not in text:
        assert parse_prompt_attention(text) == [[text, 1.0]]


# --- attention against a naive reference --------------------------------------------------------

_REF_WEIGHT = re.compile(r":\s*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))\s*\)")
_REF_BREAK = re.compile(r"\s*\bBREAK\b\s*")


def reference_attention(text, breaks_take_weight):
    """The documented rules, written the slow obvious way: a character scanner, every bracket
    re-weighting all items since it opened, one merge pass. No nesting cap, no clamping.
    `breaks_take_weight`: A1111's reading, where brackets multiply a BREAK and the merge joins
    it with equal neighbours; otherwise each BREAK stays ["BREAK", -1] on its own."""
    items = []  # [text, weight, is_fixed_break]
    rounds, squares = [], []

    def words(chunk):
        for j, part in enumerate(_REF_BREAK.split(chunk)):
            if j:
                items.append(["BREAK", -1, not breaks_take_weight])
            items.append([part, 1.0, False])

    def multiply(start, factor):
        for item in items[start:]:
            if not item[2]:
                item[1] *= factor

    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            escaped = i + 1 < len(text) and text[i + 1] in "()[]\\"
            items.append([text[i + 1] if escaped else "", 1.0, False])
            i += 2 if escaped else 1
        elif char in "([":
            (rounds if char == "(" else squares).append(len(items))
            i += 1
        elif char in ")]":
            stack = rounds if char == ")" else squares
            if stack:
                multiply(stack.pop(), 1.1 if char == ")" else 1 / 1.1)
            else:
                words(char)
            i += 1
        elif char == ":" and (match := _REF_WEIGHT.match(text, i)):
            if rounds:
                multiply(rounds.pop(), float(match.group(1)))
            else:
                words(match.group())
            i = match.end()
        elif char == ":":
            words(":")
            i += 1
        else:
            end = i
            while end < len(text) and text[end] not in "\\()[]:":
                end += 1
            words(text[i:end])
            i = end
    for start in rounds:
        multiply(start, 1.1)
    for start in squares:
        multiply(start, 1 / 1.1)
    merged = []
    for chunk, weight, is_break in items:
        if merged and not is_break and merged[-1][2] is False and merged[-1][1] == weight:
            merged[-1][0] += chunk
        else:
            merged.append([chunk, weight, is_break])
    return [[chunk, weight] for chunk, weight, _ in merged] or [["", 1.0]]


@PROFILE
@given(syntax_text)
def test_attention_matches_the_reference(text):
    assert parse_prompt_attention(text) == reference_attention(text, breaks_take_weight=True)
    assert weighted_fragments(text) == reference_attention(text, breaks_take_weight=False)


# --- schedules against generated edit/alternation trees ----------------------------------------


@dataclass(frozen=True)
class Edit:
    before: tuple
    after: tuple
    when: str


@dataclass(frozen=True)
class Alt:
    options: tuple


WHENS = ["0", "1", "2", "3", "5", "8", "13", "40", "0.25", "0.5", ".75", "1.0", "0.0"]
# Parentheses only as A1111's grammar reads them inside a group: `(x)` and `(x:y)`.
leaf = st.one_of(st.text(alphabet="abc xyz,", max_size=3), st.sampled_from(["(a)", "(b:1.2)", "((c) d)"]))


def _sequences(children):
    return st.lists(children, max_size=3).map(tuple)


trees = st.recursive(
    leaf,
    lambda children: st.one_of(
        st.builds(Edit, _sequences(children), _sequences(children), st.sampled_from(WHENS)),
        st.builds(Alt, st.lists(_sequences(children), min_size=2, max_size=4).map(tuple)),
    ),
    max_leaves=12,
)
prompts = st.lists(trees, max_size=4).map(tuple)


def render(seq):
    out = []
    for node in seq:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, Edit):
            out.append(f"[{render(node.before)}:{render(node.after)}:{node.when}]")
        else:
            out.append("[" + "|".join(render(option) for option in node.options) + "]")
    return "".join(out)


def when_step(when, n):
    return int(float(when) * n) if "." in when else int(when)


def nodes(seq):
    for node in seq:
        if isinstance(node, Edit):
            yield node
            yield from nodes(node.before)
            yield from nodes(node.after)
        elif isinstance(node, Alt):
            yield node
            for option in node.options:
                yield from nodes(option)


def end_steps(tree, n):
    """A1111's end steps: every step once anything alternates, else the named steps and n."""
    found = list(nodes(tree))
    if any(isinstance(node, Alt) for node in found):
        return list(range(1, n + 1))
    named = {min(n, when_step(node.when, n)) for node in found}
    return sorted({step for step in named if step >= 1} | {n})


def meaning(seq, step, n):
    """The text at 1-based `step` of `n`, straight from the definitions."""
    out = []
    for node in seq:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, Edit):
            when = when_step(node.when, n)
            out.append(meaning(node.before if step <= when else node.after, step, n))
        else:
            out.append(meaning(node.options[(step - 1) % len(node.options)], step, n))
    return "".join(out)


@PROFILE
@given(prompts, st.integers(min_value=1, max_value=30))
def test_schedules_mean_what_the_tree_says(tree, n):
    (pairs,) = get_learned_conditioning_prompt_schedules([render(tree)], n)
    assert [end for end, _ in pairs] == end_steps(tree, n)
    for step in range(1, n + 1):
        assert text_at_step(pairs, step) == meaning(tree, step, n)
