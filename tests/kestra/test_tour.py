"""`python -m kestra.tour` end to end against the stand-in's execution API.

The stand-in holds the repository's own flows; each test scripts what their executions report
(states, task outputs shaped like the plugins' Output classes, logs), and checks what the tour
prints and how it exits. Expected figures come from those scripted outputs and from the flow
files, never from the tour's code.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kestra import tour
from tests.flows.flow_walk import iter_tasks
from tests.support.standin_executions import FlowScript, Spawn, TaskStep

REPO = Path(__file__).resolve().parents[2]
FLOWS = REPO / "flows"
# The walkthrough's order: connection test, Python and Java, subflows, (Git sync), ecommerce
# raw -> clean, Yellow Cab fetch then sequential and parallel loads, retry and rollback, the
# event test, the debug flow, (AI copilot).
GUIDE_ORDER = [
    "connection", "python", "java", "subflows", "git-sync", "ecommerce", "yellowcab-fetch",
    "yellowcab-sequential", "yellowcab-parallel", "retry-rollback", "event", "debug", "ai-copilot",
]
GCS_EVENT = "io.kestra.plugin.gcp.pubsub.RealtimeTrigger"


def repo_flows() -> dict[str, dict]:
    flows = {}
    for path in sorted(FLOWS.glob("*/*.yaml")):
        parsed = yaml.safe_load(path.read_text())
        flows[f"{parsed['namespace']}/{parsed['id']}"] = parsed
    return flows


GCP_FLOWS = sorted(name for name in repo_flows() if name.startswith("gcp."))


@pytest.fixture
def deployed(standin):
    """The stand-in holding every flow of flows/, as `pulumi up` deploys them."""
    for path in sorted(FLOWS.glob("*/*.yaml")):
        standin.put_flow_directly(path.read_text())
    return standin


def stack_outputs(standin, **extra) -> dict:
    outputs = {
        "profile": "gcp",
        "kestraUrl": standin.url,
        "kestraUsername": standin.username,
        "kestraPassword": standin.password,
        "bucketName": "acme-kestra",
        "flows": sorted(repo_flows()),
        "skippedFlows": [],
        "gitSyncConfigured": True,
        "aiConfigured": True,
    }
    outputs.update(extra)
    return outputs


def run_tour(outputs: dict, *args: str) -> tuple[int, str, str]:
    out, progress = io.StringIO(), io.StringIO()
    stdin = io.StringIO(json.dumps(outputs))
    code = tour.main(["--stack-output", "-", "--interval", "0", "--timeout", "30", *args],
                     stdin=stdin, out=out, progress=progress)
    return code, out.getvalue(), progress.getvalue()


def table_rows(text: str) -> dict[str, str]:
    """Table lines by flow column (the second cell)."""
    rows = {}
    for line in text.splitlines():
        cells = line.split()
        if len(cells) >= 3 and "/" in cells[1] or line.startswith(tuple(GUIDE_ORDER)) and "AI copilot" in line:
            rows[cells[1] if "/" in cells[1] else "AI copilot"] = line
    return rows


def script_success(standin) -> None:
    """Executions that end as the walkthrough describes, with the plugins' output shapes."""
    model = standin.execution_model
    model.script("dev.testing", "gcs_connection_test",
                 FlowScript(outputs={"gcs_uri": "gs://acme-kestra/test/hello.txt"}))
    # The flows' `outputs` (rendered by Kestra from their tasks' outputs).
    model.script("dev.testing", "python_inline_pandas", FlowScript(outputs={"regions": 4, "total_revenue": 330.8}))
    model.script("dev.testing", "python_multi_step", FlowScript(outputs={"days": 7, "revenue": 12873.55}))
    model.script("dev.testing", "python_namespace_file", FlowScript(outputs={
        "summary_csv": "kestra:///dev/testing/python_namespace_file/x/sales_summary.csv", "input_rows": 200,
        "total_revenue": 24731.4}))
    model.script("dev.testing", "java_hello_world", FlowScript(outputs={"java_version": "17.0.13"}))
    model.script("dev.testing", "java_namespace_file", FlowScript(outputs={"products": 3, "total_revenue": 330.8}))
    model.script("dev.testing", "java_maven_project", FlowScript(outputs={"regions": 4, "total_revenue": 330.8}))
    model.script("dev.testing", "parent_service", FlowScript(tasks=[
        TaskStep("call_critical_service", outputs={
            "executionId": "child1", "state": "SUCCESS",
            "outputs": {"order_count": 100, "total_revenue": 25000.5, "avg_order_value": 250.0}}),
        TaskStep("log_child_outputs")]))
    model.script("dev.testing", "git_namespace_sync", FlowScript(tasks=[
        TaskStep("sync_namespace", outputs={"diff": "kestra:///dev/testing/git_namespace_sync/diff.ion"})]))
    model.script("system", "tenant_sync", FlowScript(tasks=[
        TaskStep("sync_tenant", outputs={"diff": "kestra:///system/tenant_sync/diff.ion"})]))
    model.script("gcp.ecommerce", "ingest_clean", FlowScript(outputs={"raw_rows": 5000, "clean_rows": 4871,
                                                                      "error_rows": 129}))

    def fetch(inputs: dict) -> FlowScript:
        year = inputs["year"]
        steps = [TaskStep("each_month")]
        spawns = []
        for month in inputs["months"]:
            name = f"yellow-cab/yellow_tripdata_{year}-{month}.parquet"
            steps += [TaskStep("download", value=month, parent="each_month", outputs={"uri": "kestra:///tmp/x"}),
                      TaskStep("upload", value=month, parent="each_month", outputs={"uri": f"gs://acme-kestra/{name}"})]
            # The bucket's OBJECT_FINALIZE notification starts event_ingest through Pub/Sub.
            spawns.append(Spawn("gcp.yellowcab", "event_ingest", {
                "id": "gcs_upload", "type": GCS_EVENT,
                "variables": {"data": {"bucket": "acme-kestra", "name": name}, "messageId": "m1"}}))
        return FlowScript(tasks=steps, then=spawns)

    model.script("gcp.yellowcab", "fetch_data", fetch)
    model.script("gcp.yellowcab", "event_ingest", FlowScript(tasks=[
        TaskStep("log_event"), TaskStep("route"),
        TaskStep("load_object", parent="route",
                 outputs={"rows": 3475226, "destinationTable": "p.YellowCab.pub_sub_raw", "jobId": "j"})]))
    model.script("gcp.yellowcab", "sequential_ingest", FlowScript(tasks=[
        TaskStep("list_files"), TaskStep("load_each_file"),
        TaskStep("load_file", value="gs://acme-kestra/yellow-cab/a.parquet", parent="load_each_file",
                 outputs={"rows": 1000, "destinationTable": "p.YellowCab.raw_trips", "jobId": "j1"}),
        TaskStep("load_file", value="gs://acme-kestra/yellow-cab/b.parquet", parent="load_each_file",
                 outputs={"rows": 2500, "destinationTable": "p.YellowCab.raw_trips", "jobId": "j2"}),
        TaskStep("report")]))
    model.script("gcp.yellowcab", "parallel_pipeline", FlowScript(outputs={"files_archived": 2, "raw_trips_rows": 7000}))
    # The three samples (data/README.md): ok loads strictly, dirty through the SAFE_CAST fallback,
    # error is rolled back. A file that cannot load ends its per-file Sequential (allowFailure)
    # in WARNING: so does the run.
    ok, dirty, error = (f"gs://acme-kestra/yc-retry/data/retry-{name}-file.csv" for name in ("ok", "dirty", "error"))
    model.script("gcp.yellowcab", "retry_rollback", FlowScript(
        outputs={"rows_by_file": [
            {"source_file": ok, "load_mode": "strict", "row_count": 237, "loaded_at": "2025-11-28T19:00:00Z"},
            {"source_file": dirty, "load_mode": "soft", "row_count": 24, "loaded_at": "2025-11-28T19:00:01Z"}]},
        tasks=[
            TaskStep("create_target"), TaskStep("list_files", outputs={"blobs": [{"uri": ok}, {"uri": dirty}, {"uri": error}]}),
            TaskStep("each_file", state="WARNING"),
            TaskStep("process_file", value=ok, parent="each_file"),
            TaskStep("archive", value=ok, parent="process_file", outputs={"uri": "gs://x/yc-retry/archive/ok.csv"}),
            TaskStep("process_file", value=dirty, parent="each_file"),
            TaskStep("archive", value=dirty, parent="process_file", outputs={"uri": "gs://x/yc-retry/archive/dirty.csv"}),
            TaskStep("process_file", value=error, parent="each_file", state="WARNING"),
            TaskStep("insert", value=error, parent="process_file", state="FAILED",
                     logs=[("ERROR", "Subflow retry_rollback_insert failed")]),
            TaskStep("rollback", value=error, parent="process_file"),
            TaskStep("move_to_errors", value=error, parent="process_file",
                     outputs={"uri": "gs://x/yc-retry/errors/error.csv"}),
            TaskStep("summary"), TaskStep("report")]))
    model.ai_answer = (
        "id: ai_copilot_check\nnamespace: dev.testing\ntasks:\n"
        "  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: Hello from the AI copilot\n"
    )


