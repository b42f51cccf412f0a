"""Random event sequences produce the runs a plain in-memory model of the flow predicts."""

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import empty_database
from tests.flows.conftest import Flows
from tests.helpers import Api


@dataclass
class Model:
    """What the flow's rules say: trigger ``purchase`` with amount > 10; one unfinished run
    per person; ``once`` allows one run ever; steps finish when the worker runs."""

    reentry: str
    runs: dict[int, list[str]] = field(default_factory=dict)

    def event(self, person: int, amount: int) -> None:
        runs = self.runs.setdefault(person, [])
        if amount <= 10 or "active" in runs or (self.reentry == "once" and runs):
            return
        runs.append("active")

    def work(self) -> None:
        for runs in self.runs.values():
            runs[:] = ["completed" if status == "active" else status for status in runs]


steps = st.lists(
    st.one_of(
        st.tuples(st.just("event"), st.integers(0, 2), st.sampled_from([5, 10, 11, 50])),
        st.tuples(st.just("work"), st.just(0), st.just(0)),
    ),
    max_size=12,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(reentry=st.sampled_from(["once", "always"]), actions=steps)
def test_runs_follow_the_model(
    api: Api, settings: Any, reentry: str, actions: list[tuple[str, int, int]]
) -> None:
    empty_database(api.db)
    flows = Flows(Api(api.client, api.db), settings)
    flow = flows.create(
        trigger={"event": "purchase", "where": [{"property": "amount", "op": "gt", "value": 10}]},
        reentry=reentry,
        steps=[{"addTags": ["buyer"]}],
    )
    devices = [flows.device() for _ in range(3)]
    model = Model(reentry)
    for kind, person, amount in actions:
        if kind == "event":
            flows.purchase(devices[person][0], amount)
            model.event(person, amount)
        else:
            flows.work()
            model.work()
    stored: dict[int, list[str]] = {}
    for run in flows.runs(flow["id"]):
        person = next(i for i, (_d, pid) in enumerate(devices) if pid == run["personId"])
        stored.setdefault(person, []).append(run["status"])
    expected = {person: runs for person, runs in model.runs.items() if runs}
    assert {p: sorted(r) for p, r in stored.items()} == {p: sorted(r) for p, r in expected.items()}
