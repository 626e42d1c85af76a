"""The gke profile's configuration: every new key validated with the key named, before anything
is created; kestraUrl and the Docker-only keys refused."""

import json

import pytest
from pulumi.runtime import config as runtime_config

from infra.config import ConfigError, load_config
import tests.support.pulumi_harness as harness
from tests.support.pulumi_harness import run_stack

GKE = {"gcp:project": "acme-data-123", "kestra-gcp:profile": "gke"}


def _problems(config) -> list[str]:
    with pytest.raises(ConfigError) as info:
        run_stack(config)
    assert info.value.registered == [], "resources were declared before the config was validated"
    return info.value.problems


def _load(values):
    runtime_config.set_all_config(dict(values), secret_keys=[])
    return load_config(stack="dev")


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("gkeLocation", "us-central1-a", "neither gcp:region (europe-west2"),
        ("gkeLocation", "europe-west2-bb", "neither gcp:region"),
        ("gkeNetwork", "My_Network", "not a VPC network name"),
        ("gkeMachineType", "E2 standard", "not a machine type"),
        ("gkeMinNodes", "-1", "outside 0..100"),
        ("gkeMaxNodes", "0", "outside 1..100"),
        ("gkeMaxNodes", "many", "whole number"),
        ("gkeReleaseChannel", "FAST", "RAPID, REGULAR, STABLE, EXTENDED"),
        ("kestraWorkerReplicas", "0", "outside 1..50"),
        ("kestraDomain", "https://kestra.example.com", "no scheme, port or path"),
        ("kestraDomain", "localhost", "fully qualified"),
        ("kestraDomain", "203.0.113.9", "not an IP address"),
        ("kestraDomain", "Kestra.Example.com", "lowercase"),
        ("kestraSourceRanges", json.dumps(["10.0.0.1/8"]), "not a CIDR range"),
        ("kestraSourceRanges", json.dumps(["anywhere"]), "not a CIDR range"),
        ("kestraSourceRanges", json.dumps([]), "at least one"),
        ("kestraSourceRanges", "0.0.0.0/0", "list of strings"),
        ("cloudSqlTier", "small", "not a Cloud SQL tier"),
        ("kestraVersion", "v1.1.7 latest", "image tag"),
        ("gkeChartRepository", "ftp://charts.example.com/", "not a Helm repository URL"),
        ("gkeChartRepository", "https:///kestra", "not a Helm repository URL"),
        ("gkeChartRepository", "/nonexistent/kestra-1.0.21.tgz", "neither a Helm repository URL nor an existing chart"),
        ("gkeChartRepository", "flows", "folder without Chart.yaml"),
        ("gkeChartRepository", "requirements.txt", "neither a chart folder nor a chart archive"),
    ],
)
def test_bad_gke_value_is_reported_naming_the_key(key, value, fragment):
    problems = _problems({**GKE, f"kestra-gcp:{key}": value})
    lines = [p for p in problems if p.startswith(f"kestra-gcp:{key}:")]
    assert len(lines) == 1 and fragment in lines[0], problems


def test_min_above_max_names_gke_max_nodes():
    problems = _problems({**GKE, "kestra-gcp:gkeMinNodes": "4", "kestra-gcp:gkeMaxNodes": "2"})
    assert problems == ["kestra-gcp:gkeMaxNodes: 2 is below gkeMinNodes (4)"]


def test_every_bad_gke_key_is_reported_at_once():
    problems = _problems({**GKE, "kestra-gcp:gkeMachineType": "X", "kestra-gcp:cloudSqlTier": "Y",
                          "kestra-gcp:kestraWorkerReplicas": "99"})
    assert [p.split(":")[1] for p in problems] == ["gkeMachineType", "kestraWorkerReplicas", "cloudSqlTier"]


def test_gke_refuses_an_external_kestra():
    problems = _problems({**GKE, "kestra-gcp:kestraUrl": "https://kestra.example.com"})
    assert len(problems) == 1
    assert problems[0].startswith("kestra-gcp:kestraUrl: the gke profile runs its own Kestra on GKE")
    assert "pulumi config rm kestraUrl" in problems[0]


@pytest.mark.parametrize("key, value", [
    ("postgresImage", "postgres:16"), ("hostAddress", "0.0.0.0"), ("uiPort", "9090"),
    ("managementPort", "9091"), ("kestraPublicUrl", "http://kestra.lan:8080"), ("startupTimeoutSeconds", "600"),
    ("dockerSocket", "/run/user/1000/docker.sock"),
])
def test_gke_refuses_each_docker_only_key(key, value):
    problems = _problems({**GKE, f"kestra-gcp:{key}": value})
    assert problems == [
        f"kestra-gcp:{key}: Docker-only, the gke profile does not use it — remove it (`pulumi config rm {key}`)"
    ]


def test_gke_needs_a_project():
    problems = _problems({"kestra-gcp:profile": "gke"})
    assert any(p.startswith("gcp:project: required") for p in problems), problems