# -- the phase table ---------------------------------------------------------------------------


def test_list_shows_every_phase_in_the_guides_order():
    out = io.StringIO()
    assert tour.main(["--list"], out=out) == 0
    names = [line.split()[0] for line in out.getvalue().splitlines() if not line.startswith(" ")]
    assert names == GUIDE_ORDER


def figure_problems(figure, flow: dict) -> list[str]:
    """What `figure` reads that `flow` does not have: task ids, or flow outputs its template names."""
    task_ids = {task.get("id") for _, task, _ in iter_tasks(flow)}
    problems = [f"task {t}" for t in getattr(figure, "tasks", ()) if t not in task_ids]
    declared = {o.get("id") for o in flow.get("outputs") or []}
    problems += [f"output {n}" for n in getattr(figure, "outputs", ()) if n not in declared]
    return problems


def test_every_phase_runs_flows_of_this_repository_with_their_declared_inputs_and_tasks():
    """A renamed flow, input, task or output breaks the tour silently on a real stack: pin them."""
    flows = repo_flows()
    for phase in tour.PHASES:
        for step in phase.steps:
            if step.copilot_prompt:
                continue
            assert step.name in flows, f"{phase.name}: {step.name} is not under flows/"
            flow = flows[step.name]
            declared = {i["id"] for i in flow.get("inputs") or []}
            assert set(step.inputs) <= declared, f"{phase.name}: {step.name} has no input {set(step.inputs) - declared}"
            assert not figure_problems(step.figure, flow), (phase.name, figure_problems(step.figure, flow))
            if step.event:
                event_flow = flows[f"{step.event.namespace}/{step.event.flow_id}"]
                assert any(t.get("type") == GCS_EVENT for t in event_flow.get("triggers") or [])
                assert not figure_problems(step.event.figure, event_flow)


