"""Client setup: where an adapter's requests go (region, endpoint), checked before any request,
and how a client waits inside an async adapter's call (``install_bridge``).

Region resolution, the same for the library, the async adapter, the CLI and
the pytest fixtures: the explicit argument, then ``AWS_REGION``, then
``AWS_DEFAULT_REGION``, then the region of the AWS config profile. None of
them: ``ValidationError`` naming both variables.

``install_bridge`` puts the event loop's own HTTP client (``_http``) under a
botocore client for bridged calls (``_bridge``), mapping its failures to the
exceptions botocore's HTTP session raises; with ``gateway``, this is the only
module that imports botocore.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import ssl
import threading
import weakref
from collections.abc import Iterator
from typing import Any, Literal, cast
from urllib.parse import SplitResult, urlsplit

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    SSLError,
)
from botocore.hooks import first_non_none_response
from botocore.httpsession import get_cert_path
from botocore.session import Session as BotocoreSession

from session_store._bridge import bridged, pause, wait_for, wait_for_io, yield_to_loop
from session_store._http import (
    ConnectFailed,
    ConnectTimedOut,
    ExchangeError,
    OriginPool,
    ReadTimedOut,
    TlsFailed,
)
from session_store.errors import ValidationError

__all__ = [
    "ENDPOINT_VARIABLES",
    "REGION_VARIABLES",
    "S3_ENDPOINT_VARIABLES",
    "botocore_session",
    "close_bridged_connections",
    "has_credentials",
    "install_bridge",
    "resolve_endpoint_url",
    "resolve_region",
    "s3_client",
]

REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL")
"""The variables botocore reads for a DynamoDB endpoint, most specific first."""
S3_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
"""The variables botocore reads for an S3 endpoint, most specific first."""
IGNORE_ENDPOINTS_VARIABLE = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
"""botocore's switch (``true``) to ignore configured endpoints; honoured here too."""
# botocore's own rule for region names (it raises InvalidRegionError otherwise).
_REGION = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$")


def resolve_region(region: str | None) -> str:
    """The region requests go to; ``ValidationError`` when none is set or it is malformed."""
    if region is None:
        for variable in REGION_VARIABLES:
            region = os.environ.get(variable) or None
            if region is not None:
                break
    if region is None:
        try:
            region = BotocoreSession().get_scoped_config().get("region")
        except BotoCoreError:  # a broken or missing profile: no region from there
            region = None
    if region is None:
        raise ValidationError(
            "no AWS region: pass region=..., or set AWS_REGION (or AWS_DEFAULT_REGION)"
        )
    if not isinstance(region, str) or not _REGION.match(region):
        raise ValidationError(f"invalid AWS region name {region!r}")
    return region


def resolve_endpoint_url(
    endpoint_url: str | None, variables: tuple[str, ...] = ENDPOINT_VARIABLES
) -> str | None:
    """The endpoint requests go to: the argument, else the first of ``variables`` set
    (for DynamoDB ``AWS_ENDPOINT_URL_DYNAMODB``, then ``AWS_ENDPOINT_URL``; for S3
    ``S3_ENDPOINT_VARIABLES``) unless ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true``, else
    ``None`` (AWS itself). ``ValidationError`` unless it is an ``http(s)://host[:port]`` URL."""
    ignored = os.environ.get(IGNORE_ENDPOINTS_VARIABLE, "").strip().lower() == "true"
    if endpoint_url is None and not ignored:
        for variable in variables:
            endpoint_url = os.environ.get(variable) or None
            if endpoint_url is not None:
                break
    if endpoint_url is None:
        return None
    if not isinstance(endpoint_url, str):
        raise ValidationError(f"endpoint_url must be a string, got {type(endpoint_url).__name__}")
    problem = None
    try:
        parts = urlsplit(endpoint_url)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError as error:
        problem = str(error)
    else:
        if parts.scheme not in ("http", "https"):
            problem = "it needs an http:// or https:// scheme"
        elif not parts.hostname:
            problem = "it names no host"
        elif port == 0:
            problem = "port 0 is not a port to connect to"
    if problem is not None:
        raise ValidationError(f"invalid endpoint URL {endpoint_url!r}: {problem}")
    return endpoint_url


