"""The Pebble renderer the SQL tests rely on: it must replace what it knows and refuse the rest."""

from __future__ import annotations

import pytest

from tests.flows.sql_support import UnknownExpression, input_values, iter_tasks, render, to_duckdb


def test_contract_kv_keys_become_lower_case_names():
    assert render("SELECT * FROM {{ kv('BQ_DATASET_RAW') }}.t") == "SELECT * FROM bq_dataset_raw.t"
    assert render('{{kv("GCS_BUCKET")}}/x') == "gcs_bucket/x"


def test_listed_expressions_are_replaced_whitespace_insensitively():
    sql = "WHERE f = '{{ inputs.source_file }}' AND t = '{{inputs.source_file}}' FROM {{  render( vars.t ) }}"
    values = {"inputs.source_file": "gs://b/f.csv", "render( vars.t )": "stg_x"}
    assert render(sql, values) == "WHERE f = 'gs://b/f.csv' AND t = 'gs://b/f.csv' FROM stg_x"


@pytest.mark.parametrize(
    "template",
    [
        "{{ kv('NOT_IN_CONTRACT') }}",  # a key the stack does not set
        "{{ kv('bq_dataset_raw') }}",  # keys are case-sensitive
        "{{ inputs.other }}",
        "{{ secret('GCP_SERVICE_ACCOUNT') }}",
        "{{ kv('BQ_DATASET_RAW') | upper }}",
        "{% if x %}a{% endif %}",
        "{# comment #} SELECT 1",
        "SELECT {{ 1 ",
    ],
)
def test_anything_else_is_refused(template):
    with pytest.raises(UnknownExpression):
        render(template, {"inputs.source_file": "f"})


def test_input_values_cover_declared_inputs():
    flow = {"inputs": [{"id": "year", "type": "INT"}, {"id": "table", "type": "STRING"}]}
    assert input_values(flow) == {"inputs.year": "input_year", "inputs.table": "input_table"}


def test_iter_tasks_reaches_nested_and_error_tasks():
    flow = {
        "tasks": [
            {"id": "a", "type": "x.A", "then": [{"id": "b", "type": "x.B"}], "else": [{"id": "c", "type": "x.C"}]},
            {"id": "d", "type": "x.D", "tasks": [{"id": "e", "type": "x.E"}], "errors": [{"id": "f", "type": "x.F"}]},
        ],
        "errors": [{"id": "g", "type": "x.G"}],
        "inputs": [{"id": "not_a_task", "type": "STRING"}],
    }
    assert [t["id"] for t in iter_tasks(flow)] == ["a", "b", "c", "d", "e", "f", "g"]


def test_to_duckdb_splits_scripts():
    assert to_duckdb("SELECT 1; SELECT SAFE_CAST('a' AS INT64);") == ["SELECT 1", "SELECT TRY_CAST('a' AS BIGINT)"]
