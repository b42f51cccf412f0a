"""Compile parsed rules to one SQLAlchemy Core boolean expression over ``persons``.

Two shapes for event conditions, same meaning:
- ``bulk``: one grouped sub-query over the events table (``persons.id IN (…)``), for counting
  or listing a whole segment;
- ``single``: a count for one person, for re-evaluating its segments after a write; the
  statement takes the person's profile ids (its own and those merged into it) as the bound
  list ``profile_ids`` and reads them through the per-person index.
- ``subset``: the bulk shape restricted to the events of the bound ``profile_ids`` (a few
  hundred persons and the ids merged into them), for re-checking a chunk of persons cheaply.
Events are owned through ``person_aliases`` (a merged-away id's events belong to the survivor).
"""

import operator
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    DateTime,
    String,
    and_,
    bindparam,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
)

from audience.attributes.values import parse_datetime
from audience.clock import isoformat, utcnow
from audience.segments.rules import (
    AllOf,
    AnyOf,
    AttributeCondition,
    Comparison,
    EventCondition,
    IdentifiedCondition,
    InstallationCondition,
    NotOf,
    Rule,
    TagCondition,
)
from audience.tables import (
    applications,
    events,
    installations,
    person_aliases,
    person_identities,
    person_tags,
    persons,
)

Mode = Literal["bulk", "single", "subset"]
# The bound parameter through which "single" statements receive the person's profile ids.
PROFILE_IDS = "profile_ids"

PERSON_COLUMNS = {
    "externalUserId": persons.c.external_user_id,
    "firstName": persons.c.first_name,
    "lastName": persons.c.last_name,
    "middleName": persons.c.middle_name,
    "gender": persons.c.gender,
    "birthday": persons.c.birthday,
    "type": persons.c.type,
    "createdAt": persons.c.created_at,
    "updatedAt": persons.c.updated_at,
}
MULTI_VALUED = {"phones": "phone", "emails": "email"}
INSTALLATION_COLUMNS = {
    "pushRegistrationId": installations.c.push_registration_id,
    "applicationCode": applications.c.application_code,
    "platform": installations.c.platform,
    "sdkVersion": installations.c.sdk_version,
    "osVersion": installations.c.os_version,
    "deviceManufacturer": installations.c.device_manufacturer,
    "deviceModel": installations.c.device_model,
    "applicationVersion": installations.c.application_version,
    "appVersion": installations.c.app_version,
    "osLanguage": installations.c.os_language,
    "deviceTimezoneOffset": installations.c.device_timezone_offset,
    "deviceName": installations.c.device_name,
    "pushServiceType": installations.c.push_service_type,
    "pushServiceToken": installations.c.push_service_token,
    "pushRegistrationEnabled": installations.c.push_registration_enabled,
    "registrationsEnabled": installations.c.registrations_enabled,
    "notificationsEnabled": installations.c.notifications_enabled,
    "geofencingEnabled": installations.c.geofencing_enabled,
    "deviceSecure": installations.c.device_secure,
    "isPrimaryDevice": installations.c.is_primary_device,
    "createdAt": installations.c.created_at,
    "updatedAt": installations.c.updated_at,
}
# The positive counterpart of each negative op: negative ops hold when the positive one does
# not (so a missing value satisfies ``ne`` and ``not_in``).
NEGATIONS = {"ne": "eq", "not_in": "in", "not_exists": "exists"}
COUNT_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "gte": operator.ge,
    "gt": operator.gt,
    "lte": operator.le,
    "lt": operator.lt,
    "eq": operator.eq,
}


def json_value(column: Any, name: str, type_name: str) -> ColumnElement[Any]:
    """A typed value out of a JSON column, the same way on SQLite and PostgreSQL."""
    item = column[name]
    if type_name == "number":
        return item.as_float()
    if type_name == "boolean":
        return item.as_boolean()
    return item.as_string()