_SHARED_LOADERS: dict[Any, Any] = {}
_SHARED_LOADERS_LOCK = threading.Lock()


def botocore_session() -> BotocoreSession:
    """A new botocore session whose data loader is shared by every session this made.

    A session's loader reads and parses botocore's service files (DynamoDB's
    model, endpoint rules, partitions) on first use: about 80 ms for each new
    client. It caches what it reads and only ever reads those files (and
    ``AWS_DATA_PATH``'s, the key it is shared under), so one serves them all.
    Credentials, configuration and event handlers stay each session's own.
    """
    session = BotocoreSession()
    data_path = session.get_config_variable("data_path")
    with _SHARED_LOADERS_LOCK:
        loader = _SHARED_LOADERS.get(data_path)
        if loader is None:
            loader = _SHARED_LOADERS[data_path] = session.get_component("data_loader")
    session.register_component("data_loader", loader)
    return session


def s3_client(
    region: str | None,
    endpoint_url: str | None,
    *,
    max_attempts: int = 5,
    mode: Literal["standard", "adaptive"] = "standard",
    connect_timeout_seconds: float = 5.0,
    read_timeout_seconds: float = 60.0,
    max_pool_connections: int = 10,
) -> Any:
    """A botocore S3 client, with the region and endpoint resolved as for DynamoDB (the
    endpoint from ``S3_ENDPOINT_VARIABLES``); ``ValidationError`` before any request when
    either is missing or malformed.

    botocore retries throttling (``SlowDown``), 5xx and connection errors
    (``max_attempts`` counts the first try). An endpoint other than AWS's gets
    path-style addressing (``http://host/bucket/key``): emulators and private
    endpoints rarely resolve ``bucket.host``. The read timeout is longer than
    DynamoDB's: an object may be tens of megabytes.
    """
    config = Config(
        retries={"mode": mode, "total_max_attempts": max_attempts},
        connect_timeout=connect_timeout_seconds,
        read_timeout=read_timeout_seconds,
        max_pool_connections=max_pool_connections,
    )
    endpoint_url = resolve_endpoint_url(endpoint_url, S3_ENDPOINT_VARIABLES)
    if endpoint_url is not None:
        config = config.merge(Config(s3={"addressing_style": "path"}))
    client = botocore_session().create_client(
        "s3", region_name=resolve_region(region), endpoint_url=endpoint_url, config=config
    )
    install_bridge(client)
    return client


