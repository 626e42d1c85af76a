"""What the SQL tests share: finding the BigQuery statements of a flow, rendering their Pebble
expressions to plain names, and running them on DuckDB.

Rendering is deliberately strict. `render()` knows `{{ kv('KEY') }}` for the keys of
infra/kv_and_secrets.py (each becomes the key in lower case, e.g. `bq_dataset_raw`, a DuckDB schema in
the tests) and whatever expressions the caller lists; anything else raises UnknownExpression, so
an expression added to a flow's SQL is noticed here instead of being silently replaced.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

import duckdb
import sqlglot
import yaml

from infra.kv_and_secrets import KV_KEYS
from tests.flows.conftest import FLOWS_ROOT, REPO_ROOT
from tests.flows.flow_walk import iter_tasks as walk_tasks

DATA_DIR = REPO_ROOT / "data"

QUERY = "io.kestra.plugin.gcp.bigquery.Query"
LOAD_FROM_GCS = "io.kestra.plugin.gcp.bigquery.LoadFromGcs"

EXPRESSION_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
KV_CALL_RE = re.compile(r"^kv\(\s*(['\"])([A-Za-z0-9_]+)\1\s*\)$")


class UnknownExpression(ValueError):
    """A Pebble construct render() was not told how to replace."""


def normalize(expression: str) -> str:
    return " ".join(expression.split())


def kv_name(key: str) -> str:
    return key.lower()


def render(template: str, values: Mapping[str, str] | None = None) -> str:
    """Replace every `{{ … }}` of template. values maps an expression (whitespace-insensitive, without
    the braces) to its replacement; `kv('KEY')` of a contract key needs no entry."""
    known = {normalize(k): v for k, v in (values or {}).items()}
    for tag in ("{%", "{#"):
        if tag in template:
            raise UnknownExpression(f"Pebble tag {tag!r} in SQL: only {{{{ expressions }}}} can be rendered")

    def replace(match: re.Match) -> str:
        expression = normalize(match.group(1))
        if expression in known:
            return known[expression]
        kv = KV_CALL_RE.match(expression)
        if kv and kv.group(2) in KV_KEYS:
            return kv_name(kv.group(2))
        raise UnknownExpression(f"no value for Pebble expression {{{{ {expression} }}}}")

    rendered = EXPRESSION_RE.sub(replace, template)
    if "{{" in rendered or "}}" in rendered:
        raise UnknownExpression(f"unbalanced Pebble braces left in: {rendered!r}")
    return rendered


# ------------------------------------------------------------------------------------------------
# Flows
# ------------------------------------------------------------------------------------------------

def flow_path(namespace: str, flow_id: str) -> Path:
    return FLOWS_ROOT / namespace / f"{flow_id}.yaml"


def load_flow(namespace: str, flow_id: str) -> dict:
    return yaml.safe_load(flow_path(namespace, flow_id).read_text(encoding="utf-8"))


def flow_files(*namespaces: str) -> list[Path]:
    return sorted(p for ns in namespaces for p in (FLOWS_ROOT / ns).glob("*.yaml"))


def iter_tasks(flow: dict) -> Iterator[dict]:
    """Every task of a flow, depth first: tasks, then/else, errors, finally, cases."""
    return (task for _, task, _ in walk_tasks(flow))


def task(flow: dict, task_id: str) -> dict:
    found = [t for t in iter_tasks(flow) if t["id"] == task_id]
    assert len(found) == 1, f"{flow.get('id')}: expected one task {task_id!r}, found {len(found)}"
    return found[0]


def sql_of(flow: dict, task_id: str) -> str:
    found = task(flow, task_id)
    assert found["type"] == QUERY, f"{task_id} is a {found['type']}, not a BigQuery Query"
    return found["sql"]


def bigquery_statements(flow: dict) -> list[tuple[str, str]]:
    """(task id, sql) of every BigQuery Query task of a flow."""
    return [(t["id"], t["sql"]) for t in iter_tasks(flow) if t["type"] == QUERY]


def load_schema(flow: dict, task_id: str) -> list[tuple[str, str]]:
    """(name, type) of the explicit schema a LoadFromGcs task gives BigQuery."""
    found = task(flow, task_id)
    assert found["type"] == LOAD_FROM_GCS, f"{task_id} is a {found['type']}, not LoadFromGcs"
    return [(f["name"], f["type"]) for f in found["schema"]["fields"]]


def input_values(flow: dict) -> dict[str, str]:
    """`inputs.<id>` -> a deterministic name, for every input the flow declares."""
    return {f"inputs.{i['id']}": f"input_{i['id']}" for i in flow.get("inputs") or []}


# ------------------------------------------------------------------------------------------------
# DuckDB
# ------------------------------------------------------------------------------------------------

def to_duckdb(sql: str) -> list[str]:
    """BigQuery SQL (possibly a script of several statements) as DuckDB statements."""
    return [s for s in sqlglot.transpile(sql, read="bigquery", write="duckdb") if s.strip()]


def run_bigquery(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    for statement in to_duckdb(sql):
        con.execute(statement)


def fetch_bigquery(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    """Run a single BigQuery SELECT on DuckDB; rows as dicts."""
    statements = to_duckdb(sql)
    assert len(statements) == 1, f"expected one statement, got {len(statements)}"
    cursor = con.execute(statements[0])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def connect(*schemas: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB in UTC (BigQuery's TIMESTAMP zone) with a schema per dataset name."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for schema in schemas:
        con.execute(f"CREATE SCHEMA {schema}")
    return con


def load_csv_as_text(con: duckdb.DuckDBPyConnection, table: str, path: Path, columns: list[str]) -> None:
    """What a BigQuery CSV load with an all-STRING schema and skipLeadingRows: 1 produces: the
    header line skipped, an empty field NULL, a quoted empty string ''."""
    spec = ", ".join(f"'{c}': 'VARCHAR'" for c in columns)
    con.execute(
        f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path.as_posix()}', header = true, "
        f"auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
        f"allow_quoted_nulls = false, columns = {{{spec}}})"
    )


def rows(con: duckdb.DuckDBPyConnection, query: str) -> list[dict]:
    cursor = con.execute(query)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def append_query_result(con: duckdb.DuckDBPyConnection, table: str, select_sql: str) -> None:
    """What a BigQuery query job with destinationTable, WRITE_APPEND and schemaUpdateOptions
    ALLOW_FIELD_ADDITION does: the result's columns are matched to the table's by name, columns
    the table lacks are added (NULL in the rows already there), and the rows appended."""
    [statement] = to_duckdb(select_sql)
    con.execute(f"CREATE OR REPLACE TEMP TABLE query_result AS {statement}")
    have = {c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()}
    for name, kind in con.execute("SELECT column_name, column_type FROM (DESCRIBE query_result)").fetchall():
        if name not in have:
            con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {kind}')
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM query_result")
    con.execute("DROP TABLE query_result")


# ------------------------------------------------------------------------------------------------
# Pebble string filters (for names built in flow variables)
# ------------------------------------------------------------------------------------------------

def _replace_all(text: str, pairs: dict) -> str:
    for old, new in pairs.items():
        text = text.replace(old, new)
    return text


# Kestra's filters, as its Pebble extension implements them (StringUtils semantics).
FILTERS = {
    "substringAfterLast": lambda s, sep: s[s.rindex(sep) + len(sep):] if sep in s else "",
    "substringBeforeLast": lambda s, sep: s[: s.rindex(sep)] if sep in s else s,
    "replace": lambda s, pairs: _replace_all(s, pairs),
}


def evaluate(template: str, variables: dict) -> str:
    """`{{ variable | filter(args) | … }}` with the string filters Kestra provides, nothing else."""
    def one(match: re.Match) -> str:
        head, *filters = [part.strip() for part in match.group(1).split("|")]
        value = variables[head]
        for call in filters:
            name, args = re.fullmatch(r"(\w+)\((.*)\)", call).groups()
            value = FILTERS[name](value, ast.literal_eval(args))
        return value
    return re.sub(r"\{\{(.*?)\}\}", one, template)
