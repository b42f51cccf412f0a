"""The merge rule as plain functions: gaps filled, multi-values unioned, conflicts listed."""

from typing import Any

from audience.persons.merge_plan import empty_holdings, plan_merge, still_given, subtract


def holdings(**values: Any) -> dict[str, Any]:
    return empty_holdings() | values


def test_survivor_wins_and_gaps_are_filled() -> None:
    survivor = holdings(externalUserId="a", phones=["+1"], fields={"first_name": "Ann"}, tags=["x"])
    merged = holdings(
        externalUserId="b",
        phones=["+2"],
        fields={"first_name": "Bob", "last_name": "Bee"},
        customAttributes={"plan": "gold"},
        tags=["x", "y"],
        installations=["i1"],
    )
    plan = plan_merge(survivor, merged)
    assert plan.given["externalUserId"] is None
    assert plan.given["phones"] == ["+2"] and plan.given["tags"] == ["y"]
    assert plan.given["fields"] == {"last_name": "Bee"}
    assert plan.given["customAttributes"] == {"plan": "gold"}
    assert plan.given["installations"] == ["i1"]
    assert plan.conflicts == [
        {"field": "externalUserId", "kept": "a", "dropped": "b"},
        {"field": "firstName", "kept": "Ann", "dropped": "Bob"},
    ]


def test_external_user_id_fills_a_gap() -> None:
    plan = plan_merge(empty_holdings(), holdings(externalUserId="b"))
    assert plan.given["externalUserId"] == "b" and plan.conflicts == []


def test_subtract_removes_what_earlier_merges_gave() -> None:
    own = holdings(phones=["+1", "+2"], fields={"first_name": "Cid", "last_name": "B"}, tags=["b"])
    given = holdings(phones=["+2"], fields={"first_name": "Cid"}, tags=["c"])
    left = subtract(own, [given])
    assert left["phones"] == ["+1"] and left["fields"] == {"last_name": "B"}
    assert left["tags"] == ["b"]


def test_still_given_skips_what_changed_since() -> None:
    given = holdings(fields={"last_name": "Bee"}, customAttributes={"plan": "gold"}, tags=["t"])
    current = holdings(fields={"last_name": "Changed"}, customAttributes={"plan": "gold"})
    back = still_given(given, current)
    assert back["fields"] == {} and back["customAttributes"] == {"plan": "gold"}
    assert back["tags"] == []
