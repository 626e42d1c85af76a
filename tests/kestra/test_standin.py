"""The stand-in answers like Kestra 1.1 (raw HTTP, no client).

Each test pins one behaviour the stand-in cites from the 1.1 source (fork erickirt/kestra at
ee63c33ef3), so a change to the stand-in that departs from Kestra fails here.
"""

from __future__ import annotations

import pytest
import requests

from tests.kestra.conftest import DASHBOARD, flow_source

YAML = {"Content-Type": "application/x-yaml"}


@pytest.fixture
def api(standin):
    """A requests session logged in to the stand-in; `api.url(rest)` is the tenant API path."""
    with requests.Session() as session:
        session.auth = (standin.username, standin.password)
        session.url = lambda rest: f"{standin.url}/api/v1/main/{rest}"  # type: ignore[attr-defined]
        yield session


def test_api_needs_basic_auth(standin):
    for auth in (None, (standin.username, "wrong")):
        answer = requests.get(f"{standin.url}/api/v1/main/flows/dev.testing/hello", auth=auth, timeout=5)
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Basic" and answer.content == b""
    assert [r.authorized for r in standin.requests] == [False, False]


def test_errors_are_micronaut_json(standin):
    # The JsonError Kestra 1.1.7 sends (nulls serialized, `_embedded` always there), e.g. to a
    # flow without tasks: ModelValidator's "path: message\n" per violation.
    auth = (standin.username, standin.password)
    missing = requests.get(f"{standin.url}/api/v1/main/flows/dev.testing/nope", auth=auth, timeout=5)
    assert missing.status_code == 404 and missing.json()["message"] == "Not Found"
    assert missing.json()["_links"]["self"]["href"] == "/api/v1/main/flows/dev.testing/nope"
    assert missing.json()["_embedded"] == {} and missing.json()["logref"] is None
    invalid = requests.post(f"{standin.url}/api/v1/main/flows", data="id: x\nnamespace: n\n", headers=YAML,
                            auth=auth, timeout=5)
    assert invalid.status_code == 422
    assert invalid.json()["message"] == "Invalid entity: tasks: must not be empty\n"
    assert [(e["message"], e["path"]) for e in invalid.json()["_embedded"]["errors"]] == [("must not be empty", "tasks")]
    unknown = requests.get(f"{standin.url}/api/v1/main/nothing/here", auth=auth, timeout=5)
    assert unknown.status_code == 404 and unknown.json()["message"] == "Not Found"


def test_configs_are_open_and_untenanted(standin):
    # MiscController.getConfiguration: /api/v1/configs answers without a login; not under a tenant.
    answer = requests.get(f"{standin.url}/api/v1/configs", timeout=5)
    assert answer.status_code == 200 and answer.json()["version"] == "1.1.7"
    tenanted = requests.get(f"{standin.url}/api/v1/main/configs", auth=(standin.username, standin.password), timeout=5)
    assert tenanted.status_code == 404
    assert requests.get(f"{standin.url}/api/v1/main/configs", timeout=5).status_code == 401


# -- Micronaut routing: 415 / 406 from each route's consumes / produces ---------------------------


def test_kv_put_consumes_text_plain_only(standin, api):
    # KVController.setKeyValue: @Put(..., consumes = MediaType.TEXT_PLAIN)
    url = api.url("namespaces/ns/kv/K")
    refused = api.put(url, data=b'"v"', headers={"Content-Type": "application/json"}, timeout=5)
    assert refused.status_code == 415
    assert refused.json()["message"] == ("Unsupported Media Type: Content Type [application/json] not allowed. "
                                         "Allowed types: [text/plain]")
    assert api.put(url, data=b'"v"', headers={"Content-Type": "text/plain; charset=utf-8"}, timeout=5).status_code == 200
    assert standin.kv[("main", "ns", "K")] == "v"


