"""A1111's prompt language, as text: attention weights, BREAK, AND parts, comments, schedules.

The A1111-named functions (`parse_prompt_attention`, `get_learned_conditioning_prompt_schedules`,
`get_multicond_prompt_list`) return exactly what A1111's return, list shapes included, because
extensions call them; tests/unit/prompts/test_a1111_vectors.py holds A1111's doctests. Where we
differ it is for safety only: brackets past MAX_NESTING, finite weights, malformed groups kept
literal, no crash on `(x:1.2.3)`. `parse_prompt` and `weighted_fragments` are our engine's:

    parsed = parse_prompt(prompt, steps=20)
    for text in parsed.texts():              # every distinct text: encode each once
        chunks = weighted_fragments(text)    # [[text, weight], ..., ["BREAK", -1], ...]
    parsed.at_step(i)                        # ((text, weight), ...) per AND part at step i

Pure Python: nothing here imports torch or gradio.
"""

import re
import sys
from dataclasses import dataclass

from modules.prompts.schedules import MAX_NESTING, get_learned_conditioning_prompt_schedules, text_at_step

__all__ = [
    "MAX_NESTING",
    "ParsedPrompt",
    "PromptPart",
    "get_learned_conditioning_prompt_schedules",
    "get_multicond_prompt_list",
    "parse_prompt",
    "parse_prompt_attention",
    "strip_comments",
    "text_at_step",
    "weighted_fragments",
]

ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1
_MAX_WEIGHT = sys.float_info.max  # weights are clamped to stay finite: 1.1**8000 is inf in floats

# \d, as A1111 writes it: float() reads any Unicode decimal digit too.
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)"
# One token of attention syntax. Every character falls in exactly one alternative, so
# finditer walks the whole text. Only `:number)` is a weight: `(x:abc)` is emphasis of "x:abc".
_ATTENTION_TOKEN = re.compile(
    rf"""
      \\[()\[\]\\]?               # an escaped bracket or backslash; a lone backslash is dropped
    | :\s*(?P<weight>{_NUMBER})\s*\)
    | [()\[\]]
    | [^\\()\[\]:]+ | :
    """,
    re.VERBOSE,
)
# A1111 consumes the whitespace around BREAK; \b makes "BREAKFAST" and "aBREAK" plain words.
_BREAK = re.compile(r"\s*\bBREAK\b\s*")
_AND = re.compile(r"\bAND\b")
_PART_WEIGHT = re.compile(rf":\s*({_NUMBER})\s*")
# Everything on a line before its first unescaped `#`.
_BEFORE_COMMENT = re.compile(r"(?:[^\\#\n]|\\.)*")


def _finite(weight: float) -> float:
    return max(-_MAX_WEIGHT, min(_MAX_WEIGHT, weight))


CAPPED = -1  # an open bracket past MAX_NESTING


def parse_prompt_attention(text: str) -> list[list]:
    """`[[text, weight], ...]` with `["BREAK", -1]` items, exactly as A1111 returns it.

    `(x)` x1.1, `[x]` /1.1, `(x:w)` xw, nesting multiplies, unclosed brackets run to the end,
    a stray closer is text, adjacent items of equal weight are merged. As in A1111, brackets
    multiply a BREAK inside them too (`(a BREAK b)` gives `["BREAK", -1.1]`, which A1111's encoder
    then reads as the word BREAK). Unlike A1111, brackets past MAX_NESTING are dropped without
    weighting further (A1111 keeps multiplying, towards 0 or overflow), weights are clamped to
    finite floats, and `(x:1.2.3)` is emphasis of "x:1.2.3" where A1111 raises ValueError.
    """
    return _parse_attention(text, breaks_take_weight=True)


def weighted_fragments(text: str) -> list[list]:
    """What our encoder reads: `parse_prompt_attention`, except that BREAK is always exactly
    `["BREAK", -1]`, a chunk break, never multiplied by the brackets around it nor merged."""
    return _parse_attention(text, breaks_take_weight=False)


