"""Benchmark: deploying N flows as `NamespaceFlows` resources versus bare requests per flow.

    python bench/deploy_bench.py [--sizes 100] [--split 4] [--repeat 9]
    python bench/deploy_bench.py --url http://127.0.0.1:18080 --username U --password P   # a real Kestra

What the program deploys is one `NamespaceFlows` resource per namespace, whose provider
(`kestra.resources.NamespaceFlowsProvider`) writes that namespace's flows itself, up to
`FLOW_WRITERS` requests in flight. For each N this starts the Kestra stand-in
(tests/support/kestra_standin.py) in its own process on 127.0.0.1 — so server work does not share
this interpreter's GIL — or uses the Kestra at `--url` (namespaces ``bench.deploy.*``, deleted again after
each round), and measures four runs: create (first deploy into an empty Kestra), no-op (nothing
changed), update (every flow changed), and one flow changed. Each run is done these ways:

- provider: one resource holding the N flows, driven as the Pulumi engine drives a dynamic
  provider during ``pulumi up``: check (against the inputs it stored), then create (no state yet)
  or diff against the stored outputs and update when it reports changes.
- split: the N flows spread over `--split` namespace resources, whose steps run at once on 4
  threads, as the engine sends independent resource steps to the Python dynamic-provider host,
  which serves gRPC on a 4-thread pool (pulumi/pulumi sdk/python/lib/pulumi/dynamic/__main__.py,
  ``futures.ThreadPoolExecutor(max_workers=4)``).
- 1 writer: the single resource with `FLOW_WRITERS` set to 1, i.e. the provider's own client-side
  work (YAML parsing, diff) plus sequential requests; informative, without a goal.
- bare: sequential requests on one keep-alive session: ``POST /flows`` with the YAML for a
  create; for an update ``GET /flows/{ns}/{id}`` then ``PUT`` — the least a client can send
  without ever putting a flow that may be missing (Kestra 1.1 can freeze on that PUT,
  kestra-io/kestra#12984; see `KestraClient.put_flow`).
- unsafe: for updates only, the bare ``PUT`` alone. The ratio bare/unsafe is what that safety costs.

It prints requests per flow and the time ratios (best of `--repeat`), and checks the goals, for the
provider and the split alike: a create at most 1.05 requests per flow, an update at most 2.05 (one
read, one write), no-op 0 requests, one changed flow exactly 2; and a time for create and update:

- against a real Kestra, at most 1.0x the sequential bare time: each request there waits on the
  server's validation and storage, and the provider keeps several in flight where the bare client
  sends one at a time, which must more than pay for its own client-side work;
- against the stand-in, at most 1.3x: it answers in microseconds, so there is no server time to
  overlap and the times measure client-side work alone (YAML parsing for check, diff and the
  callee order, HTTP round trips on loopback), where the provider can only add to the bare
  client's.

Exit status 1 if a goal is missed. Against the stand-in requests are counted by the server; against
a real Kestra they are counted by this process (every `requests` call it sends).
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

import kestra.resources as resources  # noqa: E402
from kestra.resources import NamespaceFlowsProvider, flow_key  # noqa: E402

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
    """Just enough of the engine for `NamespaceFlows` resources: per resource it keeps the checked
    inputs and the outputs, and runs check(old inputs, new) → create | diff(old outputs) → update,
    as pulumi/pulumi sdk/python/lib/pulumi/dynamic/__main__.py passes them. Resources run at once
    on `threads` threads, the provider host's gRPC pool."""

    def __init__(self, conn: dict, threads: int = 4) -> None:
        self.conn, self.threads = conn, threads
        self.state: dict[str, tuple[dict, str, dict]] = {}  # namespace -> (inputs, id, outputs)
        self.provider = NamespaceFlowsProvider()

    def props(self, namespace: str, desired: list[dict]) -> dict:
        """The inputs `NamespaceFlows.__init__` registers; None values are dropped, as the SDK's
        serialize_properties does (pulumi/pulumi sdk/python/lib/pulumi/runtime/rpc.py)."""
        props = {**PROVIDER_KEY, **self.conn, "namespace": namespace, "directory": f"flows/{namespace}"}
        props.update({flow_key(f["namespace"], f["flow_id"]): f["source"] for f in desired})
        return props

    def step(self, namespace: str, desired: list[dict]) -> str:
        old = self.state.get(namespace)
        news = self.provider.check(old[0] if old else {}, self.props(namespace, desired))
        if news.failures:
            raise RuntimeError([f.reason for f in news.failures])
        inputs = {**news.inputs, **PROVIDER_KEY}
        if old is None:
            created = self.provider.create(inputs)
            self.state[namespace] = (inputs, created.id, {**created.outs, **PROVIDER_KEY})
            return "create"
        _, rid, outs = old
        if not self.provider.diff(rid, outs, inputs).changes:
            self.state[namespace] = (inputs, rid, outs)  # a same step stores the new inputs
            return "same"
        updated = self.provider.update(rid, outs, inputs)
        self.state[namespace] = (inputs, rid, {**updated.outs, **PROVIDER_KEY})
        return "update"

    def up(self, desired: list[dict]) -> dict:
        by_namespace: dict[str, list[dict]] = {}
        for flow in desired:
            by_namespace.setdefault(flow["namespace"], []).append(flow)
        with ThreadPoolExecutor(self.threads) as pool:
            steps = list(pool.map(self.step, by_namespace, by_namespace.values()))
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
WAYS = ("provider", "split", "1 writer", "bare", "unsafe")