def test_namespace_file_get_produces_octet_stream_only(standin, api):
    # NamespaceFileController.getFileContent: @Get(..., produces = MediaType.APPLICATION_OCTET_STREAM)
    standin.files[("main", "ns", "/a.txt")] = b"abc"
    url, params = api.url("namespaces/ns/files"), {"path": "/a.txt"}
    refused = api.get(url, params=params, headers={"Accept": "application/json"}, timeout=5)
    assert refused.status_code == 406
    assert refused.json()["message"] == ("Not Acceptable: Specified Accept Types [application/json] not supported. "
                                         "Supported types: [application/octet-stream]")
    for accept in ("application/octet-stream", "*/*", "application/*", "text/html, application/octet-stream"):
        answer = api.get(url, params=params, headers={"Accept": accept}, timeout=5)
        assert (answer.status_code, answer.content) == (200, b"abc"), accept
        assert answer.headers["Content-Type"] == "application/octet-stream"


def test_flow_validate_takes_yaml_only_in_1_1(api):
    # FlowController.validateFlows: @Post(uri = "validate", consumes = APPLICATION_YAML); multipart came in 1.3.
    multipart = api.post(api.url("flows/validate"), files={"flows": ("a.yaml", flow_source().encode())}, timeout=5)
    assert multipart.status_code == 415
    assert api.post(api.url("flows/validate"), data=flow_source(), headers={"Content-Type": "application/yaml"},
                    timeout=5).status_code == 415  # MediaType.APPLICATION_YAML is application/x-yaml
    assert api.post(api.url("flows/validate"), data=flow_source(), headers=YAML, timeout=5).status_code == 200


def test_every_route_answers_415_and_406_from_its_declared_types(standin, api):
    # A body method's Content-Type is matched (GET ignores it); the Accept always is.
    routes = standin.routes()
    for route in routes:
        rest = route.pattern.replace("*", "x")
        path = api.url(rest) if route.tenanted else f"{standin.url}/api/v1/{rest}"
        same = [r for r in routes if (r.method, r.pattern) == (route.method, route.pattern)]
        if route.method != "GET" and not any("*/*" in r.consumes for r in same):
            answer = api.request(route.method, path, data=b"x", headers={"Content-Type": "application/xml"}, timeout=5)
            assert answer.status_code == 415, (route.method, route.pattern)
        answer = api.request(route.method, path, headers={"Accept": "application/xml"}, timeout=5)
        assert answer.status_code == 406, (route.method, route.pattern)


def test_a_path_served_for_other_methods_answers_405(api):
    answer = api.delete(api.url("flows/validate"), timeout=5)
    assert answer.status_code == 405
    assert answer.json()["message"] == ("Method Not Allowed: Method [DELETE] not allowed for URI "
                                        "[/api/v1/main/flows/validate]. Allowed methods: [HEAD, POST, GET]")


def test_deprecated_json_flow_routes_are_not_a_415(api):
    # FlowController.createFlowFromJson: @Post(consumes = MediaType.ALL): a JSON body is routed, not
    # refused; a body that is not JSON fails Jackson's parsing, a 500 on Kestra 1.1.7.
    answer = api.post(api.url("flows"), data=flow_source(), headers={"Content-Type": "application/json"}, timeout=5)
    assert answer.status_code == 500 and answer.json()["message"].startswith("Internal server error")


# -- flows ------------------------------------------------------------------------------------------


def test_yaml_validate_body_is_split_on_dashes_like_kestra(api):
    # FlowService.validate: split on "\\n+---\\n*?", one ValidateConstraintViolation per piece, HTTP 200.
    body = flow_source(flow_id="a") + "---\n" + "id: b\nnamespace: dev.testing\n"
    answer = api.post(api.url("flows/validate"), data=body, headers=YAML, timeout=5)
    assert answer.status_code == 200
    first, second = answer.json()
    assert first == {"index": 0, "flow": "a", "namespace": "dev.testing", "outdated": False,
                     "deprecationPaths": [], "warnings": [], "infos": []}
    assert (second["index"], second["flow"], second["constraints"]) == (1, "b", "tasks: must not be empty\n")


def test_validate_names_deprecated_input_classes(api):
    # FlowService.deprecationTraversal: BooleanInput is @Deprecated, reported by its array path.
    body = flow_source() + "inputs:\n  - id: a\n    type: BOOL\n  - id: b\n    type: BOOLEAN\n"
    [result] = api.post(api.url("flows/validate"), data=body, headers=YAML, timeout=5).json()
    assert result["deprecationPaths"] == ["inputs[1]"] and "constraints" not in result