def _parse_attention(text: str, breaks_take_weight: bool) -> list[list]:
    pieces: list[list[str]] = []  # per item, the strings it is made of (joined once at the end)
    weights: list[float] = []
    # Items that keep weight -1 and stay apart in the merge (none when breaks take weight).
    fixed: list[bool] = []
    # Item index each open bracket starts at; CAPPED for a bracket past MAX_NESTING (dropped, no
    # weight). The cap keeps the cost linear: each text run is re-weighted once per enclosing
    # bracket. Dropping (not keeping as text) matters: 10,000 "[" must not become 10,000 tokens.
    round_opens: list[int] = []
    square_opens: list[int] = []
    depth = 0
    # Text may join the last item while no bracket or BREAK came since it began: such text will
    # get the same weight, so this only merges early what the final merge would merge anyway.
    joinable = False

    def add_text(chunk: str) -> None:
        nonlocal joinable
        if joinable:
            pieces[-1].append(chunk)
        else:
            pieces.append([chunk])
            weights.append(1.0)
            fixed.append(False)
            joinable = True

    def add_words(chunk: str) -> None:
        nonlocal joinable
        if "BREAK" not in chunk:
            add_text(chunk)
            return
        first, *rest = _BREAK.split(chunk)
        add_text(first)
        for part in rest:
            pieces.append(["BREAK"])
            weights.append(-1)
            fixed.append(not breaks_take_weight)
            joinable = False
            add_text(part)

    def multiply(start: int, factor: float) -> None:
        for i in range(start, len(weights)):
            if not fixed[i]:
                weights[i] = _finite(weights[i] * factor)

    def open_bracket(stack: list[int]) -> None:
        nonlocal depth, joinable
        if depth >= MAX_NESTING:
            stack.append(CAPPED)
        else:
            stack.append(len(weights))
            depth += 1
            joinable = False

    def close_bracket(stack: list[int], factor: float, token: str) -> None:
        nonlocal depth, joinable
        if not stack:  # a stray closer is text
            add_text(token)
            return
        start = stack.pop()
        if start == CAPPED:
            return
        multiply(start, factor)
        depth -= 1
        joinable = False

    for match in _ATTENTION_TOKEN.finditer(text):
        token = match.group()
        if token[0] == "\\":
            add_text(token[1:])
        elif token == "(":
            open_bracket(round_opens)
        elif token == "[":
            open_bracket(square_opens)
        elif token == ")":
            close_bracket(round_opens, ROUND_MULTIPLIER, token)
        elif token == "]":
            close_bracket(square_opens, SQUARE_MULTIPLIER, token)
        elif match.group("weight") is not None:
            close_bracket(round_opens, _finite(float(match.group("weight"))), token)
        else:
            add_words(token)

    # Unclosed brackets apply to the end, round ones first, outermost first: A1111's order,
    # which decides the last bits of float products like 1.1 * 1.1.
    for stack, factor in ((round_opens, ROUND_MULTIPLIER), (square_opens, SQUARE_MULTIPLIER)):
        for start in stack:
            if start != CAPPED:
                multiply(start, factor)

    # A1111 merges any two neighbours of equal weight, BREAK items included (`(BREAK:0)` is
    # `[["BREAK", 0.0]]` there); only fixed breaks stay apart.
    merged: list[list] = []
    last_fixed = True
    for item_pieces, weight, is_fixed in zip(pieces, weights, fixed, strict=True):
        if not is_fixed and not last_fixed and merged[-1][1] == weight:
            merged[-1][0].extend(item_pieces)
        else:
            merged.append([list(item_pieces), weight])
        last_fixed = is_fixed
    if not merged:
        return [["", 1.0]]
    return [["".join(chunks), weight] for chunks, weight in merged]


def _split_weight(part: str) -> tuple[str, float]:
    """` a cat :1.2 ` -> (" a cat", 1.2): A1111's `re_weight`, which keeps leading whitespace and
    drops trailing whitespace. Found from the last colon, so the cost stays linear."""
    colon = part.rfind(":")
    if colon >= 0:
        match = _PART_WEIGHT.fullmatch(part, colon)
        if match:
            return part[:colon].rstrip(), _finite(float(match.group(1)))
    return part.rstrip(), 1.0