def test_gke_defaults():
    cfg = _load(GKE)
    assert cfg.profile == "gke" and cfg.docker is None and cfg.gcp.project == "acme-data-123"
    gke = cfg.gke
    assert gke.location == "europe-west2-b"
    assert gke.network == ""
    assert (gke.machine_type, gke.min_nodes, gke.max_nodes) == ("e2-standard-4", 1, 3)
    assert gke.release_channel == "REGULAR"
    assert gke.worker_replicas == 1
    assert gke.domain is None
    assert gke.source_ranges == ("0.0.0.0/0",)
    assert gke.cloud_sql_tier == "db-custom-1-3840"
    assert gke.kestra_image_tag == "v1.1.7"
    assert gke.name_prefix == "kestra-dev"


def test_gke_values_are_read():
    cfg = _load({**GKE, "gcp:region": "us-east1", "kestra-gcp:gkeLocation": "us-east1-c",
                 "kestra-gcp:kestraSourceRanges": json.dumps(["203.0.113.0/24", "2001:db8::/32"]),
                 "kestra-gcp:kestraDomain": "kestra.example.com", "kestra-gcp:gkeNetwork": "default"})
    assert cfg.gke.location == "us-east1-c"
    assert cfg.gke.source_ranges == ("203.0.113.0/24", "2001:db8::/32")
    assert cfg.gke.domain == "kestra.example.com"
    assert cfg.gke.network == "default"


def test_cluster_name_is_a_valid_gke_name_for_any_stack_name():
    runtime_config.set_all_config(dict(GKE), secret_keys=[])
    name = load_config(stack="Team_A.Production-Stack-With-A-Very-Long-Name").gke.name_prefix
    # GKE: lowercase letters, digits and '-', starting with a letter, at most 40 characters.
    assert name == "kestra-team-a-production-stack-with-a-ve"
    assert len(name) <= 40


def test_other_profiles_ignore_the_gke_keys():
    cfg = _load({"gcp:project": "acme-data-123", "kestra-gcp:gkeMachineType": "X"})
    assert cfg.profile == "gcp" and cfg.gke is None and cfg.docker is not None


# --- what only GCP can answer, asked before any resource (infra/config.py, check_in_gcp) --------

