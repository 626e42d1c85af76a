"""keepData through the real CLI: `pulumi destroy` does not run the program, it deletes with the
options recorded in state. So keepData only protects what an `up` after setting it recorded
(README "Keeping data"); in the external profile the kept objects are KV entries and namespace files."""

from __future__ import annotations

from tests.engine.deployed import expected_local
from tests.engine.test_lifecycle import UP, deploy, state

EMPTY = {"flows": {}, "files": {}, "kv": set(), "dashboards": {}}


def test_set_keep_data_then_up_then_destroy_keeps_kv_entries_and_namespace_files(external_project, kestra_standin):
    expected = expected_local(external_project.dir / "flows")
    deploy(external_project, kestra_standin)

    external_project.set_config({"keepData": True})
    kestra_standin.control("POST", "reset-log")
    external_project.pulumi(*UP)  # records retainOnDelete in the state
    assert kestra_standin.control("GET", "stats")["requests"] == 0  # without touching Kestra
    external_project.pulumi("destroy", "--yes")

    kept = state(kestra_standin)
    assert kept == {**EMPTY, "files": expected["files"], "kv": expected["kv"]}

    # A new deployment adopts what was kept rather than failing on it.
    external_project.pulumi(*UP)
    assert state(kestra_standin) == expected


def test_set_keep_data_then_destroy_without_up_deletes_everything(external_project, kestra_standin):
    deploy(external_project, kestra_standin)
    external_project.set_config({"keepData": True})
    external_project.pulumi("destroy", "--yes")  # the program does not run: keepData is not seen
    assert state(kestra_standin) == EMPTY
