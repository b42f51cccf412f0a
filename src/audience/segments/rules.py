"""The segment rule language of docs/rules.md (Segments), parsed into typed, validated objects.

Parsing checks every name against the attribute and event definitions, so a saved rule can be
compiled without further checks; an error names the JSON path of the bad part
(``rule.all.1.op``).
"""

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from audience.attributes.values import InvalidValue, check_scalar
from audience.errors import ApiError, ValidationFailed
from audience.events.standard import STANDARD_EVENTS

ValueType = Literal["string", "number", "boolean", "date", "datetime", "list"]

COMPARE_OPS = frozenset({"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte"})
OPS_BY_TYPE: dict[str, frozenset[str]] = {
    "string": COMPARE_OPS | {"contains", "starts_with", "exists", "not_exists"},
    "number": COMPARE_OPS | {"exists", "not_exists"},
    "boolean": frozenset({"eq", "ne", "exists", "not_exists"}),
    "date": COMPARE_OPS | {"exists", "not_exists", "within_last", "before", "after"},
    "datetime": COMPARE_OPS | {"exists", "not_exists", "within_last", "before", "after"},
    "list": frozenset({"exists", "not_exists"}),
}
ALL_OPS = frozenset().union(*OPS_BY_TYPE.values())
COUNT_OPS = ("gte", "gt", "lte", "lt", "eq")
MAX_DAYS = 3650
MAX_IN_VALUES = 1000
MAX_DEPTH = 10
MAX_CONDITIONS = 100

# Standard person attributes a rule may name, with their types; phones and emails are
# multi-valued (a condition holds if any of the person's values satisfies it).
PERSON_ATTRIBUTES: dict[str, str] = {
    "externalUserId": "string",
    "firstName": "string",
    "lastName": "string",
    "middleName": "string",
    "gender": "string",
    "birthday": "date",
    "phones": "string",
    "emails": "string",
    "type": "string",
    "createdAt": "datetime",
    "updatedAt": "datetime",
}
INSTALLATION_ATTRIBUTES: dict[str, str] = {
    "pushRegistrationId": "string",
    "applicationCode": "string",
    "platform": "string",
    "sdkVersion": "string",
    "osVersion": "string",
    "deviceManufacturer": "string",
    "deviceModel": "string",
    "applicationVersion": "string",
    "appVersion": "string",
    "osLanguage": "string",
    "deviceTimezoneOffset": "number",
    "deviceName": "string",
    "pushServiceType": "string",
    "pushServiceToken": "string",
    "pushRegistrationEnabled": "boolean",
    "registrationsEnabled": "boolean",
    "notificationsEnabled": "boolean",
    "geofencingEnabled": "boolean",
    "deviceSecure": "boolean",
    "isPrimaryDevice": "boolean",
    "createdAt": "datetime",
    "updatedAt": "datetime",
}
# Properties every standard event carries (R6), plus the segment id of SegmentEntered/Left.
STANDARD_EVENT_PROPERTIES: dict[str, str] = {
    name: "string"
    for name in (
        "appCode",
        "pushRegId",
        "applicationVersion",
        "deviceManufacturer",
        "deviceModel",
        "osLanguage",
        "osVersion",
        "platform",
        "sdkVersion",
        "segmentId",
    )
}


class Node(BaseModel):
    model_config = ConfigDict(frozen=True)


class Comparison(Node):
    """``field op value`` on a typed value; ``days`` for ``within_last``."""

    type: ValueType
    op: str
    value: Any = None
    days: int | None = None


class AttributeCondition(Node):
    attribute: str
    custom: bool
    test: Comparison


class TagCondition(Node):
    tag: str


class IdentifiedCondition(Node):
    identified: bool


class PropertyFilter(Node):
    property: str
    test: Comparison


class EventCondition(Node):
    event: str
    count_op: str
    count: int
    within_days: int | None
    where: tuple[PropertyFilter, ...]


class InstallationCondition(Node):
    rule: "Rule"


class AllOf(Node):
    rules: tuple["Rule", ...]


class AnyOf(Node):
    rules: tuple["Rule", ...]


class NotOf(Node):
    rule: "Rule"


Rule = (
    AllOf
    | AnyOf
    | NotOf
    | AttributeCondition
    | TagCondition
    | IdentifiedCondition
    | EventCondition
    | InstallationCondition
)
for _model in (InstallationCondition, AllOf, AnyOf, NotOf):
    _model.model_rebuild()


