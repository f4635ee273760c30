"""Prompt editing and alternation: which text a prompt reads at each sampling step.

    [from:to:when]   `from` up to and including step `when`, `to` after it
    [to:when]        nothing, then `to`          [from::when]   `from`, then nothing
    [a|b|c]          a on step 1, b on step 2, c on step 3, a on step 4 ...

A schedule is `[[end_step, text], ...]`: steps are 1-based, each text is in force up to and
including its end step, end steps strictly increase and the last one is the pass's step count.
As in A1111, the end steps are the steps the edits name (those within the pass), plus the last
step; with any alternation, every step. Neighbours may repeat a text: `[fe|||]male` at 10
steps lists all ten steps, `[a:a:5]` lists 5 and 10.
The texts keep their attention syntax (`(x:1.2)`, `[x]`); parser.py reads that per text.

`when` with a decimal point is a fraction of the steps, without one a step number. For a hires
pass (`hires_steps` given) fractions 1..2 and step numbers past `base_steps` land in that pass;
anything earlier means "already switched". Old scheduling (A1111's compatibility option) reads
any `when` below 1 as a fraction and anything else as a step, with no hires offsets.

This is a bracket matcher, not a grammar: no recursion (10,000 nested brackets cannot raise
RecursionError), groups past MAX_NESTING are literal (so the work per step stays bounded), and a
group that is not a well-formed edit or alternation stays literal on its own, where A1111's
grammar gives up on scheduling for the whole prompt.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

# An escape pair (kept verbatim for the attention parser), one structural character, a run of
# anything else, or a backslash ending the text.
_TOKEN = re.compile(r"\\.|[\[\]():|]|[^\\\[\]():|]+|\\", re.DOTALL)
# A1111's `when`: a signed int or decimal, exponent allowed, surrounding whitespace ignored.
_WHEN = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Brackets nested deeper than this are literal text, here and in attention parsing. Nobody means
# 65 levels; the cap bounds the work per step (and per text run) by a constant.
MAX_NESTING = 64


@dataclass(frozen=True, slots=True)
class _Timing:
    """How a `when` turns into a step of the pass being scheduled."""

    steps: int  # steps of this pass: the last end step of every schedule
    step_offset: int  # steps already done before this pass (the first pass, for hires)
    fraction_offset: float  # the same, in fractions: 1.0 for hires
    old: bool

    @classmethod
    def for_pass(cls, base_steps: int, hires_steps: int | None, old: bool) -> "_Timing":
        base = max(1, int(base_steps))
        if hires_steps is None:
            return cls(base, 0, 0.0, old)
        # Old scheduling has no notion of passes: `when` counts within the hires pass itself.
        return cls(max(1, int(hires_steps)), 0 if old else base, 0.0 if old else 1.0, old)

    def step_of(self, when: str) -> int:
        value = float(when)
        if self.old:
            position = value * self.steps if value < 1 else value
        elif "." in when:
            position = (value - self.fraction_offset) * self.steps
        else:
            position = value - self.step_offset
        # Clamp before int(): "1e999" is infinite and int() of it raises. Anything <= 0 means
        # "switched before the first step", so -1 stands for all of them.
        return int(max(-1.0, min(float(self.steps), position)))


@dataclass(slots=True)
class _Edit:
    before: list
    after: list
    when: int

    def pick(self, step: int) -> list:
        return self.before if step <= self.when else self.after


@dataclass(slots=True)
class _Alternation:
    options: list[list]

    def pick(self, step: int) -> list:
        return self.options[(step - 1) % len(self.options)]


@dataclass(slots=True)
class _LiteralGroup:
    """Brackets that are neither edit nor alternation, around content that still varies."""

    parts: list

    def pick(self, step: int) -> list:
        return self.parts


def _sequence(items: list) -> list:
    """Tokens and nodes -> parts, adjacent text joined; a constant sequence is one string."""
    parts: list = []
    run: list[str] = []
    for item in items:
        if isinstance(item, str):
            run.append(item)
        else:
            if run:
                parts.append("".join(run))
                run = []
            parts.append(item)
    if run:
        parts.append("".join(run))
    return parts


class _Builder:
    def __init__(self, timing: _Timing):
        self.timing = timing
        self.switch_steps: set[int] = set()
        self.alternates = False

    def parse(self, prompt: str) -> list:
        root: list = []
        open_groups: list[list] = []
        # A group opened past MAX_NESTING takes its whole inside as raw tokens; this counts the
        # brackets open within it, so it knows which "]" is its own.
        inner_literal = 0
        for token in _TOKEN.findall(prompt):
            if token == "[" and len(open_groups) > MAX_NESTING:
                inner_literal += 1
                open_groups[-1].append(token)
            elif token == "[":
                open_groups.append([])
            elif token == "]" and inner_literal:
                inner_literal -= 1
                open_groups[-1].append(token)
            elif token == "]" and open_groups:
                items = open_groups.pop()
                node = "".join(["[", *items, "]"]) if len(open_groups) >= MAX_NESTING else self.close_group(items)
                (open_groups[-1] if open_groups else root).append(node)
            else:
                (open_groups[-1] if open_groups else root).append(token)
        # Unclosed groups are literal. Each opened after everything its parent holds, so the
        # chain flattens in order without copying inner groups into outer ones.
        for items in open_groups:
            root.append("[")
            root.extend(items)
        return _sequence(root)

    def close_group(self, items: list):
        """`[` items `]` -> an edit, an alternation, or literal brackets (a str when constant).

        Separators count only at the group's own level: not inside a nested group (those are
        single items by now) nor inside a `( )`, so `[(a:1.2):b:5]` is an edit.
        """
        colons: list[int] = []
        pipes: list[int] = []
        if not self._parentheses_read_as_emphasis(items, colons, pipes):
            return self._literal(items)

        # An edit wins over an alternation when both read: A1111 reads `[{b|d{:.5]` as an edit.
        if 1 <= len(colons) <= 2:
            tail = items[colons[-1] + 1 :]
            when = "".join(tail).strip() if all(isinstance(t, str) for t in tail) else ""
            if _WHEN.fullmatch(when):
                step = self.timing.step_of(when)
                if step >= 1:
                    self.switch_steps.add(step)
                before = items[: colons[0]] if len(colons) == 2 else []
                after = items[colons[0] + 1 : colons[1]] if len(colons) == 2 else items[: colons[0]]
                return _Edit(_sequence(before), _sequence(after), step)
        if pipes and not colons:
            self.alternates = True
            bounds = [-1, *pipes, len(items)]
            return _Alternation([_sequence(items[a + 1 : b]) for a, b in pairwise(bounds)])
        return self._literal(items)

    @staticmethod
    def _parentheses_read_as_emphasis(items: list, colons: list[int], pipes: list[int]) -> bool:
        """Whether every `(` in the group closes, holding at most one `:` and no `|` at its own
        level: A1111's grammar reads a group's text as `(x)` and `(x:y)` only, and a group with any
        other parenthesis is no edit nor alternation there (`[(a:b:3]` stays literal). Fills in
        the group's own separators on the way."""
        open_parens: list[int] = []  # per open "(", the colons seen at its level
        for i, item in enumerate(items):
            if item == "(":
                open_parens.append(0)
            elif item == ")":
                if not open_parens:
                    return False
                open_parens.pop()
            elif item == ":":
                if not open_parens:
                    colons.append(i)
                elif open_parens[-1]:
                    return False
                else:
                    open_parens[-1] = 1
            elif item == "|":
                if open_parens:
                    return False
                pipes.append(i)
        return not open_parens

    @staticmethod
    def _literal(items: list):
        parts = _sequence(["[", *items, "]"])
        # A constant literal group becomes one string; it is at least "[]", so it can never be
        # mistaken for a one-character separator by the enclosing group.
        return parts[0] if len(parts) == 1 and isinstance(parts[0], str) else _LiteralGroup(parts)


