"""Kestra's HTTPS endpoint on GKE: a reserved global IP, the certificate the load balancer serves
(Google-managed for a domain, else issued by the stack for the IP) and the source-range policy."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_gcp as gcp
import pulumi_tls as tls

CA_VALIDITY_HOURS = 10 * 365 * 24
SERVER_VALIDITY_HOURS = 365 * 24
# Within the last 30 days of the server certificate, `pulumi up` issues a new one (same CA).
SERVER_EARLY_RENEWAL_HOURS = 30 * 24
KEY_ALGORITHM, KEY_CURVE = "ECDSA", "P256"  # what Google's load balancers accept besides RSA-2048
# Cloud Armor: at most 10 ranges per rule (SecurityPolicyRuleMatchConfig.srcIpRanges); the
# default rule has the lowest priority, 2147483647.
RANGES_PER_RULE = 10
FIRST_ALLOW_PRIORITY = 1000
DEFAULT_RULE_PRIORITY = 2147483647


def covers_everything(source_ranges: Sequence[str]) -> bool:
    """True when the ranges admit every IPv4 client (the endpoint's address is IPv4)."""
    return any(ipaddress.ip_network(r).prefixlen == 0 and ipaddress.ip_network(r).version == 4 for r in source_ranges)


def security_policy_rules(source_ranges: Sequence[str]) -> list[dict]:
    """Allow the ranges (10 per rule), deny everything else with 403."""
    ranges = list(source_ranges)
    rules = [
        {
            "action": "allow",
            "priority": FIRST_ALLOW_PRIORITY + i,
            "description": "kestraSourceRanges",
            "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ranges[start:start + RANGES_PER_RULE]}},
        }
        for i, start in enumerate(range(0, len(ranges), RANGES_PER_RULE))
    ]
    rules.append(
        {
            "action": "deny(403)",
            "priority": DEFAULT_RULE_PRIORITY,
            "description": "everything else",
            "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}},
        }
    )
    return rules


@dataclass(frozen=True)
class HttpsEndpointArgs:
    project: str
    name_prefix: str
    domain: Optional[str]
    source_ranges: Sequence[str]
    depends_on: Sequence[pulumi.Resource] = ()


class HttpsEndpoint(pulumi.ComponentResource):
    """What the GKE Ingress in front of Kestra's webserver uses, made before the cluster exists.

    - `address`: a reserved global IPv4 address (the Ingress names it).
    - With a `domain`: a Google-managed certificate for it; `url` is ``https://<domain>`` and
      the user points the domain's DNS A record at `address` (the certificate becomes ACTIVE only
      then). `ca_certificate` is None: a public CA signs it.
    - Without: a CA of the stack's own (ECDSA P-256, 10 years) signs a server certificate for the
      IP (an IP SAN, 1 year, renewed by `pulumi up` in its last 30 days), uploaded as a
      self-managed SSL certificate; `url` is ``https://<ip>`` and `ca_certificate` is the CA's
      PEM, which clients pass to verify the endpoint. Its private keys live only in Pulumi state
      (secret) and in the load balancer.
    - `security_policy_name`: a Cloud Armor policy admitting only `source_ranges` (403 for the
      rest), or None when the ranges admit everyone.
    Plain HTTP is never served (the Ingress sets ``allow-http: false``), so the basic-auth
    password never crosses the internet in clear text.
    """

    def __init__(self, name: str, args: HttpsEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kestra-gcp:infra:HttpsEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        deps = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.address = gcp.compute.GlobalAddress(
            "address",
            project=args.project,
            address_type="EXTERNAL",
            ip_version="IPV4",
            description="Kestra's HTTPS endpoint; managed by Pulumi (kestra-gcp)",
            opts=deps,
        )
        self.ca_certificate: Optional[pulumi.Output[str]] = None
        if args.domain:
            self.certificate = gcp.compute.ManagedSslCertificate(
                "certificate", project=args.project, managed={"domains": [args.domain]}, opts=deps
            )
            host: pulumi.Input[str] = args.domain
        else:
            ca_key = tls.PrivateKey("ca-key", algorithm=KEY_ALGORITHM, ecdsa_curve=KEY_CURVE, opts=child)
            ca = tls.SelfSignedCert(
                "ca",
                private_key_pem=ca_key.private_key_pem,
                is_ca_certificate=True,
                validity_period_hours=CA_VALIDITY_HOURS,
                allowed_uses=["cert_signing", "crl_signing"],
                subject={"common_name": f"{args.name_prefix} Kestra CA", "organization": "kestra-gcp"},
                opts=child,
            )
            server_key = tls.PrivateKey("server-key", algorithm=KEY_ALGORITHM, ecdsa_curve=KEY_CURVE, opts=child)
            request = tls.CertRequest(
                "server-request",
                private_key_pem=server_key.private_key_pem,
                ip_addresses=[self.address.address],
                subject={"common_name": self.address.address, "organization": "kestra-gcp"},
                opts=child,
            )
            server = tls.LocallySignedCert(
                "server",
                cert_request_pem=request.cert_request_pem,
                ca_private_key_pem=ca_key.private_key_pem,
                ca_cert_pem=ca.cert_pem,
                validity_period_hours=SERVER_VALIDITY_HOURS,
                early_renewal_hours=SERVER_EARLY_RENEWAL_HOURS,
                allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
                opts=child,
            )
            self.certificate = gcp.compute.SSLCertificate(
                "certificate",
                project=args.project,
                certificate=server.cert_pem,
                private_key=server_key.private_key_pem,
                description="Kestra's endpoint, issued by the stack's CA; managed by Pulumi (kestra-gcp)",
                # Certificates cannot change in place: the new one exists before the old one goes.
                opts=pulumi.ResourceOptions.merge(
                    deps, pulumi.ResourceOptions(delete_before_replace=False, additional_secret_outputs=["privateKey"])
                ),
            )
            host = self.address.address
            self.ca_certificate = ca.cert_pem
        self.security_policy = None
        if not covers_everything(args.source_ranges):
            self.security_policy = gcp.compute.SecurityPolicy(
                "source-ranges",
                project=args.project,
                description="Kestra: only kestraSourceRanges; managed by Pulumi (kestra-gcp)",
                rules=security_policy_rules(args.source_ranges),
                opts=deps,
            )
        self.url: pulumi.Output[str] = pulumi.Output.concat("https://", host)
        self.host: pulumi.Output[str] = pulumi.Output.from_input(host)
        self.address_name: pulumi.Output[str] = self.address.name
        self.ip_address: pulumi.Output[str] = self.address.address
        self.certificate_name: pulumi.Output[str] = self.certificate.name
        self.security_policy_name = self.security_policy.name if self.security_policy else None
        self.register_outputs(
            {"url": self.url, "address": self.ip_address, "certificate_name": self.certificate_name,
             "ca_certificate": self.ca_certificate}
        )
