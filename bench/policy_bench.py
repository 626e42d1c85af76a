"""Benchmark: what the policy pack costs a `pulumi preview`, per profile.

    python bench/policy_bench.py [--profiles gcp local external gke] [--repeat 5]

Needs what the engine tests need (scripts/install-tools: the CLI and the echo plugins, and the
test virtualenv running this script). For each profile it builds a stack as the engine tests do
(a copy of the project, its own state and PULUMI_HOME, the echo plugins, the Kestra stand-in in
its own process as Kestra), runs `pulumi up` once, then alternates `pulumi preview` without and
with `--policy-pack policy` (`--repeat` times each, alternating so machine load hits both
alike) on the deployed stack — the no-op preview a pull request gets — and on a fresh stack (the
first preview, with every resource to create). It prints the best and median wall times, the
ratio of the medians, the spread of the pairwise ratios (each with-pack run over the run without
it just before), and the load average around the measurement. Timings are wall clock on whatever
machine runs it: compare ratios. KESTRA_GCP_PULUMI_BIN=<folder> measures another CLI and Python
host (tests/engine/conftest.py), for one upstream's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.engine.conftest import (  # noqa: E402
    ECHO_EXTERNAL_ADDRESS_ENV, PROJECT_ID, EngineProject, StandinProcess, _engine_env, _free_loopback_https_address,
    copy_project, echo_store, find_echo_plugins, find_pulumi_tools, point_docker_runtime_at,
)


def start_standin(*args: str) -> StandinProcess:
    process = subprocess.Popen([sys.executable, "-m", "tests.support.kestra_standin", *args], cwd=REPO,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    info = json.loads(process.stdout.readline())
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return StandinProcess(info["url"], info["username"], info["password"], process, info.get("https"))


def make_project(root: Path, profile: str, standin: StandinProcess) -> EngineProject:
    tools, echo = find_pulumi_tools(), find_echo_plugins()
    if tools is None or echo is None:
        sys.exit("bench/policy_bench.py: run scripts/install-tools first (the CLI and the echo plugins)")
    project = EngineProject(copy_project(root / "project"), _engine_env(root, tools), tools)
    project.pulumi("stack", "init", project.stack)
    if profile == "external":
        project.set_config({"profile": "local", "kestraUrl": standin.url, "kestraUsername": standin.username})
        project.set_config({"kestraPassword": standin.password}, secret=True)
        return project
    project.install_echo_plugins(echo)
    if profile == "gke":  # as the gke_project fixture: the endpoint's address is the stand-in's load balancer
        project.env[ECHO_EXTERNAL_ADDRESS_ENV] = standin.address
        project.set_config({"gcp:project": PROJECT_ID, "profile": "gke", "kestraUsername": standin.username})
        project.set_config({"kestraPassword": standin.password}, secret=True)
        return project
    project.set_config({"gcp:project": PROJECT_ID} if profile == "gcp" else {"profile": "local"})
    point_docker_runtime_at(project, standin)
    return project


def timed_previews(project: EngineProject, repeat: int) -> dict:
    times = {"without": [], "with": []}
    for _ in range(repeat):
        for label, extra in (("without", ()), ("with", ("--policy-pack", "policy"))):
            started = time.monotonic()
            project.pulumi("preview", *extra)
            times[label].append(time.monotonic() - started)
    return times


def report(profile: str, case: str, times: dict, load: tuple[float, float]) -> float:
    best = {k: min(v) for k, v in times.items()}
    median = {k: statistics.median(v) for k, v in times.items()}
    ratio = median["with"] / median["without"]
    pairs = sorted(w / wo for w, wo in zip(times["with"], times["without"]))
    print(f"{profile:8} {case:6} without pack best {best['without']:5.1f} s median {median['without']:5.1f} s | "
          f"with pack best {best['with']:5.1f} s median {median['with']:5.1f} s | ratio (median) {ratio:.2f}x, "
          f"pairwise {pairs[0]:.2f}-{pairs[-1]:.2f}x | load average {load[0]:.1f} -> {load[1]:.1f}", flush=True)
    return ratio


def measured(project: EngineProject, repeat: int) -> tuple[dict, tuple[float, float]]:
    before = os.getloadavg()[0]
    times = timed_previews(project, repeat)
    return times, (before, os.getloadavg()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    profiles = ["gcp", "local", "external", "gke"]
    parser.add_argument("--profiles", nargs="+", default=profiles, choices=profiles)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tools = find_pulumi_tools()
    print(f"CLI: {tools.pulumi if tools else '(none)'} {tools.version if tools else ''}; {os.cpu_count()} CPUs", flush=True)
    for profile in args.profiles:
        with tempfile.TemporaryDirectory(prefix="policy-bench-") as tmp:
            # gke: Kestra behind the load balancer on port 443 of a loopback address (needs root).
            lb = ("--load-balancer", f"{_free_loopback_https_address()}:443",
                  "--echo-store", str(echo_store(Path(tmp) / "deployed"))) if profile == "gke" else ()
            standin = start_standin(*lb)
            try:
                fresh = make_project(Path(tmp) / "fresh", profile, standin)
                report(profile, "first", *measured(fresh, args.repeat))
                deployed = make_project(Path(tmp) / "deployed", profile, standin)
                deployed.pulumi("up", "--yes", "--skip-preview")
                report(profile, "no-op", *measured(deployed, args.repeat))
                deployed.pulumi("destroy", "--yes")
            finally:
                standin.process.stdin.close()
                standin.process.wait(timeout=30)


if __name__ == "__main__":
    main()