def _like_escaped(text: str) -> str:
    return text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Clock:
    """ "Now" for time windows: a fixed moment, or (``None``) the moment the statement runs,
    as bound parameters computed at execution so a built statement can be cached and reused."""

    def __init__(self, fixed: datetime | None) -> None:
        self.fixed = fixed

    def days_ago(self, days: int, form: Literal["timestamp", "date", "text"]) -> Any:
        def compute(base: datetime) -> Any:
            moment = base - timedelta(days=days)
            if form == "timestamp":
                return moment
            return moment.date().isoformat() if form == "date" else _iso(moment)

        if self.fixed is not None:
            return compute(self.fixed)
        type_ = DateTime() if form == "timestamp" else String()
        return bindparam(None, callable_=lambda: compute(utcnow()), type_=type_)


def compare(expr: Any, test: Comparison, clock: Clock, is_timestamp: bool = False) -> Any:
    """``expr`` (nullable) tested by ``test``; ``is_timestamp`` for DateTime columns."""
    op = test.op
    if op in NEGATIONS:
        negated = test.model_copy(update={"op": NEGATIONS[op]})
        positive = compare(expr, negated, clock, is_timestamp)
        return or_(expr.is_(None), not_(positive)) if op != "not_exists" else not_(positive)
    if op == "exists":
        return expr.is_not(None)
    value = test.value
    if is_timestamp and value is not None:
        value = tuple(parse_datetime(v) for v in value) if op == "in" else parse_datetime(value)
    if op == "eq":
        return expr == value
    if op == "in":
        return expr.in_(list(value))
    if op in ("gt", "after"):
        return expr > value
    if op == "gte":
        return expr >= value
    if op in ("lt", "before"):
        return expr < value
    if op == "lte":
        return expr <= value
    if op == "contains":
        return func.lower(expr).like(f"%{_like_escaped(value)}%", escape="\\")
    if op == "starts_with":
        return func.lower(expr).like(f"{_like_escaped(value)}%", escape="\\")
    if op == "within_last":
        assert test.days is not None
        form: Literal["timestamp", "date", "text"] = (
            "timestamp" if is_timestamp else "date" if test.type == "date" else "text"
        )
        return and_(expr >= clock.days_ago(test.days, form), expr <= clock.days_ago(0, form))
    raise ValueError(f"unknown operator {op}")


def _iso(value: datetime) -> str:
    return isoformat(value) or ""


