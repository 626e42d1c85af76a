"""gcp.ecommerce/ingest_clean on DuckDB: the clean/errors split of data.csv.

The SQL is the flow's own (transpiled from BigQuery by sqlglot); the raw table is built from the
flow's own load schema. The expected result is computed here, row by row, without SQL.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import datetime
from decimal import Decimal

import duckdb
import pytest

from tests.flows.sql_support import (
    DATA_DIR,
    connect,
    fetch_bigquery,
    kv_name,
    load_csv_as_text,
    load_flow,
    load_schema,
    render,
    rows,
    run_bigquery,
    sql_of,
)

RAW = kv_name("BQ_DATASET_RAW")
CLEAN = kv_name("BQ_DATASET_CLEAN")
RAW_COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]

INTEGER = re.compile(r"^-?[0-9]+$")
DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def parse_date(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%m/%d/%Y %H:%M")  # 12/1/2010 8:26
    except ValueError:
        return None


def expected_split(raw: list[dict]) -> tuple[Counter, Counter]:
    """(clean rows, rejected rows with reason), classified in plain Python by the documented rules."""
    clean, rejected = Counter(), Counter()
    for r in raw:
        quantity = int(r["Quantity"]) if r["Quantity"] and INTEGER.match(r["Quantity"]) else None
        price = Decimal(r["UnitPrice"]) if r["UnitPrice"] and DECIMAL.match(r["UnitPrice"]) else None
        date = parse_date(r["InvoiceDate"])
        customer_text = r["CustomerID"]
        customer = int(customer_text) if customer_text and INTEGER.match(customer_text) else None
        if (r["InvoiceNo"] or "").startswith("C"):
            reason = "cancelled_invoice"
        elif quantity is None:
            reason = "invalid_quantity"
        elif quantity <= 0:
            reason = "non_positive_quantity"
        elif price is None:
            reason = "invalid_unit_price"
        elif price < 0:
            reason = "negative_unit_price"
        elif date is None:
            reason = "invalid_invoice_date"
        elif customer is None and (customer_text or "").strip():
            reason = "invalid_customer_id"
        else:
            reason = None
        if reason:
            rejected[tuple(r[c] for c in RAW_COLUMNS) + (reason,)] += 1
        else:
            clean[(r["InvoiceNo"], r["StockCode"], (r["Description"] or "").strip(), quantity, date, price,
                   quantity * price, customer, r["Country"])] += 1
    return clean, rejected


@pytest.fixture(scope="module")
def flow():
    return load_flow("gcp.ecommerce", "ingest_clean")


@pytest.fixture(scope="module")
def db(flow):
    con = connect(RAW, CLEAN)
    columns = [name for name, _ in load_schema(flow, "load_raw")]
    load_csv_as_text(con, f"{RAW}.transactions_raw", DATA_DIR / "data.csv", columns)
    run_bigquery(con, render(sql_of(flow, "clean_and_split")))
    return con


@pytest.fixture(scope="module")
def raw(db):
    return rows(db, f"SELECT * FROM {RAW}.transactions_raw")


def test_raw_table_is_the_csv_as_text(raw):
    with (DATA_DIR / "data.csv").open(newline="", encoding="utf-8") as f:
        csv_rows = list(csv.DictReader(f))
    assert len(raw) == len(csv_rows) == 404
    # An empty CSV field is NULL in the raw table, as in a BigQuery load.
    assert [{k: v or None for k, v in r.items()} for r in csv_rows] == raw


def test_clean_and_errors_partition_raw(db, raw):
    errors = rows(db, f"SELECT * FROM {CLEAN}.transactions_errors")
    clean_count = db.execute(f"SELECT COUNT(*) FROM {CLEAN}.transactions").fetchone()[0]
    assert clean_count + len(errors) == len(raw)
    # The rejected rows are raw rows, verbatim, each taken once.
    remaining = Counter(tuple(r[c] for c in RAW_COLUMNS) for r in raw)
    remaining.subtract(Counter(tuple(e[c] for c in RAW_COLUMNS) for e in errors))
    assert min(remaining.values()) >= 0, "an error row is not a raw row (or is counted twice)"
    # What is left of raw is exactly what went to the clean table.
    assert sum(remaining.values()) == clean_count


def test_split_matches_the_rules(db, raw):
    expected_clean, expected_rejected = expected_split(raw)
    clean = Counter(
        (r["invoice_no"], r["stock_code"], r["description"], r["quantity"], r["invoice_date"], r["unit_price"],
         r["line_total"], r["customer_id"], r["country"])
        for r in rows(db, f"SELECT * FROM {CLEAN}.transactions")
    )
    rejected = Counter(
        tuple(r[c] for c in RAW_COLUMNS) + (r["reject_reason"],)
        for r in rows(db, f"SELECT * FROM {CLEAN}.transactions_errors")
    )
    assert rejected == expected_rejected
    assert clean == expected_clean


def test_expected_counts(db):
    reasons = dict(db.execute(
        f"SELECT reject_reason, COUNT(*) FROM {CLEAN}.transactions_errors GROUP BY 1").fetchall())
    # The anomalies data/generate.py injects (ANOMALIES, plus 8 cancelled invoices of 17 lines).
    assert reasons == {
        "cancelled_invoice": 17,
        "non_positive_quantity": 6,
        "invalid_quantity": 4,
        "invalid_unit_price": 4,
        "negative_unit_price": 2,
        "invalid_invoice_date": 4,
        "invalid_customer_id": 3,
    }
    clean, anonymous = db.execute(
        f"SELECT COUNT(*), COUNT(*) - COUNT(customer_id) FROM {CLEAN}.transactions").fetchone()
    assert (clean, anonymous) == (364, 20)


def test_clean_table_is_typed_and_positive(db):
    types = dict(db.execute(f"SELECT column_name, data_type FROM information_schema.columns "
                            f"WHERE table_schema = '{CLEAN}' AND table_name = 'transactions'").fetchall())
    assert types["quantity"] == "BIGINT" and types["invoice_date"] == "TIMESTAMP"
    assert types["unit_price"].startswith("DECIMAL") and types["customer_id"] == "BIGINT"
    bad = db.execute(f"SELECT COUNT(*) FROM {CLEAN}.transactions WHERE quantity <= 0 OR unit_price < 0 "
                     f"OR invoice_no LIKE 'C%' OR invoice_date IS NULL").fetchone()[0]
    assert bad == 0


def test_partition_check_query_passes_and_reports_counts(db, flow):
    result = fetch_bigquery(db, render(sql_of(flow, "check_partition")))
    assert result == [{"raw_rows": 404, "clean_rows": 364, "error_rows": 40, "partition_check": "ok"}]


def test_partition_check_query_fails_when_a_row_is_lost(flow):
    con = connect(RAW, CLEAN)
    con.execute(f"CREATE TABLE {RAW}.transactions_raw AS SELECT * FROM range(3)")
    con.execute(f"CREATE TABLE {CLEAN}.transactions AS SELECT * FROM range(1)")
    con.execute(f"CREATE TABLE {CLEAN}.transactions_errors AS SELECT * FROM range(1)")
    with pytest.raises(duckdb.Error, match=r"clean \(1\) \+ errors \(1\) != raw \(3\)"):
        fetch_bigquery(con, render(sql_of(flow, "check_partition")))
