"""The merge rule of docs/identity.md as plain functions over plain values (no database).

A person's *holdings* are what a merge can move or copy: ``externalUserId``, ``phones``,
``emails``, standard ``fields`` (snake_case), ``customAttributes``, ``tags`` and
``installations``. A merge *gives* the survivor a subset of the merged person's holdings;
undo takes back what was given (unless changed since) and excludes what the merged person
had itself been given by earlier merges (its *inherited* holdings), so a chain
A ← B ← C undoes one link at a time.
"""

from dataclasses import dataclass, field
from typing import Any

from pydantic.alias_generators import to_camel

Holdings = dict[str, Any]
LIST_KEYS = ("phones", "emails", "tags", "installations")
DICT_KEYS = ("fields", "customAttributes")


def empty_holdings() -> Holdings:
    return {
        "externalUserId": None,
        "phones": [],
        "emails": [],
        "fields": {},
        "customAttributes": {},
        "tags": [],
        "installations": [],
    }


@dataclass
class MergePlan:
    """What the survivor is given, and the values of the merged person it does not take."""

    given: Holdings
    conflicts: list[dict[str, Any]] = field(default_factory=list)


def plan_merge(survivor: Holdings, merged: Holdings) -> MergePlan:
    """Phones, emails, tags and installations are unioned; any other value is the survivor's
    when it has one, else the merged person's (a gap filled). Two different non-empty values
    are a conflict: the survivor's is kept, the merged one's dropped."""
    given = empty_holdings()
    conflicts: list[dict[str, Any]] = []
    theirs, ours = merged["externalUserId"], survivor["externalUserId"]
    if theirs is not None and ours is None:
        given["externalUserId"] = theirs
    elif theirs is not None and theirs != ours:
        conflicts.append({"field": "externalUserId", "kept": ours, "dropped": theirs})
    for key in ("phones", "emails", "tags", "installations"):
        have = set(survivor[key])
        given[key] = [value for value in merged[key] if value not in have]
    for key, prefix in (("fields", ""), ("customAttributes", "customAttributes.")):
        for name, value in sorted(merged[key].items()):
            current = survivor[key].get(name)
            label = prefix + (to_camel(name) if key == "fields" else name)
            if value is None:
                continue
            if current is None:
                given[key][name] = value
            elif current != value:
                conflicts.append({"field": label, "kept": current, "dropped": value})
    return MergePlan(given=given, conflicts=conflicts)


def subtract(holdings: Holdings, taken: list[Holdings]) -> Holdings:
    """``holdings`` without what any of ``taken`` holds (dict entries only where the value is
    the same): a merged person's own data, without what earlier merges gave it."""
    result: Holdings = {
        "externalUserId": holdings.get("externalUserId"),
        **{key: list(holdings.get(key, [])) for key in LIST_KEYS},
        **{key: dict(holdings.get(key, {})) for key in DICT_KEYS},
    }
    for other in taken:
        if result["externalUserId"] is not None and result["externalUserId"] == other.get(
            "externalUserId"
        ):
            result["externalUserId"] = None
        for key in LIST_KEYS:
            gone = set(other.get(key, []))
            result[key] = [value for value in result[key] if value not in gone]
        for key in DICT_KEYS:
            for name, value in other.get(key, {}).items():
                if name in result[key] and result[key][name] == value:
                    del result[key][name]
    return result


def still_given(given: Holdings, current: Holdings) -> Holdings:
    """The part of ``given`` that the holder still has unchanged: what undo takes back."""
    kept = empty_holdings()
    ext = given.get("externalUserId")
    if ext is not None and current["externalUserId"] == ext:
        kept["externalUserId"] = ext
    for key in LIST_KEYS:
        have = set(current[key])
        kept[key] = [value for value in given.get(key, []) if value in have]
    for key in DICT_KEYS:
        kept[key] = {
            name: value
            for name, value in given.get(key, {}).items()
            if current[key].get(name) == value
        }
    return kept