def _render(parts: list, step: int) -> str:
    """The text of a parsed prompt at a 1-based step; iterative, so nesting depth is free."""
    out: list[str] = []
    stack = [iter(parts)]
    while stack:
        for part in stack[-1]:
            if isinstance(part, str):
                out.append(part)
            else:
                stack.append(iter(part.pick(step)))
                break
        else:
            stack.pop()
    return "".join(out)


def _schedule(prompt: str, timing: _Timing) -> list[tuple[int, str]]:
    builder = _Builder(timing)
    parts = builder.parse(prompt)
    if all(isinstance(part, str) for part in parts):
        return [(timing.steps, prompt)]
    # A1111 lists every step an edit names (and every step once anything alternates), even where
    # the text stays the same: extensions read these lists, so their length is part of the contract.
    ends = range(1, timing.steps + 1) if builder.alternates else sorted(builder.switch_steps | {timing.steps})
    return [(end, _render(parts, end)) for end in ends]


def get_learned_conditioning_prompt_schedules(
    prompts: list[str], base_steps: int, hires_steps: int | None = None, use_old_scheduling: bool = False
) -> list[list[list]]:
    """For each prompt, `[[end_step, text], ...]` (A1111's name and shape)."""
    timing = _Timing.for_pass(base_steps, hires_steps, use_old_scheduling)
    cache: dict[str, list[tuple[int, str]]] = {}
    result = []
    for prompt in prompts:
        if prompt not in cache:
            cache[prompt] = _schedule(prompt, timing)
        # Fresh lists per prompt: a caller mutating one must not change another's.
        result.append([[end, text] for end, text in cache[prompt]])
    return result


def text_at_step(schedule: Sequence[Sequence], step: int) -> str:
    """The text in force at 0-based sampler step `step`. The one place the boundary lives.

    A1111's denoiser compares the 0-based step index with end_at_step (an entry ending at e
    covers indexes <= e), so a switch lands one step later than the 1-based reading and an
    alternation's first option runs twice. We do the same: the same prompt must give the same
    picture here as there. Past the end the last text stays.
    """
    if not schedule:
        raise ValueError("a schedule has at least one entry")
    for end_step, text in schedule:
        if step <= end_step:
            return text
    return schedule[-1][1]