@pytest.mark.parametrize("body,pieces", [
    ("id: a\n---\nid: b\n", 2),          # a separator line
    ("id: a\n\n\n---\nid: b\n", 2),      # blank lines before it are eaten with it
    ("id: a\n---- x\nid: b\n", 2),       # anything starting with --- at a line start
    ("id: a\n  ---\nid: b\n", 1),        # indented: no split
    ("--- \nid: a\n", 1),                 # at the very start: no newline before it
    ("id: a\n---\n", 2),                  # a trailing separator leaves a "\n" piece (not dropped)
])
def test_validate_split_points(api, body, pieces):
    assert len(api.post(api.url("flows/validate"), data=body, headers=YAML, timeout=5).json()) == pieces


def test_create_existing_flow_is_422_with_kestras_text(standin, api):
    # AbstractJdbcFlowRepository.create: ConstraintViolation "Flow id already exists" on flow.id.
    standin.put_flow_directly(flow_source())
    answer = api.post(api.url("flows"), data=flow_source(), headers=YAML, timeout=5)
    assert answer.status_code == 422
    assert answer.json()["message"] == "Invalid entity: flow.id: Flow id already exists"


def test_update_refuses_a_changed_id(standin, api):
    # Flow.validateUpdate: "Illegal flow id update" on flow.id.
    standin.put_flow_directly(flow_source())
    answer = api.put(api.url("flows/dev.testing/hello"), data=flow_source(flow_id="other"), headers=YAML, timeout=5)
    assert answer.status_code == 422 and "flow.id: Illegal flow id update" in answer.json()["message"]


def test_a_put_of_a_missing_flow_or_dashboard_is_refused_loudly_and_recorded(standin, api):
    # On the real 1.1.7 this PUT answered 404 or froze the server (kestra-io/kestra#12984): the
    # stand-in must never let a client believe it is harmless.
    standin.put_flow_directly(flow_source())
    api.delete(api.url("flows/dev.testing/hello"), timeout=5)  # deleted by hand
    flow = api.put(api.url("flows/dev.testing/hello"), data=flow_source(), headers=YAML, timeout=5)
    dashboard = api.put(api.url("dashboards/d1"), data="id: d1\ntitle: T\ncharts: []\n", headers=YAML, timeout=5)
    assert (flow.status_code, dashboard.status_code) == (500, 500)
    assert "kestra-io/kestra#12984" in flow.json()["message"]
    assert standin.hazards == [
        "PUT of the missing flow dev.testing/hello: a real Kestra 1.1 can freeze on this request "
        "(kestra-io/kestra#12984); read first and create (POST) what is missing",
        "PUT of the missing dashboard d1: a real Kestra 1.1 can freeze on this request "
        "(kestra-io/kestra#12984); read first and create (POST) what is missing",
    ]
    standin.hazards.clear()  # seen on purpose: the suite-wide check would fail this test otherwise


def test_flow_revisions_list_every_stored_source(standin, api):
    # FlowController.listFlowRevisions
    api.post(api.url("flows"), data=flow_source(), headers=YAML, timeout=5)
    for message in ("b", "b", "c"):
        api.put(api.url("flows/dev.testing/hello"), data=flow_source(message=message), headers=YAML, timeout=5)
    revisions = api.get(api.url("flows/dev.testing/hello/revisions"), timeout=5).json()
    assert [(r["revision"], r["source"]) for r in revisions] == [
        (1, flow_source()), (2, flow_source(message="b")), (3, flow_source(message="c"))
    ]


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


# -- namespace files ----------------------------------------------------------------------------------


def _upload(api, path: str, content: bytes = b"x") -> None:
    api.post(api.url("namespaces/ns/files"), params={"path": path}, files={"fileContent": ("f", content)},
             timeout=5).raise_for_status()


def _paths(standin) -> set:
    return {k[2] for k in standin.files if k[:2] == ("main", "ns")}


def test_namespace_file_delete_is_200_whether_or_not_the_file_exists(standin, api):
    _upload(api, "/a.txt")
    for _ in range(2):
        answer = api.delete(api.url("namespaces/ns/files"), params={"path": "/a.txt"}, timeout=5)
        assert answer.status_code == 200 and answer.content == b""
    assert _paths(standin) == set()


