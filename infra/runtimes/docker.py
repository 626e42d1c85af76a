"""Kestra + Postgres in Docker, through pulumi-docker: the local way to get a Kestra URL."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from typing import Optional

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from infra.config import DockerSettings, StackConfig
from infra.kv_and_secrets import GCP_KEY_SECRET
from infra.runtimes.contract import KestraRuntimeOutputs
from infra.runtimes.docker_engine import stale_container_hook
from kestra.config import (
    DEFAULT_GEMINI_MODEL,
    KestraSettings,
    basic_auth_username_problem,
    gcp_key_plugin_defaults,
    render_kestra_configuration,
    secret_env,
)

# Fixed by the images and by Kestra's own docker-compose; the host side is configurable.
POSTGRES_ALIAS = "postgres"
KESTRA_ALIAS = "kestra"
POSTGRES_DB = "kestra"
POSTGRES_USER = "kestra"
KESTRA_UI_PORT = 8080
KESTRA_MANAGEMENT_PORT = 8081
KESTRA_STORAGE_PATH = "/app/storage"
# Same path on both sides: Kestra hands script-task containers host paths under it.
KESTRA_WORKING_DIR = "/tmp/kestra-wd"
DOCKER_SOCKET = "/var/run/docker.sock"

_DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


@dataclass(frozen=True)
class KestraRuntimeArgs:
    """What the runtime needs. A None password means: generate one with `random.RandomPassword`."""

    name_prefix: str  # e.g. kestra-gcp-dev: container, network and volume names
    docker: DockerSettings
    username: str  # basic-auth user, an email address
    password: Optional[pulumi.Input[str]] = None
    postgres_password: Optional[pulumi.Input[str]] = None
    gcp_service_account_key: Optional[pulumi.Input[str]] = None  # base64 JSON key; None: local-only
    github_token: Optional[pulumi.Input[str]] = None
    gemini_api_key: Optional[pulumi.Input[str]] = None
    gemini_model: str = DEFAULT_GEMINI_MODEL
    # Retain the data volumes on destroy (config keepData): Kestra's database is in one, its
    # internal storage (KV values, namespace files) in the other.
    keep_data: bool = False

    @classmethod
    def from_config(
        cls, config: StackConfig, gcp_service_account_key: Optional[pulumi.Input[str]] = None
    ) -> "KestraRuntimeArgs":
        """The runtime's settings as the stack config gives them (config.docker must be set)."""
        if config.docker is None:
            raise ValueError("docker: the stack config selects an external Kestra, not Docker")
        return cls(
            name_prefix=config.name_prefix,
            docker=config.docker,
            username=config.access.username,
            password=config.access.password,
            postgres_password=config.postgres_password,
            gcp_service_account_key=gcp_service_account_key,
            github_token=config.github_token,
            gemini_api_key=config.gemini_api_key,
            gemini_model=config.gemini_model,
            keep_data=config.keep_data,
        )


def postgres_data_path(image: str) -> str:
    """Where the Postgres image keeps its data.

    From 18 the official image stores data under /var/lib/postgresql/<major>/docker and refuses to
    start when /var/lib/postgresql/data is a mount; up to 17 only /var/lib/postgresql/data persists.
    An unparsable tag (e.g. `latest`) gets the 18+ layout, which is what such tags pull today.
    """
    tag = image.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
    major = re.match(r"^(\d+)", tag)
    if major and int(major.group(1)) < 18:
        return "/var/lib/postgresql/data"
    return "/var/lib/postgresql"


def reachable_host(address: str) -> str:
    """The URL host for a published address, seen from the machine running Pulumi.

    0.0.0.0 / :: publish on every interface but are not addresses to connect to: use loopback.
    """
    ip = ipaddress.ip_address(address)
    if ip.is_unspecified:
        ip = ipaddress.ip_address("127.0.0.1" if ip.version == 4 else "::1")
    return f"[{ip}]" if ip.version == 6 else str(ip)


