"""The stand-in itself answers like Kestra where the other tests rely on it (raw HTTP, no client)."""

from __future__ import annotations

import requests

from tests.kestra.conftest import flow_source

YAML = {"Content-Type": "application/x-yaml"}


def test_api_needs_basic_auth(standin):
    for auth in (None, (standin.username, "wrong")):
        answer = requests.get(f"{standin.url}/api/v1/main/flows/dev.testing/hello", auth=auth, timeout=5)
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Basic" and answer.content == b""
    assert [r.authorized for r in standin.requests] == [False, False]


def test_errors_are_micronaut_json(standin):
    auth = (standin.username, standin.password)
    missing = requests.get(f"{standin.url}/api/v1/main/flows/dev.testing/nope", auth=auth, timeout=5)
    assert missing.status_code == 404 and missing.json()["message"] == "Not Found"
    assert missing.json()["_links"]["self"]["href"] == "/api/v1/main/flows/dev.testing/nope"
    invalid = requests.post(f"{standin.url}/api/v1/main/flows", data="id: x\nnamespace: n\n", headers=YAML,
                            auth=auth, timeout=5)
    assert invalid.status_code == 422
    assert invalid.json()["message"] == "Invalid entity: tasks: must not be empty"
    assert invalid.json()["_embedded"]["errors"] == [{"message": "must not be empty", "path": "tasks"}]
    wrong_type = requests.post(f"{standin.url}/api/v1/main/flows", data=flow_source(), auth=auth, timeout=5,
                               headers={"Content-Type": "application/json"})
    assert wrong_type.status_code == 415


def test_yaml_validate_body_is_split_on_dashes_like_kestra(standin):
    auth = (standin.username, standin.password)
    body = flow_source(flow_id="a") + "---\n" + flow_source(flow_id="b").replace("tasks:", "other:")
    results = requests.post(f"{standin.url}/api/v1/main/flows/validate", data=body, headers=YAML, auth=auth,
                            timeout=5).json()
    assert [(r["flow"], r.get("constraints")) for r in results] == [("a", None), ("b", "tasks: must not be empty")]


def test_namespace_bulk_deletes_missing_flows_by_default(standin):
    auth = (standin.username, standin.password)
    standin.put_flow_directly(flow_source(flow_id="old"))
    url = f"{standin.url}/api/v1/main/flows/dev.testing"
    requests.post(url, params={"delete": "false"}, data=flow_source(flow_id="new"), headers=YAML, auth=auth,
                  timeout=5).raise_for_status()
    assert {k[2] for k in standin.flows} == {"old", "new"}
    requests.post(url, data=flow_source(flow_id="new"), headers=YAML, auth=auth, timeout=5).raise_for_status()
    assert {k[2] for k in standin.flows} == {"new"}


def test_revision_grows_only_when_source_changes(standin):
    auth = (standin.username, standin.password)
    url = f"{standin.url}/api/v1/main/flows/dev.testing/hello"
    requests.post(f"{standin.url}/api/v1/main/flows", data=flow_source(), headers=YAML, auth=auth, timeout=5)
    revisions = [
        requests.put(url, data=source, headers=YAML, auth=auth, timeout=5).json()["revision"]
        for source in (flow_source(), flow_source(message="b"), flow_source(message="b"), flow_source())
    ]
    assert revisions == [1, 2, 2, 3]
    assert "source" not in requests.get(url, auth=auth, timeout=5).json()
    assert requests.get(url, params={"source": "true"}, auth=auth, timeout=5).json()["source"] == flow_source()
