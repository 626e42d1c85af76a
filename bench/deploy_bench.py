"""Benchmark: deploying N flows through the kestra providers versus one bare request per flow.

    python bench/deploy_bench.py [--sizes 100] [--workers 4] [--repeat 9]

For each N it starts the Kestra stand-in (tests/support/kestra_standin.py) in its own process on
127.0.0.1 — so server work does not share this interpreter's GIL — and measures four runs: create
(first deploy into an empty Kestra), no-op (nothing changed), update (every flow changed), and one
flow changed. Each run is done two ways:

- provider: driven as the Pulumi engine drives a dynamic provider during ``pulumi up``: check,
  then create (no state yet) or diff against the stored outputs and update when it reports
  changes. Calls run on `--workers` threads (the Python dynamic-provider host serves gRPC with a
  4-thread pool) and on one thread.
- bare: one request per flow, sequential, on one keep-alive session: ``POST /flows`` with the
  YAML for a create, ``PUT /flows/{ns}/{id}`` for an update — the least any client can send.

It prints requests per flow and the time ratios provider/bare (best of `--repeat`), and checks
the goals: create and update at most 1.05 requests per flow, no-op 0, and the provider on one
thread at most 1.3x the bare time. Exit status 1 if a goal is missed. The stand-in answers in
microseconds, so times measure client-side work (YAML parsing, HTTP round trips on loopback).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

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


def flows(n: int, ns: str, version: int = 1, changed: Optional[int] = None) -> list[dict]:
    """N flows; `version` goes into every flow, or only into flow `changed` when given."""
    return [
        {"namespace": ns, "flow_id": f"flow_{i:04d}",
         "source": FLOW.format(i=i, ns=ns, day=i % 28 + 1,
                               version=version if changed is None or i == changed else version - 1)}
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


def bare(server: Standin, desired: list[dict], create: bool) -> None:
    with requests.Session() as http:
        http.auth = (server.username, server.password)
        for flow in desired:
            if create:
                url = f"{server.url}/api/v1/main/flows"
                answer = http.post(url, data=flow["source"].encode(), headers={"Content-Type": "application/x-yaml"},
                                   timeout=30)
            else:
                url = f"{server.url}/api/v1/main/flows/{flow['namespace']}/{flow['flow_id']}"
                answer = http.put(url, data=flow["source"].encode(), headers={"Content-Type": "application/x-yaml"},
                                  timeout=30)
            answer.raise_for_status()


def measure(server: Standin, run) -> tuple[int, float]:
    server.reset_log()
    started = time.perf_counter()
    run()
    elapsed = time.perf_counter() - started
    return server.stats()["requests"], elapsed


RUNS = ("create", "no-op", "update", "1 changed")


def bench_once(n: int, workers: int) -> dict:
    """{run: {way: (requests, seconds)}}: the three ways take turns on one stand-in, each in its
    own namespace, so a busy machine slows them alike."""
    results: dict[str, dict] = {run: {} for run in RUNS}
    with Standin() as server:
        engines = {"provider": Engine(server.conn(), workers), "provider-1": Engine(server.conn(), 1)}
        spaces = {"provider": "bench.p4", "provider-1": "bench.p1", "bare": "bench.bare"}
        for run in RUNS:
            for way, ns in spaces.items():
                desired = {"create": flows(n, ns, 1), "no-op": flows(n, ns, 1), "update": flows(n, ns, 2),
                           "1 changed": flows(n, ns, 3, changed=n // 2)}[run]
                if way != "bare":
                    results[run][way] = measure(server, lambda e=engines[way], d=desired: e.up(d))
                elif run == "no-op":
                    results[run][way] = (0, 0.0)  # nothing to send
                elif run == "1 changed":
                    results[run][way] = measure(server, lambda d=desired[n // 2:n // 2 + 1]: bare(server, d, False))
                else:
                    results[run][way] = measure(server, lambda d=desired, c=run == "create": bare(server, d, c))
        assert server.stats()["flows"] == 3 * n
    return results


def bench(n: int, workers: int, repeat: int) -> dict:
    """Best time of `repeat` rounds per run and way (request counts are the same every round)."""
    best: dict = {}
    for _ in range(repeat):
        for run, ways in bench_once(n, workers).items():
            for way, (reqs, secs) in ways.items():
                old = best.setdefault(run, {}).get(way)
                best[run][way] = (reqs, secs if old is None else min(old[1], secs))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    header = (f"{'N':>4}  {'run':<10} {'req/flow':>8} {'bare req':>8} {'prov s':>7} {'1-thr s':>7} {'bare s':>7} "
              f"{'time ratio':>10} {'1-thr ratio':>11}")
    print(f"provider on {args.workers} threads and on 1 thread; bare: one sequential request per flow; "
          f"best of {args.repeat}")
    print(header)
    print("-" * len(header))
    missed = []
    for n in (int(s) for s in args.sizes.split(",")):
        results = bench(n, args.workers, args.repeat)
        for run in RUNS:
            (pr, pt), (_, st), (br, bt) = (results[run][k] for k in ("provider", "provider-1", "bare"))
            per_flow = pr / n
            ratio = f"{pt / bt:.2f}" if bt else "-"
            ratio1 = f"{st / bt:.2f}" if bt else "-"
            print(f"{n:>4}  {run:<10} {per_flow:>8.2f} {br:>8} {pt:>7.3f} {st:>7.3f} {bt:>7.3f} {ratio:>10} {ratio1:>11}")
            if run in ("create", "update") and per_flow > 1.05:
                missed.append(f"N={n} {run}: {per_flow:.2f} requests per flow > 1.05")
            if run in ("create", "update") and st / bt > 1.3:
                missed.append(f"N={n} {run}: one-thread time {st / bt:.2f}x the bare requests > 1.3")
            if run == "no-op" and pr:
                missed.append(f"N={n} no-op: {pr} requests")
    for line in missed:
        print(f"goal missed: {line}")
    if not missed:
        print("goals met: create and update <= 1.05 requests/flow, time <= 1.3x bare, no-op 0 requests")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
