"""GKE (the gke profile; README "Kestra on GKE"): Workload Identity, no service-account keys,
a private TLS-only Cloud SQL, HTTPS-only entry."""

from __future__ import annotations

from typing import Any, Iterable

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from pack_support import (
    MANDATORY, UNKNOWN, StackSettings, contains_unknown, exception_hint, path_value, plain, prop, resource_policy,
    settings, stack_policy, where,
)


CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
GKE_METADATA = "GKE_METADATA"


def check_workload_identity(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    if args.resource_type == CLUSTER:
        pool = path_value(args.props, "workloadIdentityConfig.workloadPool")
        project = prop(args.props, "project") or stack.project
        expected = f"{project}.svc.id.goog" if isinstance(project, str) and project else "<project>.svc.id.goog"
        if pool is not UNKNOWN and not pool:
            yield (f"{where(args)}: workloadIdentityConfig.workloadPool is not set, so pods can act as Google "
                   f"only through the nodes' service account or a downloaded key. Fix: "
                   f"workload_identity_config={{\"workload_pool\": \"{expected}\"}}. "
                   f"{exception_hint('gke-workload-identity')}")
        elif isinstance(pool, str) and isinstance(project, str) and project and pool != expected:
            yield (f"{where(args)}: workloadIdentityConfig.workloadPool is {pool}; GKE's only pool for a "
                   f"cluster of project {project} is {expected}. Fix: workload_identity_config="
                   f"{{\"workload_pool\": \"{expected}\"}}. {exception_hint('gke-workload-identity')}")
    if args.resource_type in (CLUSTER, NODE_POOL):
        mode = path_value(args.props, "nodeConfig.workloadMetadataConfig.mode")
        if isinstance(mode, str) and mode != GKE_METADATA:
            yield (f"{where(args)}: nodeConfig.workloadMetadataConfig.mode is {mode}, so pods read the node's "
                   f"metadata server and act as the node's service account instead of their own Workload "
                   f"Identity. Fix: workload_metadata_config={{\"mode\": \"{GKE_METADATA}\"}}. "
                   f"{exception_hint('gke-workload-identity')}")


SERVICE_ACCOUNT_KEY = "gcp:serviceaccount/key:Key"


def check_no_keys_on_gke(args: StackValidationArgs, report: ReportViolation) -> None:
    policy = "gke-no-service-account-keys"
    stack = settings()
    clusters = [r.name for r in args.resources if r.resource_type == CLUSTER]
    if stack.get("profile") != "gke" and not clusters:
        return
    why = "profile is gke" if stack.get("profile") == "gke" else f"the stack runs GKE cluster '{clusters[0]}'"
    for resource in args.resources:
        if resource.resource_type == SERVICE_ACCOUNT_KEY:
            report(f"resource '{resource.name}' ({resource.resource_type}): serviceAccountId "
                   f"{prop(resource.props, 'serviceAccountId') if isinstance(prop(resource.props, 'serviceAccountId'), str) else '(unknown yet)'} "
                   f"gets a downloadable key although {why}: Kestra authenticates through Workload Identity "
                   f"there, and a key is a long-lived credential in the state (and one that "
                   f"iam.disableServiceAccountKeyCreation forbids). Fix: remove the Key; grant the Google "
                   f"service account roles/iam.workloadIdentityUser for the pods' Kubernetes "
                   f"ServiceAccount instead. {exception_hint(policy)}", resource.urn)


SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
SSL_ONLY_MODES = ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED")


def check_cloud_sql(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    hint = exception_hint("cloud-sql-private-and-ssl-only")
    ipv4 = path_value(args.props, "settings.ipConfiguration.ipv4Enabled", True)  # Cloud SQL's default: on
    if ipv4 is not UNKNOWN and ipv4 is not False:
        yield (f"{where(args)}: settings.ipConfiguration.ipv4Enabled is {ipv4!r} (Cloud SQL's default is true), so "
               f"the instance gets a public IPv4 address. Fix: ip_configuration={{\"ipv4_enabled\": False, "
               f"\"private_network\": <the VPC>}} (private services access). {hint}")
    network = path_value(args.props, "settings.ipConfiguration.privateNetwork")
    if network is not UNKNOWN and not network:
        yield (f"{where(args)}: settings.ipConfiguration.privateNetwork is not set, so the instance has no private "
               f"IP for the cluster to reach. Fix: private_network=<the VPC's id> with private services access. {hint}")
    mode = path_value(args.props, "settings.ipConfiguration.sslMode")
    legacy = path_value(args.props, "settings.ipConfiguration.requireSsl")
    if mode is UNKNOWN or (mode is None and legacy is UNKNOWN):
        return
    if mode not in SSL_ONLY_MODES and not (mode is None and legacy is True):
        yield (f"{where(args)}: settings.ipConfiguration.sslMode is {mode!r}, so clients may connect without TLS. "
               f"Fix: ssl_mode=\"ENCRYPTED_ONLY\" (or TRUSTED_CLIENT_CERTIFICATE_REQUIRED). {hint}")


SERVICE = "kubernetes:core/v1:Service"
INGRESSES = ("kubernetes:networking.k8s.io/v1:Ingress", "kubernetes:networking.k8s.io/v1beta1:Ingress",
             "kubernetes:extensions/v1beta1:Ingress")
HELM = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
# GKE Ingress: a certificate (pre-shared, Google-managed, or a TLS secret) and no HTTP front end.
INGRESS_CERT_ANNOTATIONS = ("ingress.gcp.kubernetes.io/pre-shared-cert", "networking.gke.io/managed-certificates")
ALLOW_HTTP = "kubernetes.io/ingress.allow-http"


def _ingress_problems(path: str, annotations: Any, tls: Any) -> list[str]:
    if annotations is UNKNOWN or tls is UNKNOWN:
        return []
    annotations = plain(annotations) or {}
    if not isinstance(annotations, dict) or contains_unknown(annotations):
        return []
    problems = []
    tls = plain(tls)
    if not any(annotations.get(a) for a in INGRESS_CERT_ANNOTATIONS) and not tls:
        problems.append(f"{path} serves no certificate (no {' / '.join(INGRESS_CERT_ANNOTATIONS)} annotation, no tls), "
                        f"so Kestra is reached over plain HTTP")
    if annotations.get(ALLOW_HTTP) != "false":
        problems.append(f"{path}.annotations[\"{ALLOW_HTTP}\"] is {annotations.get(ALLOW_HTTP)!r}, so the load "
                        f"balancer also answers plain HTTP on port 80 (GKE's default)")
    return problems


def check_https_only(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    hint = exception_hint("no-load-balancer-without-tls")
    fix_service = ("Fix: keep the Service ClusterIP (the chart's default) and publish it through the HTTPS "
                   "Ingress, as the gke profile does")
    if args.resource_type == SERVICE:
        kind = path_value(args.props, "spec.type")
        if kind == "LoadBalancer":
            yield (f"{where(args)}: spec.type is LoadBalancer: a passthrough network load balancer puts the "
                   f"pods' port on an external IP with no TLS in front (Kestra speaks plain HTTP with basic "
                   f"auth). {fix_service}. {hint}")
    elif args.resource_type in HELM:
        values = prop(args.props, "values")
        if values is UNKNOWN or values is None:
            return
        if path_value(values, "service.type") == "LoadBalancer":
            yield (f"{where(args)}: values.service.type is LoadBalancer: the chart's Service gets an external IP "
                   f"with no TLS in front (Kestra speaks plain HTTP with basic auth). {fix_service}. {hint}")
        if path_value(values, "ingress.enabled") is True:
            for problem in _ingress_problems("values.ingress", path_value(values, "ingress.annotations", {}),
                                             path_value(values, "ingress.tls", [])):
                yield (f"{where(args)}: {problem}. Fix: a certificate annotation "
                       f"(ingress.gcp.kubernetes.io/pre-shared-cert) and \"{ALLOW_HTTP}\": \"false\". {hint}")
    elif args.resource_type in INGRESSES:
        for problem in _ingress_problems("metadata", path_value(args.props, "metadata.annotations", {}),
                                         path_value(args.props, "spec.tls", [])):
            yield (f"{where(args)}: {problem}. Fix: a certificate (annotation or spec.tls) and "
                   f"\"{ALLOW_HTTP}\": \"false\". {hint}")


WORKLOAD_IDENTITY = resource_policy(
    "gke-workload-identity",
    "GKE clusters have Workload Identity on (<project>.svc.id.goog) and nodes serve the GKE metadata server.",
    MANDATORY, (CLUSTER, NODE_POOL), check_workload_identity)
NO_SERVICE_ACCOUNT_KEYS = stack_policy(
    "gke-no-service-account-keys",
    "No service-account key in a stack that runs Kestra on GKE (Workload Identity instead).",
    MANDATORY, (SERVICE_ACCOUNT_KEY,), check_no_keys_on_gke)
CLOUD_SQL = resource_policy(
    "cloud-sql-private-and-ssl-only",
    "Cloud SQL instances have no public IPv4 address, a private network, and accept TLS connections only.",
    MANDATORY, (SQL_INSTANCE,), check_cloud_sql)
HTTPS_ONLY = resource_policy(
    "no-load-balancer-without-tls",
    "No Kubernetes Service (or chart service) of type LoadBalancer, and Ingresses serve HTTPS only.",
    MANDATORY, (SERVICE, *INGRESSES, *HELM), check_https_only)
