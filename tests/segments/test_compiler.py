"""Every condition type and operator against hand-checked members, in both compiled shapes."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from audience.clock import utcnow
from audience.db import Database
from audience.errors import ApiError
from audience.segments import queries
from audience.segments.compiler import compile_rule
from audience.segments.rules import parse_rule
from audience.tables import persons
from tests.segments import dataset


@pytest.fixture
def now(db: Database) -> Iterator[datetime]:
    moment = utcnow()
    with db.write() as conn:
        dataset.load(conn, moment)
    yield moment


def members(db: Database, raw: dict[str, Any], now: datetime) -> set[str]:
    """Members by the bulk query, checked against the per-person query and the count."""
    with db.read() as conn:
        rule = parse_rule(raw, queries.load_definitions(conn))
        bulk = compile_rule(rule, now, "bulk")
        found = set(conn.execute(select(persons.c.id).where(bulk)).scalars())
        assert queries.count_matching(conn, bulk) == len(found)
        single = compile_rule(rule, now, "single")
        per_person = {
            pid for pid in dataset.NAMES if queries.person_flags(conn, pid, {"s": single})
        }
    assert per_person == found, f"single {per_person} != bulk {found}"
    return found


CASES: list[tuple[dict[str, Any], set[str]]] = [
    # standard attributes, every operator
    ({"attribute": "firstName", "op": "eq", "value": "Ann"}, {"ann"}),
    ({"attribute": "firstName", "op": "ne", "value": "Ann"}, {"bob", "cid", "dan"}),
    ({"attribute": "firstName", "op": "in", "value": ["Ann", "Bob"]}, {"ann", "bob"}),
    ({"attribute": "firstName", "op": "not_in", "value": ["Ann"]}, {"bob", "cid", "dan"}),
    ({"attribute": "lastName", "op": "contains", "value": "E"}, {"ann"}),
    ({"attribute": "firstName", "op": "starts_with", "value": "bo"}, {"bob"}),
    ({"attribute": "firstName", "op": "gt", "value": "Ann"}, {"bob"}),
    ({"attribute": "firstName", "op": "gte", "value": "Ann"}, {"ann", "bob"}),
    ({"attribute": "firstName", "op": "lt", "value": "Bob"}, {"ann"}),
    ({"attribute": "firstName", "op": "lte", "value": "Bob"}, {"ann", "bob"}),
    ({"attribute": "externalUserId", "op": "exists"}, {"ann", "bob"}),
    ({"attribute": "externalUserId", "op": "not_exists"}, {"cid", "dan"}),
    ({"attribute": "gender", "op": "eq", "value": "Male"}, {"bob"}),
    ({"attribute": "birthday", "op": "before", "value": "1991-01-01"}, {"ann"}),
    ({"attribute": "birthday", "op": "after", "value": "1991-01-01"}, set()),
    ({"attribute": "createdAt", "op": "within_last", "days": 30}, {"ann"}),
    ({"attribute": "createdAt", "op": "before", "value": "2000-01-01T00:00:00Z"}, set()),
    ({"attribute": "emails", "op": "eq", "value": "bob@y.org"}, {"bob"}),
    ({"attribute": "emails", "op": "contains", "value": "@x."}, {"ann"}),
    ({"attribute": "emails", "op": "not_exists"}, {"cid", "dan"}),
    ({"attribute": "phones", "op": "starts_with", "value": "+385"}, {"ann"}),
    ({"attribute": "emails", "op": "ne", "value": "ann@x.com"}, {"bob", "cid", "dan"}),
    # custom attributes, typed by their definitions
    ({"customAttribute": "plan", "op": "eq", "value": "gold"}, {"ann"}),
    ({"customAttribute": "plan", "op": "ne", "value": "gold"}, {"bob", "cid", "dan"}),
    ({"customAttribute": "plan", "op": "contains", "value": "_plus%"}, {"dan"}),
    ({"customAttribute": "plan", "op": "starts_with", "value": "gold"}, {"ann", "dan"}),
    ({"customAttribute": "score", "op": "gt", "value": 7}, {"ann", "dan"}),
    ({"customAttribute": "score", "op": "gte", "value": 10}, {"ann"}),
    ({"customAttribute": "score", "op": "lt", "value": 7.5}, {"bob"}),
    ({"customAttribute": "score", "op": "lte", "value": 7.5}, {"bob", "dan"}),
    ({"customAttribute": "score", "op": "eq", "value": 7.5}, {"dan"}),
    ({"customAttribute": "score", "op": "in", "value": [3, 10]}, {"ann", "bob"}),
    ({"customAttribute": "score", "op": "not_in", "value": [3, 10]}, {"cid", "dan"}),
    ({"customAttribute": "score", "op": "not_exists"}, {"cid"}),
    ({"customAttribute": "vip", "op": "eq", "value": True}, {"ann"}),
    ({"customAttribute": "vip", "op": "eq", "value": False}, {"bob"}),
    ({"customAttribute": "vip", "op": "ne", "value": True}, {"bob", "cid", "dan"}),
    ({"customAttribute": "vip", "op": "exists"}, {"ann", "bob"}),
    ({"customAttribute": "since", "op": "after", "value": "2023-12-31"}, {"ann"}),
    ({"customAttribute": "since", "op": "within_last", "days": 30}, set()),
    ({"customAttribute": "lastSeen", "op": "within_last", "days": 3}, {"ann"}),
    ({"customAttribute": "lastSeen", "op": "within_last", "days": 1}, set()),
    ({"customAttribute": "orders", "op": "exists"}, {"ann"}),
    # tags and identification
    ({"tag": "beta"}, {"ann", "bob"}),
    ({"tag": "vip"}, {"ann"}),
    ({"tag": "nobody"}, set()),
    ({"identified": True}, {"ann", "bob"}),
    ({"identified": False}, {"cid", "dan"}),
    # installation sub-conditions (live installations only)
    ({"installation": {"attribute": "platform", "op": "eq", "value": "iOS"}}, {"ann"}),
    (
        {
            "installation": {
                "all": [
                    {"attribute": "platform", "op": "eq", "value": "Android"},
                    {"attribute": "notificationsEnabled", "op": "eq", "value": True},
                ]
            }
        },
        {"ann", "dan"},
    ),
    ({"installation": {"customAttribute": "darkMode", "op": "eq", "value": True}}, {"ann"}),
    ({"installation": {"customAttribute": "fontSize", "op": "gte", "value": 12}}, {"ann"}),
    (
        {"installation": {"attribute": "pushRegistrationEnabled", "op": "eq", "value": False}},
        {"dan"},
    ),
    (
        {"installation": {"not": {"attribute": "isPrimaryDevice", "op": "eq", "value": True}}},
        {"ann", "bob", "dan"},
    ),
    (
        {"installation": {"attribute": "applicationCode", "op": "eq", "value": "code1"}},
        {"ann", "bob", "dan"},
    ),
    ({"installation": {"attribute": "deviceTimezoneOffset", "op": "gt", "value": 0}}, {"dan"}),
    # events: count, window, property filters, "never", merged history
    ({"event": "purchase"}, {"ann", "bob", "dan"}),
    ({"event": "purchase", "count": {"gte": 3}}, {"ann", "dan"}),
    (
        {
            "event": "purchase",
            "count": {"gte": 3},
            "within": {"days": 30},
            "where": [{"property": "amount", "op": "gt", "value": 10}],
        },
        {"dan"},
    ),
    (
        {
            "event": "purchase",
            "count": {"gte": 2},
            "within": {"days": 30},
            "where": [{"property": "amount", "op": "gt", "value": 10}],
        },
        {"ann", "dan"},
    ),
    ({"event": "purchase", "within": {"days": 30}, "count": {"eq": 1}}, {"bob"}),
    ({"event": "purchase", "count": {"lte": 0}}, {"cid"}),
    ({"event": "purchase", "count": {"lt": 2}}, {"cid"}),
    ({"event": "purchase", "count": {"lt": 3}}, {"bob", "cid"}),
    ({"event": "purchase", "count": {"gt": 2}}, {"ann", "dan"}),
    (
        {
            "event": "purchase",
            "where": [{"property": "sku", "op": "eq", "value": "a"}],
            "count": {"gte": 2},
        },
        {"bob"},
    ),
    ({"event": "purchase", "within": {"days": 7}, "count": {"lte": 0}}, {"bob", "cid"}),
    ({"event": "AppLaunch"}, {"ann"}),
    (
        {"event": "AppLaunch", "where": [{"property": "platform", "op": "eq", "value": "iOS"}]},
        {"ann"},
    ),
    # nesting
    (
        {"all": [{"tag": "beta"}, {"customAttribute": "plan", "op": "eq", "value": "silver"}]},
        {"bob"},
    ),
    (
        {"any": [{"tag": "vip"}, {"attribute": "gender", "op": "eq", "value": "Male"}]},
        {"ann", "bob"},
    ),
    ({"not": {"tag": "beta"}}, {"cid", "dan"}),
    (
        {"all": [{"not": {"identified": True}}, {"any": [{"event": "purchase"}, {"tag": "beta"}]}]},
        {"dan"},
    ),
]


@pytest.mark.parametrize(("rule", "expected"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_condition_members(db: Database, now: datetime, rule: dict, expected: set[str]) -> None:
    assert members(db, rule, now) == expected


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"attribute": "shoeSize", "op": "eq", "value": 1}, "rule.attribute"),
        ({"customAttribute": "nope", "op": "eq", "value": 1}, "rule.customAttribute"),
        ({"customAttribute": "darkMode", "op": "eq", "value": True}, "rule.customAttribute"),
        ({"attribute": "firstName", "op": "like", "value": "A"}, "rule.op"),
        ({"customAttribute": "vip", "op": "gt", "value": True}, "rule.op"),
        ({"customAttribute": "score", "op": "eq", "value": "ten"}, "rule.value"),
        ({"customAttribute": "score", "op": "in", "value": []}, "rule.value"),
        ({"attribute": "firstName", "op": "eq"}, "rule.value"),
        ({"attribute": "firstName", "op": "exists", "value": 1}, "rule.value"),
        ({"attribute": "createdAt", "op": "within_last", "days": 0}, "rule.days"),
        ({"event": "refund"}, "rule.event"),
        ({"event": "purchase", "count": {"most": 3}}, "rule.count.most"),
        ({"event": "purchase", "count": {"gte": -1}}, "rule.count.gte"),
        ({"event": "purchase", "within": {"hours": 3}}, "rule.within"),
        (
            {"event": "purchase", "where": [{"property": "colour", "op": "eq", "value": "x"}]},
            "rule.where.0.property",
        ),
        ({"all": []}, "rule.all"),
        ({"all": [{"tag": "a"}, {"bogus": 1}]}, "rule.all.1"),
        ({"tag": "a", "extra": 1}, "rule.extra"),
        ({"installation": {"tag": "a"}}, "rule.installation"),
        ({"identified": "yes"}, "rule.identified"),
    ],
)
def test_invalid_rules_name_the_bad_part(
    db: Database, now: datetime, rule: dict, field: str
) -> None:
    with db.read() as conn, pytest.raises(ApiError) as caught:
        parse_rule(rule, queries.load_definitions(conn))
    assert caught.value.code == "VALIDATION_ERROR"
    assert caught.value.field == field