def _gcp_problems(config, networks=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        run_stack(config, networks=networks)
    assert info.value.registered == [], "resources were declared before GCP's answers were checked"
    return info.value.problems


def test_a_gke_network_the_project_lacks_is_named():
    # The provider's getNetwork answers "projects/<p>/global/networks/<n> not found".
    problems = _gcp_problems({**GKE, "kestra-gcp:gkeNetwork": "shared-vpc"})
    assert len(problems) == 1 and problems[0].startswith("kestra-gcp:gkeNetwork: project acme-data-123 has no network 'shared-vpc'"), problems


def test_a_zone_the_region_lacks_is_named_with_the_regions_zones():
    # europe-west1's zones are b, c and d (cloud.google.com/compute/docs/regions-zones).
    problems = _gcp_problems({**GKE, "gcp:region": "europe-west1", "kestra-gcp:gkeLocation": "europe-west1-a"})
    assert problems == ["kestra-gcp:gkeLocation: 'europe-west1-a' is not a zone of europe-west1 — its zones are "
                        "europe-west1-b, europe-west1-c, europe-west1-d: run `pulumi config set gkeLocation europe-west1-b`"]


def test_the_default_zone_is_named_as_the_default_when_the_region_lacks_it(monkeypatch):
    # A region whose zones GCP lists without <region>-b (the default gkeLocation).
    monkeypatch.setitem(harness.PUBLISHED_ZONES, "europe-west1", ("c", "d"))
    problems = _gcp_problems({**GKE, "gcp:region": "europe-west1"})
    assert problems == ["kestra-gcp:gkeLocation: 'europe-west1-b' is not a zone of europe-west1 (the default, "
                        "<gcp:region>-b) — its zones are europe-west1-c, europe-west1-d: run "
                        "`pulumi config set gkeLocation europe-west1-c`"]


def test_a_region_gcp_does_not_have_is_named():
    problems = _gcp_problems({**GKE, "gcp:region": "europe-west99"})
    assert len(problems) == 1 and problems[0].startswith("gcp:region: GCP has no zones in 'europe-west99'"), problems


def test_with_the_compute_api_still_disabled_only_a_named_network_is_refused(monkeypatch):
    # A new project: the stack enables the Compute Engine API itself, so the zones cannot be
    # listed yet (checked by GCP at create), and no network can exist.
    monkeypatch.setattr(harness, "COMPUTE_API_ENABLED", False)
    run = run_stack(dict(GKE))
    assert run.one("gcp:container/cluster:Cluster").inputs["location"] == "europe-west2-b"
    problems = _gcp_problems({**GKE, "kestra-gcp:gkeNetwork": "default"})
    assert len(problems) == 1 and problems[0].startswith("kestra-gcp:gkeNetwork: project acme-data-123 has no network 'default'")



# Kestra's connections against the Cloud SQL tier. Expected figures: Google's max_connections table
# (cloud.google.com/sql/docs/postgres/quotas: 3.75-6 GB 100, 6-7.5 GB 200, 7.5-15 GB 400, ...),
# HikariCP's default pool of 10 per Kestra JVM (10 measured per component on Kestra 1.1.7 and
# PostgreSQL), and Kubernetes' default rolling update (maxSurge 25% rounded up) of the chart's
# webserver, executor, scheduler and worker Deployments, which a configuration change rolls at once.
@pytest.mark.parametrize("tier, workers, fits", [
    ("db-custom-1-3840", 1, True),   # the defaults: (3 + 1) x 2 pods x 10 = 80 of 100 - 3 reserved
    ("db-custom-1-3840", 2, True),   # 6 + 2 + 1 surge = 9 pods: 90
    ("db-custom-1-3840", 3, False),  # 6 + 3 + 1 = 10 pods: 100 > 97
    ("db-custom-2-7680", 3, True),   # 7.5 GB: 200
    ("db-custom-2-7680", 14, False),  # 6 + 14 + 4 = 24 pods: 240 > 197
    ("db-custom-4-15360", 14, True),  # 15 GB: 400
    ("db-g1-small", 1, False),       # 50
    ("db-f1-micro", 1, False),       # 25
])
def test_the_cloud_sql_tier_must_hold_every_kestra_connection_during_a_rollout(tier, workers, fits):
    config = {**GKE, "kestra-gcp:cloudSqlTier": tier, "kestra-gcp:kestraWorkerReplicas": str(workers)}
    if fits:
        assert _load(config).gke.cloud_sql_tier == tier
        return
    problems = _problems(config)
    assert len(problems) == 1 and problems[0].startswith("kestra-gcp:cloudSqlTier: "), problems
    assert "kestraWorkerReplicas" in problems[0] and "choose a larger tier such as db-custom-" in problems[0]


def test_the_suggested_tier_holds_the_connections():
    from infra.config import cloud_sql_max_connections, kestra_peak_connections

    problems = _problems({**GKE, "kestra-gcp:kestraWorkerReplicas": "50"})
    suggested = problems[0].split("such as ")[1].split(" ")[0]
    assert suggested == "db-custom-32-122880"  # 120 GB: 800 connections; 60 GB has 600 < 6 + 50 + 13 pods x 10
    assert cloud_sql_max_connections(suggested) >= kestra_peak_connections(50) + 3
    assert _load({**GKE, "kestra-gcp:kestraWorkerReplicas": "50", "kestra-gcp:cloudSqlTier": suggested})


def test_a_tier_whose_memory_is_unknown_here_is_not_judged():
    # Enterprise Plus or future tier names: Cloud SQL itself is the judge.
    assert _load({**GKE, "kestra-gcp:cloudSqlTier": "db-perf-optimized-n-8",
                  "kestra-gcp:kestraWorkerReplicas": "50"}).gke.cloud_sql_tier == "db-perf-optimized-n-8"


# --- gkeChartRepository: a mirror, or Kestra's chart on disk ----------------------------------

def _chart(folder, name="kestra", version="1.0.21"):
    folder.mkdir(parents=True)
    (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: \"{version}\"\n")
    return folder


def _release(run):
    return run.one("kubernetes:helm.sh/v3:Release")


def test_a_chart_mirror_is_the_releases_repository():
    run = run_stack({**GKE, "kestra-gcp:gkeChartRepository": "https://charts.example.internal/kestra/"})
    release = _release(run)
    assert (release.inputs["chart"], release.inputs["version"]) == ("kestra", "1.0.21")
    assert release.inputs["repositoryOpts"] == {"repo": "https://charts.example.internal/kestra/"}


@pytest.mark.parametrize("packaged", [False, True])
def test_a_local_chart_is_the_releases_chart(tmp_path, packaged):
    import tarfile

    chart = _chart(tmp_path / "src" / "kestra")
    if packaged:  # as `helm package` writes it: kestra-1.0.21.tgz holding kestra/Chart.yaml
        archive = tmp_path / "kestra-1.0.21.tgz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(chart, arcname="kestra")
        chart = archive
    release = _release(run_stack({**GKE, "kestra-gcp:gkeChartRepository": str(chart)}))
    # Helm takes the path as the chart, whose Chart.yaml gives the version; no repository.
    assert release.inputs["chart"] == str(chart.resolve())
    assert "repositoryOpts" not in release.inputs and "version" not in release.inputs


@pytest.mark.parametrize("name, version", [("kestra", "1.0.22"), ("kestra-starter", "1.0.21")])
def test_a_local_chart_other_than_kestra_1_0_21_is_refused(tmp_path, name, version):
    chart = _chart(tmp_path / name, name, version)
    problems = _problems({**GKE, "kestra-gcp:gkeChartRepository": str(chart)})
    assert problems == [f"kestra-gcp:gkeChartRepository: {str(chart)!r} is chart {name} {version}; "
                        "the stack's values are written for kestra 1.0.21"]