class _BufferedBody(io.BytesIO):
    """A response body already read off the socket, as botocore reads a raw stream."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


class _BridgedHTTPSession:
    """botocore's HTTP session; inside a bridged call (``_bridge``) the exchange is the
    event loop's own (``_http``), the loop going on while it waits.

    Everything else of a request (serialising, signing, events, parsing, botocore's
    retry decisions and error mapping) stays where botocore runs it. Requests the
    loop's client does not take (a proxy, a client certificate, a body that is not
    bytes, header text outside Latin-1) go through botocore's own session on the
    bridge's I/O executor instead, their body read to the end there. Outside a bridged
    call, botocore's own session sends, exactly as before.
    """

    def __init__(self, inner: Any, config: Any) -> None:
        self.inner = inner
        self._connect_timeout = _seconds(getattr(config, "connect_timeout", None))
        self._read_timeout = _seconds(getattr(config, "read_timeout", None))
        self._max_idle = int(getattr(config, "max_pool_connections", None) or 10)
        self._tls: ssl.SSLContext | None = None
        self._pools: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[str, str], OriginPool | None]
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def send(self, request: Any) -> Any:
        if not bridged():
            return self.inner.send(request)
        parts = urlsplit(request.url)
        body = request.body or b""
        pool = self._pool_for(parts, request.url)
        head = None
        if pool is not None and isinstance(body, bytes | bytearray):
            head = _request_head(request, parts, len(body))
        if pool is None or head is None:
            return wait_for_io(self._send_and_read, request)
        try:
            answer = wait_for(
                pool.exchange(
                    head,
                    body if isinstance(body, bytes) else bytes(body),  # no copy of bytes
                    expect_body=request.method != "HEAD",
                )
            )
        except ExchangeError as error:
            raise _botocore_error(error, request.url) from error
        headers = HTTPHeaders()
        for name, value in answer.headers:
            headers[name] = value
        return AWSResponse(request.url, answer.status, headers, _BufferedBody(answer.body))

    def _pool_for(self, parts: SplitResult, url: str) -> OriginPool | None:
        """The running loop's connections to the URL's origin; ``None`` where the loop's
        client does not apply. Decided once per origin and loop (every request of a client
        goes to the same one or two)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            pools = self._pools.get(loop)
            if pools is None:
                pools = self._pools[loop] = {}
        origin = (parts.scheme, parts.netloc)
        if origin not in pools:
            pools[origin] = self._new_pool(parts, url)
        return pools[origin]

    def _new_pool(self, parts: SplitResult, url: str) -> OriginPool | None:
        scheme, host = parts.scheme, parts.hostname
        if host is None or scheme not in ("http", "https"):
            return None
        if getattr(self.inner, "_cert_file", None) is not None:
            return None  # a client certificate: botocore's session presents it
        proxies = getattr(self.inner, "_proxy_config", None)
        if proxies is None or proxies.proxy_url_for(url):
            return None
        tls = None
        if scheme == "https":
            tls = self._tls_context()
            if tls is None:
                return None
        return OriginPool(
            host,
            parts.port or (443 if scheme == "https" else 80),
            tls=tls,
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
            max_idle=self._max_idle,
        )

    def _tls_context(self) -> ssl.SSLContext | None:
        """Verification as botocore's session does it (its CA bundle, or the ``verify``
        path given; none when ``verify=False``); ``None`` for anything else."""
        if self._tls is None:
            verify = getattr(self.inner, "_verify", None)
            if verify is False:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif verify is True or isinstance(verify, str):
                context = ssl.create_default_context(cafile=get_cert_path(cast(bool, verify)))
            else:
                return None
            self._tls = context
        return self._tls

    async def close_connections(self) -> None:
        """Close the running loop's idle connections (the adapter's ``close()``)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        with self._lock:
            pools = self._pools.pop(loop, {})
        for pool in pools.values():
            if pool is not None:
                await pool.close()

    def _send_and_read(self, request: Any) -> Any:
        response = self.inner.send(request)
        if not request.stream_output:
            return response  # botocore's session has read the body already
        body = response.content
        release = getattr(response.raw, "release_conn", None)
        if release is not None:
            release()
        return AWSResponse(
            response.url, response.status_code, response.headers, _BufferedBody(body)
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _request_head(request: Any, parts: SplitResult, body_length: int) -> bytes | None:
    """The request line and headers as bytes; ``None`` if a header is not Latin-1 text."""
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.netloc.rpartition("@")[2]
    default_port = ":443" if parts.scheme == "https" else ":80"
    if host.endswith(default_port):
        host = host[: -len(default_port)]
    lines = [f"{request.method} {target} HTTP/1.1", f"Host: {host}"]
    has_length = False
    for name, value in request.headers.items():
        lowered = name.lower()
        if lowered in ("host", "expect"):  # the body is sent without waiting for a 100
            continue
        has_length = has_length or lowered == "content-length"
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        lines.append(f"{name}: {text}")
    if not has_length:
        lines.append(f"Content-Length: {body_length}")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        return None


def _botocore_error(error: ExchangeError, url: str) -> Exception:
    """What botocore's own HTTP session raises for the same failure."""
    if isinstance(error, TlsFailed):
        cause = error.__cause__
        return SSLError(endpoint_url=url, error=cause if isinstance(cause, Exception) else error)
    if isinstance(error, ConnectTimedOut):
        return ConnectTimeoutError(endpoint_url=url, error=error)
    if isinstance(error, ReadTimedOut):
        return ReadTimeoutError(endpoint_url=url, error=error)
    if isinstance(error, ConnectFailed):
        return EndpointConnectionError(endpoint_url=url, error=error)
    return ConnectionClosedError(endpoint_url=url, error=error)


