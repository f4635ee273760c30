"""Script arguments arrive by name whatever their source."""

import pytest
from pydantic import BaseModel, Field

from modules.images.infotext import build_infotext, parse_infotext
from modules.plugins.scripts import Script, ScriptArgsError, args_from_infotext, args_to_infotext, parse_script_args


class GridArgs(BaseModel):
    enabled: bool = False
    rows: int = Field(2, ge=1, le=8)
    label: str = "grid"


class Grid(Script):
    title = "Grid"
    alwayson = True
    Args = GridArgs
    infotext_fields = {"rows": "Grid rows", "label": "Grid label"}


@pytest.mark.parametrize(
    "raw, expected",
    [
        (None, GridArgs()),
        ({"rows": 3}, GridArgs(rows=3)),
        ({"args": {"enabled": True, "label": "x"}}, GridArgs(enabled=True, label="x")),
        ([True, 4], GridArgs(enabled=True, rows=4)),
        ({"args": [True, 5, "y"]}, GridArgs(enabled=True, rows=5, label="y")),
        (["true", "6"], GridArgs(enabled=True, rows=6)),
    ],
)
def test_named_positional_and_missing_arguments(raw, expected):
    assert parse_script_args(Grid, raw) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"rows": 0}, r"'Grid': rows: Input should be greater than or equal to 1"),
        ([True, 2, "z", "extra"], "takes 3 argument"),
        ("rows=2", "must be an object or a list"),
        ({"rows": "many"}, "rows"),
    ],
)
def test_bad_arguments_name_script_and_field(raw, message):
    with pytest.raises(ScriptArgsError, match=message):
        parse_script_args(Grid, raw)


def test_arguments_round_trip_through_infotext():
    args = GridArgs(enabled=True, rows=3, label="a, b")
    text = build_infotext("p", "", {"Steps": 20, **args_to_infotext(Grid, args)})
    parsed = parse_infotext(text)
    assert args_from_infotext(Grid, parsed) == args
    assert args_from_infotext(Grid, parse_infotext("p\nSteps: 20")) is None
