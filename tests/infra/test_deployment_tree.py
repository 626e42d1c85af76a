"""Reading flows/: layout rules, stable naming inputs, the schedule switch, subflow ordering."""

import textwrap

import pytest
import yaml

from infra.deployment import (
    FlowSpec,
    FlowsTreeError,
    _callees_first,
    discover,
    set_trigger_disabled,
)


def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


FLOW = """\
id: {id}
namespace: {ns}
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


@pytest.fixture
def tree(tmp_path):
    flows = tmp_path / "flows"
    write(flows, "dev.testing/hello.yaml", FLOW.format(id="hello", ns="dev.testing"))
    write(flows, "dev.testing/files/scripts/run.py", "print('x')\n")
    write(flows, "dev.testing/files/pom.xml", "<project/>\n")
    write(flows, "gcp.ecommerce/ingest.yaml", FLOW.format(id="ingest", ns="gcp.ecommerce") + "  - id: up\n    type: io.kestra.plugin.gcp.gcs.Upload\n")
    write(flows, "gcp.ecommerce/dashboards/overview.yaml", "id: overview\ntitle: Overview\n")
    return flows


def test_discover_reads_flows_files_and_dashboards(tree):
    cat = discover(tree)
    assert [(f.namespace, f.flow_id, f.origin) for f in cat.flows] == [
        ("dev.testing", "hello", "flows/dev.testing/hello.yaml"),
        ("gcp.ecommerce", "ingest", "flows/gcp.ecommerce/ingest.yaml"),
    ]
    assert sorted((f.namespace, f.path) for f in cat.files) == [
        ("dev.testing", "/pom.xml"),
        ("dev.testing", "/scripts/run.py"),
    ]
    assert [(d.dashboard_id, d.origin) for d in cat.dashboards] == [("overview", "flows/gcp.ecommerce/dashboards/overview.yaml")]
    assert cat.namespaces == ["dev.testing", "gcp.ecommerce"]


def test_gcp_flows_are_recognised(tree):
    needs = {f.flow_id: f.needs_gcp for f in discover(tree).flows}
    assert needs == {"hello": False, "ingest": True}
    kv_only = FlowSpec("a", "b", "x", "message: \"{{ kv('GCS_BUCKET') }}\"")
    assert kv_only.needs_gcp
    git_only = FlowSpec("a", "b", "x", "url: \"{{ kv('GIT_REPOSITORY_URL') }}\"")
    assert not git_only.needs_gcp


@pytest.mark.parametrize(
    "rel, text, fragment",
    [
        # The message shows what the file says and what it must say.
        ("dev.testing/other.yaml", FLOW.format(id="hello", ns="dev.testing"),
         "flows/dev.testing/other.yaml: id 'hello' must equal the file name 'other'"),
        ("dev.testing/hello.yaml", FLOW.format(id="hello", ns="prod"),
         "flows/dev.testing/hello.yaml: namespace 'prod' must equal the folder 'dev.testing'"),
        ("dev.testing/broken.yaml", "id: broken\n  bad: [", "not valid YAML"),
        ("dev.testing/hello.yml", FLOW.format(id="hello", ns="dev.testing"),
         "flows/dev.testing/hello.yml: flow files end in .yaml (rename it)"),
        ("dev.testing/list.yaml", "- a\n- b\n", "YAML mapping"),
        ("Dev Testing/x.yaml", FLOW.format(id="x", ns="Dev Testing"), "not a Kestra namespace name"),
        ("dev.testing/dashboards/a.yaml", "id: b\n", "flows/dev.testing/dashboards/a.yaml: id 'b' must equal the file name 'a'"),
    ],
)
def test_undeployable_files_are_named(tmp_path, rel, text, fragment):
    write(tmp_path / "flows", rel, text)
    with pytest.raises(FlowsTreeError) as info:
        discover(tmp_path / "flows")
    assert fragment in str(info.value)
    assert rel.split("/")[0] in str(info.value)


def test_duplicate_dashboard_ids_across_namespaces(tmp_path):
    write(tmp_path / "flows", "a/dashboards/same.yaml", "id: same\n")
    write(tmp_path / "flows", "b/dashboards/same.yaml", "id: same\n")
    with pytest.raises(FlowsTreeError, match="already used by flows/a/dashboards/same.yaml"):
        discover(tmp_path / "flows")


def test_missing_flows_dir(tmp_path):
    with pytest.raises(FlowsTreeError, match="flowsDir"):
        discover(tmp_path / "nope")


SCHEDULED = """\
id: debug_demo
namespace: gcp.ecommerce
# a comment users keep
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "disabled: true"
triggers:
  - id: other
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
    disabled: true
  - id: every_10_minutes
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "*/10 * * * *"
    disabled: true   # switched by the stack
    conditions:
      - type: io.kestra.plugin.core.condition.Weekday
        disabled: true
