"""What a rule may cost (issue 12): checked before a rule is previewed, resolved or saved.

Every condition of a rule becomes a subquery, and a saved rule is evaluated again for a person
on each of their events; one rule of 99 event conditions took 28 s to preview and made every
event batch 150 times slower. Event conditions scan the events table, so they count for much
more than attribute conditions, which read the person's own row.
"""

from audience.errors import ApiError
from audience.segments.rules import (
    AllOf,
    AnyOf,
    AttributeCondition,
    EventCondition,
    InstallationCondition,
    NotOf,
    Rule,
)

MAX_RULE_COST = 100
EVENT_CONDITION_COST = 10
PROPERTY_FILTER_COST = 2
INSTALLATION_CONDITION_COST = 3
CONDITION_COST = 1
IN_VALUES_PER_COST = 100  # long in/not_in lists: one more per hundred values


def rule_cost(rule: Rule) -> int:
    if isinstance(rule, AllOf | AnyOf):
        return sum(rule_cost(part) for part in rule.rules)
    if isinstance(rule, NotOf):
        return rule_cost(rule.rule)
    if isinstance(rule, InstallationCondition):
        return INSTALLATION_CONDITION_COST + rule_cost(rule.rule)
    if isinstance(rule, EventCondition):
        return EVENT_CONDITION_COST + PROPERTY_FILTER_COST * len(rule.where)
    if isinstance(rule, AttributeCondition) and isinstance(rule.test.value, tuple):
        return CONDITION_COST + len(rule.test.value) // IN_VALUES_PER_COST
    return CONDITION_COST


def check_cost(rule: Rule, path: str = "rule") -> Rule:
    """``rule`` if it costs at most ``MAX_RULE_COST``; else 400 naming the rule."""
    cost = rule_cost(rule)
    if cost > MAX_RULE_COST:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"{path}: the rule costs {cost}, more than {MAX_RULE_COST} (an event condition "
            f"costs {EVENT_CONDITION_COST}, each of its property filters "
            f"{PROPERTY_FILTER_COST}, an attribute, tag or identified condition "
            f"{CONDITION_COST})",
            path,
        )
    return rule