def get_multicond_prompt_list(prompts: list[str]) -> tuple[list[list[tuple[int, float]]], list[str], dict[str, int]]:
    """Composable diffusion: split each prompt on AND (A1111's name and shape).

    Returns per prompt `[(index, weight), ...]`, the flat list of distinct sub-prompts, and
    sub-prompt -> index. As in A1111, a sub-prompt keeps its leading whitespace and loses its
    trailing whitespace, so `a AND b` gives "a" and " b" (the tokenizer drops that space).
    """
    res_indexes: list[list[tuple[int, float]]] = []
    prompt_flat_list: list[str] = []
    prompt_indexes: dict[str, int] = {}
    for prompt in prompts:
        entries = []
        for part in _AND.split(prompt):
            text, weight = _split_weight(part)
            index = prompt_indexes.get(text)
            if index is None:
                index = prompt_indexes[text] = len(prompt_flat_list)
                prompt_flat_list.append(text)
            entries.append((index, weight))
        res_indexes.append(entries)
    return res_indexes, prompt_flat_list, prompt_indexes


def strip_comments(text: str) -> str:
    """Remove `#` comments: a line that is only a comment vanishes with its line break; a
    comment after text goes with the whitespace before it. `\\#` is no comment (the attention
    parser later drops its backslash, leaving `#`)."""
    kept = []
    for line in text.split("\n"):
        head = _BEFORE_COMMENT.match(line).group()
        if len(head) < len(line) and line[len(head)] == "#":
            if head.strip():
                kept.append(head.rstrip())
        else:
            kept.append(line)
    return "\n".join(kept)


@dataclass(frozen=True)
class PromptPart:
    """One AND part: its text as written, its weight, and the text in force per step."""

    text: str
    weight: float
    schedule: tuple[tuple[int, str], ...]  # ((end_step, text), ...), 1-based, as A1111's pairs

    def text_at(self, step: int) -> str:
        """The text at 0-based sampler step `step`."""
        return text_at_step(self.schedule, step)


@dataclass(frozen=True)
class ParsedPrompt:
    """A prompt resolved for one sampling pass of `steps` steps."""

    parts: tuple[PromptPart, ...]
    steps: int

    def texts(self) -> tuple[str, ...]:
        """Every distinct text any part reads at any step, in first-use order."""
        return tuple(dict.fromkeys(text for part in self.parts for _, text in part.schedule))

    def at_step(self, step: int) -> tuple[tuple[str, float], ...]:
        """`((text, weight), ...)` per AND part at 0-based sampler step `step`."""
        return tuple((part.text_at(step), part.weight) for part in self.parts)


def parse_prompt(
    text: str,
    steps: int,
    hires_steps: int | None = None,
    *,
    negative: bool = False,
    comments: bool = True,
    use_old_scheduling: bool = False,
) -> ParsedPrompt:
    """Resolve comments, AND and scheduling for one pass (the hires pass when `hires_steps`).

    A negative prompt is one part: A1111 does not split negatives on AND nor read `:weight`.
    """
    if comments:
        text = strip_comments(text)
    if negative:
        parts = [(text, 1.0)]
    else:
        indexes, flat, _ = get_multicond_prompt_list([text])
        # The space after AND means nothing to the tokenizer: without it "a AND a" is one text.
        parts = [(flat[index].lstrip(), weight) for index, weight in indexes[0]]
    unique = list(dict.fromkeys(part for part, _ in parts))
    schedules = get_learned_conditioning_prompt_schedules(unique, steps, hires_steps, use_old_scheduling)
    by_text = {
        part: tuple((end, scheduled) for end, scheduled in schedule)
        for part, schedule in zip(unique, schedules, strict=True)
    }
    pass_steps = max(1, int(steps if hires_steps is None else hires_steps))
    return ParsedPrompt(tuple(PromptPart(part, weight, by_text[part]) for part, weight in parts), pass_steps)
