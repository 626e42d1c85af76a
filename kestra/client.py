"""A small HTTP client for the parts of Kestra 1.1's REST API that kestra-gcp uses.

`KestraClient` speaks to ``{url}/api/v1/{tenant}/...`` with basic auth. It covers flows,
namespace files, the KV store, dashboards and executions, and turns every failure into one
exception family (`KestraApiError`) carrying the HTTP status, the object concerned and Kestra's
own message. It knows nothing of Pulumi and keeps no state besides one `requests.Session`, made
on first use and closed by `close()` (or the ``with`` block).

Retries: connection errors, resets and 502/503/504 are retried with urllib3's `Retry`, mounted on
a requests `HTTPAdapter`, until a deadline (120 s by default) runs out — long enough for a Kestra
container that is still booting. No pause runs past the deadline: when the next pause (backoff or
``Retry-After``) would end after it, the call gives up at once. The clock and the sleep are
injectable (`clock=`, `sleep=`) so tests can check the timing logic without a wall clock. POST and
PUT are retried too: every write here is safe to repeat (a create that already happened is adopted
by the caller, an upload or KV put overwrites with the same bytes). Two calls are never repeated
blindly: triggering an execution (retried only when the request certainly did not run), and a
namespace-file delete, which is re-sent only after a read shows the file is still there (Kestra's
delete of a missing file can cascade to its folder, see `delete_namespace_file`).

Redirects are not followed: credentials go to the configured host only.

HTTPS: the server's certificate is always verified. By default against the system's trusted CAs
(requests' bundle); with `ca_certificate` (PEM text, e.g. the stack output ``kestraCaCertificate``
of a Kestra whose certificate the stack issued itself) against that CA only. A certificate that
cannot be verified fails the call at once with `KestraTlsError` (never retried, never skipped).

Endpoints follow Kestra's webserver controllers (FlowController, NamespaceFileController,
KVController, DashboardController, ExecutionController) and its global ErrorController, whose
error bodies are Micronaut ``JsonError``: ``{"message": ..., "_embedded": {"errors": [{"message",
"path"}]}}``.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import threading
import time
from typing import Any, Callable, Iterable, Optional, Union
from urllib.parse import quote, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

DEFAULT_TIMEOUT = (5.0, 60.0)  # (connect, read) seconds for one attempt
DEFAULT_DEADLINE = 120.0  # seconds of retrying before giving up on one call
RETRY_STATUSES = frozenset({502, 503, 504})  # what a booting Kestra or its proxy answers
YAML = "application/x-yaml"

# Where Kestra 1.1 splits a validate body into flows: FlowService.validate splits on the Java
# regex "\\n+---\\n*?" (the lazy tail matches nothing), i.e. before every line starting with "---".
YAML_SPLIT = re.compile(r"\n+---")

# Kestra's KV key rule (KVStore.validateKey, message seen in KVControllerTest.illegalKey).
KV_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")


class KestraApiError(Exception):
    """A call to Kestra failed.

    `status` is the HTTP status (None when no answer came back), `obj` names what was being
    handled (``flow dev.testing/hello``, ``kv gcp.ecommerce/GCS_BUCKET``), `message` says what
    went wrong and `detail` is Kestra's own text (the Micronaut ``message`` and embedded errors,
    or the constraints of a validation). `str()` is one readable line; it never contains the
    password nor a KV value, which are scrubbed from Kestra's text before it is stored here.
    """

    def __init__(
        self,
        message: str,
        *,
        obj: str = "",
        status: Optional[int] = None,
        detail: str = "",
        method: str = "",
        path: str = "",
    ) -> None:
        self.message = message
        self.obj = obj
        self.status = status
        self.detail = detail
        self.method = method
        self.path = path
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = f"{self.obj}: " if self.obj else ""
        http = f" (HTTP {self.status} on {self.method} {self.path})" if self.status else ""
        if not self.status and self.method:
            http = f" ({self.method} {self.path})"
        detail = f": {self.detail}" if self.detail and self.detail not in self.message else ""
        return f"{where}{self.message}{detail}{http}"

    @property
    def already_exists(self) -> bool:
        """True for Kestra's answer to creating an object that exists (422, "already exists")."""
        return self.status in (409, 422) and "already exists" in f"{self.message} {self.detail}"


class KestraNotFound(KestraApiError):
    """Kestra answered 404: the object (or the flow to execute) does not exist."""


class KestraAuthError(KestraApiError):
    """Kestra answered 401 or 403: wrong or missing basic-auth credentials."""


class KestraUnavailable(KestraApiError):
    """No usable answer before the deadline: connection refused or reset, timeouts, 502/503/504."""


