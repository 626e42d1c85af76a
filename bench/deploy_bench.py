"""Benchmark: deploying N flows through the kestra providers versus naive re-posting.

    python bench/deploy_bench.py [--sizes 10,100,300] [--workers 4]

For each N it starts the Kestra stand-in (tests/support/kestra_standin.py) in its own process on
127.0.0.1 — so server work does not share this interpreter's GIL — and measures three runs — first deploy into an empty Kestra, a no-op run, one changed flow — two ways:

- provider: driven as the Pulumi engine drives a dynamic provider during ``pulumi up``: check,
  then create (no state yet) or diff against the stored outputs and update when it reports
  changes. Calls run on `--workers` threads (the Python dynamic-provider host serves gRPC with a
  4-thread pool) and also on one thread.
- naive: one request per flow, sequential, every run: ``POST /flows/{namespace}?delete=false``
  with the flow's YAML (an upsert; the simplest "just push everything" deployment).

It prints the requests each made, the wall time, and provider/naive ratios. It is not a test and
asserts nothing; the stand-in answers in microseconds, so times mostly measure client-side work
(YAML parsing, HTTP round trips on loopback), not Kestra.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kestra.resources import FlowProvider  # noqa: E402

PROVIDER_KEY = {"__provider": "serialized-provider"}

FLOW = """\
# Generated benchmark flow {i}: comments and layout do not count in diffs.
id: flow_{i:04d}
namespace: {ns}
description: |
  Loads one day of trips into BigQuery and logs a summary.
inputs:
  - id: day
    type: STRING
    defaults: "2025-01-{day:02d}"
tasks:
  - id: start
    type: io.kestra.plugin.core.log.Log
    message: "starting {{{{ inputs.day }}}}"
  - id: load
    type: io.kestra.plugin.gcp.bigquery.Query
    projectId: "{{{{ kv('GCP_PROJECT_ID') }}}}"
    sql: |
      SELECT COUNT(*) AS trips, SUM(total_amount) AS revenue
      FROM `{{{{ kv('BQ_DATASET_RAW') }}}}.yellow_trips`
      WHERE DATE(tpep_pickup_datetime) = '{{{{ inputs.day }}}}'
    fetchType: FETCH_ONE
  - id: report
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ outputs.load.row }}}} (version {version})"
"""


def flows(n: int, ns: str, changed: int = -1) -> list[dict]:
    return [
        {"namespace": ns, "flow_id": f"flow_{i:04d}",
         "source": FLOW.format(i=i, ns=ns, day=i % 28 + 1, version=2 if i == changed else 1)}
        for i in range(n)
    ]


class Engine:
    """Just enough of the engine: one state (outputs) per resource, check → create|diff → update."""

    def __init__(self, conn: dict, workers: int) -> None:
        self.conn, self.workers, self.state = conn, workers, {}
        self.provider = FlowProvider()

    def step(self, flow: dict) -> str:
        key = flow["flow_id"]
        news = self.provider.check({}, {**PROVIDER_KEY, **self.conn, **flow})
        if news.failures:
            raise RuntimeError([f.reason for f in news.failures])
        if key not in self.state:
            created = self.provider.create(news.inputs)
            self.state[key] = (created.id, {**created.outs, **PROVIDER_KEY})
            return "create"
        rid, outs = self.state[key]
        if not self.provider.diff(rid, outs, news.inputs).changes:
            return "same"
        updated = self.provider.update(rid, outs, news.inputs)
        self.state[key] = (rid, {**updated.outs, **PROVIDER_KEY})
        return "update"

    def up(self, desired: list[dict]) -> dict:
        with ThreadPoolExecutor(self.workers) as pool:
            steps = list(pool.map(self.step, desired))
        return {s: steps.count(s) for s in sorted(set(steps))}


class Standin:
    """The stand-in in a child process; counts requests through its /_standin paths."""

    def __enter__(self) -> "Standin":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.kestra_standin"],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        info = json.loads(self.process.stdout.readline())
        self.url, self.username, self.password = info["url"], info["username"], info["password"]
        return self

    def __exit__(self, *exc) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)

    def stats(self) -> dict:
        return requests.get(f"{self.url}/_standin/stats", timeout=10).json()

    def reset_log(self) -> None:
        requests.post(f"{self.url}/_standin/reset-log", timeout=10).raise_for_status()

    def conn(self) -> dict:
        return {"url": self.url, "username": self.username, "password": self.password}


def naive(server: Standin, desired: list[dict]) -> None:
    with requests.Session() as http:
        http.auth = (server.username, server.password)
        for flow in desired:
            answer = http.post(
                f"{server.url}/api/v1/main/flows/{flow['namespace']}",
                params={"delete": "false"},
                data=flow["source"].encode(),
                headers={"Content-Type": "application/x-yaml"},
                timeout=30,
            )
            answer.raise_for_status()


def measure(server: Standin, run) -> tuple[int, float]:
    server.reset_log()
    started = time.perf_counter()
    run()
    elapsed = time.perf_counter() - started
    return server.stats()["requests"], elapsed


def bench(n: int, workers: int) -> list[tuple]:
    ns = f"bench.n{n}"
    runs = [("first deploy", flows(n, ns)), ("no-op", flows(n, ns)), ("1 flow changed", flows(n, ns, changed=n // 2))]
    results: dict[str, dict[str, tuple[int, float]]] = {}
    for label, threads in (("provider", workers), ("provider-1", 1)):
        with Standin() as server:
            engine = Engine(server.conn(), threads)
            for name, desired in runs:
                results.setdefault(name, {})[label] = measure(server, lambda d=desired: engine.up(d))
            assert server.stats()["flows"] == n
    with Standin() as server:
        for name, desired in runs:
            results[name]["naive"] = measure(server, lambda d=desired: naive(server, d))
        assert server.stats()["flows"] == n
    rows = []
    for name, _ in runs:
        (pr, pt), (sr, st), (nr, nt) = (results[name][k] for k in ("provider", "provider-1", "naive"))
        rows.append((n, name, pr, pt, st, nr, nt, pr / nr, pt / nt))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,300")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    header = (f"{'N':>4}  {'run':<15} {'prov req':>8} {'prov s':>7} {'1-thr s':>7} "
              f"{'naive req':>9} {'naive s':>7} {'req ratio':>9} {'time ratio':>10}")
    print(f"provider on {args.workers} threads (1-thr: one thread); naive: sequential upsert POST per flow")
    print(header)
    print("-" * len(header))
    for n in (int(s) for s in args.sizes.split(",")):
        for n_, name, pr, pt, st, nr, nt, rr, tr in bench(n, args.workers):
            print(f"{n_:>4}  {name:<15} {pr:>8} {pt:>7.3f} {st:>7.3f} {nr:>9} {nt:>7.3f} {rr:>9.2f} {tr:>10.2f}")


if __name__ == "__main__":
    main()