class Compiler:
    def __init__(self, now: datetime | None, mode: Mode) -> None:
        self.clock = Clock(now)
        self.mode = mode

    def person(self, rule: Rule) -> ColumnElement[bool]:
        if isinstance(rule, AllOf):
            return and_(true(), *[self.person(child) for child in rule.rules])
        if isinstance(rule, AnyOf):
            return or_(false(), *[self.person(child) for child in rule.rules])
        if isinstance(rule, NotOf):
            return not_(self.person(rule.rule))
        if isinstance(rule, AttributeCondition):
            return self._person_attribute(rule)
        if isinstance(rule, TagCondition):
            return exists().where(
                person_tags.c.person_id == persons.c.id, person_tags.c.tag == rule.tag
            )
        if isinstance(rule, IdentifiedCondition):
            return (
                (persons.c.type == "IDENTIFIED")
                if rule.identified
                else (persons.c.type != "IDENTIFIED")
            )
        if isinstance(rule, InstallationCondition):
            return (
                select(installations.c.push_registration_id)
                .join(applications, applications.c.id == installations.c.application_id)
                .where(
                    installations.c.person_id == persons.c.id,
                    installations.c.uninstalled_at.is_(None),
                    self.installation(rule.rule),
                )
                .exists()
            )
        if isinstance(rule, EventCondition):
            return self._event(rule)
        raise TypeError(f"not a person rule: {rule!r}")

    def installation(self, rule: Rule) -> ColumnElement[bool]:
        if isinstance(rule, AllOf):
            return and_(true(), *[self.installation(child) for child in rule.rules])
        if isinstance(rule, AnyOf):
            return or_(false(), *[self.installation(child) for child in rule.rules])
        if isinstance(rule, NotOf):
            return not_(self.installation(rule.rule))
        if isinstance(rule, AttributeCondition):
            if rule.custom:
                expr = json_value(installations.c.custom_attributes, rule.attribute, rule.test.type)
                return compare(expr, rule.test, self.clock)
            column = INSTALLATION_COLUMNS[rule.attribute]
            is_timestamp = rule.attribute in ("createdAt", "updatedAt")
            return compare(column, rule.test, self.clock, is_timestamp)
        raise TypeError(f"not an installation rule: {rule!r}")

    def _person_attribute(self, rule: AttributeCondition) -> ColumnElement[bool]:
        test = rule.test
        if rule.custom:
            expr = json_value(persons.c.custom_attributes, rule.attribute, test.type)
            return compare(expr, test, self.clock)
        if rule.attribute in MULTI_VALUED:
            negative = test.op in NEGATIONS
            positive = test.model_copy(update={"op": NEGATIONS[test.op]}) if negative else test
            owned = exists().where(
                person_identities.c.person_id == persons.c.id,
                person_identities.c.kind == MULTI_VALUED[rule.attribute],
                compare(person_identities.c.value, positive, self.clock)
                if positive.op != "exists"
                else true(),
            )
            return not_(owned) if negative else owned
        is_timestamp = rule.attribute in ("createdAt", "updatedAt")
        column = PERSON_COLUMNS[rule.attribute]
        return compare(column, test, self.clock, is_timestamp)

    def _event_filters(self, rule: EventCondition) -> list[Any]:
        filters: list[Any] = [events.c.definition_id == rule.event]
        if rule.within_days is not None:
            since = self.clock.days_ago(rule.within_days, "timestamp")
            filters.append(events.c.occurred_at >= since)
        for where in rule.where:
            expr = json_value(events.c.properties, where.property, where.test.type)
            filters.append(compare(expr, where.test, self.clock))
        return filters

    def event_filters(self, rule: EventCondition) -> list[Any]:
        """The filters an event condition counts events with (explain shows that count)."""
        return self._event_filters(rule)

    def _event(self, rule: EventCondition) -> ColumnElement[bool]:
        holds = COUNT_COMPARE[rule.count_op]
        filters = self._event_filters(rule)
        if self.mode == "single":
            # One known person: its own id and the ids merged into it are bound as a list,
            # which both databases answer from the per-person index (an OR with a correlated
            # alias sub-query made PostgreSQL scan the whole events table).
            count = (
                select(func.count())
                .select_from(events)
                .where(events.c.person_id.in_(bindparam(PROFILE_IDS, expanding=True)), *filters)
                .scalar_subquery()
            )
            return holds(count, rule.count)
        owner = func.coalesce(person_aliases.c.person_id, events.c.person_id)
        if self.mode == "subset":
            filters.append(events.c.person_id.in_(bindparam(PROFILE_IDS, expanding=True)))
        grouped = (
            select(owner)
            .select_from(
                events.outerjoin(person_aliases, person_aliases.c.alias_id == events.c.person_id)
            )
            .where(*filters)
            .group_by(owner)
        )
        if holds(0, rule.count):
            # Persons with no matching event satisfy it: exclude those whose count fails.
            return persons.c.id.not_in(grouped.having(not_(holds(func.count(), rule.count))))
        return persons.c.id.in_(grouped.having(holds(func.count(), rule.count)))


def compile_rule(rule: Rule, now: datetime | None, mode: Mode = "bulk") -> ColumnElement[bool]:
    """The rule as a condition on ``persons``; ``now=None`` reads the clock at execution."""
    return Compiler(now, mode).person(rule)


def event_filters(rule: EventCondition, now: datetime | None) -> list[Any]:
    """The WHERE terms selecting the events an event condition counts."""
    return Compiler(now, "bulk")._event_filters(rule)