"""


def test_schedule_switch_edits_only_that_trigger():
    enabled = set_trigger_disabled(SCHEDULED, "every_10_minutes", False, "f.yaml")
    doc = yaml.safe_load(enabled)
    triggers = {t["id"]: t for t in doc["triggers"]}
    assert triggers["every_10_minutes"]["disabled"] is False
    assert triggers["other"]["disabled"] is True
    assert triggers["every_10_minutes"]["conditions"][0]["disabled"] is True
    assert "# a comment users keep" in enabled and "# switched by the stack" in enabled
    assert len(enabled.splitlines()) == len(SCHEDULED.splitlines())
    assert set_trigger_disabled(enabled, "every_10_minutes", True, "f.yaml") == SCHEDULED


def test_schedule_switch_errors_name_the_file():
    with pytest.raises(FlowsTreeError, match=r"f.yaml: triggers: no trigger with id 'nope'"):
        set_trigger_disabled(SCHEDULED, "nope", False, "f.yaml")
    without_line = SCHEDULED.replace("    disabled: true   # switched by the stack\n", "")
    with pytest.raises(FlowsTreeError, match=r"explicit `disabled:` line"):
        set_trigger_disabled(without_line, "every_10_minutes", False, "f.yaml")


def spec(ns, fid, *calls):
    return FlowSpec(ns, fid, f"flows/{ns}/{fid}.yaml", "", tuple(calls))


def test_subflows_come_before_their_callers():
    parent = spec("a", "parent", ("a", "child"))
    child = spec("a", "child", ("b", "leaf"))
    leaf = spec("b", "leaf")
    alone = spec("c", "alone")
    order = [f.flow_id for f in _callees_first([parent, alone, child, leaf])]
    assert order.index("leaf") < order.index("child") < order.index("parent")
    assert sorted(order) == ["alone", "child", "leaf", "parent"]


def test_subflow_cycle_is_an_error():
    with pytest.raises(FlowsTreeError, match="subflow cycle a/x -> a/y -> a/x"):
        _callees_first([spec("a", "x", ("a", "y")), spec("a", "y", ("a", "x"))])


def test_subflow_references_are_collected(tmp_path):
    write(tmp_path / "flows", "a/parent.yaml", """\
        id: parent
        namespace: a
        tasks:
          - id: each
            type: io.kestra.plugin.core.flow.ForEach
            values: [1]
            tasks:
              - id: call
                type: io.kestra.plugin.core.flow.Subflow
                namespace: b
                flowId: child
        errors:
          - id: on_error
            type: io.kestra.plugin.core.flow.Subflow
            namespace: a
            flowId: alert
        """)
    (flow,) = discover(tmp_path / "flows").flows
    assert flow.subflows == (("a", "alert"), ("b", "child"))


def test_namespace_files_know_where_they_come_from(tree):
    # The provider names this origin in every error about the file (Kestra refusing it, drift).
    origins = {f.path: f.origin for f in discover(tree).files}
    assert origins == {"/pom.xml": "flows/dev.testing/files/pom.xml",
                       "/scripts/run.py": "flows/dev.testing/files/scripts/run.py"}


def test_preflight_refuses_a_demo_schedule_it_cannot_switch(tree):
    # demoScheduleEnabled with no gcp.ecommerce/debug_demo flow stops the program in the config
    # phase, before any resource is declared.
    from infra.deployment import preflight

    assert preflight(tree, include_gcp=True, demo_schedule_enabled=False).namespaces == ["dev.testing", "gcp.ecommerce"]
    with pytest.raises(FlowsTreeError, match=r"^demoScheduleEnabled is true but flows/gcp.ecommerce/debug_demo.yaml is not deployed$"):
        preflight(tree, include_gcp=True, demo_schedule_enabled=True)


def test_a_flow_claimed_by_two_files_is_refused_naming_both(tmp_path):
    flows = tmp_path / "flows"
    write(flows, "team.a/load.yaml", FLOW.format(id="load", ns="team.a"))
    # A copy left in another namespace's folder, still declaring team.a/load.
    write(flows, "team.a.old/load.yaml", FLOW.format(id="load", ns="team.a"))
    with pytest.raises(FlowsTreeError) as refused:
        discover(flows)
    assert "flows/team.a.old/load.yaml" in str(refused.value) and "flows/team.a/load.yaml" in str(refused.value)
    assert "team.a/load" in str(refused.value)


def test_the_duplicate_is_named_whichever_file_is_read_first(tmp_path):
    flows = tmp_path / "flows"
    write(flows, "b.team/report.yaml", FLOW.format(id="report", ns="b.team"))
    write(flows, "a.team/report_copy.yaml", FLOW.format(id="report", ns="b.team"))  # read before b.team
    with pytest.raises(FlowsTreeError) as refused:
        discover(flows)
    message = str(refused.value)
    assert message.startswith("flows/a.team/report_copy.yaml: ") and "flows/b.team/report.yaml" in message
