"""The Kestra configuration each runtime hands to Kestra, taken from the real program under mocks.

- Docker runtime: the ``KESTRA_CONFIGURATION`` variable of the Kestra container (YAML text, which
  the image's launcher writes to a file and gives Micronaut).
- gke runtime: the two files the Helm chart mounts, in the order of ``MICRONAUT_CONFIG_FILES``:
  the ConfigMap's ``_default.yml`` (the chart's ``toYaml`` of ``configurations.application``) and
  the Secret's ``secrets.yml``.

The program is `__main__.py` itself (tests/support/pulumi_harness.py), so what is returned is what
`pulumi up` sends, not a re-assembly of kestra/config.py's functions.
"""

from __future__ import annotations

from typing import Any

import yaml

from tests.support.pulumi_harness import plain, run_stack

PROJECT = "acme-data-123"
CONTAINER = "docker:index/container:Container"
RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"
LOCAL = {"kestra-gcp:profile": "local"}
GCP = {"gcp:project": PROJECT, "gcp:region": "europe-west2"}
GKE = {**GCP, "kestra-gcp:profile": "gke"}
# Every optional secret given, so that the blocks they switch on (AI) are rendered too.
OPTIONAL_SECRETS = {
    "kestra-gcp:kestraPassword": "Rendered-Kestra-Pass-42",
    "kestra-gcp:postgresPassword": "Rendered-Pg-Pass-42",
    "kestra-gcp:githubToken": "ghp_RenderedToken0123456789",
    "kestra-gcp:geminiApiKey": "AIzaRenderedGeminiKey0123456789",
}


def _secret_keys(config: dict) -> tuple[str, ...]:
    return tuple(k for k in config if k in OPTIONAL_SECRETS)


def docker_environment(config: dict[str, Any]) -> dict[str, str]:
    """The Kestra container's environment (KESTRA_CONFIGURATION and the SECRET_* entries)."""
    run = run_stack(dict(config), secret_keys=_secret_keys(config))
    kestra = run.one(CONTAINER, "kestra-kestra")
    return dict(entry.split("=", 1) for entry in plain(kestra.inputs["envs"]))


def docker_configuration(config: dict[str, Any]) -> str:
    return docker_environment(config)["KESTRA_CONFIGURATION"]


def gke_release(config: dict[str, Any]) -> tuple[str, str, dict, dict]:
    """(ConfigMap ``_default.yml``, Secret ``secrets.yml``, ``deployments`` values, the environment
    Secret's entries) of the gke runtime's Helm release.

    The chart (1.0.21 templates/configmap.yaml) writes ``toYaml .Values.configurations.application``:
    the values reach Kestra as YAML, so they are dumped here as YAML too. ``deployments`` says which
    components the chart runs; the environment Secret (``common.extraEnvFrom``) holds the
    ``SECRET_*`` variables every component gets.
    """
    run = run_stack(dict(config), secret_keys=_secret_keys(config))
    values = plain(run.one(RELEASE).inputs["values"])
    public = yaml.safe_dump(values["configurations"]["application"], sort_keys=True)
    secret = plain(run.one(SECRET, "config-secret").inputs["stringData"])["secrets.yml"]
    env = plain(run.one(SECRET, "secret-env").inputs["stringData"])
    return public, secret, values["deployments"], dict(env)


# The chart's Deployments (kestra 1.0.21 templates/deployment.yaml): a deployments entry named one
# of these runs `server <name>`; any other name is a worker group.
CHART_SERVER_TYPES = ("standalone", "webserver", "executor", "indexer", "scheduler")


def chart_command(name: str, content: dict) -> list[str]:
    """Kestra's arguments in the chart's command for the deployments entry `name`
    (templates/deployment.yaml: `exec /app/kestra server {{ $type }}` then --worker-group for a
    worker group, --worker-thread/--thread when workerThreads is set, and extraArgs)."""
    kind = name if name in CHART_SERVER_TYPES else "worker"
    args = ["server", kind]
    if kind == "worker" and name != "worker":
        args.append(f"--worker-group={name}")
    if content.get("workerThreads"):
        args.append(f"--{'worker-thread' if kind == 'standalone' else 'thread'}={content['workerThreads']}")
    args += list(content.get("extraArgs") or [])
    return args
