"""Feature boundaries (docs/decisions.md, "Typed answers, errors, boundaries"): no import
cycles between modules, and a feature uses another only through its public modules. An AST
check, so it also sees imports inside functions (the usual way a cycle gets hidden)."""

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "audience"
FEATURES = frozenset(
    path.parent.name
    for path in PACKAGE.glob("*/__init__.py")
    if path.parent.name not in ("migrations", "client")
)
# What a feature offers the others: its rules (service) and its API types (schemas); auth also
# the FastAPI dependencies every route declares and the caller types they produce.
PUBLIC = {"service", "schemas"}
PUBLIC_EXTRA = {"auth": {"dependencies", "principals"}}

# Reaches into another feature's internals that predate this check (issue 19) or came with the
# features merged beside it (webhooks, flows, push, imports, identity). The list may only
# shrink: a new reach fails the test, and so does an entry that is gone (delete it).
KNOWN_REACHES = {
    ("auth/dependencies.py", "apps.queries"),
    ("console/catalog.py", "attributes.queries"),
    ("console/catalog.py", "attributes.routes"),
    ("console/catalog.py", "events.definitions"),
    ("console/catalog.py", "events.queries"),
    ("console/catalog.py", "events.routes"),
    ("console/flows.py", "flows.definition"),
    ("console/flows.py", "flows.queries"),
    ("console/identity.py", "persons.audit"),
    ("console/identity.py", "persons.merge_journal"),
    ("console/identity.py", "persons.operator_merge"),
    ("console/identity.py", "persons.routes"),
    ("console/identity.py", "persons.undo"),
    ("console/identity.py", "segments.explain"),
    ("console/identity.py", "segments.queries"),
    ("console/messages.py", "apps.queries"),
    ("console/messages.py", "push.credentials"),
    ("console/messages.py", "push.queries"),
    ("console/messages.py", "segments.queries"),
    ("console/people.py", "attributes.queries"),
    ("console/people.py", "events.queries"),
    ("console/people.py", "events.standard"),
    ("console/people.py", "flows.queries"),
    ("console/people.py", "installations.queries"),
    ("console/people.py", "persons.audit"),
    ("console/people.py", "persons.personalize"),
    ("console/people.py", "persons.queries"),
    ("console/people.py", "persons.routes"),
    ("console/segments.py", "attributes.queries"),
    ("console/segments.py", "events.queries"),
    ("console/segments.py", "events.standard"),
    ("console/segments.py", "segments.queries"),
    ("console/segments.py", "segments.routes"),
    ("console/segments.py", "segments.rules"),
    ("console/session.py", "auth.queries"),
    ("console/webhooks.py", "webhooks.queries"),
    ("console/webhooks.py", "webhooks.routes"),
    ("events/definitions.py", "segments.membership"),
    ("events/queries.py", "installations.queries"),
    ("events/routes.py", "attributes.values"),
    ("events/service.py", "installations.queries"),
    ("events/service.py", "persons.queries"),
    ("events/service.py", "segments.membership"),
    ("events/service.py", "webhooks.publish"),
    ("events/standard.py", "webhooks.publish"),
    ("events/validation.py", "attributes.values"),
    ("exports/routes.py", "attributes.values"),
    ("flows/definition.py", "events.standard"),
    ("flows/definition.py", "segments.rules"),
    ("flows/engine.py", "persons.audit"),
    ("flows/engine.py", "segments.queries"),
    ("flows/engine.py", "segments.rules"),
    ("flows/engine.py", "webhooks.publish"),
    ("flows/routes.py", "persons.queries"),
    ("flows/service.py", "segments.queries"),
    ("flows/triggers.py", "attributes.values"),
    ("flows/triggers.py", "segments.compiler"),
    ("flows/triggers.py", "segments.queries"),
    ("flows/triggers.py", "segments.rules"),
    ("imports/event_batches.py", "events.definitions"),
    ("imports/event_checks.py", "events.validation"),
    ("imports/person_batch.py", "attributes.values"),
    ("imports/person_batch.py", "persons.identities"),
    ("imports/person_batch.py", "webhooks.publish"),
    # The import's helper process checks rows without loading the app (persons.service
    # imports nearly all of it): read_identity comes from its own lean module.
    ("imports/person_checks.py", "persons.identities"),
    ("imports/persons.py", "attributes.queries"),
    ("imports/persons.py", "persons.audit"),
    ("imports/persons.py", "persons.queries"),
    ("imports/service.py", "persons.audit"),
    ("imports/service.py", "retention.partitions"),
    ("installations/service.py", "events.standard"),
    ("installations/service.py", "persons.queries"),
    ("installations/service.py", "segments.membership"),
    ("persons/audit.py", "webhooks.publish"),
    ("persons/export.py", "installations.queries"),
    ("persons/guardrails.py", "installations.queries"),
    ("persons/merge_journal.py", "installations.queries"),
    ("persons/merge_journal.py", "webhooks.publish"),
    ("persons/merges.py", "segments.queries"),
    ("persons/mobile_routes.py", "auth.user_jwt"),
    ("persons/operator_merge.py", "segments.membership"),
    ("persons/ordering.py", "attributes.values"),
    ("persons/personalize.py", "events.standard"),
    ("persons/protection.py", "auth.user_jwt"),
    ("persons/routes.py", "attributes.values"),
    ("persons/routes.py", "installations.queries"),
    ("persons/service.py", "webhooks.publish"),
    ("persons/undo.py", "attributes.values"),
    ("persons/undo.py", "installations.queries"),
    ("persons/undo.py", "segments.membership"),
    ("push/sender.py", "segments.queries"),
    ("push/service.py", "apps.queries"),
    ("push/service.py", "persons.queries"),
    ("push/service.py", "segments.compiler"),
    ("push/service.py", "segments.queries"),
    ("segments/compiler.py", "attributes.values"),
    ("segments/explain.py", "installations.queries"),
    ("segments/explain.py", "persons.queries"),
    ("segments/membership.py", "events.standard"),
    ("segments/membership.py", "persons.queries"),
    ("segments/queries.py", "persons.queries"),
    ("segments/rules.py", "attributes.values"),
    ("segments/rules.py", "events.standard"),
    ("webhooks/delivery.py", "events.standard"),
    ("webhooks/service.py", "events.queries"),
    ("webhooks/service.py", "events.standard"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = SRC.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _imports(path: Path) -> Iterator[str]:
    """Every audience module ``path`` imports, at any depth of the file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("audience"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("audience"):
            assert node.module is not None
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield submodule if _is_module(submodule) else node.module


def _graph() -> dict[str, set[str]]:
    return {
        _module_name(path): set(_imports(path)) - {_module_name(path)}
        for path in PACKAGE.rglob("*.py")
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _reaches() -> set[tuple[str, str]]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        feature = relative.parts[0]
        if feature not in FEATURES:
            continue
        for imported in _imports(path):
            parts = imported.split(".")
            if len(parts) < 3 or parts[1] not in FEATURES or parts[1] == feature:
                continue
            if parts[2] not in PUBLIC | PUBLIC_EXTRA.get(parts[1], set()):
                found.add((relative.as_posix(), ".".join(parts[1:3])))
    return found


def test_features_use_each_other_only_through_their_public_modules() -> None:
    found = _reaches()
    assert found - KNOWN_REACHES == set(), "use the other feature's service module instead"
    assert KNOWN_REACHES - found == set(), "gone: delete these from KNOWN_REACHES"
