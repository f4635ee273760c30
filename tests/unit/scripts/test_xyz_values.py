"""X/Y/Z plot value syntax (A1111 v1.10): CSV lists with quoting, int and float ranges, counts;
bad syntax names the axis; every list is limited before it is built."""

import pytest

from scripts._xyz_values import MAX_VALUES, join_values, parse_axis_values, split_values


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ('darkness,"light, green",heat', str, ["darkness", "light, green", "heat"]),
        ("Euler a, DPM++ 2M ,, ", str, ["Euler a", "DPM++ 2M"]),
        ("1-5", int, [1, 2, 3, 4, 5]),
        ("1-5 (+2)", int, [1, 3, 5]),
        ("10-5 (-3)", int, [10, 7]),
        ("1-3 (+0.5)", float, [1.0, 1.5, 2.0, 2.5, 3.0]),
        ("1-10 [5]", int, [1, 3, 5, 7, 10]),
        ("0.0-1.0 [6]", float, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        ("-1, 5, 7-8", int, [-1, 5, 7, 8]),
        ("1.5, 2, 3-4", float, [1.5, 2.0, 3.0, 4.0]),
        ("5-1", int, []),  # A1111: an int range upwards only without a negative step
    ],
)
def test_value_syntax(text, kind, expected):
    assert parse_axis_values("X axis (test)", text, kind) == expected


@pytest.mark.parametrize(
    ("text", "kind", "fragment"),
    [
        ("1, abc", int, "'abc' is not a whole number"),
        ("1.5", int, "'1.5' is not a whole number"),
        ("1-2 (+x)", float, "is not a number"),
        ("1-5 (+0)", int, "step cannot be 0"),
        ("1-100000000", int, f"too many values (at most {MAX_VALUES})"),
        ("0-1 [100000]", float, "too many values"),
    ],
)
def test_bad_syntax_names_the_axis(text, kind, fragment):
    with pytest.raises(ValueError) as caught:
        parse_axis_values("Y axis (Steps)", text, kind)
    assert str(caught.value).startswith("Y axis (Steps): ") and fragment in str(caught.value)


def test_csv_round_trip():
    values = ["plain", "light, green", 'say "hi"']
    assert split_values(join_values(values)) == values
