"""A flow's definition: checked whole on save, every error naming its JSON path.

The definition is stored as sent (trigger, entry, reentry, steps) once it passes; rules inside
it are parsed by the segments' parser, so they mean exactly what they mean in a segment.
"""

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from audience.errors import ApiError, validation_error
from audience.events.standard import SEGMENT_ENTERED, SEGMENT_LEFT
from audience.persons.schemas import PersonAttributes, Tag
from audience.segments.rules import Definitions, EventCondition, Rule, parse_rule

MAX_WAIT_SECONDS = 365 * 24 * 3600
MAX_NESTING = 10
MAX_STEPS = 200
TAG = TypeAdapter(Tag)
STEP_TYPES = ("wait", "if", "setAttributes", "addTags", "removeTags", "webhook", "sendPush", "exit")


@dataclass(frozen=True)
class Trigger:
    """What starts a run: an event of ``event`` whose properties pass ``where``.

    Segment triggers are events too: ``SegmentEntered``/``SegmentLeft`` with the segment id.
    """

    event: str
    condition: EventCondition | None  # the where filters, parsed
    segment_id: str | None = None


class Checker:
    """Checks one definition against what exists now (events, segments, webhooks)."""

    def __init__(
        self,
        definitions: Definitions,
        segment_exists: Any,
        webhook_exists: Any,
        push_check: Any,
    ) -> None:
        self.definitions = definitions
        self.segment_exists = segment_exists
        self.webhook_exists = webhook_exists
        # Checks a sendPush step's content as a message would be; raises ApiError.
        self.push_check = push_check
        self.steps = 0

    def definition(self, raw: dict[str, Any]) -> dict[str, Any]:
        if "trigger" not in raw:
            raise validation_error("Field 'trigger' is required", "trigger")
        if "steps" not in raw:
            raise validation_error("Field 'steps' is required", "steps")
        self.trigger(raw["trigger"])
        entry = raw.get("entry")
        if entry is not None:
            parse_rule(entry, self.definitions, "entry")
        reentry = raw.get("reentry", "once")
        check_reentry(reentry)
        steps = raw["steps"]
        if not isinstance(steps, list) or not steps:
            raise validation_error("steps: expected a non-empty list of steps", "steps")
        self.step_list(steps, "steps", 1)
        return {"trigger": raw["trigger"], "entry": entry, "reentry": reentry, "steps": steps}

    def trigger(self, raw: Any) -> None:
        if not isinstance(raw, dict) or len(raw.keys() - {"where"}) != 1:
            raise validation_error(
                'trigger: expected {"event": …, "where"?: […]}, {"segmentEntered": id} or '
                '{"segmentLeft": id}',
                "trigger",
            )
        if "event" in raw:
            parse_trigger(raw, self.definitions)
            return
        key = next(iter(raw.keys() - {"where"}))
        if key not in ("segmentEntered", "segmentLeft") or "where" in raw:
            raise validation_error(f"trigger: unknown trigger '{key}'", f"trigger.{key}")
        if not isinstance(raw[key], str) or not self.segment_exists(raw[key]):
            raise validation_error(f"trigger.{key}: unknown segment", f"trigger.{key}")

    def step_list(self, steps: list[Any], path: str, depth: int) -> None:
        if depth > MAX_NESTING:
            raise validation_error(f"{path}: steps nest at most {MAX_NESTING} levels", path)
        for index, step in enumerate(steps):
            self.step(step, f"{path}.{index}", depth)

    def step(self, raw: Any, path: str, depth: int) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise validation_error(f"{path}: a flow holds at most {MAX_STEPS} steps", path)
        kind = step_type(raw)
        if kind is None:
            raise validation_error(f"{path}: expected one of {', '.join(STEP_TYPES)}", path)
        body = raw[kind]
        where = f"{path}.{kind}"
        if kind == "wait":
            seconds = body.get("seconds") if isinstance(body, dict) else None
            if not isinstance(body, dict) or set(body) != {"seconds"}:
                raise validation_error(f'{where}: expected {{"seconds": N}}', where)
            if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 1:
                raise validation_error(
                    f"{where}.seconds: expected a positive integer", f"{where}.seconds"
                )
            if seconds > MAX_WAIT_SECONDS:
                raise validation_error(
                    f"{where}.seconds: waits last at most 365 days", f"{where}.seconds"
                )
        elif kind == "if":
            self._only(raw, {"if", "then", "else"}, path)
            parse_rule(body, self.definitions, where)
            for branch in ("then", "else"):
                steps = raw.get(branch, [])
                if not isinstance(steps, list):
                    raise validation_error(
                        f"{path}.{branch}: expected a list of steps", f"{path}.{branch}"
                    )
                self.step_list(steps, f"{path}.{branch}", depth + 1)
        elif kind == "setAttributes":
            self._set_attributes(body, where)
        elif kind in ("addTags", "removeTags"):
            if not isinstance(body, list) or not body or len(body) > 100:
                raise validation_error(f"{where}: expected a list of 1 to 100 tags", where)
            for i, tag in enumerate(body):
                try:
                    TAG.validate_python(tag, strict=True)
                except ValidationError:
                    raise validation_error(
                        f"{where}.{i}: not a valid tag", f"{where}.{i}"
                    ) from None
        elif kind == "webhook":
            webhook_id = body.get("webhookId") if isinstance(body, dict) else None
            if not isinstance(body, dict) or set(body) != {"webhookId"}:
                raise validation_error(f'{where}: expected {{"webhookId": id}}', where)
            if not isinstance(webhook_id, str) or not self.webhook_exists(webhook_id):
                raise validation_error(f"{where}.webhookId: unknown webhook", f"{where}.webhookId")
        elif kind == "sendPush":
            code = body.get("applicationCode") if isinstance(body, dict) else None
            if not isinstance(code, str):
                raise validation_error(
                    f"{where}.applicationCode: the application to send with is required",
                    f"{where}.applicationCode",
                )
            try:
                self.push_check(body)
            except ApiError as exc:
                field = f"{where}.{exc.field}" if exc.field else where
                raise ApiError(exc.status, exc.code, f"{where}: {exc.message}", field) from None
        elif kind == "exit" and body != {}:
            raise validation_error(f"{where}: expected {{}}", where)
        if kind != "if":
            self._only(raw, {kind}, path)

    def _set_attributes(self, body: Any, where: str) -> None:
        if not isinstance(body, dict) or not body:
            raise validation_error(f"{where}: expected an object of person attributes", where)
        try:
            PersonAttributes.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            raise validation_error(f"{where}.{field}: {first['msg']}", f"{where}.{field}") from None
        for name in body.get("customAttributes") or {}:
            if name not in self.definitions.person_attributes:
                raise ApiError(
                    400,
                    "INVALID_CUSTOM_ATTRIBUTE",
                    f"Custom attribute '{name}' is not defined for persons",
                    f"{where}.customAttributes.{name}",
                )

    @staticmethod
    def _only(raw: dict[str, Any], allowed: set[str], path: str) -> None:
        extra = sorted(set(raw) - allowed)
        if extra:
            raise validation_error(f"{path}: unexpected key '{extra[0]}'", f"{path}.{extra[0]}")


