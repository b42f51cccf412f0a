"""Why a person is (or is not) in a segment (docs/identity.md explain).

Every node of the rule is compiled by the same ``Compiler`` that keeps stored membership
current (its per-person form) and all of them are answered by one query, so an explanation
cannot disagree with membership. Beside each condition's verdict is ``actual``: the value(s)
it was judged on, or the number of matching events in its window.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select

from audience.clock import isoformat, utcnow
from audience.installations import queries as installation_queries
from audience.persons import queries as person_queries
from audience.segments import queries
from audience.segments.compiler import INSTALLATION_COLUMNS, PERSON_COLUMNS, Compiler
from audience.segments.rules import (
    AllOf,
    AnyOf,
    AttributeCondition,
    EventCondition,
    IdentifiedCondition,
    InstallationCondition,
    NotOf,
    Rule,
    TagCondition,
)
from audience.tables import applications, events, installations


def _plain(value: Any) -> Any:
    return isoformat(value) if isinstance(value, datetime) else value


class Explainer:
    def __init__(self, conn: Connection, person: Row, now: datetime | None = None) -> None:
        self.conn = conn
        self.person = person
        self.compiler = Compiler(now or utcnow(), "single")
        self.profile_ids = person_queries.profile_ids(conn, person.id)
        self.devices = installation_queries.live_for_person(conn, person.id)
        self.conditions: dict[str, Any] = {}

    def explain(self, raw: dict[str, Any], rule: Rule) -> dict[str, Any]:
        """The annotated rule tree; ``matched`` on every node."""
        tree = self._node(raw, rule, "r", installation=False)
        verdicts = queries.person_flags(self.conn, self.person.id, self.conditions)
        return _fill(tree, verdicts)

    def _node(self, raw: dict[str, Any], rule: Rule, path: str, installation: bool) -> Any:
        wrapped: Rule = InstallationCondition(rule=rule) if installation else rule
        self.conditions[path] = self.compiler.person(wrapped)
        node = dict(raw)
        node["matched"] = path
        if isinstance(rule, AllOf | AnyOf):
            key = "all" if isinstance(rule, AllOf) else "any"
            node[key] = [
                self._node(child_raw, child, f"{path}.{i}", installation)
                for i, (child_raw, child) in enumerate(zip(raw[key], rule.rules, strict=True))
            ]
        elif isinstance(rule, NotOf):
            node["not"] = self._node(raw["not"], rule.rule, f"{path}.n", installation)
        elif isinstance(rule, InstallationCondition):
            node["installation"] = self._node(raw["installation"], rule.rule, f"{path}.i", True)
            node["actual"] = self._matching_devices(rule)
        elif installation:
            assert isinstance(rule, AttributeCondition)
            node["actual"] = [self._device_value(device, rule) for device in self.devices]
        else:
            node["actual"] = self._actual(rule)
        return node

    def _actual(self, rule: Rule) -> Any:
        person = self.person
        if isinstance(rule, AttributeCondition):
            if rule.custom:
                return (person.custom_attributes or {}).get(rule.attribute)
            if rule.attribute in ("phones", "emails"):
                identities = person_queries.identities_of(self.conn, person.id)
                return identities["phone" if rule.attribute == "phones" else "email"]
            return _plain(getattr(person, PERSON_COLUMNS[rule.attribute].name))
        if isinstance(rule, TagCondition):
            return person_queries.tags_of(self.conn, person.id)
        if isinstance(rule, IdentifiedCondition):
            return person.type == "IDENTIFIED"
        if isinstance(rule, EventCondition):
            count = select(func.count()).where(
                events.c.person_id.in_(self.profile_ids), *self.compiler.event_filters(rule)
            )
            return int(self.conn.execute(count).scalar_one())
        raise TypeError(f"not a condition: {rule!r}")

    def _device_value(self, device: Row, rule: AttributeCondition) -> Any:
        if rule.custom:
            return (device.custom_attributes or {}).get(rule.attribute)
        if rule.attribute == "applicationCode":
            return device.application_code
        return _plain(getattr(device, INSTALLATION_COLUMNS[rule.attribute].name))

    def _matching_devices(self, rule: InstallationCondition) -> list[str]:
        query = (
            select(installations.c.push_registration_id)
            .join(applications, applications.c.id == installations.c.application_id)
            .where(
                installations.c.person_id == self.person.id,
                installations.c.uninstalled_at.is_(None),
                self.compiler.installation(rule.rule),
            )
        )
        return sorted(self.conn.execute(query).scalars())


def _fill(node: Any, verdicts: set[str]) -> Any:
    """Replace each node's path placeholder by its verdict."""
    if isinstance(node, list):
        return [_fill(item, verdicts) for item in node]
    if isinstance(node, dict) and isinstance(node.get("matched"), str):
        filled = {key: _fill(value, verdicts) for key, value in node.items() if key != "matched"}
        filled["matched"] = node["matched"] in verdicts
        return filled
    return node