def event_properties_used(rule: Rule) -> set[tuple[str, str]]:
    """(event, property) of every ``where`` filter in the rule: what a saved rule's parse
    depends on besides custom attribute types (which never change)."""
    if isinstance(rule, EventCondition):
        return {(rule.event, where.property) for where in rule.where}
    if isinstance(rule, AllOf | AnyOf):
        return set().union(*(event_properties_used(part) for part in rule.rules))
    if isinstance(rule, NotOf | InstallationCondition):
        return event_properties_used(rule.rule)
    return set()


@dataclass(frozen=True)
class Definitions:
    """What a rule may name: custom attributes per scope and event definitions' properties."""

    person_attributes: dict[str, str]
    installation_attributes: dict[str, str]
    events: dict[str, dict[str, str]]


def rule_error(path: str, message: str) -> ApiError:
    return ValidationFailed(f"{path}: {message}", path)


class _Parser:
    def __init__(self, definitions: Definitions) -> None:
        self.definitions = definitions
        self.conditions = 0

    def rule(self, raw: Any, path: str, depth: int, scope: str) -> Rule:
        if depth > MAX_DEPTH:
            raise rule_error(path, f"rules nest at most {MAX_DEPTH} levels deep")
        if not isinstance(raw, dict) or not raw:
            raise rule_error(path, "expected a rule object")
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise rule_error(path, f"a rule holds at most {MAX_CONDITIONS} conditions")
        if "all" in raw or "any" in raw:
            key = "all" if "all" in raw else "any"
            self._only(raw, {key}, path)
            children = raw[key]
            if not isinstance(children, list) or not children:
                raise rule_error(f"{path}.{key}", "expected a non-empty list of rules")
            parsed = tuple(
                self.rule(child, f"{path}.{key}.{i}", depth + 1, scope)
                for i, child in enumerate(children)
            )
            return AllOf(rules=parsed) if key == "all" else AnyOf(rules=parsed)
        if "not" in raw:
            self._only(raw, {"not"}, path)
            return NotOf(rule=self.rule(raw["not"], f"{path}.not", depth + 1, scope))
        if scope == "installation":
            return self._installation_condition(raw, path)
        if "attribute" in raw:
            return self._attribute(raw, path, "attribute", PERSON_ATTRIBUTES, custom=False)
        if "customAttribute" in raw:
            attrs = self.definitions.person_attributes
            return self._attribute(raw, path, "customAttribute", attrs, custom=True)
        if "tag" in raw:
            self._only(raw, {"tag"}, path)
            tag = raw["tag"]
            if not isinstance(tag, str) or not tag or len(tag) > 255:
                raise rule_error(f"{path}.tag", "expected a tag")
            return TagCondition(tag=tag)
        if "identified" in raw:
            self._only(raw, {"identified"}, path)
            if not isinstance(raw["identified"], bool):
                raise rule_error(f"{path}.identified", "expected true or false")
            return IdentifiedCondition(identified=raw["identified"])
        if "installation" in raw:
            self._only(raw, {"installation"}, path)
            inner = self.rule(
                raw["installation"], f"{path}.installation", depth + 1, "installation"
            )
            return InstallationCondition(rule=inner)
        if "event" in raw:
            return self._event(raw, path)
        raise rule_error(path, f"unknown condition with keys {sorted(raw)}")

    def _installation_condition(self, raw: dict[str, Any], path: str) -> Rule:
        if "attribute" in raw:
            return self._attribute(raw, path, "attribute", INSTALLATION_ATTRIBUTES, custom=False)
        if "customAttribute" in raw:
            attrs = self.definitions.installation_attributes
            return self._attribute(raw, path, "customAttribute", attrs, custom=True)
        raise rule_error(path, "installation rules hold attribute or customAttribute conditions")

    def _only(self, raw: dict[str, Any], allowed: set[str], path: str) -> None:
        extra = sorted(set(raw) - allowed)
        if extra:
            raise rule_error(f"{path}.{extra[0]}", f"unexpected key '{extra[0]}'")

    def _attribute(
        self, raw: dict[str, Any], path: str, key: str, known: dict[str, str], custom: bool
    ) -> AttributeCondition:
        self._only(raw, {key, "op", "value", "days"}, path)
        name = raw[key]
        if not isinstance(name, str) or name not in known:
            kind = "custom attribute" if custom else "attribute"
            raise rule_error(f"{path}.{key}", f"unknown {kind} '{name}'")
        test = comparison(raw, path, known[name])
        return AttributeCondition(attribute=name, custom=custom, test=test)

    def _event(self, raw: dict[str, Any], path: str) -> EventCondition:
        self._only(raw, {"event", "count", "within", "where"}, path)
        name = raw["event"]
        if not isinstance(name, str):
            raise rule_error(f"{path}.event", "expected an event name")
        if name in STANDARD_EVENTS:
            properties = STANDARD_EVENT_PROPERTIES
        elif name in self.definitions.events:
            properties = self.definitions.events[name]
        else:
            raise rule_error(f"{path}.event", f"unknown event '{name}'")
        count_op, count = _count(raw.get("count", {"gte": 1}), f"{path}.count")
        within_days = None
        if "within" in raw:
            within = raw["within"]
            if not isinstance(within, dict) or set(within) != {"days"}:
                raise rule_error(f"{path}.within", 'expected {"days": N}')
            within_days = _days(within["days"], f"{path}.within.days")
        where = raw.get("where", [])
        if not isinstance(where, list) or len(where) > 20:
            raise rule_error(f"{path}.where", "expected a list of at most 20 property filters")
        filters = []
        for i, item in enumerate(where):
            item_path = f"{path}.where.{i}"
            if not isinstance(item, dict) or "property" not in item:
                raise rule_error(item_path, "expected {property, op, value}")
            self._only(item, {"property", "op", "value", "days"}, item_path)
            prop = item["property"]
            if not isinstance(prop, str) or prop not in properties:
                raise rule_error(f"{item_path}.property", f"unknown property '{prop}' of {name}")
            filters.append(
                PropertyFilter(property=prop, test=comparison(item, item_path, properties[prop]))
            )
        return EventCondition(
            event=name,
            count_op=count_op,
            count=count,
            within_days=within_days,
            where=tuple(filters),
        )