class KestraValidationError(KestraApiError):
    """Kestra refuses a flow or dashboard: what a user catches for "this document is not valid".

    Raised both when a validate endpoint reports constraints (`check_flow`, `check_dashboard`)
    and when a write of the document answers 422 (create or update of a flow or dashboard:
    ErrorController turns the ConstraintViolationException of an unknown type, a missing
    property, a bad id, or an existing id into 422 "Invalid entity: ..."). `detail` holds
    Kestra's text verbatim; `already_exists` tells the duplicate-id case apart.
    """


class KestraTlsError(KestraApiError):
    """The HTTPS connection failed: the server's certificate could not be verified (unknown CA,
    wrong host or IP, expired) or TLS could not be negotiated. Not retried."""


class _CaAdapter(HTTPAdapter):
    """An adapter whose HTTPS connections trust exactly the CA certificates in `ca_data` (PEM).

    urllib3 takes the PEM text itself (``ca_cert_data``), so nothing is written to disk; the CA
    bundle requests would otherwise add (or ``REQUESTS_CA_BUNDLE`` names) is dropped, so only the
    given CA can vouch for the server.
    """

    def __init__(self, ca_data: str, **kw: Any) -> None:
        self._ca_data = ca_data
        super().__init__(**kw)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):  # type: ignore[override]
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("scheme") == "https":
            pool_kwargs.pop("ca_certs", None)
            pool_kwargs.pop("ca_cert_dir", None)
            pool_kwargs["ca_cert_data"] = self._ca_data
            pool_kwargs["cert_reqs"] = "CERT_REQUIRED"
        return host_params, pool_kwargs

    def cert_verify(self, conn, url, verify, cert):  # type: ignore[override]
        super().cert_verify(conn, url, verify, cert)
        if url.lower().startswith("https"):
            conn.cert_reqs = "CERT_REQUIRED"
            conn.ca_certs = None
            conn.ca_cert_dir = None


class _DeadlineExceeded(MaxRetryError):
    """Raised by `_DeadlineRetry` once the deadline has passed or the next pause would pass it.

    `wait` is the pause that was refused (None when the deadline had already passed).
    """

    def __init__(
        self, pool: Any, url: Any, reason: Any = None, wait: Optional[float] = None, status: Optional[int] = None
    ) -> None:
        super().__init__(pool, url, reason)
        self.wait = wait
        self.status = status  # the last HTTP status seen, None when no answer came

    @property
    def last_error(self) -> str:
        """The last connection error, as ``Type: text`` ("" when the last attempt got an answer)."""
        reason = self.reason
        return f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else ""


class _DeadlineRetry(Retry):
    """urllib3 `Retry` bounded by a deadline rather than by a count.

    `deadline_at` is a `clock()` value; a failure after it ends the call, and a pause (backoff or
    Retry-After) that would end after it ends the call at once instead of sleeping. Counts are set
    high by the caller, so the deadline is what stops a call that keeps failing. `clock` and
    `sleeper` are the client's (time.monotonic and time.sleep unless a test injects others).
    """

    deadline_at: Optional[float] = None
    clock: Callable[[], float] = staticmethod(time.monotonic)
    sleeper: Callable[[float], None] = staticmethod(time.sleep)

    def new(self, **kw: Any) -> "_DeadlineRetry":
        retry = super().new(**kw)
        retry.deadline_at, retry.clock, retry.sleeper = self.deadline_at, self.clock, self.sleeper
        return retry

    def _remaining(self) -> float:
        if self.deadline_at is None:
            return float("inf")
        return max(0.0, self.deadline_at - self.clock())

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if self._remaining() <= 0:
            raise _DeadlineExceeded(_pool, url, error, status=getattr(response, "status", None))
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response=None) -> None:
        wait = self.get_retry_after(response) if (self.respect_retry_after_header and response) else None
        if not wait:
            wait = self.get_backoff_time()
        if wait > self._remaining():
            last = self.history[-1] if self.history else None
            raise _DeadlineExceeded(
                None, getattr(last, "url", None), getattr(last, "error", None), wait=wait,
                status=getattr(response, "status", None) or getattr(last, "status", None),
            )
        if wait > 0:
            self.sleeper(wait)


_POOL = threading.local()  # per thread: {(url, username, password digest, tenant): (session, adapter)}
_POOL_SIZE = 8  # sessions kept per thread; the least recently used one beyond that is closed


def _pooled_session(client: "KestraClient") -> tuple[requests.Session, HTTPAdapter]:
    """This thread's session for the client's Kestra and login, made on first use.

    One thread runs one call at a time, so a session (and the adapter whose retry policy each
    call sets) is never used by two calls at once. Each thread of the provider host keeps at most
    one keep-alive connection per Kestra.
    """
    cache: dict = getattr(_POOL, "sessions", None) or {}
    _POOL.sessions = cache
    digest = hashlib.sha256(client._password.encode()).hexdigest()
    ca_digest = hashlib.sha256(client.ca_certificate.encode()).hexdigest() if client.ca_certificate else ""
    key = (client.url, client.username, digest, client.tenant, ca_digest)
    entry = cache.pop(key, None) or client._new_session()
    cache[key] = entry  # most recently used last
    while len(cache) > _POOL_SIZE:
        old_session, _ = cache.pop(next(iter(cache)))
        old_session.close()
    return entry