class KestraRuntime(pulumi.ComponentResource):
    """Kestra (``server standalone``) backed by Postgres, on a private Docker network.

    Creates a bridge network, named volumes for Postgres data and Kestra's internal storage, the
    two images (kept locally on destroy) and two containers with explicit names. With `keep_data`
    the two volumes, which hold all of Kestra's data, are retained on destroy and adopted by the
    next deployment under the same names. Postgres has no published port; Kestra publishes its
    UI/API and management ports on `docker.host_address` only.
    Each container has a healthcheck and is waited for (`wait=True`): Kestra is created only once
    Postgres is healthy, and `url` resolves only once Kestra answers on /health — so anything
    consuming `url` (or depending on `kestra_container`) starts against a live server.

    Kestra gets its whole configuration from ``KESTRA_CONFIGURATION`` (see kestra/config.py) and
    its secrets as ``SECRET_*`` variables; the environment list is a secret. Like Kestra's own
    compose file it runs as root with the Docker socket mounted, so script tasks can start
    containers: that is root on the Docker host, fine for a workstation, not for shared machines.

    Does not: create GCP resources (the key arrives as an input), deploy flows, back up the
    volumes, or change Postgres' password after its first start (Postgres keeps the one it was
    initialised with; rotating it means recreating the data volume). Docker is reached through the
    provider's default connection; `url` assumes that engine runs on this machine.
    """

    def __init__(self, name: str, args: KestraRuntimeArgs, opts: Optional[pulumi.ResourceOptions] = None):
        # Checked before registering anything, so bad arguments leave no half-declared component.
        if not _DOCKER_NAME.match(args.name_prefix):
            raise ValueError("name_prefix: must be a Docker name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)")
        if problem := basic_auth_username_problem(args.username):
            raise ValueError(f"username: {problem}")
        super().__init__("kestra-gcp:infra:KestraRuntime", name, None, opts)
        settings = args.docker
        prefix = args.name_prefix
        child = pulumi.ResourceOptions(parent=self)
        # Explicit Docker names cannot exist twice: a replacement must delete the old one first.
        named = pulumi.ResourceOptions(parent=self, delete_before_replace=True)

        password = self._given_or_generated(f"{name}-kestra-password", args.password, child)
        postgres_password = self._given_or_generated(f"{name}-postgres-password", args.postgres_password, child)

        self.network = docker.Network(f"{name}-network", name=f"{prefix}-net", driver="bridge", opts=named)
        # keepData: destroy leaves the volumes to Docker, and the next `up` adopts them, since
        # creating a volume whose name exists (same driver) returns the existing one.
        kept = pulumi.ResourceOptions.merge(named, pulumi.ResourceOptions(retain_on_delete=args.keep_data))
        self.postgres_volume = docker.Volume(f"{name}-postgres-data", name=f"{prefix}-postgres-data", opts=kept)
        self.storage_volume = docker.Volume(f"{name}-kestra-storage", name=f"{prefix}-kestra-storage", opts=kept)
        self.postgres_image = docker.RemoteImage(
            f"{name}-postgres-image", name=settings.postgres_image, keep_locally=True, opts=child
        )
        self.kestra_image = docker.RemoteImage(
            f"{name}-kestra-image", name=settings.kestra_image, keep_locally=True, opts=child
        )

        # Docker names are the engine's: a create interrupted while waiting for health leaves a
        # running container that holds the name, unknown to the state. The hook clears it before
        # the next create of that container (infra/runtimes/docker_engine.py).
        #
        # The create includes the health wait, and pulumi-docker bounds a container create by
        # 20 minutes unless told otherwise (dockerContainerCreateDefaultTimeout): a longer
        # startupTimeoutSeconds would be cut there. The create gets the wait plus ten minutes.
        create_timeout = pulumi.CustomTimeouts(create=f"{max(20 * 60, settings.startup_timeout_seconds + 600)}s")

        def recoverable(container: str, stop_seconds: int, depends_on: Optional[list] = None) -> pulumi.ResourceOptions:
            hook = stale_container_hook(f"{name}-{container}", f"{prefix}-{container}", settings.engine_host,
                                        stop_seconds)
            return pulumi.ResourceOptions.merge(named, pulumi.ResourceOptions(
                additional_secret_outputs=["envs"], depends_on=depends_on, custom_timeouts=create_timeout,
                hooks=pulumi.ResourceHookBinding(before_create=[hook]),
            ))

        postgres_envs = pulumi.Output.secret(
            postgres_password.apply(
                lambda pg: [f"POSTGRES_DB={POSTGRES_DB}", f"POSTGRES_USER={POSTGRES_USER}", f"POSTGRES_PASSWORD={pg}"]
            )
        )
        self.postgres_container = docker.Container(
            f"{name}-postgres",
            name=f"{prefix}-postgres",
            image=self.postgres_image.image_id,
            envs=postgres_envs,
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(name=self.network.name, aliases=[POSTGRES_ALIAS])
            ],
            mounts=[
                docker.ContainerMountArgs(
                    type="volume",
                    source=self.postgres_volume.name,
                    target=postgres_data_path(settings.postgres_image),
                )
            ],
            healthcheck=docker.ContainerHealthcheckArgs(
                # Over TCP: during first-time init the entrypoint runs a socket-only server that a
                # plain pg_isready would already report as ready.
                tests=["CMD", "pg_isready", "-h", "127.0.0.1", "-d", POSTGRES_DB, "-U", POSTGRES_USER],
                interval="5s",
                timeout="5s",
                retries=10,
                start_period="10s",
            ),
            wait=True,
            wait_timeout=settings.startup_timeout_seconds,
            restart="unless-stopped",
            destroy_grace_seconds=30,  # a clean shutdown instead of a kill
            opts=recoverable("postgres", 30),
        )

        kestra_envs = pulumi.Output.secret(
            pulumi.Output.all(
                password=password,
                postgres_password=postgres_password,
                gemini_api_key=args.gemini_api_key,
                gcp_key=args.gcp_service_account_key,
                github_token=args.github_token,
            ).apply(
                lambda v: _kestra_envs(
                    KestraSettings(
                        postgres_password=v["postgres_password"],
                        basic_auth_username=args.username,
                        basic_auth_password=v["password"],
                        public_url=settings.public_url,
                        postgres_host=POSTGRES_ALIAS,
                        postgres_db=POSTGRES_DB,
                        postgres_user=POSTGRES_USER,
                        storage_path=KESTRA_STORAGE_PATH,
                        tmp_dir=f"{KESTRA_WORKING_DIR}/tmp",
                        gemini_api_key=v["gemini_api_key"] or None,
                        gemini_model=args.gemini_model,
                    ),
                    gcp_key=v["gcp_key"],
                    github_token=v["github_token"],
                )
            )
        )
        host = settings.host_address
        self.kestra_container = docker.Container(
            f"{name}-kestra",
            name=f"{prefix}-kestra",
            image=self.kestra_image.image_id,
            command=["server", "standalone"],
            # As in Kestra's compose file: the image's user cannot use the mounted Docker socket.
            user="root",
            envs=kestra_envs,
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=self.network.name, aliases=[KESTRA_ALIAS])],
            mounts=[
                # A bind mount fails when the source is missing — wanted for the socket, which
                # a legacy -v bind would silently create as an empty directory. The source is the
                # engine's socket on its host (rootless: $XDG_RUNTIME_DIR/docker.sock); script
                # tasks find it at the usual path.
                docker.ContainerMountArgs(type="bind", source=settings.docker_socket, target=DOCKER_SOCKET),
                docker.ContainerMountArgs(type="volume", source=self.storage_volume.name, target=KESTRA_STORAGE_PATH),
            ],
            # A legacy bind, by contrast, creates the host directory when it does not exist yet.
            volumes=[docker.ContainerVolumeArgs(host_path=KESTRA_WORKING_DIR, container_path=KESTRA_WORKING_DIR)],
            ports=[
                docker.ContainerPortArgs(internal=KESTRA_UI_PORT, external=settings.ui_port, ip=host, protocol="tcp"),
                docker.ContainerPortArgs(
                    internal=KESTRA_MANAGEMENT_PORT, external=settings.management_port, ip=host, protocol="tcp"
                ),
            ],
            healthcheck=docker.ContainerHealthcheckArgs(
                # curl ships in the image (its eclipse-temurin base installs it); the management
                # port is not behind basic auth.
                tests=["CMD", "curl", "-fsS", "-o", "/dev/null", f"http://localhost:{KESTRA_MANAGEMENT_PORT}/health"],
                interval="10s",
                timeout="5s",
                retries=6,
                # Failures during a cold JVM start (migrations, plugin scan) do not count.
                start_period=f"{settings.startup_timeout_seconds}s",
            ),
            wait=True,
            wait_timeout=settings.startup_timeout_seconds,
            restart="unless-stopped",
            destroy_grace_seconds=60,
            opts=recoverable("kestra", 60, depends_on=[self.postgres_container]),
        )

        base = f"http://{reachable_host(host)}"
        # Derived from the container so that consumers of these URLs wait until Kestra is healthy.
        self.url: pulumi.Output[str] = self.kestra_container.id.apply(lambda _: f"{base}:{settings.ui_port}")
        self.management_url: pulumi.Output[str] = self.kestra_container.id.apply(
            lambda _: f"{base}:{settings.management_port}"
        )
        # What flows inside Kestra (TenantSync, HTTP tasks) use to reach its API: the network alias
        # resolves in the Kestra container itself and in any container joined to `network_name`.
        self.internal_url: pulumi.Output[str] = pulumi.Output.from_input(f"http://{KESTRA_ALIAS}:{KESTRA_UI_PORT}")
        self.network_name: pulumi.Output[str] = self.network.name
        self.username: pulumi.Output[str] = pulumi.Output.from_input(args.username)
        self.password: pulumi.Output[str] = pulumi.Output.secret(password)
        # The runtime contract (infra/runtimes/contract.py): plain HTTP on this machine, no CA.
        self.outputs = KestraRuntimeOutputs(
            url=self.url,
            password=self.password,
            internal_url=self.internal_url,
            ready=[self.kestra_container],
            configures_secrets=True,
        )
        self.register_outputs(
            {
                "url": self.url,
                "management_url": self.management_url,
                "internal_url": self.internal_url,
                "network_name": self.network_name,
                "username": self.username,
                "password": self.password,
                "kestra_container": self.kestra_container.id,
            }
        )

    @staticmethod
    def _given_or_generated(
        resource_name: str, given: Optional[pulumi.Input[str]], opts: pulumi.ResourceOptions
    ) -> pulumi.Output[str]:
        """The given password as a secret, or a generated one (RandomPassword.result is secret)."""
        if given is not None:
            return pulumi.Output.secret(given)
        return random.RandomPassword(
            resource_name,
            length=32,
            # Letters and digits only: Kestra's rule needs upper, lower and digit, and the value
            # ends up in URLs and shell commands where punctuation would need escaping.
            special=False,
            min_upper=2,
            min_lower=2,
            min_numeric=2,
            opts=opts,
        ).result

def _kestra_envs(settings: KestraSettings, gcp_key: Optional[str], github_token: Optional[str]) -> list[str]:
    plaintext = {"KESTRA_USER": settings.basic_auth_username, "KESTRA_PASSWORD": settings.basic_auth_password}
    if github_token:
        plaintext["GITHUB_TOKEN"] = github_token
    # The service account key's private_key already is base64 of the JSON key.
    already_base64 = {GCP_KEY_SECRET: gcp_key} if gcp_key else {}
    if gcp_key:
        # Flows carry no credentials: Kestra's instance-level plugin default points every GCP task
        # and trigger at the key (on GKE, nothing is set and Workload Identity applies).
        settings = replace(settings, plugin_defaults=gcp_key_plugin_defaults(GCP_KEY_SECRET))
    return [f"KESTRA_CONFIGURATION={render_kestra_configuration(settings)}", *secret_env(plaintext, already_base64)]
