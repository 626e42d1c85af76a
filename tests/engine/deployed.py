"""What a profile must deploy, read from a flows/ tree, and what the stand-in holds.

The expectation follows the README and `infra/kv_and_secrets.py`, not the deployment code: the local
profile deploys every flow that needs no cloud (no GCP plugin, no GCP service-account secret, no
GCP KV key), every namespace file under ``<namespace>/files/``, every dashboard under
``<namespace>/dashboards/``, and the common KV keys on every namespace that received a flow; the
gcp profile deploys every flow, and the GCP KV keys too.
"""

from __future__ import annotations

import re
from pathlib import Path

from infra.kv_and_secrets import COMMON_KV_KEYS, GCP_KV_KEYS

_GCP_NEEDS = [re.compile(r"io\.kestra\.plugin\.gcp\."), re.compile(r"secret\(\s*['\"]GCP_SERVICE_ACCOUNT['\"]\s*\)")]
_GCP_NEEDS += [re.compile(rf"kv\(\s*['\"]{key}['\"]\s*\)") for key in GCP_KV_KEYS]


def needs_gcp(source: str) -> bool:
    return any(p.search(source) for p in _GCP_NEEDS)


def expected_local(flows_dir: Path) -> dict:
    """{"flows": {(ns, id): source}, "files": {(ns, path): text}, "kv": {(ns, key)}, "dashboards": {id: source}}."""
    return expected_deployment(flows_dir, include_gcp=False)


def expected_deployment(flows_dir: Path, include_gcp: bool) -> dict:
    """What a profile deploys: every flow (the gcp profile) or those needing no cloud (local), with
    the KV keys of that profile on each namespace that received a flow."""
    flows, files, dashboards = {}, {}, {}
    for ns_dir in sorted(p for p in flows_dir.iterdir() if p.is_dir()):
        for path in sorted(ns_dir.glob("*.yaml")):
            source = path.read_text(encoding="utf-8")
            if include_gcp or not needs_gcp(source):
                flows[(ns_dir.name, path.stem)] = source
        for path in sorted((ns_dir / "files").rglob("*")):
            if path.is_file():
                files[(ns_dir.name, "/" + path.relative_to(ns_dir / "files").as_posix())] = path.read_text("utf-8")
        for path in sorted((ns_dir / "dashboards").glob("*.yaml")):
            dashboards[path.stem] = path.read_text(encoding="utf-8")
    keys = COMMON_KV_KEYS + (GCP_KV_KEYS if include_gcp else ())
    kv = {(ns, key) for ns, _ in flows for key in keys}
    return {"flows": flows, "files": files, "kv": kv, "dashboards": dashboards}


def live(state: dict) -> dict:
    """The stand-in's ``GET /_standin/state`` in the shape of `expected_local` (tenant main only)."""
    assert {f["tenant"] for f in state["flows"]} <= {"main"}
    return {
        "flows": {(f["namespace"], f["id"]): f["source"] for f in state["flows"]},
        "files": {(f["namespace"], f["path"]): f["content"] for f in state["files"]},
        "kv": {(e["namespace"], e["key"]) for e in state["kv"]},
        "dashboards": {d["id"]: d["source"] for d in state["dashboards"]},
    }

