"""The infotext parser in linear time: same answers as the old regex parser, a 1 MB text in well
under a second, and a clear error past the length limit."""

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modules.images.infotext import (
    MAX_INFOTEXT_CHARS,
    InfotextTooLongError,
    build_infotext,
    parse_infotext,
)

REPO_ROOT = Path(__file__).resolve().parents[3]

# --- the parser as it was (quadratic on long runs of key characters), kept as the reference ---------

_OLD_PAIR = re.compile(r'\s*([\w][\w \-/+()]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_OLD_SIZE = re.compile(r"^(\d+)x(\d+)$")


def old_parse_infotext(text: str) -> dict:
    lines = text.strip().split("\n")
    params_line = ""
    if lines and len(_OLD_PAIR.findall(lines[-1])) >= 3:
        params_line = lines.pop()
    prompt_lines, negative_lines, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].lstrip()
        (negative_lines if in_negative else prompt_lines).append(line)
    result: dict = {"Prompt": "\n".join(prompt_lines), "Negative prompt": "\n".join(negative_lines)}
    for key, raw in _OLD_PAIR.findall(params_line):
        value = _old_decode(raw.strip())
        result[key.strip()] = value
        if key.strip() in ("Size", "Hires resize", "Seed resize from") and (m := _OLD_SIZE.match(str(value))):
            result[f"{key.strip()}-1"], result[f"{key.strip()}-2"] = int(m[1]), int(m[2])
    return result


def _old_decode(raw: str):
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        try:
            return json.loads(raw)
        except ValueError:
            return raw[1:-1]
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def same(a: dict, b: dict) -> bool:
    """Equal dicts, in the same key order, with NaN equal to NaN (float("nan") parses from "nan")."""
    if list(a) != list(b):
        return False
    return all(x == y or (x != x and y != y) for x, y in zip(a.values(), b.values(), strict=True))


# --- generated texts ---------------------------------------------------------------------------------

PROFILE = settings(deadline=None, max_examples=300)  # no deadline: shared cores make timings noisy

# Pieces that exercise every branch: keys, colons, quotes, escapes, commas, odd whitespace.
PIECES = [*'ab Z9_-/+():,"\\\t\r\x0b\xa0é', "Steps: ", ", ", '": ', '\\"', "Size: 64x32", "nan", "1.5", "\n"]
syntax_text = st.lists(st.sampled_from(PIECES), max_size=80).map("".join)
key = st.from_regex(r"[A-Za-z][A-Za-z0-9 \-/+()]{0,12}", fullmatch=True).map(str.strip).filter(bool)
value = st.one_of(
    st.integers(-(2**40), 2**40),
    # No subnormals: a library loaded earlier in the run (built with -ffast-math) flushes them to zero.
    st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False, width=32),
    st.text(alphabet=st.sampled_from([*'ab ,:"\\\n(é)x0']), max_size=20),
    st.sampled_from(["512x768", "Euler a", "DPM++ 2M", "v1.10.1"]),
)
valid_infotext = st.builds(
    build_infotext,
    st.text(alphabet=st.sampled_from([*'ab ,:()\n"é']), max_size=40),
    st.text(alphabet=st.sampled_from([*"ab ,:()\n"]), max_size=30),
    st.dictionaries(key, value, min_size=0, max_size=8),
)


@PROFILE
@given(valid_infotext)
def test_same_result_as_the_old_parser_on_built_infotexts(text):
    assert same(parse_infotext(text), old_parse_infotext(text))


@PROFILE
@given(st.one_of(syntax_text, st.text(max_size=60)))
def test_same_result_as_the_old_parser_on_any_text(text):
    assert same(parse_infotext(text), old_parse_infotext(text))


@pytest.mark.parametrize(
    "line",
    [
        'Steps: 20, Lora hashes: "x: 1a2b, y: 3c4d", Model: m',
        'A: "unclosed, B: 2, C: 3',
        'A: "closed" then text, B: 2, C: 3',
        'A: "esc \\" quote", B: "\\\\", C: "a\\',
        "long key run without colon, Steps: 1, Seed: 2, x: y",
        "abc \tSteps: 1, Seed: 2, CFG scale: 7",
        ":::, , ,a:,b:,c:",
        "(Steps: 1, -a -b: 2, ( : 3, x-: 4, /y/: 5",
    ],
)
def test_same_result_as_the_old_parser_on_pinned_lines(line):
    text = f"prompt\nNegative prompt: neg\n{line}"
    assert same(parse_infotext(text), old_parse_infotext(text))


# --- size -------------------------------------------------------------------------------------------


# Timed in a child process, so that a parser gone quadratic again fails the test after a while
# instead of holding the test run for hours.
TIMER = textwrap.dedent(
    """
    import sys, time
    from modules.images.infotext import parse_infotext
    text = sys.stdin.read()
    start = time.perf_counter()
    parse_infotext(text)
    print(time.perf_counter() - start)
    """
)


def timed_parse(text: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", TIMER], input=text, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return float(done.stdout)


@pytest.mark.parametrize(
    "line",
    [
        "a" * MAX_INFOTEXT_CHARS,  # one run of key characters with no colon: the old parser's worst case
        " " * (MAX_INFOTEXT_CHARS - 1) + "x",
        ("Steps: " + '"x, ' * 8) * (MAX_INFOTEXT_CHARS // 39),  # unclosed quotes, many pairs
        ("Key: value, " * (MAX_INFOTEXT_CHARS // 12)),
        "a:," * (MAX_INFOTEXT_CHARS // 3),  # the most pairs a text can hold
        '"' * MAX_INFOTEXT_CHARS,
    ],
    ids=["key-run", "spaces", "unclosed-quotes", "many-pairs", "empty-pairs", "quotes"],
)
def test_a_1_mb_infotext_parses_in_under_a_second(line):
    text = ("prompt\nNegative prompt: neg\n" + line)[:MAX_INFOTEXT_CHARS]
    assert len(text) >= 1_000_000
    assert timed_parse(text) < 1.0


def test_longer_text_is_refused_with_the_limit():
    with pytest.raises(InfotextTooLongError, match="1,048,577 characters long; the limit is 1,048,576"):
        parse_infotext("a" * (MAX_INFOTEXT_CHARS + 1))
    assert issubclass(InfotextTooLongError, ValueError)  # the API answers ValueError with a 4xx