def test_figure_check_notices_a_missing_task_or_output():
    flow = {"tasks": [{"id": "a"}], "outputs": [{"id": "n"}]}
    assert figure_problems(tour.RowsLoaded("b"), flow) == ["task b"]
    assert figure_problems(tour.FlowOutputs("{n} and {m}"), flow) == ["output m"]
    assert figure_problems(tour.FilesSorted("a", "a", rows_by_file="m"), flow) == ["output m"]
    assert figure_problems(tour.FlowOutputs("{n}"), flow) == [] and figure_problems(tour.RowsLoaded("a"), flow) == []


def test_help_works_as_a_module():
    done = subprocess.run([sys.executable, "-m", "kestra.tour", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--phase" in done.stdout and "--list" in done.stdout


# -- whole runs ----------------------------------------------------------------------------------


def test_full_tour_runs_every_phase_and_proves_each_with_its_figure(deployed):
    script_success(deployed)
    code, text, progress = run_tour(stack_outputs(deployed))
    assert code == 0, text
    rows = table_rows(text)
    expected = {
        "dev.testing/gcs_connection_test": "uploaded gs://acme-kestra/test/hello.txt",
        "dev.testing/python_inline_pandas": "4 regions, revenue 330.8",
        "dev.testing/python_multi_step": "7 days, revenue 12873.55",
        "dev.testing/python_namespace_file": "200 sales rows, revenue 24731.4",
        "dev.testing/java_hello_world": "Java 17.0.13",
        "dev.testing/java_namespace_file": "3 products, revenue 330.8",
        "dev.testing/java_maven_project": "4 regions, revenue 330.8",
        "dev.testing/parent_service": "avg_order_value=250.0, order_count=100, total_revenue=25000.5",
        "dev.testing/git_namespace_sync": "diff at kestra:///dev/testing/git_namespace_sync/diff.ion",
        "system/tenant_sync": "dry run",
        "gcp.ecommerce/ingest_clean": "5000 raw rows -> 4871 clean + 129 rejected",
        "gcp.yellowcab/sequential_ingest": "3500 rows loaded from 2 file(s) into p.YellowCab.raw_trips",
        "gcp.yellowcab/parallel_pipeline": "2 file(s) loaded and archived; raw_trips holds 7000 rows",
        "gcp.yellowcab/retry_rollback": "2 file(s) loaded and archived, 1 rolled back and moved to errors; "
                                        "rows: retry-ok-file.csv 237 strict, retry-dirty-file.csv 24 soft",
        "gcp.yellowcab/event_ingest": "3475226 rows loaded from 1 file(s) into p.YellowCab.pub_sub_raw",
        # debug_demo's Log tasks: log_info INFO, log_debug DEBUG, log_warn WARN, log_error ERROR, done INFO.
        "gcp.ecommerce/debug_demo": "log lines: 1 ERROR, 1 WARN, 2 INFO, 1 DEBUG",
        "AI copilot": "generated flow dev.testing/ai_copilot_check with 1 task(s)",
    }
    for flow, figure in expected.items():
        assert flow in rows, f"no row for {flow}:\n{text}"
        assert figure in rows[flow], rows[flow]
    assert "WARNING" in rows["gcp.yellowcab/retry_rollback"] and "each_file" in rows["gcp.yellowcab/retry_rollback"]
    assert "gs://acme-kestra/yellow-cab/yellow_tripdata_2025-03.parquet" in text
    # Every flow ran once, fetch_data twice (the fetch phase, then the event phase's upload).
    ran = [f"{e.namespace}/{e.flow_id}" for e in deployed.executions.values()]
    assert ran.count("gcp.yellowcab/fetch_data") == 2
    assert "SUCCESS" in progress and "phase event" in progress
    # The tour started its runs with the phases' inputs, typed by the flows' declarations.
    by_flow = {f"{e.namespace}/{e.flow_id}": e for e in deployed.executions.values()}
    assert by_flow["gcp.ecommerce/debug_demo"].inputs == {"fail": False}
    assert by_flow["dev.testing/git_namespace_sync"].inputs["dry_run"] is True
    event_fetch = [e for e in deployed.executions.values()
                   if e.flow_id == "fetch_data" and e.inputs["months"] == ["03"] and e.inputs["year"] == 2025]
    assert len(event_fetch) == 1
    assert deployed.execution_model.ai_prompts[0]["userPrompt"] == tour.COPILOT_PROMPT
    assert deployed.password not in text + progress


def test_failing_phase_stops_the_tour_with_the_task_and_its_last_log_lines(deployed):
    script_success(deployed)
    many = [("INFO", f"BigQuery job line {i}") for i in range(15)]
    deployed.execution_model.script("gcp.ecommerce", "ingest_clean", FlowScript(tasks=[
        TaskStep("load_raw", outputs={"rows": 5000}, logs=[("INFO", "loaded 5000 rows")]),
        TaskStep("clean_and_split", logs=[("DEBUG", "not shown at INFO")]),
        TaskStep("check_partition", state="FAILED",
                 logs=many + [("ERROR", "clean (4870) + errors (129) != raw (5000)")])]))
    code, text, _ = run_tour(stack_outputs(deployed))
    assert code == tour.EXIT_FAILED
    assert "phase ecommerce failed" in text
    assert "failing task: check_partition" in text
    assert "clean (4870) + errors (129) != raw (5000)" in text
    # The last lines of the failing task only, at INFO and above.
    assert "BigQuery job line 14" in text and "BigQuery job line 5" not in text
    assert "loaded 5000 rows" not in text and "not shown at INFO" not in text
    # Phases before it are in the table; none after it ran.
    assert "dev.testing/parent_service" in text
    assert not [e for e in deployed.executions.values() if e.flow_id == "fetch_data"]


def test_failed_subflow_is_followed_to_the_childs_failing_task(deployed):
    script_success(deployed)
    model = deployed.execution_model
    child = model.start("main", "dev.testing", "critical_service_subflow")
    model.scripts[("dev.testing", "critical_service_subflow")] = None
    child.script = FlowScript(tasks=[TaskStep("download_orders", state="FAILED",
                                              logs=[("ERROR", "Connection refused: huggingface.co")])])
    child.runs = [(step, f"run{i}") for i, step in enumerate(child.script.tasks)]
    for _ in range(3):
        model.get("main", child.id)
    model.script("dev.testing", "parent_service", FlowScript(tasks=[
        TaskStep("call_critical_service", state="FAILED", outputs={"executionId": child.id, "state": "FAILED"},
                 logs=[("ERROR", "Subflow execution failed")])]))
    code, text, _ = run_tour(stack_outputs(deployed), "--phase", "subflows")
    assert code == tour.EXIT_FAILED
    assert "failing task: call_critical_service" in text
    assert f"subflow dev.testing/critical_service_subflow execution {child.id} ended FAILED" in text
    assert "failing task: download_orders" in text and "Connection refused: huggingface.co" in text


def test_killed_task_run_fails_its_phase(deployed):
    script_success(deployed)
    deployed.execution_model.script("dev.testing", "java_maven_project", FlowScript(tasks=[
        TaskStep("build_and_run", state="KILLED", logs=[("WARN", "Kill requested")])]))
    code, text, _ = run_tour(stack_outputs(deployed), "--phase", "java")
    assert code == tour.EXIT_FAILED
    assert "ended KILLED" in text and "failing task: build_and_run" in text and "Kill requested" in text


def test_local_profile_and_missing_credentials_skip_phases_with_the_reason(deployed):
    script_success(deployed)
    outputs = stack_outputs(deployed, profile="local", skippedFlows=GCP_FLOWS + ["dev.testing/gcs_connection_test"],
                            flows=[f for f in repo_flows() if f not in GCP_FLOWS],
                            gitSyncConfigured=False, aiConfigured=False)
    code, text, _ = run_tour(outputs)
    assert code == 0, text
    rows = table_rows(text)
    for flow in GCP_FLOWS:
        if flow in ("gcp.yellowcab/event_ingest",) or flow.endswith(("_transform", "_insert")):
            continue  # started by other flows, never by the tour itself
        assert "skipped" in rows[flow] and "the local profile has no GCP" in rows[flow], flow
    assert "pulumi config set --secret githubToken" in rows["dev.testing/git_namespace_sync"]
    assert "pulumi config set --secret geminiApiKey" in rows["AI copilot"]
    assert "SUCCESS" in rows["dev.testing/parent_service"]
    ran = {f"{e.namespace}/{e.flow_id}" for e in deployed.executions.values()}
    assert not any(f.startswith("gcp.") for f in ran) and "dev.testing/git_namespace_sync" not in ran
    assert deployed.execution_model.ai_prompts == []


def test_outputs_of_an_older_stack_without_the_credential_flags_skip_those_phases(deployed):
    script_success(deployed)
    outputs = stack_outputs(deployed)
    del outputs["gitSyncConfigured"], outputs["aiConfigured"]
    code, text, _ = run_tour(outputs, "--phase", "git-sync")
    assert code == 0 and text.count("skipped") == 2 and not deployed.executions


def test_phase_option_runs_that_phase_only(deployed):
    script_success(deployed)
    code, text, _ = run_tour(stack_outputs(deployed), "--phase", "debug")
    assert code == 0
    assert [(e.namespace, e.flow_id) for e in deployed.executions.values()] == [("gcp.ecommerce", "debug_demo")]
    assert "log lines:" in text


def test_unknown_phase_is_refused_with_the_list(deployed):
    code, text, _ = run_tour(stack_outputs(deployed), "--phase", "nope")
    assert code == tour.EXIT_CONFIG and "retry-rollback" in text and not deployed.executions


def test_a_run_without_figure_says_what_it_exposes(deployed):
    deployed.execution_model.script("gcp.ecommerce", "ingest_clean", FlowScript(tasks=[TaskStep("load_raw")]))
    code, text, _ = run_tour(stack_outputs(deployed), "--phase", "ecommerce")
    assert code == 0
    assert "no figure exposed by this run (no flow outputs; 1/1 task runs SUCCESS)" in text


def test_execution_that_never_ends_times_out(deployed):
    deployed.execution_model.script("dev.testing", "gcs_connection_test", FlowScript(ends=False))
    out, progress = io.StringIO(), io.StringIO()
    ticks = iter(range(1000))
    with tour.KestraClient(deployed.url, deployed.username, deployed.password) as client:
        runner = tour.Tour(client, stack_outputs(deployed), timeout=5, interval=0, out=out, progress=progress,
                           clock=lambda: next(ticks), sleep=lambda s: None)
        code = runner.run([tour.PHASES[0]])
    assert code == tour.EXIT_TIMEOUT
    assert "still RUNNING after 5 s" in out.getvalue()


def test_event_phase_times_out_when_no_upload_event_arrives(deployed):
    script_success(deployed)
    deployed.execution_model.script("gcp.yellowcab", "fetch_data", FlowScript(tasks=[TaskStep("upload")]))
    out, progress = io.StringIO(), io.StringIO()
    ticks = iter(range(1000))
    event = next(p for p in tour.PHASES if p.name == "event")
    with tour.KestraClient(deployed.url, deployed.username, deployed.password) as client:
        runner = tour.Tour(client, stack_outputs(deployed), timeout=20, interval=0, out=out, progress=progress,
                           clock=lambda: next(ticks), sleep=lambda s: None)
        assert runner.run([event]) == tour.EXIT_TIMEOUT
    assert "no execution started for the upload of yellow_tripdata_2025-03.parquet" in out.getvalue()


def test_event_of_another_object_is_not_taken_for_the_upload(deployed):
    """Every upload to the bucket starts event_ingest: the tour waits for the one of its file."""
    script_success(deployed)
    model = deployed.execution_model
    model.start("main", "gcp.yellowcab", "event_ingest", trigger={
        "id": "gcs_upload", "type": GCS_EVENT, "variables": {"data": {"name": "yc-retry/archive/ok.csv"}}})
    code, text, _ = run_tour(stack_outputs(deployed), "--phase", "event")
    assert code == 0, text
    assert "3475226 rows loaded" in text


def test_copilot_flow_that_kestra_rejects_fails_the_phase(deployed):
    script_success(deployed)
    deployed.execution_model.ai_answer = "id: broken\nnamespace: dev.testing\n"  # no tasks
    code, text, _ = run_tour(stack_outputs(deployed), "--phase", "ai-copilot")
    assert code == tour.EXIT_FAILED
    assert "Kestra finds the generated flow invalid" in text and "tasks" in text


def test_kestra_errors_end_the_tour_with_the_api_status(deployed):
    outputs = stack_outputs(deployed, kestraPassword="Wr0ng-Passw0rd")
    code, text, _ = run_tour(outputs, "--phase", "connection")
    assert code == tour.EXIT_API and "401" in text and "Wr0ng-Passw0rd" not in text


def test_event_search_date_fits_the_search_endpoints_format():
    """Kestra returns instants with nanoseconds and compares search dates with its start_date
    column, truncated to milliseconds (jdbc-h2 V1_32): the tour's date is truncated the same way,
    so "at or after the upload's start" cannot miss an execution of the same millisecond."""
    assert tour._search_date("2025-11-28T19:01:52.123456789Z") == "2025-11-28T19:01:52.123Z"
    assert tour._search_date("2025-11-28T19:01:52Z") == "2025-11-28T19:01:52.000Z"
    assert tour._search_date(None) is None


def test_load_phases_with_no_waiting_file_say_so(deployed):
    """gcs.List answers an empty `blobs` list when the folder holds no file."""
    model = deployed.execution_model
    model.script("gcp.yellowcab", "sequential_ingest", FlowScript(tasks=[
        TaskStep("list_files", outputs={"blobs": []}), TaskStep("load_each_file"), TaskStep("report")]))
    model.script("gcp.yellowcab", "retry_rollback", FlowScript(tasks=[
        TaskStep("create_target"), TaskStep("list_files", outputs={"blobs": []}), TaskStep("each_file")]))
    code, text, _ = run_tour(stack_outputs(deployed), "--phase", "yellowcab-sequential")
    assert code == 0 and "no file was waiting: nothing loaded" in text
    code, text, _ = run_tour(stack_outputs(deployed), "--phase", "retry-rollback")
    assert code == 0 and "`pulumi up --refresh` uploads them again" in text


def test_outputs_kept_in_internal_storage_are_named_as_the_reason_for_no_figure(deployed):
    """Kestra can keep task outputs in internal storage (Variables.InStorageVariables); the
    execution then shows only a reference, and the tour says so instead of guessing."""
    stored = {"type": "io.kestra.datatype:outputs", "storageUri": "kestra:///x/outputs.ion",
              "storageContext": {"tenantId": "main", "namespace": "gcp.ecommerce"}}
    deployed.execution_model.script("gcp.ecommerce", "ingest_clean", FlowScript(tasks=[
        TaskStep("load_raw", outputs=stored), TaskStep("check_partition", outputs=stored)]))
    code, text, _ = run_tour(stack_outputs(deployed), "--phase", "ecommerce")
    assert code == 0 and "task outputs are kept in Kestra's internal storage" in text


def test_long_runs_show_progress_while_waiting(deployed):
    deployed.execution_model.script("dev.testing", "gcs_connection_test", FlowScript(running_polls=6))
    out, progress = io.StringIO(), io.StringIO()
    ticks = iter(range(0, 100000, 25))  # 25 s per clock reading
    with tour.KestraClient(deployed.url, deployed.username, deployed.password) as client:
        runner = tour.Tour(client, stack_outputs(deployed), timeout=3600, interval=0, out=out, progress=progress,
                           clock=lambda: next(ticks), sleep=lambda s: None)
        assert runner.run([tour.PHASES[0]]) == 0
    running = [line for line in progress.getvalue().splitlines() if ": RUNNING (" in line]
    assert len(running) >= 2, progress.getvalue()  # the state change, then "still running" heartbeats
    assert ": SUCCESS (" in progress.getvalue()



@pytest.mark.parametrize(
    "duration,shown",
    [("PT4.5S", "4.5s"), ("PT1M2.6S", "1m03s"), ("PT1H0M5S", "60m05s"), ("P1D", "?"), (None, "?")],
)
def test_durations_are_read_from_kestras_iso_8601_state_duration(duration, shown):
    """State.getDuration is a java.time.Duration, which Jackson writes as ISO-8601 (PT1M2.6S)."""
    assert tour._duration({"state": {"duration": duration}}) == shown


def test_a_flow_missing_from_the_flows_output_is_skipped_as_not_deployed():
    step = tour.Step("dev.testing", "python_multi_step")
    outputs = {"flows": ["dev.testing/other"], "skippedFlows": []}
    assert tour.skip_reason(step, outputs) == "not deployed by this stack (not in the flows output)"
    assert tour.skip_reason(step, {"flows": ["dev.testing/python_multi_step"]}) is None
