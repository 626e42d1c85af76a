"""Aggregate sales records per product and region.

Run by the dev.testing/python_namespace_file flow as a namespace file. Reads a CSV with the
columns order_id, region, product, quantity, unit_price (``--input``) or, without one, generates
a deterministic sample so the flow works with no upstream data. Writes the per-product/region
summary to ``--output`` and prints Kestra's ``::{"outputs": ...}::`` line so the totals become task
outputs.
"""

from __future__ import annotations

import argparse
import json
import random
import sys

import pandas as pd

REQUIRED_COLUMNS = ("order_id", "region", "product", "quantity", "unit_price")


def sample_sales(rows: int = 200, seed: int = 42) -> pd.DataFrame:
    # Fixed seed: the same sample on every run, so results can be compared between runs.
    rng = random.Random(seed)
    products = {"widget": 9.99, "gadget": 24.50, "gizmo": 14.00, "doohickey": 4.75}
    regions = ["north", "south", "east", "west"]
    records = []
    for order_id in range(1, rows + 1):
        product = rng.choice(sorted(products))
        records.append(
            {
                "order_id": order_id,
                "region": rng.choice(regions),
                "product": product,
                "quantity": rng.randint(1, 10),
                "unit_price": products[product],
            }
        )
    return pd.DataFrame.from_records(records)


def summarise(sales: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in sales.columns]
    if missing:
        raise ValueError(f"input is missing columns: {', '.join(missing)}")
    sales = sales.assign(revenue=sales["quantity"] * sales["unit_price"])
    summary = (
        sales.groupby(["product", "region"], as_index=False)
        .agg(orders=("order_id", "nunique"), units=("quantity", "sum"), revenue=("revenue", "sum"))
        .sort_values(["revenue", "product", "region"], ascending=[False, True, True])
        .reset_index(drop=True)
    )
    summary["revenue"] = summary["revenue"].round(2)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", help="CSV of sales records; a generated sample when omitted")
    parser.add_argument("--output", default="sales_summary.csv", help="where to write the summary CSV")
    parser.add_argument("--rows", type=int, default=200, help="size of the generated sample")
    args = parser.parse_args(argv)

    sales = pd.read_csv(args.input) if args.input else sample_sales(args.rows)
    summary = summarise(sales)
    summary.to_csv(args.output, index=False)

    print(summary.head(10).to_string(index=False))
    outputs = {
        "input_rows": int(len(sales)),
        "summary_rows": int(len(summary)),
        "total_revenue": round(float(summary["revenue"].sum()), 2),
        "top_product": str(summary.iloc[0]["product"]) if len(summary) else None,
    }
    print("::" + json.dumps({"outputs": outputs}) + "::")
    return 0


if __name__ == "__main__":
    sys.exit(main())
