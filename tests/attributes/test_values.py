"""Typed checks of custom attribute values, without HTTP."""

import pytest

from audience.attributes.values import InvalidValue, check_value


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        ("string", "gold", "gold"),
        ("number", 3, 3),
        ("number", 2.5, 2.5),
        ("boolean", False, False),
        ("date", "2026-02-28", "2026-02-28"),
        ("datetime", "2026-02-28T10:00:00Z", "2026-02-28T10:00:00.000Z"),
        ("datetime", "2026-02-28T12:00:00+02:00", "2026-02-28T10:00:00.000Z"),
        (
            "list",
            [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}],
            [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}],
        ),
    ],
)
def test_valid_values_are_normalised(type_: str, value: object, expected: object) -> None:
    assert check_value(type_, value) == expected


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        ("string", 5),
        ("string", "x" * 4097),
        ("number", "5"),
        ("number", True),
        ("number", float("inf")),
        ("number", 2**70),
        ("boolean", "true"),
        ("boolean", 1),
        ("date", "2026-02-30"),
        ("date", "28.02.2026"),
        ("datetime", "yesterday"),
        ("datetime", 12),
        ("list", {"a": 1}),
        ("list", [{"a": 1}, {"b": 1}]),
        ("list", [{"a": {"nested": 1}}]),
        ("list", [1, 2]),
    ],
)
def test_invalid_values_are_refused(type_: str, value: object) -> None:
    with pytest.raises(InvalidValue):
        check_value(type_, value)
