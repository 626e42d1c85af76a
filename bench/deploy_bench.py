"""Benchmark: deploying N flows through the kestra providers versus bare requests per flow.

    python bench/deploy_bench.py [--sizes 100] [--workers 4] [--repeat 9]
    python bench/deploy_bench.py --url http://127.0.0.1:18080 --username U --password P   # a real Kestra

For each N it starts the Kestra stand-in (tests/support/kestra_standin.py) in its own process on
127.0.0.1 — so server work does not share this interpreter's GIL — or uses the Kestra at `--url`
(namespaces ``bench.*``, deleted again after each round), and measures four runs: create (first
deploy into an empty Kestra), no-op (nothing changed), update (every flow changed), and one flow
changed. Each run is done three ways:

- provider: driven as the Pulumi engine drives a dynamic provider during ``pulumi up``: check,
  then create (no state yet) or diff against the stored outputs and update when it reports
  changes. Calls run on `--workers` threads (the Python dynamic-provider host serves gRPC with a
  4-thread pool) and on one thread.
- bare: sequential requests on one keep-alive session: ``POST /flows`` with the YAML for a
  create; for an update ``GET /flows/{ns}/{id}`` then ``PUT`` — the least a client can send
  without ever putting a flow that may be missing (Kestra 1.1 can freeze on that PUT,
  kestra-io/kestra#12984; see `KestraClient.put_flow`).
- unsafe: for updates only, the bare ``PUT`` alone — what updates cost before the read was
  added. The ratio bare/unsafe is what that safety costs.

It prints requests per flow and the time ratios (best of `--repeat`), and checks the goals: a
create at most 1.05 requests per flow, an update at most 2.05 (one read, one write), no-op 0, and
the provider on one thread at most 1.3x the bare time. Exit status 1 if a goal is missed. Against
the stand-in, which answers in microseconds, times measure client-side work (YAML parsing, HTTP
round trips on loopback) and requests are counted by the server; against a real Kestra they are
counted by this process (every `requests` call it sends).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
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

    def clean(self, namespaces: list[str]) -> None:
        """Nothing to do: each round gets a new stand-in."""


class RealKestra:
    """A Kestra reached by URL; requests are counted in this process, as they are sent."""

    _lock = threading.Lock()
    _sent = 0
    _patched = False

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url, self.username, self.password = url.rstrip("/"), username, password
        if not RealKestra._patched:  # count every request any session of this process sends
            original = requests.Session.send

            def counting_send(session, request, **kw):
                with RealKestra._lock:
                    RealKestra._sent += 1
                return original(session, request, **kw)

            requests.Session.send = counting_send
            RealKestra._patched = True

    def __enter__(self) -> "RealKestra":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def stats(self) -> dict:
        return {"requests": RealKestra._sent}

    def reset_log(self) -> None:
        with RealKestra._lock:
            RealKestra._sent = 0

    def conn(self) -> dict:
        return {"url": self.url, "username": self.username, "password": self.password}

    def clean(self, namespaces: list[str]) -> None:
        from kestra.client import KestraClient, KestraNotFound

        with KestraClient(self.url, self.username, self.password) as client:
            for ns in namespaces:
                for flow in client._json(client._request("GET", f"flows/{ns}", f"namespace {ns}")) or []:
                    try:
                        client.delete_flow(ns, flow["id"])
                    except KestraNotFound:
                        pass


def bare(server, desired: list[dict], create: bool, read_first: bool = True) -> None:
    with requests.Session() as http:
        http.auth = (server.username, server.password)
        for flow in desired:
            yaml_body = {"data": flow["source"].encode(), "headers": {"Content-Type": "application/x-yaml"},
                         "timeout": 30}
            if create:
                answer = http.post(f"{server.url}/api/v1/main/flows", **yaml_body)
            else:
                url = f"{server.url}/api/v1/main/flows/{flow['namespace']}/{flow['flow_id']}"
                if read_first:
                    http.get(url, params={"source": "true"}, timeout=30).raise_for_status()
                answer = http.put(url, **yaml_body)
            answer.raise_for_status()


def measure(server, run) -> tuple[int, float]:
    server.reset_log()
    started = time.perf_counter()
    run()
    elapsed = time.perf_counter() - started
    return server.stats()["requests"], elapsed


RUNS = ("create", "no-op", "update", "1 changed")


def bench_once(n: int, workers: int, server_factory) -> dict:
    """{run: {way: (requests, seconds)}}: the ways take turns on one server, each in its own
    namespace, so a busy machine slows them alike."""
    results: dict[str, dict] = {run: {} for run in RUNS}
    with server_factory() as server:
        engines = {"provider": Engine(server.conn(), workers), "provider-1": Engine(server.conn(), 1)}
        spaces = {"provider": "bench.p4", "provider-1": "bench.p1", "bare": "bench.bare", "unsafe": "bench.unsafe"}
        server.clean(list(spaces.values()))
        try:
            for run in RUNS:
                for way, ns in spaces.items():
                    desired = {"create": flows(n, ns, 1), "no-op": flows(n, ns, 1), "update": flows(n, ns, 2),
                               "1 changed": flows(n, ns, 3, changed=n // 2)}[run]
                    safe = way != "unsafe"
                    if way.startswith("provider"):
                        results[run][way] = measure(server, lambda e=engines[way], d=desired: e.up(d))
                    elif run == "no-op":
                        results[run][way] = (0, 0.0)  # nothing to send
                    elif run == "create" and not safe:  # the unsafe way differs in updates only
                        bare(server, desired, True)
                        results[run][way] = (0, 0.0)
                    elif run == "1 changed":
                        results[run][way] = measure(
                            server, lambda d=desired[n // 2:n // 2 + 1], r=safe: bare(server, d, False, r))
                    else:
                        results[run][way] = measure(
                            server, lambda d=desired, c=run == "create", r=safe: bare(server, d, c, r))
        finally:
            server.clean(list(spaces.values()))
    return results


def bench(n: int, workers: int, repeat: int, server_factory) -> dict:
    """Best time of `repeat` rounds per run and way (request counts are the same every round)."""
    best: dict = {}
    for _ in range(repeat):
        for run, ways in bench_once(n, workers, server_factory).items():
            for way, (reqs, secs) in ways.items():
                old = best.setdefault(run, {}).get(way)
                best[run][way] = (reqs, secs if old is None else min(old[1], secs))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--url", help="a real Kestra instead of the stand-in (uses namespaces bench.*)")
    parser.add_argument("--username", default="admin@kestra.io")
    parser.add_argument("--password", default="")
    args = parser.parse_args()
    if args.url:
        server_factory = lambda: RealKestra(args.url, args.username, args.password)  # noqa: E731
    else:
        server_factory = Standin
    header = (f"{'N':>4}  {'run':<10} {'req/flow':>8} {'bare req':>8} {'prov s':>7} {'1-thr s':>7} {'bare s':>7} "
              f"{'time ratio':>10} {'1-thr ratio':>11} {'safety cost':>11}")
    print(f"against {args.url or 'the stand-in'}; provider on {args.workers} threads and on 1 thread; bare: "
          f"sequential requests that never PUT a missing flow; safety cost: bare / PUT alone; best of {args.repeat}")
    print(header)
    print("-" * len(header))
    missed = []
    for n in (int(s) for s in args.sizes.split(",")):
        results = bench(n, args.workers, args.repeat, server_factory)
        for run in RUNS:
            (pr, pt), (_, st), (br, bt), (_, ut) = (
                results[run][k] for k in ("provider", "provider-1", "bare", "unsafe"))
            per_flow = pr / n
            ratio = f"{pt / bt:.2f}" if bt else "-"
            ratio1 = f"{st / bt:.2f}" if bt else "-"
            safety = f"{bt / ut:.2f}" if ut else "-"
            print(f"{n:>4}  {run:<10} {per_flow:>8.2f} {br:>8} {pt:>7.3f} {st:>7.3f} {bt:>7.3f} {ratio:>10} "
                  f"{ratio1:>11} {safety:>11}")
            limit = {"create": 1.05, "update": 2.05}.get(run)
            if limit and per_flow > limit:
                missed.append(f"N={n} {run}: {per_flow:.2f} requests per flow > {limit}")
            if run in ("create", "update") and st / bt > 1.3:
                missed.append(f"N={n} {run}: one-thread time {st / bt:.2f}x the bare requests > 1.3")
            if run == "no-op" and pr:
                missed.append(f"N={n} no-op: {pr} requests")
    for line in missed:
        print(f"goal missed: {line}")
    if not missed:
        print("goals met: create <= 1.05 and update <= 2.05 requests/flow, time <= 1.3x bare, no-op 0 requests")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
