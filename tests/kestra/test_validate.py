"""python -m kestra.validate against the stand-in: whole tree, fewest requests, file/flow/reason."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from kestra import validate
from tests.kestra.conftest import DASHBOARD, flow_source
from tests.support.kestra_standin import KestraStandin

REPO = Path(__file__).resolve().parents[2]
BAD_TYPE = flow_source(flow_id="broken").replace("io.kestra.plugin.core.log.Log", "io.kestra.plugin.core.log.Nope")


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "flows" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "flows"


def run(standin, root: Path, *extra: str, password: str | None = None) -> tuple[int, str]:
    out = io.StringIO()
    env = {"KESTRA_URL": standin.url, "KESTRA_USERNAME": standin.username,
           "KESTRA_PASSWORD": password or standin.password}
    code = validate.main([str(root), "--deadline", "2", *extra], environ=env, out=out)
    return code, out.getvalue()


def validate_calls(standin) -> list:
    return standin.calls("POST", "/flows/validate")


def test_a_valid_tree_is_one_request(standin, tmp_path):
    root = tree(tmp_path, {f"dev.testing/f{i}.yaml": flow_source(flow_id=f"f{i}") for i in range(5)})
    code, out = run(standin, root)
    assert code == 0, out
    assert len(validate_calls(standin)) == 1
    assert out.strip().endswith("5 file(s) validated in 1 request(s): all valid")


def test_problems_name_file_flow_and_kestras_reason(standin, tmp_path):
    root = tree(tmp_path, {
        "dev.testing/a.yaml": flow_source(flow_id="a"),
        "dev.testing/broken.yaml": BAD_TYPE,
        "dev.testing/z.yaml": flow_source(flow_id="z"),
    })
    code, out = run(standin, root)
    assert code == 1
    # Kestra 1.1.7 names no flow for a document it cannot read (recorded: "a batch whose second
    # flow has an unknown type"); the file's place names it, and Kestra's reason is verbatim.
    assert ("flows/dev.testing/broken.yaml: dev.testing/broken: jakarta.validation.ConstraintViolationException: "
            "Invalid type: io.kestra.plugin.core.log.Nope") in out.splitlines()
    assert "a.yaml" not in out and "z.yaml" not in out
    assert len(validate_calls(standin)) == 1


def test_a_file_with_its_own_dashes_line_gets_its_own_request(standin, tmp_path):
    # Its second document is invalid: the problem must be reported on this file, not on a
    # neighbour, which is what would happen if it were glued into the shared request.
    two_docs = flow_source(flow_id="m") + "---\n" + "id: m2\nnamespace: dev.testing\n"
    root = tree(tmp_path, {
        "dev.testing/a.yaml": flow_source(flow_id="a"),
        "dev.testing/m.yaml": two_docs,
        "dev.testing/z.yaml": flow_source(flow_id="z"),
    })
    code, out = run(standin, root)
    assert code == 1
    assert "flows/dev.testing/m.yaml: dev.testing/m2: tasks: must not be empty" in out.splitlines()
    bodies = len(validate_calls(standin))
    assert bodies == 2  # a.yaml + z.yaml together, m.yaml alone


def test_a_file_starting_with_dashes_is_not_glued_to_the_previous_one(standin, tmp_path):
    root = tree(tmp_path, {
        "dev.testing/a.yaml": flow_source(flow_id="a"),
        "dev.testing/b.yaml": "---\n" + flow_source(flow_id="b"),
    })
    code, out = run(standin, root)
    assert code == 0, out
    assert len(validate_calls(standin)) == 2


@pytest.mark.parametrize("text,own", [
    (flow_source(), False),
    (flow_source().replace("stand-in test flow", "|\n  a\n  ---\n  b"), False),  # indented: Kestra keeps it whole
    (flow_source() + "---\n" + flow_source(), True),
    ("---\n" + flow_source(), True),
])
def test_splits_follows_kestras_regex(text, own):
    assert validate.splits(text) is own


def test_deprecations_are_warnings_not_failures(standin, tmp_path):
    deprecated = flow_source(flow_id="old") + "inputs:\n  - id: flag\n    type: BOOLEAN\n"
    root = tree(tmp_path, {"dev.testing/old.yaml": deprecated})
    code, out = run(standin, root)
    assert code == 0
    assert "warning: flows/dev.testing/old.yaml: dev.testing/old: deprecated: inputs[0]" in out.splitlines()


def test_dashboards_are_validated_too(standin, tmp_path):
    root = tree(tmp_path, {
        "dev.testing/a.yaml": flow_source(flow_id="a"),
        "dev.testing/dashboards/ok.yaml": DASHBOARD.format(id="ok", title="T"),
        "dev.testing/dashboards/bad.yaml": "id: bad\ncharts: []\n",
    })
    code, out = run(standin, root)
    assert code == 1
    assert "flows/dev.testing/dashboards/bad.yaml: bad: title: must not be null" in out.splitlines()
    assert len(standin.calls("POST", "/dashboards/validate")) == 2
    assert standin.dashboards == {} and standin.flows == {}  # nothing written


def test_wrong_password_is_an_api_error_without_the_password(standin, tmp_path):
    root = tree(tmp_path, {"dev.testing/a.yaml": flow_source(flow_id="a")})
    code, out = run(standin, root, password="Wr0ngPassword")
    assert code == 3 and "basic-auth" in out and "Wr0ngPassword" not in out


def test_password_comes_from_the_environment_only(standin, tmp_path):
    root = tree(tmp_path, {"dev.testing/a.yaml": flow_source(flow_id="a")})
    out = io.StringIO()
    code = validate.main([str(root), "--url", standin.url], environ={}, out=out)
    assert code == 2 and "KESTRA_PASSWORD" in out.getvalue()


def test_stack_outputs_on_stdin_like_kestra_smoke(standin, tmp_path):
    root = tree(tmp_path, {"dev.testing/a.yaml": flow_source(flow_id="a")})
    outputs = (f'{{"kestraUrl": "{standin.url}", "kestraUsername": "{standin.username}", '
               f'"kestraPassword": "{standin.password}"}}')
    out = io.StringIO()
    code = validate.main([str(root), "--stack-output", "-"], environ={}, out=out, stdin=io.StringIO(outputs))
    assert code == 0, out.getvalue()


def test_the_repository_flows_in_one_request_per_batch():
    """The real tree, through the module's command line, against a stand-in in another process.

    The stand-in knows a small set of plugin types, so only the request count is checked here.
    """
    server = KestraStandin().start()
    try:
        env = {"KESTRA_URL": server.url, "KESTRA_USERNAME": server.username, "KESTRA_PASSWORD": server.password,
               "PATH": "/usr/bin:/bin"}
        done = subprocess.run([sys.executable, "-m", "kestra.validate", "flows"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)
        flows = validate.flow_files(REPO / "flows")
        own = [p for p in flows if validate.splits(p.read_text())]
        assert len(server.calls("POST", "/flows/validate")) == (1 if len(own) < len(flows) else 0) + len(own)
        assert "request(s)" in done.stdout, done.stdout + done.stderr
    finally:
        server.stop()


class CuttingKestra:
    """A Kestra that splits a batched body differently than we expect (say, a newer splitter):
    the batch answers one result for two files, so each file must be asked again on its own."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def validate_flows(self, body: str, obj: str = "") -> list[dict]:
        self.bodies.append(body)
        if "\n---\n" in body:  # the batch of a.yaml and b.yaml: one result, not two
            return [{"index": 0, "flow": "a", "namespace": "ns"}]
        flow_id = body.split("id: ", 1)[1].split("\n", 1)[0]
        if flow_id == "b":
            return [{"index": 0, "flow": "b", "namespace": "ns", "constraints": "tasks: must not be empty"}]
        if flow_id == "c":
            return [{"index": 0, "flow": "c", "namespace": "ns", "deprecationPaths": ["inputs[0].type"],
                     "warnings": ["uses BOOLEAN"]}]
        return [{"index": 0, "flow": flow_id, "namespace": "ns"}]

    def validate_dashboard(self, source: str) -> dict:
        self.bodies.append(source)
        return {"constraints": "charts: must not be empty"}


def test_a_batch_cut_differently_is_asked_again_file_by_file_and_the_rest_still_runs(tmp_path):
    root = tree(tmp_path, {
        "ns/a.yaml": "id: a\nnamespace: ns\ntasks: []\n",
        "ns/b.yaml": "id: b\nnamespace: ns\ntasks: []\n",
        # A `---` line of its own: Kestra would cut it, so it is sent alone, after the batch.
        "ns/c.yaml": "id: c\nnamespace: ns\n---x\ntasks: []\n",
        "ns/dashboards/overview.yaml": "id: overview\ntitle: t\n",
    })
    kestra = CuttingKestra()
    report = validate.validate_tree(kestra, root)
    # batch + a + b again, then c alone, then the dashboard: 5 requests, every file judged.
    assert report.requests == 5 and len(kestra.bodies) == 5
    assert report.problems == [
        ("flows/ns/b.yaml", "ns/b", "tasks: must not be empty"),
        ("flows/ns/dashboards/overview.yaml", "overview", "charts: must not be empty"),
    ]
    assert report.warnings == [
        ("flows/ns/c.yaml", "ns/c", "deprecated: inputs[0].type"),
        ("flows/ns/c.yaml", "ns/c", "uses BOOLEAN"),
    ]