def desired_for(run: str, n: int, namespaces: list[str]) -> list[dict]:
    """The N flows of `run`, flow i in namespaces[i % len(namespaces)]."""
    version, changed = {"create": (1, None), "no-op": (1, None), "update": (2, None),
                        "1 changed": (3, n // 2)}[run]
    spread = [flows(n, ns, version, changed) for ns in namespaces]
    return [spread[i % len(namespaces)][i] for i in range(n)]


def bench_once(n: int, split: int, server_factory, turn: int = 0) -> dict:
    """{run: {way: (requests, seconds)}}: the ways take turns on one server, each in its own
    namespaces, so a busy machine slows them alike; their order moves by `turn`, as a server may
    answer more slowly the more flows it already holds."""
    results: dict[str, dict] = {run: {} for run in RUNS}
    with server_factory() as server:
        spaces = {"provider": ["bench.deploy.p"], "split": [f"bench.deploy.s{k}" for k in range(split)],
                  "1 writer": ["bench.deploy.w1"], "bare": ["bench.deploy.bare"], "unsafe": ["bench.deploy.unsafe"]}
        if not split:
            del spaces["split"]
        order = list(spaces)
        spaces = {way: spaces[way] for way in order[turn % len(order):] + order[:turn % len(order)]}
        engines = {way: Engine(server.conn()) for way in ("provider", "split", "1 writer")}
        every = [ns for names in spaces.values() for ns in names]
        server.clean(every)
        try:
            for run in RUNS:
                for way, names in spaces.items():
                    desired = desired_for(run, n, names)
                    safe = way != "unsafe"
                    if way in engines:
                        writers = resources.FLOW_WRITERS
                        resources.FLOW_WRITERS = 1 if way == "1 writer" else writers
                        try:
                            results[run][way] = measure(server, lambda e=engines[way], d=desired: e.up(d))
                        finally:
                            resources.FLOW_WRITERS = writers
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
            server.clean(every)
    return results


def bench(n: int, split: int, repeat: int, server_factory) -> dict:
    """Best time of `repeat` rounds per run and way (request counts are the same every round)."""
    best: dict = {}
    for turn in range(repeat):
        for run, ways in bench_once(n, split, server_factory, turn).items():
            for way, (reqs, secs) in ways.items():
                old = best.setdefault(run, {}).get(way)
                best[run][way] = (reqs, secs if old is None else min(old[1], secs))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100")
    parser.add_argument("--split", type=int, default=4, help="namespace resources for the split way (0: none)")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--url", help="a real Kestra instead of the stand-in (uses namespaces bench.*)")
    parser.add_argument("--username", default="admin@kestra.io")
    parser.add_argument("--password", default="")
    args = parser.parse_args()
    if args.url:
        server_factory = lambda: RealKestra(args.url, args.username, args.password)  # noqa: E731
    else:
        server_factory = Standin
    header = (f"{'N':>4}  {'run':<10} {'req/flow':>8} {'split r/f':>9} {'bare req':>8} {'prov s':>7} "
              f"{'split s':>7} {'1-wr s':>7} {'bare s':>7} {'prov/bare':>9} {'split/bare':>10} "
              f"{'1-wr/bare':>9} {'safety cost':>11}")
    print(f"against {args.url or 'the stand-in'}; provider: one NamespaceFlows resource, "
          f"{resources.FLOW_WRITERS} requests in flight; split: {args.split} resources at once on 4 threads; "
          f"1 writer: one resource, 1 request in flight; bare: sequential requests that never PUT a "
          f"missing flow; safety cost: bare / PUT alone; best of {args.repeat}")
    print(header)
    print("-" * len(header))
    time_limit = 1.0 if args.url else 1.3  # see the module doc
    missed = []
    for n in (int(s) for s in args.sizes.split(",")):
        results = bench(n, args.split, args.repeat, server_factory)
        for run in RUNS:
            ways = results[run]
            (pr, pt), (wr, wt), (br, bt), (_, ut) = (ways[k] for k in ("provider", "1 writer", "bare", "unsafe"))
            sr, st = ways.get("split", (None, None))

            def ratio(t):
                return f"{t / bt:.2f}" if bt and t is not None else "-"

            print(f"{n:>4}  {run:<10} {pr / n:>8.2f} {'-' if sr is None else f'{sr / n:.2f}':>9} {br:>8} "
                  f"{pt:>7.3f} {'-' if st is None else f'{st:.3f}':>7} {wt:>7.3f} {bt:>7.3f} {ratio(pt):>9} "
                  f"{ratio(st):>10} {ratio(wt):>9} {f'{bt / ut:.2f}' if ut else '-':>11}")
            checked = [("provider", pr, pt)] + ([("split", sr, st)] if sr is not None else [])
            for way, reqs, secs in checked:
                limit = {"create": 1.05, "update": 2.05}.get(run)
                if limit and reqs / n > limit:
                    missed.append(f"N={n} {run}, {way}: {reqs / n:.2f} requests per flow > {limit}")
                if limit and secs / bt > time_limit:
                    missed.append(f"N={n} {run}, {way}: time {secs / bt:.2f}x the sequential bare requests "
                                  f"> {time_limit}")
                if run == "no-op" and reqs:
                    missed.append(f"N={n} no-op, {way}: {reqs} requests")
                if run == "1 changed" and reqs != 2:
                    missed.append(f"N={n} 1 changed, {way}: {reqs} requests, not 2 (a read and a write)")
    for line in missed:
        print(f"goal missed: {line}")
    if not missed:
        print("goals met: create <= 1.05 and update <= 2.05 requests/flow, no-op 0 requests, one changed "
              f"flow 2 requests, create and update time <= {time_limit}x sequential bare requests")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