def test_namespace_file_delete_of_a_missing_file_cascades_to_a_one_entry_folder(standin, api):
    # NamespaceFileController.deleteFileDirectory: the missing file's folder holds one other entry,
    # so the walk moves up and the folder is deleted with that entry.
    _upload(api, "/scripts/theirs.py")
    api.delete(api.url("namespaces/ns/files"), params={"path": "/scripts/ours.py"}, timeout=5)
    assert _paths(standin) == set()


def test_namespace_file_delete_stops_at_a_folder_with_two_entries(standin, api):
    for path in ("/scripts/ours.py", "/scripts/theirs.py", "/scripts/more.py"):
        _upload(api, path)
    api.delete(api.url("namespaces/ns/files"), params={"path": "/scripts/ours.py"}, timeout=5)
    assert _paths(standin) == {"/scripts/theirs.py", "/scripts/more.py"}
    api.delete(api.url("namespaces/ns/files"), params={"path": "/scripts/ours.py"}, timeout=5)  # missing, 2 left
    assert _paths(standin) == {"/scripts/theirs.py", "/scripts/more.py"}
    listing = api.get(api.url("namespaces/ns/files/directory"), params={"path": "/scripts"}, timeout=5).json()
    assert [(e["fileName"], e["type"]) for e in listing] == [("more.py", "File"), ("theirs.py", "File")]


def test_namespace_file_at_the_root_never_cascades(standin, api):
    _upload(api, "/theirs.txt")
    api.delete(api.url("namespaces/ns/files"), params={"path": "/ours.txt"}, timeout=5)
    assert _paths(standin) == {"/theirs.txt"}


# -- KV and dashboards ------------------------------------------------------------------------------


def test_kv_delete_answers_a_boolean(standin, api):
    # KVController.deleteKeyValue returns KVStore.delete's boolean.
    standin.kv[("main", "ns", "K")] = 1
    assert api.delete(api.url("namespaces/ns/kv/K"), timeout=5).json() is True
    assert api.delete(api.url("namespaces/ns/kv/K"), timeout=5).json() is False


def test_kv_unparsable_value_is_422_quoting_it(api):
    # KVController.setKeyValue: IllegalArgumentException("Invalid JSON value for: " + value).
    answer = api.put(api.url("namespaces/ns/kv/K"), data=b"{oops", headers={"Content-Type": "text/plain"}, timeout=5)
    assert answer.status_code == 422
    assert answer.json()["message"] == "Illegal argument: Invalid JSON value for: {oops"


def test_dashboard_422_texts(standin, api):
    # DashboardController.createDashboard
    no_id = api.post(api.url("dashboards"), data="title: T\ncharts: []\n", headers=YAML, timeout=5)
    assert no_id.status_code == 422 and no_id.json()["message"] == "Illegal argument: Dashboard id is mandatory"
    api.post(api.url("dashboards"), data=DASHBOARD.format(id="d", title="T"), headers=YAML, timeout=5)
    again = api.post(api.url("dashboards"), data=DASHBOARD.format(id="d", title="T"), headers=YAML, timeout=5)
    assert again.status_code == 422
    assert again.json()["message"] == "Invalid entity: dashboard.id: Dashboard id already exists"


def test_deleting_a_missing_dashboard_is_409(standin, api):
    # AbstractJdbcDashboardRepository.delete: IllegalStateException → ErrorController 409.
    api.post(api.url("dashboards"), data=DASHBOARD.format(id="d", title="T"), headers=YAML, timeout=5)
    assert api.delete(api.url("dashboards/d"), timeout=5).status_code == 204
    gone = api.delete(api.url("dashboards/d"), timeout=5)
    assert gone.status_code == 409 and gone.json()["message"] == "Illegal state: Dashboard d doesn't exists"


def test_dashboard_validate_answers_one_object(api):
    # DashboardController.validateDashboard: one ValidateConstraintViolation, index 0.
    answer = api.post(api.url("dashboards/validate"), data="id: d\ncharts: []\n", headers=YAML, timeout=5).json()
    assert answer["index"] == 0
    assert set(answer["constraints"].splitlines()) == {"title: must not be null", "title: must not be blank"}
