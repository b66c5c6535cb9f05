"""Client setup: where an adapter's requests go (region, endpoint), checked before any request.

Region resolution, the same for the library, the async adapter, the CLI and
the pytest fixtures: the explicit argument, then ``AWS_REGION``, then
``AWS_DEFAULT_REGION``, then the region of the AWS config profile. None of
them: ``ValidationError`` naming both variables.
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import urlsplit

from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import BotoCoreError
from botocore.hooks import first_non_none_response
from botocore.session import Session as BotocoreSession

from session_store._bridge import bridged, pause, wait_for_io, yield_to_loop
from session_store.errors import ValidationError

__all__ = [
    "ENDPOINT_VARIABLES",
    "REGION_VARIABLES",
    "S3_ENDPOINT_VARIABLES",
    "botocore_session",
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
    """botocore's HTTP session; inside a bridged call (``_bridge``) its send, and the
    reading of the whole response, run on the bridge's I/O executor while the loop goes on.

    Everything else of a request (serialising, signing, events, parsing, botocore's
    retry decisions and error mapping) stays where botocore runs it. A streaming body
    (S3's ``GetObject``) is read to the end on the I/O thread too, and handed on in
    memory, so no later read of it touches the socket from the loop.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def send(self, request: Any) -> Any:
        if not bridged():
            return self.inner.send(request)
        return wait_for_io(self._send_and_read, request)

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


_LARGE_BODY_BYTES = 256 * 1024
"""A request body from which signing (a SHA-256 of the body) gets a loop step of its own."""


def _step_before_hashing(request: Any, **_: Any) -> None:
    """``before-sign``: end the loop step between encoding a large body and hashing it."""
    body = request.body
    if isinstance(body, bytes | bytearray) and len(body) >= _LARGE_BODY_BYTES:
        yield_to_loop()


def install_bridge(client: Any) -> None:
    """Make ``client`` wait through the bridge (``_bridge``) when called from a bridged
    call: its HTTP exchanges on the I/O executor, its retry backoff as ``asyncio.sleep``.
    Called outside one, the client behaves exactly as before. Idempotent.

    The backoff: botocore's endpoint asks the ``needs-retry`` handlers how long to
    wait and then calls ``time.sleep``, which would stop the loop; the endpoint's
    ``_needs_retry`` is replaced, for this client only, by the same question with the
    wait taken by ``_bridge.pause``. And a body of 256 KB or more is hashed for its
    signature in a loop step of its own, not in the step that encoded it.
    """
    endpoint = client._endpoint
    if isinstance(endpoint.http_session, _BridgedHTTPSession):
        return
    endpoint.http_session = _BridgedHTTPSession(endpoint.http_session)
    client.meta.events.register("before-sign", _step_before_hashing)
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
