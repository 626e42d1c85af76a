"""The one thing the program asks of the Docker Engine itself: clearing a container name that an
interrupted `pulumi up` left taken.

pulumi-docker creates a container and then waits for its health (`wait=True`, up to
`startupTimeoutSeconds`). A CLI terminated during that wait (a second Ctrl-C) never records the
container's id, so the next `up` creates it again under the same name, and Docker refuses:
``Conflict. The container name "/<name>" is already in use by container "<id>". You have to
remove (or rename) that container to be able to reuse that name.`` (moby daemon/errors.go,
nameConflictError). pulumi-docker has no way to adopt it (resourceDockerContainerCreate calls
ContainerCreate with no lookup). So the containers carry a before-create hook, which Pulumi runs
right before it creates the container and never in a preview: a container that holds the name
then cannot be the state's own. When it runs the very image this create is for, it is what an
interrupted create of this stack left (the name is the stack's: <namePrefix>-<container>), and
it is stopped as a destroy would stop it and removed; its named volumes stay, they hold the data.
Any other container of that name is not touched: Docker's refusal stands. (A label would say
"this stack's" more plainly, but adding one replaces every deployed container: labels force a
new container in pulumi-docker.)

A before-create hook rather than an on-error hook on the refusal: `pulumi destroy` does not run
the program, and a failing delete consults a resource's on-error hooks, which then are not
registered — the engine reports that instead of the provider's error
(pulumi/pulumi pkg/resource/deploy/step.go DeleteStep.Apply, deployment.go RunErrorHooks).

Speaks the Docker Engine API (docs.docker.com/reference/api/engine: ContainerInspect, ContainerStop,
ContainerDelete) with the standard library, at the address pulumi-docker uses: ``docker:host``,
else ``DOCKER_HOST``, else ``unix:///var/run/docker.sock`` (its provider.go). Plain ``unix://`` and
``tcp://`` only; over TLS, SSH or a Docker context the hook says what to remove by hand.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any, Callable, Optional
from urllib.parse import quote, urlsplit

import pulumi

_TIMEOUT = 30.0


class DockerEngineError(Exception):
    """The engine answered an error (its message), or could not be reached."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class DockerEngine:
    """A Docker Engine API client for one host (unversioned paths: the engine's own API version)."""

    def __init__(self, connect: Callable[[float], http.client.HTTPConnection]) -> None:
        self._connect = connect

    @classmethod
    def at(cls, host: Optional[str]) -> Optional["DockerEngine"]:
        """The engine at `host` (unix:///path or tcp://host:port), or None for another scheme."""
        if not host:
            return None
        parts = urlsplit(host)
        if parts.scheme == "unix" and parts.path:
            return cls(lambda timeout: _UnixConnection(parts.path, timeout))
        if parts.scheme in ("tcp", "http") and parts.hostname:
            port = parts.port or 2375
            return cls(lambda timeout: http.client.HTTPConnection(parts.hostname, port, timeout=timeout))
        return None

    def _call(self, method: str, path: str, timeout: float = _TIMEOUT) -> tuple[int, Any]:
        connection = self._connect(timeout)
        try:
            connection.request(method, path)
            response = connection.getresponse()
            raw = response.read()
        except OSError as exc:
            raise DockerEngineError(f"cannot reach the Docker engine: {exc}") from exc
        finally:
            connection.close()
        is_json = response.getheader("Content-Type", "").startswith("application/json")
        body = json.loads(raw) if raw and is_json else None
        if response.status >= 400 and response.status != 404:
            message = body.get("message") if isinstance(body, dict) else raw.decode(errors="replace")
            raise DockerEngineError(f"{method} {path}: {response.status} {message}")
        return response.status, body

    def inspect(self, container: str) -> Optional[dict]:
        """GET /containers/{id}/json, None when there is no such container."""
        status, body = self._call("GET", f"/containers/{quote(container)}/json")
        return None if status == 404 else body

    def remove(self, container: str, stop_seconds: int) -> None:
        """Stops the container (SIGTERM, then SIGKILL after `stop_seconds`) and removes it, keeping
        its volumes: POST /containers/{id}/stop?t=… (304 when already stopped), then
        DELETE /containers/{id}?v=false (404: gone meanwhile)."""
        self._call("POST", f"/containers/{quote(container)}/stop?t={stop_seconds}", timeout=_TIMEOUT + stop_seconds)
        self._call("DELETE", f"/containers/{quote(container)}?v=false&force=true")


def stale_container_hook(
    resource_name: str, container_name: str, engine_host: Optional[str], stop_seconds: int
) -> pulumi.ResourceHook:
    """The before-create hook of a named container: see the module's docstring."""

    def clear_name_left_by_an_interrupted_create(args: pulumi.ResourceHookArgs) -> None:
        by_hand = (f"if an interrupted `pulumi up` left it, remove it (`docker rm -f {container_name}`) "
                   "and run `pulumi up` again")
        engine = DockerEngine.at(engine_host)
        if engine is None:
            return  # nothing to ask: Docker answers the create itself
        image = (args.new_inputs or {}).get("image")
        try:
            # Docker takes a name where an id goes.
            info = engine.inspect(container_name)
            if info is None:
                return
            stale = str(info.get("Id", ""))
            if not image or info.get("Image") != image:
                pulumi.log.warn(f"container {container_name} ({stale[:12]}) exists and runs another image "
                                f"({info.get('Image')}, not {image}): it is left as it is and Docker will refuse "
                                f"the name; {by_hand}")
                return
            pulumi.log.info(f"removing container {container_name} ({stale[:12]}), left running by an interrupted "
                            f"create of this stack; its volumes stay")
            engine.remove(stale, stop_seconds)
        except DockerEngineError as exc:
            pulumi.log.warn(f"could not check for a container {container_name} left by an interrupted create: {exc}; "
                            f"{by_hand}")

    return pulumi.ResourceHook(f"{resource_name}-stale-container", clear_name_left_by_an_interrupted_create)
