"""The stand-in answers as a real Kestra 1.1.7 does: the same requests, compared.

tests/support/differential.py holds the requests (scenarios of exchanges) and what is compared of
each answer: status, content type and the JSON fields the client reads. The real server's answers
are recorded in tests/kestra/standin_recorded.json. Here, always, the stand-in is held against
that recording; tests/integration/test_differential_live.py holds a real Kestra (``KESTRA_URL``,
see docs/testing.md) against it too, so a recording that no longer matches Kestra fails
instead of silently vouching for the stand-in. Differences the stand-in keeps on purpose are listed, with why, in
`tests.support.kestra_standin.KEPT_DIFFERENCES`.
"""

from __future__ import annotations

import pytest

from tests.support import differential
from tests.support.differential import SCENARIOS, Exchange, Scenario, Target
from tests.support.kestra_standin import KEPT_DIFFERENCES, KestraStandin, _media_in

RECORDED = differential.load_recording()
NOT_SENDABLE = {"hazard"}  # kept differences no exchange may send (it can freeze the real server)


@pytest.fixture
def standin():
    server = KestraStandin().start()
    yield server
    server.stop()


def _routes_exercised(standin: KestraStandin) -> dict:
    """{(method, pattern, consumes): [exchange names]} for every route the stand-in declares."""
    hits: dict = {(r.method, r.pattern, r.consumes): [] for r in standin.routes()}
    for scenario in SCENARIOS:
        for exchange in scenario.exchanges + scenario.cleanup:
            path = "/api/v1/" + exchange.path.replace("@ns@", "ns").replace("@did@", "d")
            for route, _, _ in standin._on_path(path):
                ctype = exchange.ctype or ("multipart/form-data" if exchange.files or exchange.form else "")
                if route.method == exchange.method and (not ctype or _media_in(ctype, route.consumes)):
                    hits[(route.method, route.pattern, route.consumes)].append(f"{scenario.name}/{exchange.name}")
    return hits


def test_every_route_the_standin_declares_is_compared(standin):
    unexercised = [route for route, names in _routes_exercised(standin).items() if not names]
    assert unexercised == [], f"routes no differential exchange sends: {unexercised}"


def test_the_recording_holds_every_exchange_and_comes_from_kestra_1_1_7():
    assert RECORDED["kestra"] == {"version": "1.1.7", "edition": "OSS"}
    sent = {s.name: [e.name for e in s.exchanges] for s in SCENARIOS}
    recorded = {name: list(answers) for name, answers in RECORDED["scenarios"].items()}
    assert recorded == sent, "record again: python -m tests.support.differential record (see its docstring)"
    for scenario in SCENARIOS:
        for exchange in scenario.exchanges:
            assert set(RECORDED["scenarios"][scenario.name][exchange.name]["view"]) == set(exchange.fields), \
                f"{scenario.name}/{exchange.name}: record again, its compared fields changed"


def test_every_kept_difference_is_named_by_an_exchange_and_every_name_is_listed():
    named = {e.kept for s in SCENARIOS for e in s.exchanges if e.kept}
    assert named <= set(KEPT_DIFFERENCES), named - set(KEPT_DIFFERENCES)
    assert set(KEPT_DIFFERENCES) - NOT_SENDABLE == named


def test_the_runner_never_puts_a_flow_or_dashboard_the_server_does_not_have(standin):
    """A PUT of a missing flow or dashboard can freeze the real server (kestra-io/kestra#12984):
    the runner reads first and refuses, so no scenario can send one by mistake."""
    target = Target(standin.url, standin.username, standin.password, poll_pause=0)
    for path in ("main/flows/@ns@/gone", "main/dashboards/@did@"):
        careless = Scenario("careless", (Exchange("put", "PUT", path, body="id: gone\n", ctype="application/x-yaml"),))
        with pytest.raises(differential.Hazard, match="PUT of the missing"):
            differential.run(target, careless)
    assert standin.hazards == [] and [r.method for r in standin.requests] == ["GET", "GET"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_the_standin_answers_as_the_recorded_kestra(standin, scenario):
    target = Target(standin.url, standin.username, standin.password, poll_pause=0, poll_limit=10)
    answers = differential.run(target, scenario)
    # A kept difference skips the compared fields only: status and content type must agree.
    kept = frozenset(e.name for e in scenario.exchanges if e.kept)
    lines = differential.differences(RECORDED["scenarios"][scenario.name], answers, views_skipped=kept)
    assert lines == [], "\n".join(lines)


def test_a_database_dependent_answer_is_accepted_only_as_postgresql_gives_it():
    """The live comparison accepts, for the exchanges in ON_POSTGRES, the recorded (H2) answer or
    exactly PostgreSQL's; any other answer is still a difference."""
    recorded = differential.load_recording()["scenarios"]["executions"]
    name = "search from the start's millisecond (legacy startDate)"
    assert name in recorded and set(differential.ON_POSTGRES) <= set(recorded)
    want = recorded[name]

    def answer(view):
        return {name: differential.Answer(status=want["status"], ctype=want["ctype"], view=view)}

    only = {name: want}
    postgres = differential.ON_POSTGRES[name]
    assert differential.differences(only, answer(postgres)) != []  # not without the alternative
    assert differential.differences(only, answer(postgres), alternatives=differential.ON_POSTGRES) == []
    assert differential.differences(only, answer(want["view"]), alternatives=differential.ON_POSTGRES) == []
    two = {**postgres, "results[].id{}": ["@exec@", "@exec2@"], "total": 2}
    assert differential.differences(only, answer(two), alternatives=differential.ON_POSTGRES) != []
