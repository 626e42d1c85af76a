"""Every BigQuery statement of the gcp.ecommerce and gcp.yellowcab flows parses as BigQuery SQL
once its Pebble expressions are rendered to plain names."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from tests.flows.sql_support import FLOWS_ROOT, bigquery_statements, flow_files, input_values, load_flow, render

NAMESPACES = ("gcp.ecommerce", "gcp.yellowcab")

# Pebble expressions a flow's SQL may use besides kv() and its own inputs, with a stand-in value.
EXTRA_EXPRESSIONS = {
    "retry_rollback": {
        # The ForEach value (a file URI) and the staging table named after it.
        "parent.taskrun.value": "gs://bucket/yc-retry/data/retry-ok-file.csv",
        "render(vars.staging_table)": "stg_retry_ok_file",
    },
    "parallel_pipeline": {
        "taskrun.value": "gs://bucket/yellow-cab/yellow_tripdata_2024-01.parquet",
        "render(vars.staging_table)": "stg_yellow_tripdata_2024_01",
    },
}


def cases() -> list:
    found = []
    for path in flow_files(*NAMESPACES):
        flow = load_flow(path.parent.name, path.stem)
        for task_id, sql in bigquery_statements(flow):
            rel = path.relative_to(FLOWS_ROOT).as_posix()
            found.append(pytest.param(flow, task_id, sql, id=f"{rel}:{task_id}"))
    return found


CASES = cases()


def test_the_flows_have_bigquery_statements():
    assert len(CASES) >= 20


@pytest.mark.parametrize("flow, task_id, sql", CASES)
def test_statement_parses_as_bigquery(flow, task_id, sql):
    values = {**input_values(flow), **EXTRA_EXPRESSIONS.get(flow["id"], {})}
    rendered = render(sql, values)
    statements = [s for s in sqlglot.parse(rendered, read="bigquery") if s is not None]
    assert statements, f"{task_id}: no statement"
    for statement in statements:
        # A statement sqlglot could not make sense of comes back as an opaque Command.
        assert not isinstance(statement, exp.Command), f"{task_id}: not understood: {statement.sql()[:120]}"


def test_no_yaml_document_separator_in_flows():
    # Kestra's bulk flow endpoint splits its body on '---' anywhere, SQL included.
    for path in flow_files(*NAMESPACES):
        assert "---" not in path.read_text(encoding="utf-8"), path
