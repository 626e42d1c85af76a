"""The stand-in run as its own process (`python -m tests.support.kestra_standin`), driven through
its ``/_standin/*`` control paths as the engine tests drive it while the Pulumi CLI talks to it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
FLOW = "id: hello\nnamespace: dev.testing\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"


@pytest.fixture(scope="module")
def server():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.kestra_standin", "--password", "Other0ne!pw"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    info = json.loads(process.stdout.readline())
    yield info
    process.stdin.close()  # closing stdin is how the parent stops it
    assert process.wait(timeout=10) == 0


@pytest.fixture
def api(server):
    requests.delete(f"{server['url']}/_standin/faults", timeout=5)
    requests.post(f"{server['url']}/_standin/reset-log", timeout=5)
    with requests.Session() as http:
        http.auth = (server["username"], server["password"])
        yield http


def test_prints_its_login_and_uses_the_given_password(server):
    assert server["url"].startswith("http://127.0.0.1:") and server["username"] == "admin@kestra.io"
    assert server["password"] == "Other0ne!pw" and isinstance(server["pid"], int)


def test_injected_faults_hit_kestra_requests_only_and_are_counted(server, api):
    url = server["url"]
    answer = requests.post(f"{url}/_standin/inject", json={"kind": "status", "status": 503, "count": 2, "method": "GET"})
    assert answer.status_code == 204
    assert [f["remaining"] for f in requests.get(f"{url}/_standin/faults").json()] == [2]
    statuses = [api.get(f"{url}/api/v1/main/flows/dev.testing/nope").status_code for _ in range(3)]
    assert statuses == [503, 503, 404]
    assert requests.get(f"{url}/_standin/faults").json() == []  # consumed by the API calls only
    stats = requests.get(f"{url}/_standin/stats").json()
    assert stats["requests"] == 3 and stats["by_method"] == {"GET": 3}  # control calls are not counted
    log = requests.get(f"{url}/_standin/requests").json()
    assert [(r["method"], r["status"]) for r in log] == [("GET", 503), ("GET", 503), ("GET", 404)]


def test_a_bad_fault_is_refused_with_the_reason(server):
    answer = requests.post(f"{server['url']}/_standin/inject", json={"kind": "explode"})
    assert answer.status_code == 400 and "kind must be" in answer.json()["message"]
    answer = requests.post(f"{server['url']}/_standin/inject", json={"kind": "reset", "colour": "red"})
    assert answer.status_code == 400 and "colour" in answer.json()["message"]


def test_state_lists_every_stored_object(server, api):
    url = server["url"]
    assert api.post(f"{url}/api/v1/main/flows", data=FLOW, headers={"Content-Type": "application/x-yaml"}).ok
    assert api.put(f"{url}/api/v1/main/namespaces/dev.testing/kv/K", data="42",
                   headers={"Content-Type": "text/plain"}).ok
    assert api.post(f"{url}/api/v1/main/namespaces/dev.testing/files", params={"path": "/a.py"},
                    files={"fileContent": ("a.py", b"x = 1\n")}).ok
    state = requests.get(f"{url}/_standin/state").json()
    assert state["flows"] == [
        {"tenant": "main", "namespace": "dev.testing", "id": "hello", "source": FLOW, "revision": 1}
    ]
    assert state["kv"] == [{"tenant": "main", "namespace": "dev.testing", "key": "K", "value": 42}]
    assert state["files"] == [{"tenant": "main", "namespace": "dev.testing", "path": "/a.py", "content": "x = 1\n"}]
    assert state["dashboards"] == []
    assert requests.get(f"{url}/_standin/stats").json()["requests"] == 3


def test_unknown_control_path_is_404(server):
    assert requests.get(f"{server['url']}/_standin/nothing").status_code == 404