def _count(raw: Any, path: str) -> tuple[str, int]:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise rule_error(path, 'expected one of {"gte"|"gt"|"lte"|"lt"|"eq": N}')
    [(op, value)] = raw.items()
    if op not in COUNT_OPS:
        raise rule_error(f"{path}.{op}", f"unknown count operator '{op}'")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
        raise rule_error(f"{path}.{op}", "expected a whole number from 0 to 1000000")
    return op, value


def _days(raw: Any, path: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_DAYS:
        raise rule_error(path, f"expected a whole number of days from 1 to {MAX_DAYS}")
    return raw


def comparison(raw: dict[str, Any], path: str, type_name: str) -> Comparison:
    """Check ``op`` against the field's type and the value against the op."""
    op = raw.get("op")
    if op not in ALL_OPS:
        raise rule_error(f"{path}.op", f"unknown operator '{op}'")
    if op not in OPS_BY_TYPE[type_name]:
        raise rule_error(f"{path}.op", f"operator '{op}' does not apply to {type_name} values")
    value_type = "string" if op in ("contains", "starts_with") else type_name
    if op in ("exists", "not_exists"):
        _forbid(raw, ("value", "days"), path, op)
        return Comparison(type=type_name, op=op)
    if op == "within_last":
        _forbid(raw, ("value",), path, op)
        return Comparison(type=type_name, op=op, days=_days(raw.get("days"), f"{path}.days"))
    _forbid(raw, ("days",), path, op)
    if "value" not in raw:
        raise rule_error(f"{path}.value", f"operator '{op}' needs a value")
    if op in ("in", "not_in"):
        values = raw["value"]
        if not isinstance(values, list) or not values or len(values) > MAX_IN_VALUES:
            raise rule_error(f"{path}.value", f"expected a list of 1 to {MAX_IN_VALUES} values")
        checked = [_typed(value_type, v, f"{path}.value.{i}") for i, v in enumerate(values)]
        return Comparison(type=type_name, op=op, value=tuple(checked))
    value = _typed(value_type, raw["value"], f"{path}.value")
    return Comparison(type=type_name, op=op, value=value)


def _forbid(raw: dict[str, Any], keys: tuple[str, ...], path: str, op: str) -> None:
    for key in keys:
        if key in raw:
            raise rule_error(f"{path}.{key}", f"operator '{op}' takes no {key}")


def _typed(type_name: str, value: Any, path: str) -> Any:
    try:
        return check_scalar(type_name, value)
    except InvalidValue as exc:
        raise rule_error(path, str(exc)) from None


def parse_rule(raw: Any, definitions: Definitions, path: str = "rule") -> Rule:
    return _Parser(definitions).rule(raw, path, 0, "person")
