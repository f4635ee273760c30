"""X/Y/Z plot value syntax (A1111 v1.10): comma lists with CSV quoting, and number ranges.

    darkness,"light, green",heat     three values (a quoted value may hold commas)
    1-5          1, 2, 3, 4, 5        (int axes: the end is included)
    1-5 (+2)     1, 3, 5
    10-5 (-3)    10, 7
    1-3 (+0.5)   1, 1.5, 2, 2.5, 3    (float axes)
    1-10 [5]     1, 3, 5, 7, 10       (a count of evenly spaced values; int axes truncate)
    0.0-1.0 [6]  0, 0.2, 0.4, 0.6, 0.8, 1

Every list is limited to MAX_VALUES before it is built, so "1-100000000" costs nothing.
Errors are ValueErrors naming the axis.
"""

import csv
import io
import math
import re

MAX_VALUES = 400  # one axis; the whole plot is limited too (see xyz_grid.MAX_CELLS)

_INT = r"[+-]?\s*\d+"
_FLOAT = r"[+-]?\s*\d+(?:\.\d*)?"
_INT_STEP = re.compile(rf"\s*({_INT})\s*-\s*({_INT})(?:\s*\(([+-]\d+)\s*\))?\s*")
_INT_COUNT = re.compile(rf"\s*({_INT})\s*-\s*({_INT})\s*\[(\d+)\s*\]\s*")
_FLOAT_STEP = re.compile(rf"\s*({_FLOAT})\s*-\s*({_FLOAT})(?:\s*\(([+-]\d+(?:\.\d*)?)\s*\))?\s*")
_FLOAT_COUNT = re.compile(rf"\s*({_FLOAT})\s*-\s*({_FLOAT})\s*\[(\d+)\s*\]\s*")


def split_values(text: str) -> list[str]:
    """A CSV line (or several) into stripped, non-empty values, as A1111 reads an axis' text."""
    rows = csv.reader(io.StringIO(text or ""), skipinitialspace=True)
    return [value.strip() for row in rows for value in row if value.strip()]


def join_values(values: list) -> str:
    """Values back into one CSV line (A1111's list_to_csv_string): quoted only where needed."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([str(value) for value in values])
    return buffer.getvalue()


def _number(text: str) -> float:
    return float(text.replace(" ", ""))


def _check_count(axis: str, count: int, so_far: int) -> None:
    if count < 0 or so_far + count > MAX_VALUES:
        raise ValueError(f"{axis}: too many values (at most {MAX_VALUES})")


def _stepped(axis: str, start: float, end: float, step: float, is_int: bool, so_far: int) -> list[float]:
    """A1111's ranges: int axes are range(start, end + 1, step); float axes numpy.arange(start,
    end + step, step). The count is worked out (and limited) before any value is made."""
    if step == 0:
        raise ValueError(f"{axis}: a range step cannot be 0")
    stop = end + 1 if is_int else end + step
    count = max(0, math.ceil((stop - start) / step))
    _check_count(axis, count, so_far)
    return [start + i * step for i in range(count)]


def _spaced(start: float, end: float, count: int) -> list[float]:
    """numpy.linspace: `count` values from start to end, both included."""
    if count == 1:
        return [start]
    step = (end - start) / (count - 1)
    return [start + i * step for i in range(count - 1)] + [end]


def expand_numbers(axis: str, values: list[str], kind: type) -> list:
    """Expand ranges among `values` and convert each to `kind` (int or float)."""
    out: list = []
    for value in values:
        is_int = kind is int
        step_match = (_INT_STEP if is_int else _FLOAT_STEP).fullmatch(value)
        count_match = (_INT_COUNT if is_int else _FLOAT_COUNT).fullmatch(value)
        if step_match:
            start, end = _number(step_match[1]), _number(step_match[2])
            step = _number(step_match[3]) if step_match[3] else 1
            made = _stepped(axis, start, end, step, is_int, len(out))
        elif count_match:
            count = int(count_match[3])
            _check_count(axis, count, len(out))
            made = _spaced(_number(count_match[1]), _number(count_match[2]), count) if count else []
        else:
            _check_count(axis, 1, len(out))
            try:
                made = [float(value) if not is_int else int(value)]
            except ValueError:
                word = "a whole number" if is_int else "a number"
                raise ValueError(f"{axis}: {value!r} is not {word} or a range (like 1-5, 1-5 (+2), 1-10 [5])") from None
        if is_int:
            out += [int(x) for x in made]  # linspace values are truncated, as A1111's int(x)
        else:
            out += [_clean_float(x) for x in made]
    return out


def _clean_float(value: float) -> float:
    """Drop float noise (0.6000000000000001 -> 0.6) so legends and infotext read as typed."""
    return float(round(value, 10))


def parse_axis_values(axis: str, text: str, kind: type) -> list:
    """An axis' text into its values: numbers (with ranges) for int/float axes, strings otherwise."""
    values = split_values(text)
    if kind in (int, float):
        return expand_numbers(axis, values, kind)
    _check_count(axis, len(values), 0)
    return values