def _strip_userinfo(url: str) -> str:
    """The URL without ``user:password@``, so it can appear in messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _seg(value: str) -> str:
    """One URL path segment, percent-encoded (namespaces and ids are plain, but never trust)."""
    return quote(str(value), safe="")


def kestra_message(response: requests.Response) -> str:
    """Kestra's own text for an error answer.

    Reads Micronaut's ``message`` and ``_embedded.errors[].message`` (adding each embedded message
    not already in the main one, with its ``path``), the RFC 9457 ``detail``/``errors[].detail``
    that later Kestra versions send, or else the start of the raw body.
    """
    text = response.text or ""
    try:
        body = response.json()
    except ValueError:
        return text.strip()[:500]
    if not isinstance(body, dict):
        return json.dumps(body)[:500]
    parts: list[str] = []
    main = body.get("message") or body.get("detail") or body.get("title") or ""
    if main:
        parts.append(str(main))
    embedded = (body.get("_embedded") or {}).get("errors") or body.get("errors") or []
    for err in embedded if isinstance(embedded, list) else []:
        if not isinstance(err, dict):
            continue
        msg = err.get("message") or err.get("detail") or ""
        if msg and msg not in main:
            path = err.get("path")
            parts.append(f"{path}: {msg}" if path else str(msg))
    return "; ".join(parts) or text.strip()[:500]


def validation_problems(results: Any) -> list[str]:
    """The errors in a validate answer (flows: a list, dashboards: one object).

    Kestra 1.1 reports an invalid document with a non-empty ``constraints`` string; later
    versions use an ``errors`` list. Warnings, infos and deprecations are not errors.
    """
    items = results if isinstance(results, list) else [results]
    problems: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if item.get("constraints"):
            problems.append(str(item["constraints"]))
        for err in item.get("errors") or []:
            msg = err.get("message") or err.get("detail") if isinstance(err, dict) else err
            if msg:
                problems.append(str(msg))
    return problems


class KestraClient:
    """Calls Kestra's REST API for one tenant with basic auth.

    `timeout` is ``(connect, read)`` seconds for one attempt; `deadline` bounds the time spent
    retrying one call; `backoff_factor` scales the pause between attempts (urllib3: 0, f*2, f*4,
    ... capped at deadline/20 and at 5 s). `clock` and `sleep` measure and spend that time (a test
    passes a fake pair). A client is meant for one thread at a time; make one per operation. It
    caches no answer; with `reuse_connections` it keeps its keep-alive connection in a per-thread
    pool for the next client with the same URL and login. It does not follow redirects.
    `ca_certificate` (PEM) replaces the trusted CAs for an ``https://`` URL (see the module doc).
    """

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        tenant: str = "main",
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        backoff_factor: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        reuse_connections: bool = False,
        ca_certificate: Optional[str] = None,
    ) -> None:
        if not url or not str(url).startswith(("http://", "https://")):
            raise ValueError(f"Kestra URL must start with http:// or https://, got {url!r}")
        if ca_certificate is not None and "-----BEGIN CERTIFICATE-----" not in str(ca_certificate):
            raise ValueError("ca_certificate must be PEM text (-----BEGIN CERTIFICATE----- ...)")
        self.url = _strip_userinfo(str(url)).rstrip("/")
        self.username = username
        self._password = password
        self.tenant = tenant or "main"
        self.timeout = timeout
        self.deadline = float(deadline)
        self.backoff_factor = backoff_factor
        self.clock = clock
        self.sleep = sleep
        self.reuse_connections = reuse_connections
        self.ca_certificate = ca_certificate or None
        self._session: Optional[requests.Session] = None
        self._adapter: Optional[HTTPAdapter] = None

    def __repr__(self) -> str:
        return f"KestraClient(url={self.url!r}, username={self.username!r}, tenant={self.tenant!r})"

    def __enter__(self) -> "KestraClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Lets go of the connections; the client can still be used afterwards.

        A client made with ``reuse_connections=True`` hands its session back to this thread's
        pool instead of closing it, so the next client for the same Kestra and login (the next
        resource operation on this thread) skips the TCP and TLS handshakes.
        """
        if self._session is not None:
            if not self.reuse_connections:
                self._session.close()
            self._session = None
            self._adapter = None

    # -- plumbing ---------------------------------------------------------------------------

    def _new_session(self) -> tuple[requests.Session, HTTPAdapter]:
        session = requests.Session()
        session.auth = (self.username, self._password)
        adapter = _CaAdapter(self.ca_certificate, max_retries=0) if self.ca_certificate else HTTPAdapter(max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session, adapter

    def _http(self, fresh: bool = False) -> tuple[requests.Session, HTTPAdapter]:
        """The session for a call; `fresh` gives a new one with a new connection, closed after use
        by the caller (for requests that must not meet a keep-alive connection the server dropped)."""
        if fresh:
            return self._new_session()
        if self._session is None:
            if self.reuse_connections:
                self._session, self._adapter = _pooled_session(self)
            else:
                self._session, self._adapter = self._new_session()
        assert self._adapter is not None
        return self._session, self._adapter

    def _backoff_max(self) -> float:
        # Pauses grow 0, f*2, f*4, ... up to a twentieth of the deadline (5 s at most), so a
        # short deadline still gets several attempts and a long one polls a booting Kestra.
        return min(5.0, max(0.05, self.deadline / 20))

    def _retry(self, repeatable: bool, retry_statuses: Optional[Iterable[int]] = None) -> _DeadlineRetry:
        # A fresh Retry per call: the deadline starts now. Counts are large on purpose.
        if retry_statuses is None:
            retry_statuses = RETRY_STATUSES if repeatable else (503,)
        retry_statuses = frozenset(retry_statuses)
        retry = _DeadlineRetry(
            total=1000,
            connect=1000,
            read=1000 if repeatable else 0,
            status=1000 if retry_statuses else 0,
            other=0,
            redirect=0,
            allowed_methods=None,  # every method: see the module docstring
            status_forcelist=retry_statuses,
            backoff_factor=self.backoff_factor,
            backoff_max=self._backoff_max(),
            raise_on_status=False,
            raise_on_redirect=False,
            # urllib3 also retries a 503 carrying Retry-After outside the forcelist: not when no
            # status may be retried.
            respect_retry_after_header=bool(retry_statuses),
        )
        retry.deadline_at = self.clock() + self.deadline
        retry.clock, retry.sleeper = self.clock, self.sleep
        return retry

    def _scrub(self, text: str, secrets: Iterable[str]) -> str:
        for secret in [self._password, *secrets]:
            if secret and len(secret) >= 3:
                text = text.replace(secret, "***")
        return text

    def _request(
        self,
        method: str,
        path: str,
        obj: str,
        *,
        params: Optional[dict] = None,
        data: Any = None,
        files: Any = None,
        content_type: Optional[str] = None,
        accept: str = "application/json",
        repeatable: bool = True,
        retry_statuses: Optional[Iterable[int]] = None,
        secrets: Iterable[str] = (),
        ok_statuses: Iterable[int] = (),
        document: str = "",
    ) -> requests.Response:
        """One API call under `/api/v1/{tenant}`; raises `KestraApiError` unless 2xx.

        `accept` must match what the route produces (Micronaut answers 406 otherwise);
        `content_type` what it consumes (415 otherwise). `document` ("flow", "dashboard") marks
        a write of that document: its 422 is Kestra refusing it, `KestraValidationError`.
        """
        # A request that is never repeated gets a connection of its own: a keep-alive connection
        # that the server closed meanwhile would fail it for nothing.
        session, adapter = self._http(fresh=not repeatable)
        api_path = f"/api/v1/{_seg(self.tenant)}/{path.lstrip('/')}"
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        adapter.max_retries = self._retry(repeatable, retry_statuses)
        secrets = tuple(secrets)
        try:
            response = self._send(
                session,
                not repeatable,
                method,
                self.url + api_path,
                params=params,
                data=data,
                files=files,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            cause = exc.args[0] if exc.args else None
            reason = getattr(cause, "reason", None) or cause or exc
            if isinstance(exc, requests.exceptions.SSLError):
                trusted = "the CA given as ca_certificate" if self.ca_certificate else "the system's trusted CAs"
                raise KestraTlsError(
                    f"Kestra at {self.url}: the TLS connection failed; its certificate could not be verified "
                    f"against {trusted} (for a Kestra whose certificate the stack issued, pass its CA: the "
                    "stack output kestraCaCertificate)",
                    obj=obj, detail=self._scrub(f"{type(reason).__name__}: {reason}", secrets),
                    method=method, path=api_path,
                ) from None
            if isinstance(cause, _DeadlineExceeded):
                last = f"still answered {cause.status}" if cause.status else "gave no answer"
                message = f"Kestra at {self.url} {last} within the {self.deadline:g} s deadline"
                if cause.wait is not None:
                    message += f" (the next attempt, due in {cause.wait:g} s, would have passed it)"
                raise KestraUnavailable(
                    message, obj=obj, status=cause.status, detail=self._scrub(cause.last_error, secrets),
                    method=method, path=api_path,
                ) from None
            elif repeatable:
                message = f"Kestra at {self.url} could not be reached"
            else:
                message = (
                    f"Kestra at {self.url} could not be reached; the request was not retried "
                    "because it may already have run"
                )
            raise KestraUnavailable(
                message,
                obj=obj,
                detail=self._scrub(f"{type(reason).__name__}: {reason}", secrets),
                method=method,
                path=api_path,
            ) from None
        status = response.status_code
        if 200 <= status < 300 or status in ok_statuses:
            return response
        detail = self._scrub(kestra_message(response), secrets)
        common = dict(obj=obj, status=status, detail=detail, method=method, path=api_path)
        if status == 404:
            raise KestraNotFound("not found", **common)
        if status in (401, 403):
            raise KestraAuthError(
                f"Kestra refused the credentials of user {self.username!r} "
                "(check the basic-auth username and password)",
                **common,
            )
        if status in RETRY_STATUSES:
            raise KestraUnavailable(
                f"Kestra at {self.url} still answered {status} within the {self.deadline:g} s deadline", **common
            )
        if status == 422 and document:
            raise KestraValidationError(f"Kestra refuses the {document}", **common)
        if status == 422:
            raise KestraApiError("Kestra rejected the request", **common)
        if 300 <= status < 400:
            location = _strip_userinfo(response.headers.get("Location", "?"))
            raise KestraApiError(
                f"Kestra at {self.url} answered {status}, redirecting to {location}; redirects are not "
                "followed, so the credentials only go to the configured URL: configure the final address",
                **common,
            )
        raise KestraApiError(f"unexpected answer {status} {response.reason}", **common)

    @staticmethod
    def _send(session: requests.Session, fresh: bool, method: str, url: str, **kw: Any) -> requests.Response:
        try:
            return session.request(method, url, **kw)  # the body is read before this returns
        finally:
            if fresh:
                session.close()

    @staticmethod
    def _json(response: requests.Response) -> Any:
        return response.json() if response.content else None

    # -- flows ------------------------------------------------------------------------------

    def validate_flows(self, body: str, *, obj: str = "flows") -> list[dict]:
        """``POST /flows/validate`` with a YAML body → Kestra's list of results (always HTTP 200).

        Kestra 1.1 takes YAML only (FlowController.validateFlows consumes application/x-yaml;
        multipart arrived in 1.3) and splits the body into flows where `YAML_SPLIT` matches — on
        every line starting with ``---`` — one result per piece, in order (``index``). An
        invalid flow has a non-empty ``constraints`` string; see `validation_problems`.
        """
        response = self._request("POST", "flows/validate", obj, data=body.encode(), content_type=YAML)
        return self._json(response) or []

    def validate_flow(self, source: str, *, name: str = "flow.yaml") -> list[dict]:
        """Validates one flow; a source with a line starting with ``---`` yields several results."""
        return self.validate_flows(source, obj=f"flow {name}")

    def check_flow(self, source: str, *, obj: str, name: str = "flow.yaml") -> None:
        """Validates a flow server-side; raises `KestraValidationError` with the constraints."""
        problems = validation_problems(self.validate_flow(source, name=name))
        if problems:
            raise KestraValidationError("Kestra reports the flow invalid", obj=obj, detail="; ".join(problems))

    def create_flow(self, source: str) -> dict:
        """``POST /flows`` (YAML). Kestra refusing the flow (422) → `KestraValidationError`; an
        existing flow is one such refusal, "Flow id already exists" (`already_exists`)."""
        return self._json(
            self._request("POST", "flows", "flow", data=source.encode(), content_type=YAML, document="flow")
        )

    def get_flow(self, namespace: str, flow_id: str, *, source: bool = True) -> dict:
        """``GET /flows/{ns}/{id}`` with the original YAML in ``source``; 404 → `KestraNotFound`."""
        return self._json(
            self._request(
                "GET",
                f"flows/{_seg(namespace)}/{_seg(flow_id)}",
                f"flow {namespace}/{flow_id}",
                params={"source": "true" if source else "false"},
            )
        )

    def update_flow(self, namespace: str, flow_id: str, source: str) -> dict:
        """Replaces an existing flow's source; `KestraNotFound` when there is no such flow.

        Never sends the PUT for a missing flow: Kestra 1.1 can freeze on it (see `_put_existing`),
        so this reads first — two requests. `put_flow` is the one-request-when-possible writer.
        """
        self.get_flow(namespace, flow_id, source=False)  # KestraNotFound when missing
        return self._put_existing_flow(namespace, flow_id, source)

    def _put_existing_flow(self, namespace: str, flow_id: str, source: str) -> dict:
        """``PUT /flows/{ns}/{id}`` (YAML) for a flow a read has just shown to exist.

        Never for one that may be missing: FlowController.updateFlow answers a missing flow with
        ``HttpResponse.status(NOT_FOUND)``, and on Kestra 1.1.7 that request froze the whole
        server in about half of the tries (heap full, endless GC, no answer until a restart;
        kestra-io/kestra#12984). Between the read and this write another client could delete the
        flow; that window is a few milliseconds and cannot be closed with Kestra 1.1's API.
        """
        return self._json(
            self._request(
                "PUT",
                f"flows/{_seg(namespace)}/{_seg(flow_id)}",
                f"flow {namespace}/{flow_id}",
                data=source.encode(),
                content_type=YAML,
                document="flow",
            )
        )

    def _flow_if_exists(self, namespace: str, flow_id: str) -> Optional[dict]:
        """The flow with its source, or None when Kestra has none (a 404 on the read)."""
        try:
            return self.get_flow(namespace, flow_id)
        except KestraNotFound:
            return None

    def delete_flow(self, namespace: str, flow_id: str) -> None:
        """``DELETE /flows/{ns}/{id}`` (204); 404 → `KestraNotFound`."""
        self._request("DELETE", f"flows/{_seg(namespace)}/{_seg(flow_id)}", f"flow {namespace}/{flow_id}")

    def put_flow(self, namespace: str, flow_id: str, source: str, *, exists: bool = False) -> dict:
        """Writes a flow whether or not Kestra has it, never sending a PUT for a missing flow.

        `exists` is the caller's belief. False: one POST (the usual create); if Kestra answers
        "Flow id already exists" (left by an interrupted run, or made by hand), the flow is
        adopted. True: a read first, because the flow may have been deleted by hand since, and a
        PUT of a missing flow can freeze Kestra 1.1 (`_put_existing_flow`). Either way, after the
        read: a missing flow is created (POST), an identical one is left alone (no write), a
        different one is replaced (PUT). So a create costs one request and an update two.
        """
        obj = f"flow {namespace}/{flow_id}"
        try:
            if not exists:
                try:
                    return self.create_flow(source)
                except KestraApiError as exc:
                    if not exc.already_exists:
                        raise
            live = self._flow_if_exists(namespace, flow_id)
            if live is None:
                return self.create_flow(source)
            if live.get("source") == source:
                return live
            return self._put_existing_flow(namespace, flow_id, source)
        except KestraApiError as exc:
            exc.obj = obj
            raise

    # -- namespace files --------------------------------------------------------------------

    def upload_namespace_file(self, namespace: str, path: str, content: Union[bytes, str]) -> None:
        """``POST /namespaces/{ns}/files?path=`` multipart (part ``fileContent``); overwrites.

        Does not handle ``.zip`` uploads (Kestra extracts them) nor ``/_flows/`` paths (Kestra
        imports them as flows); callers should refuse those.
        """
        body = content.encode() if isinstance(content, str) else content
        self._request(
            "POST",
            f"namespaces/{_seg(namespace)}/files",
            f"namespace file {namespace}:{path}",
            params={"path": path},
            files={"fileContent": (posixpath.basename(path) or "file", body, "application/octet-stream")},
        )

    def get_namespace_file(self, namespace: str, path: str) -> bytes:
        """``GET /namespaces/{ns}/files?path=`` → the raw bytes; 404 → `KestraNotFound`.

        The route produces application/octet-stream only (NamespaceFileController.getFileContent),
        so that is what is accepted: Micronaut answers 406 to ``Accept: application/json``.
        """
        return self._request(
            "GET",
            f"namespaces/{_seg(namespace)}/files",
            f"namespace file {namespace}:{path}",
            params={"path": path},
            accept="application/octet-stream",
        ).content

    def namespace_file_exists(self, namespace: str, path: str) -> bool:
        """Whether the file is there (a read: `get_namespace_file`, 404 → False)."""
        try:
            self.get_namespace_file(namespace, path)
        except KestraNotFound:
            return False
        return True

    def delete_namespace_file(self, namespace: str, path: str) -> bool:
        """Deletes the file if it exists; returns False when it was already gone.

        ``DELETE /namespaces/{ns}/files?path=`` answers 200 whether or not the file exists, and
        when it is missing and its folder holds exactly one other entry, Kestra's cascade
        (NamespaceFileController.deleteFileDirectory) deletes the whole folder — a file uploaded
        by hand next to ours would go with it. So the DELETE is only sent after a read shows the
        file exists, and is never repeated blindly: after a reset, timeout or 5xx, the file is
        read again and the DELETE re-sent only if it is still there, until the deadline.
        """
        obj = f"namespace file {namespace}:{path}"
        deadline_at = self.clock() + self.deadline
        pause = self.backoff_factor
        while True:
            if not self.namespace_file_exists(namespace, path):
                return False
            try:
                self._request(
                    "DELETE",
                    f"namespaces/{_seg(namespace)}/files",
                    obj,
                    params={"path": path},
                    repeatable=False,
                    retry_statuses=(),
                )
                return True
            except KestraUnavailable:
                remaining = deadline_at - self.clock()
                if remaining <= pause:
                    raise
                self.sleep(pause)
                pause = min(pause * 2 or 0.05, self._backoff_max())

    # -- KV store ---------------------------------------------------------------------------

    def put_kv(self, namespace: str, key: str, value: Any) -> None:
        """``PUT /namespaces/{ns}/kv/{key}`` with the JSON literal of `value` as ``text/plain``.

        KVController.setKeyValue consumes text/plain only (application/json → 415) and parses
        the body as a JSON/Ion literal (``"text"``, ``42``, ``true``, ``{"a": 1}``). Its error
        for an unparsable body quotes it, so the value is scrubbed from any error text.
        """
        body = json.dumps(value, allow_nan=False)
        self._request(
            "PUT",
            f"namespaces/{_seg(namespace)}/kv/{_seg(key)}",
            f"kv {namespace}/{key}",
            data=body.encode(),
            content_type="text/plain",  # the body is json.dumps output: ASCII
            secrets=(body, str(value)) if not isinstance(value, (bool, int, float)) else (body,),
        )

    def get_kv(self, namespace: str, key: str) -> dict:
        """``GET /namespaces/{ns}/kv/{key}`` → ``{"type": ..., "value": ...}``; 404 if missing."""
        return self._json(
            self._request("GET", f"namespaces/{_seg(namespace)}/kv/{_seg(key)}", f"kv {namespace}/{key}")
        )

    def delete_kv(self, namespace: str, key: str) -> bool:
        """``DELETE /namespaces/{ns}/kv/{key}`` → Kestra's boolean (False: there was no such key)."""
        return bool(
            self._json(
                self._request("DELETE", f"namespaces/{_seg(namespace)}/kv/{_seg(key)}", f"kv {namespace}/{key}")
            )
        )

    # -- dashboards -------------------------------------------------------------------------

    def validate_dashboard(self, source: str) -> dict:
        """``POST /dashboards/validate`` (YAML) → one result object, ``constraints`` when invalid."""
        return self._json(
            self._request("POST", "dashboards/validate", "dashboard", data=source.encode(), content_type=YAML)
        )

    def check_dashboard(self, source: str, *, obj: str) -> None:
        """Validates a dashboard server-side; raises `KestraValidationError` with the constraints."""
        problems = validation_problems(self.validate_dashboard(source))
        if problems:
            raise KestraValidationError("Kestra reports the dashboard invalid", obj=obj, detail="; ".join(problems))

    def create_dashboard(self, source: str) -> dict:
        """``POST /dashboards`` (YAML with ``id``). Kestra refusing it (422) → `KestraValidationError`,
        among them a duplicate id, "Dashboard id already exists" (`already_exists`)."""
        return self._json(
            self._request("POST", "dashboards", "dashboard", data=source.encode(), content_type=YAML,
                          document="dashboard")
        )

    def get_dashboard(self, dashboard_id: str) -> dict:
        """``GET /dashboards/{id}`` → JSON with the YAML in ``sourceCode``; 404 if missing."""
        return self._json(self._request("GET", f"dashboards/{_seg(dashboard_id)}", f"dashboard {dashboard_id}"))

    def update_dashboard(self, dashboard_id: str, source: str) -> dict:
        """Replaces an existing dashboard (YAML whose ``id`` must equal the path id);
        `KestraNotFound` when there is none. Reads first, like `update_flow`: two requests."""
        self.get_dashboard(dashboard_id)  # KestraNotFound when missing
        return self._put_existing_dashboard(dashboard_id, source)

    def _put_existing_dashboard(self, dashboard_id: str, source: str) -> dict:
        """``PUT /dashboards/{id}`` for a dashboard a read has just shown to exist: for a missing
        one DashboardController.updateDashboard answers ``HttpResponse.status(NOT_FOUND)``, the
        same request that can freeze Kestra 1.1 as a flow's (`_put_existing_flow`)."""
        return self._json(
            self._request(
                "PUT",
                f"dashboards/{_seg(dashboard_id)}",
                f"dashboard {dashboard_id}",
                data=source.encode(),
                content_type=YAML,
                document="dashboard",
            )
        )

    def _dashboard_if_exists(self, dashboard_id: str) -> Optional[dict]:
        try:
            return self.get_dashboard(dashboard_id)
        except KestraNotFound:
            return None

    def delete_dashboard(self, dashboard_id: str) -> None:
        """``DELETE /dashboards/{id}`` (204); a missing dashboard → `KestraNotFound`.

        Kestra 1.1 answers a missing dashboard with 409 "Illegal state: Dashboard X doesn't
        exists" (AbstractJdbcDashboardRepository.delete throws IllegalStateException); exactly
        that answer means "already gone". Any other 409 is an error.
        """
        obj = f"dashboard {dashboard_id}"
        try:
            self._request("DELETE", f"dashboards/{_seg(dashboard_id)}", obj)
        except KestraApiError as exc:
            if exc.status == 409 and f"Dashboard {dashboard_id} doesn't exists" in exc.detail:
                raise KestraNotFound("not found", obj=obj, status=409, detail=exc.detail,
                                     method=exc.method, path=exc.path) from None
            raise

    def put_dashboard(self, dashboard_id: str, source: str, *, exists: bool = False) -> dict:
        """Writes a dashboard whether or not Kestra has it (the same requests as `put_flow`)."""
        try:
            if not exists:
                try:
                    return self.create_dashboard(source)
                except KestraApiError as exc:
                    if not exc.already_exists:
                        raise
            live = self._dashboard_if_exists(dashboard_id)
            if live is None:
                return self.create_dashboard(source)
            if live.get("sourceCode") == source:
                return live
            return self._put_existing_dashboard(dashboard_id, source)
        except KestraApiError as exc:
            exc.obj = f"dashboard {dashboard_id}"
            raise

    # -- executions -------------------------------------------------------------------------

    def trigger_execution(self, namespace: str, flow_id: str, inputs: Optional[dict] = None) -> dict:
        """``POST /executions/{ns}/{id}`` (multipart inputs) → the new execution.

        Not retried once the request may have reached Kestra, so one call starts at most one
        execution. 404: no such flow; 409: the flow is disabled.
        """
        fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (inputs or {}).items()}
        body, content_type = urllib3.encode_multipart_formdata(fields)
        return self._json(
            self._request(
                "POST",
                f"executions/{_seg(namespace)}/{_seg(flow_id)}",
                f"flow {namespace}/{flow_id}",
                data=body,
                content_type=content_type,
                repeatable=False,
            )
        )

    def get_execution(self, execution_id: str) -> dict:
        """``GET /executions/{id}`` → the execution (``state.current``, ``taskRunList``)."""
        return self._json(self._request("GET", f"executions/{_seg(execution_id)}", f"execution {execution_id}"))

    def execution_logs(self, execution_id: str, min_level: str = "ERROR") -> list[dict]:
        """``GET /logs/{executionId}?minLevel=`` → log entries (``taskId``, ``level``, ``message``)."""
        return (
            self._json(
                self._request(
                    "GET", f"logs/{_seg(execution_id)}", f"execution {execution_id}", params={"minLevel": min_level}
                )
            )
            or []
        )

    def search_executions(
        self, namespace: str, flow_id: str, *, start_date: Optional[str] = None, size: int = 50
    ) -> list[dict]:
        """Executions of exactly this flow started at or after `start_date` → the ``results`` of
        ``GET /executions/search``.

        Sends the ``filters[field][OPERATION]`` form (QueryFilterFormatBinder), not the deprecated
        ``startDate`` parameter: RequestUtils.mapLegacyParamsToFilters maps that one to START_DATE
        GREATER_THAN — strictly after — and the H2 ``start_date`` column holds the start truncated
        to milliseconds (migration V1_32, ``LEFT(..., 23)``), so an execution's own start, which
        the tour passes, would not find it. Both forms cannot be mixed: when any ``filters[...]``
        is given, the legacy parameters are ignored (getFiltersOrDefaultToLegacyMapping). Without
        `start_date` Kestra searches the last 8 days (TimeLineSearch.extractFrom). `start_date`:
        ISO-8601 with an offset (``ZonedDateTime.parse``), e.g. ``2025-01-02T03:04:05.678Z``.
        """
        params = {
            "filters[namespace][EQUALS]": namespace,
            "filters[flowId][EQUALS]": flow_id,
            "size": str(size),
        }
        if start_date:
            params["filters[startDate][GREATER_THAN_OR_EQUAL_TO]"] = start_date
        body = self._json(self._request("GET", "executions/search", f"flow {namespace}/{flow_id}", params=params))
        return (body or {}).get("results") or []

    def generate_flow(self, prompt: str, conversation_id: str, flow_yaml: str = "") -> str:
        """``POST /ai/generate/flow`` (AiController, present only when Kestra has an AI service
        configured; 404 otherwise) → the flow YAML the AI copilot wrote."""
        body = json.dumps({"conversationId": conversation_id, "userPrompt": prompt, "flowYaml": flow_yaml})
        return self._request(
            "POST", "ai/generate/flow", "AI copilot", data=body.encode(), content_type="application/json",
            accept="application/yaml",  # the route produces YAML only: Micronaut answers 406 to JSON
        ).text