_LARGE_BODY_BYTES = 256 * 1024
"""A request body from which signing's SHA-256 of the body leaves the loop's thread."""
_PAYLOAD_HASH_HEADER = "X-Amz-Content-SHA256"


def payload_sha256(body: bytes | bytearray) -> str:
    """The body's SHA-256, hex: what SigV4 signs as the payload hash."""
    return hashlib.sha256(body).hexdigest()


def _hash_large_body_off_the_loop(
    request: Any, signature_version: str | None = None, **_: Any
) -> None:
    """``before-sign``, bridged: a body of 256 KB or more is hashed on an I/O thread.

    SHA-256 of a few megabytes takes milliseconds, which would be one long loop
    step; hashlib lets other threads run while it hashes, so the loop goes on
    meanwhile. The digest is handed to botocore's SigV4 signer as the
    ``X-Amz-Content-SHA256`` header, which it signs instead of hashing the body
    itself (AWS's SigV4 header for the payload hash; the AWS SDK for JavaScript
    sends it on every request). Only for plain ``v4`` signing with the payload
    signed (S3's signer sets that header itself); otherwise the loop step just
    ends before botocore hashes. Outside a bridged call, nothing changes.
    """
    body = request.body
    if not (isinstance(body, bytes | bytearray) and len(body) >= _LARGE_BODY_BYTES):
        return
    if not bridged():
        return
    signs_payload = not request.url.startswith("https") or request.context.get(
        "payload_signing_enabled", True
    )
    if signature_version == "v4" and signs_payload:
        digest = wait_for_io(payload_sha256, body)
        if _PAYLOAD_HASH_HEADER in request.headers:  # HTTPHeaders would keep both
            del request.headers[_PAYLOAD_HASH_HEADER]
        request.headers[_PAYLOAD_HASH_HEADER] = digest
    else:
        yield_to_loop()


async def close_bridged_connections(client: Any) -> None:
    """Close the running event loop's idle connections of ``client`` (its bridged calls')."""
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    if isinstance(session, _BridgedHTTPSession):
        await session.close_connections()


def install_bridge(client: Any) -> None:
    """Make ``client`` wait through the bridge (``_bridge``) when called from a bridged
    call: its HTTP exchanges on the event loop's own connections (``_http``; botocore's
    session on the I/O executor where those do not apply), its retry backoff as
    ``asyncio.sleep``.
    Called outside one, the client behaves exactly as before. Idempotent.

    The backoff: botocore's endpoint asks the ``needs-retry`` handlers how long to
    wait and then calls ``time.sleep``, which would stop the loop; the endpoint's
    ``_needs_retry`` is replaced, for this client only, by the same question with the
    wait taken by ``_bridge.pause``. And a body of 256 KB or more is hashed for its
    signature on an I/O thread, not on the loop's.
    """
    endpoint = client._endpoint
    if isinstance(endpoint.http_session, _BridgedHTTPSession):
        return
    endpoint.http_session = _BridgedHTTPSession(endpoint.http_session, client.meta.config)
    client.meta.events.register("before-sign", _hash_large_body_off_the_loop)
    blocking = endpoint._needs_retry

    def needs_retry(
        attempts: int,
        operation_model: Any,
        request_dict: Any,
        response: Any = None,
        caught_exception: Any = None,
    ) -> bool:
        if not bridged():
            return bool(
                blocking(attempts, operation_model, request_dict, response, caught_exception)
            )
        service_id = operation_model.service_model.service_id.hyphenize()
        responses = endpoint._event_emitter.emit(
            f"needs-retry.{service_id}.{operation_model.name}",
            response=response,
            endpoint=endpoint,
            operation=operation_model,
            attempts=attempts,
            caught_exception=caught_exception,
            request_dict=request_dict,
        )
        delay = first_non_none_response(responses)
        if delay is None or delay is False:
            return False
        pause(delay)
        return True

    endpoint._needs_retry = needs_retry


def has_credentials() -> bool:
    """Whether the AWS credential chain finds credentials (environment, profile, ...)."""
    try:
        return BotocoreSession().get_credentials() is not None
    except BotoCoreError:
        return False