def step_type(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    kinds = [kind for kind in STEP_TYPES if kind in raw]
    return kinds[0] if len(kinds) == 1 else None


def check_reentry(raw: Any) -> None:
    if raw in ("once", "always"):
        return
    days = raw.get("afterDays") if isinstance(raw, dict) else None
    if (
        isinstance(raw, dict)
        and set(raw) == {"afterDays"}
        and isinstance(days, int)
        and not isinstance(days, bool)
        and 1 <= days <= 3650
    ):
        return
    raise validation_error(
        'reentry: expected "once", "always" or {"afterDays": 1..3650}', "reentry"
    )


def parse_trigger(raw: dict[str, Any], definitions: Definitions) -> Trigger:
    """The trigger as the matcher uses it (the definition was checked on save)."""
    if "segmentEntered" in raw:
        return Trigger(SEGMENT_ENTERED, None, raw["segmentEntered"])
    if "segmentLeft" in raw:
        return Trigger(SEGMENT_LEFT, None, raw["segmentLeft"])
    condition = parse_rule(
        {"event": raw["event"], "where": raw.get("where", [])}, definitions, "trigger"
    )
    assert isinstance(condition, EventCondition)
    return Trigger(condition.event, condition)


def parse_entry(raw: Any, definitions: Definitions) -> Rule | None:
    return None if raw is None else parse_rule(raw, definitions, "entry")
