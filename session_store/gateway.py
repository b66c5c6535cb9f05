"""The one sender: every DynamoDB request of the package goes through a ``Gateway``,
every S3 request (large-message offload) through an ``ObjectStore``.

This module is long on purpose: it is the one place that imports botocore and
maps its failures (``translate``), so both senders and that map live here.

The adapters, the async adapter (through the sync one), the counters, the
migrations, the table code and the CLI hand their requests to the gateway of
their bound models; nothing else calls botocore. The gateway owns:

- the single-item writes, retried with jittered backoff when DynamoDB answers
  ``TransactionConflictException`` (the item is inside another request's
  transaction; botocore does not retry that, and the write did not happen);
- the one pagination loop (``items``) for Query and Scan;
- the one ``UnprocessedItems`` loop for batch writes (jittered backoff);
- transactions with typed outcomes: ``Outcome.reasons`` holds one
  ``Reason`` per item (a code from ``Code`` and the item DynamoDB returned),
  in the order the items were given;
- the one map from botocore and DynamoDB failures to the error hierarchy
  (``translate``): a failed condition is ``ConditionFailed`` carrying the
  stored item, a missing table ``TableNotFoundError`` naming table, region
  and endpoint, anything else ``StorageError`` with the cause kept.

``ObjectStore`` is its S3 sibling for the payloads of offloaded messages
(``session_store.offload``): PutObject, GetObject, DeleteObject(s) and
listings of one bucket, through the same error map.

Requests arrive as botocore keyword arguments built from the models'
attributes (``session_store.models``), and responses leave as botocore
returns them (on the bound models' clients, botocore's shape walks are
replaced by one-pass equivalents: ``_request_bodies`` encodes the request
bodies, ``_wire`` decodes the responses). Why the adapters' hot paths build
requests themselves instead of calling ``Model.save``/``Model.update``/
``TransactWrite``: PynamoDB cannot ask for
``ReturnValuesOnConditionCheckFailure`` (needed to read the stored item from a
failed write in the same request), its transactions return no cancellation
items, and its per-instance (de)serialisation costs what BENCHMARKS.md part 2
measures. Application code may use PynamoDB's own calls freely: the models
keep every invariant on those paths (see ``models``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Any, cast

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from session_store import _wire
from session_store._bridge import BridgeAwareExecutor, pause, wait_futures, yield_to_loop
from session_store.errors import (
    CredentialsMissingError,
    EndpointUnreachableError,
    SessionError,
    StorageError,
    TableNotFoundError,
    ValidationError,
)

__all__ = [
    "BATCH_SIZE",
    "DELETE_BATCH_SIZE",
    "BucketLocation",
    "Code",
    "ConditionFailed",
    "DeleteFailure",
    "Deleter",
    "Gateway",
    "ObjectNotFound",
    "ObjectStore",
    "Outcome",
    "Reason",
    "StoredObject",
    "aws_code",
    "translate",
]

BATCH_SIZE = 25
"""Write requests per ``BatchWriteItem``: DynamoDB's limit."""
DELETE_BATCH_SIZE = 1000
"""Keys per S3 ``DeleteObjects``: S3's limit."""
_BACKOFF_START = 0.02
_BACKOFF_CAP = 1.0
_BATCH_BACKOFF_START = 0.05
_BATCH_BACKOFF_CAP = 2.0


class Code(Enum):
    """Why DynamoDB cancelled one item of a transaction (its ``CancellationReasons`` codes)."""

    NONE = "None"
    CONDITION_FAILED = "ConditionalCheckFailed"
    CONFLICT = "TransactionConflict"
    ITEM_TOO_LARGE = "ItemCollectionSizeLimitExceeded"
    THROTTLED = "ThrottlingError"
    PROVISIONED_THROUGHPUT = "ProvisionedThroughputExceeded"
    VALIDATION = "ValidationError"
    OTHER = "Other"

    @classmethod
    def of(cls, code: object) -> Code:
        try:
            return cls(code if code is not None else "None")
        except ValueError:
            return cls.OTHER


@dataclass(frozen=True)
class Reason:
    """What happened to one item of a cancelled transaction."""

    code: Code
    item: Mapping[str, Any] | None = None
    """The stored item, when a failed condition asked for it
    (``ReturnValuesOnConditionCheckFailure``)."""
    message: str = ""

    @property
    def condition_failed(self) -> bool:
        return self.code is Code.CONDITION_FAILED

    @property
    def untouched(self) -> bool:
        """This item was fine: the transaction failed because of another one."""
        return self.code is Code.NONE


@dataclass(frozen=True)
class Outcome:
    """The result of a transaction: committed, or cancelled with a reason per item."""

    reasons: tuple[Reason, ...] = ()

    @property
    def committed(self) -> bool:
        return not self.reasons

    def describe(self) -> str:
        return ", ".join(
            f"{reason.code.value}{': ' + reason.message if reason.message else ''}"
            for reason in self.reasons
        )


class ConditionFailed(StorageError):
    """A single-item write's condition failed. ``item`` is the item as stored (if asked)."""

    def __init__(self, item: Mapping[str, Any] | None) -> None:
        super().__init__("the write's condition failed", code="CONDITION_FAILED")
        self.item = item


def _error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return None if code is None else str(code)
    return getattr(error, "cause_response_code", None)


def aws_code(error: BaseException) -> str | None:
    """DynamoDB's error code behind one of our errors (``None`` when it has none)."""
    cause = error.__cause__
    return None if cause is None else _error_code(cause)


def _error_message(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        message = response.get("Error", {}).get("Message")
        if message:
            return str(message)
    return getattr(error, "cause_response_message", None) or str(error) or type(error).__name__


def _place(what: str, region: str | None, endpoint_url: str | None) -> str:
    """``what`` with where its requests go, for error messages."""
    return f"{what} in region {region or '?'} at {endpoint_url or 'the AWS endpoint'}"


def _endpoint_of(client: Any) -> str | None:
    """The endpoint botocore resolved for ``client`` (when none was configured)."""
    return getattr(getattr(client, "meta", None), "endpoint_url", None)


@dataclass(frozen=True)
class Location:
    """Where requests go, for error messages: table, region and endpoint."""

    table_name: str
    region: str | None
    endpoint_url: str | None

    def __str__(self) -> str:
        return _place(f"table {self.table_name!r}", self.region, self.endpoint_url)


@dataclass(frozen=True)
class BucketLocation:
    """Where S3 requests go, for error messages: bucket, region and endpoint."""

    bucket: str
    region: str | None
    endpoint_url: str | None

    def __str__(self) -> str:
        return _place(f"S3 bucket {self.bucket!r}", self.region, self.endpoint_url)


class ObjectNotFound(StorageError):
    """An S3 object an item points to is not there (``key``, in ``bucket``)."""

    def __init__(self, message: str, *, bucket: str, key: str) -> None:
        super().__init__(message, code="OBJECT_NOT_FOUND")
        self.bucket = bucket
        self.key = key


def translate(
    error: BaseException, operation: str, where: Location | BucketLocation | None = None
) -> SessionError:
    """The error of the hierarchy for a botocore/PynamoDB failure of ``operation`` (raise it
    ``from error``). The one map from DynamoDB's and S3's error codes to ours."""
    if isinstance(error, SessionError):
        return error
    if isinstance(error, EndpointConnectionError):
        endpoint = (where.endpoint_url if where is not None else None) or getattr(
            error, "kwargs", {}
        ).get("endpoint_url")
        service = "S3" if isinstance(where, BucketLocation) else "DynamoDB"
        return EndpointUnreachableError(
            f"{operation} failed: cannot reach {service} at {endpoint or '?'}",
            endpoint_url=endpoint,
        )
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return CredentialsMissingError(
            "no AWS credentials found: configure a profile or set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(error, NoRegionError):
        return ValidationError("no AWS region: pass region=..., or set AWS_REGION")
    code = _error_code(error)
    if isinstance(where, BucketLocation):
        s3_error = _s3_error(error, code, operation, where)
        if s3_error is not None:
            return s3_error
    if code == "ResourceNotFoundException" and not isinstance(where, BucketLocation):
        if where is None:
            return TableNotFoundError(f"{operation} failed: the table does not exist")
        return TableNotFoundError(
            f"{operation} failed: {where} does not exist",
            table_name=where.table_name,
            region=where.region,
            endpoint_url=where.endpoint_url,
        )
    if code == "ConditionalCheckFailedException":
        response = getattr(error, "response", None)
        item = response.get("Item") if isinstance(response, dict) else None
        return ConditionFailed(item)
    if code == "ValidationException" and "item size" in _error_message(error).lower():
        # An update that would grow the item past 400 KB: the input's fault, not the store's.
        return ValidationError(
            f"{operation} refused: the item would exceed DynamoDB's 400 KB item size limit "
            f"({_error_message(error)})"
        )
    if code is not None:
        return StorageError(f"{operation} failed: {code}: {_error_message(error)}")
    return StorageError(f"{operation} failed: {type(error).__name__}: {error}")


def _s3_error(
    error: BaseException, code: str | None, operation: str, where: BucketLocation
) -> SessionError | None:
    """The error for S3's own codes (``None``: the generic mapping applies)."""
    if code == "NoSuchBucket":
        return StorageError(
            f"{operation} failed: {where} does not exist (check the bucket name, region and "
            "endpoint of S3Offload)",
            code="BUCKET_NOT_FOUND",
        )
    if code in ("NoSuchKey", "404"):
        response = getattr(error, "response", None)
        key = response.get("Error", {}).get("Key") if isinstance(response, dict) else None
        key = key or "?"
        return ObjectNotFound(
            f"{operation} failed: object {key!r} is not in {where}", bucket=where.bucket, key=key
        )
    if code == "AccessDenied":
        return StorageError(
            f"{operation} failed: access to {where} denied: {_error_message(error)}",
            code="ACCESS_DENIED",
        )
    return None


class Gateway:
    """Sends one table's requests through one botocore client; see the module docstring.

    ``client`` is called for the client on each request (the bound models
    create it lazily and may close it). ``attempts`` bounds the gateway's own
    retries (transaction conflicts, unprocessed batch items), on top of
    botocore's retries of throttling, 5xx and connection errors.
    """

    def __init__(self, client: Callable[[], Any], where: Location, *, attempts: int = 10) -> None:
        self._client = client
        self.where = where
        self.table_name = where.table_name
        self._attempts = max(attempts, 1)

    @property
    def client(self) -> Any:
        """The botocore client (for hooks: request counting, fault injection, logging)."""
        return self._client()

    def _send(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        client = self._client()
        try:
            return cast("dict[str, Any]", getattr(client, operation)(**request))
        except (ClientError, BotoCoreError) as error:
            raise translate(error, operation, self._resolved(client)) from error

    def _resolved(self, client: Any) -> Location:
        """``where``, with the endpoint botocore resolved when none was configured."""
        if self.where.endpoint_url is not None:
            return self.where
        return replace(self.where, endpoint_url=_endpoint_of(client))

    # --- reads ----------------------------------------------------------------

    def get(self, key: Mapping[str, Any], **options: Any) -> dict[str, Any] | None:
        """The item at ``key`` (strongly consistent unless ``ConsistentRead=False``), or None."""
        request = {"TableName": self.table_name, "Key": key, "ConsistentRead": True, **options}
        return self._send("get_item", request).get("Item")

    def query(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One Query page, as botocore returns it."""
        return self._send("query", {"TableName": self.table_name, **request})

    def items(
        self,
        operation: str,
        request: Mapping[str, Any],
        *,
        limit: Callable[[], int | None] | None = None,
        pages: list[Mapping[str, Any]] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a ``"Query"`` or ``"Scan"``, page after page, read as consumed.

        ``limit()`` (asked before each page) says how many more items are
        wanted; ``None`` lets DynamoDB fill 1 MB pages. Each page is let go
        before the next is read. ``pages``, when given, collects each page's
        ``LastEvaluatedKey`` (``{}`` for the last) for callers that resume.
        """
        for page in self.pages(operation, request, limit=limit, pages=pages):
            yield from page

    def pages(
        self,
        operation: str,
        request: Mapping[str, Any],
        *,
        limit: Callable[[], int | None] | None = None,
        pages: list[Mapping[str, Any]] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """``items``, a page at a time: each response's ``Items`` list (possibly empty).

        The one pagination loop: same requests, same ``limit`` and ``pages``
        contract as ``items``. For callers that handle a page at once (decoding
        a whole page in one pass costs less than item by item).
        """
        for page, _ in self._paged(operation, request, limit, pages, wire=False):
            yield page

    def wire_pages(
        self, operation: str, request: Mapping[str, Any]
    ) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """Every page of a ``"Query"`` or ``"Scan"`` (1 MB pages), each with whether its
        items are wire JSON as parsed (``_wire.wire_items``: each must go through
        ``_wire.finish_item`` unless a decoder of wire JSON reads it) or, when the fast
        decode path is off, botocore's parse as ``pages`` gives it."""
        return self._paged(operation, request, None, None, wire=True)

    def _paged(
        self,
        operation: str,
        request: Mapping[str, Any],
        limit: Callable[[], int | None] | None,
        pages: list[Mapping[str, Any]] | None,
        *,
        wire: bool,
    ) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        method = "query" if operation == "Query" else "scan"
        kwargs = {"TableName": self.table_name, **request}
        while True:
            wanted = limit() if limit is not None else None
            if wanted is not None:
                kwargs["Limit"] = max(wanted, 1)
            if wire:
                with _wire.wire_items() as state:
                    response = self._send(method, kwargs)
                    delivered = state.delivered
            else:
                response, delivered = self._send(method, kwargs), False
            last = response.get("LastEvaluatedKey")
            page = response.get("Items", [])
            del response
            if pages is not None:
                pages.append(last or {})
            # An async adapter's call decodes the page's items in a later loop step than
            # the one that parsed the response (up to 1 MB).
            yield_to_loop()
            yield page, delivered
            del page
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    # --- writes ---------------------------------------------------------------

    def put(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """PutItem; ``ConditionFailed`` (with the stored item, if asked for) when its
        condition fails."""
        return self._write("put_item", request)

    def update(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """UpdateItem; ``ConditionFailed`` on a failed condition."""
        return self._write("update_item", request)

    def delete(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """DeleteItem; ``ConditionFailed`` on a failed condition."""
        return self._write("delete_item", request)

    def _write(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        kwargs = {"TableName": self.table_name, **request}
        delay = _BACKOFF_START
        for attempt in range(self._attempts):
            try:
                return self._send(operation, kwargs)
            except StorageError as error:
                conflict = aws_code(error) == "TransactionConflictException"
                if not conflict or attempt + 1 == self._attempts:
                    raise
                # Full jitter: writers that collided do not collide again in step.
                pause(random.uniform(0, delay))
                delay = min(delay * 2, _BACKOFF_CAP)
        raise AssertionError("unreachable")  # pragma: no cover

    def batch_delete(self, keys: Sequence[Mapping[str, Any]], *, parallel: int = 1) -> None:
        """Delete items by key, 25 a request; ``UnprocessedItems`` are retried, never dropped.

        ``parallel`` > 1 keeps up to that many batches in flight (see ``deleter``).
        """
        with self.deleter(parallel=parallel) as deleter:
            for key in keys:
                deleter.add(key)

    @contextmanager
    def deleter(self, *, parallel: int = 1) -> Iterator[Deleter]:
        """A ``Deleter`` sending this table's deletes; every batch is done when the block ends.

        On leaving the block the last partial batch is sent and every batch in
        flight is waited for; the first failure of a batch is raised then (or
        from the ``add`` after it: no further batch is sent once one failed).
        """
        deleter = Deleter(self, parallel)
        try:
            yield deleter
        except BaseException:
            deleter.abandon()
            raise
        deleter.finish()

    def batch_put(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Put items, 25 a request; ``UnprocessedItems`` are retried, never dropped."""
        for start in range(0, len(items), BATCH_SIZE):
            self.batch_write(
                [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH_SIZE]]
            )

    def batch_write(self, requests: Sequence[Mapping[str, Any]]) -> None:
        """One ``BatchWriteItem`` of at most 25 write requests, retried until all are processed."""
        table = self.table_name
        self._until_processed(
            "batch_write_item",
            list(requests),
            lambda pending: {"RequestItems": {table: pending}},
            lambda response: response.get("UnprocessedItems", {}).get(table, []),
        )

    def batch_get(self, keys: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The items stored under ``keys`` (at most 100; strongly consistent), in no
        particular order; absent ones are left out. ``UnprocessedKeys`` are retried."""
        table = self.table_name
        responses = self._until_processed(
            "batch_get_item",
            list(keys),
            lambda pending: {"RequestItems": {table: {"Keys": pending, "ConsistentRead": True}}},
            lambda response: response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []),
        )
        return [
            item for response in responses for item in response.get("Responses", {}).get(table, [])
        ]

    def _until_processed(
        self,
        operation: str,
        pending: list[Any],
        request: Callable[[list[Any]], dict[str, Any]],
        unprocessed: Callable[[dict[str, Any]], list[Any]],
    ) -> list[dict[str, Any]]:
        """The one retry loop of batch requests: send ``request(pending)`` again until
        nothing is left unprocessed; the responses, in order.

        Unprocessed entries are sent again after a jittered, growing pause;
        after ``2 * attempts`` rounds with entries still left, ``StorageError``
        says how many. Never drops one silently.
        """
        responses = []
        delay = _BATCH_BACKOFF_START
        for _ in range(self._attempts * 2):
            response = self._send(operation, request(pending))
            responses.append(response)
            pending = unprocessed(response)
            if not pending:
                return responses
            pause(random.uniform(delay / 2, delay))
            delay = min(delay * 2, _BATCH_BACKOFF_CAP)
        raise StorageError(
            f"{operation} left {len(pending)} item(s) unprocessed after repeated retries"
        )

    def transact(self, actions: Sequence[Mapping[str, Any]]) -> Outcome:
        """Run a ``TransactWriteItems``; its ``Outcome`` (committed, or a reason per action).

        Each action is ``{"Put"|"Update"|"Delete"|"ConditionCheck": {...}}``
        without ``TableName`` (added here). A cancellation caused by a
        transaction conflict (botocore does not retry those) is retried with
        jittered backoff; botocore's ``ClientRequestToken`` makes its own
        retries after a lost response idempotent. A cancellation for an
        invalid or oversized item raises ``ValidationError``: that is no race.
        """
        items = [
            {kind: {"TableName": self.table_name, **body} for kind, body in action.items()}
            for action in actions
        ]
        client = self._client()
        delay = _BACKOFF_START
        for attempt in range(self._attempts):
            try:
                client.transact_write_items(TransactItems=items)
                return Outcome()
            except (ClientError, BotoCoreError) as error:
                if _error_code(error) != "TransactionCanceledException":
                    raise translate(error, "TransactWriteItems", self._resolved(client)) from error
                outcome = Outcome(tuple(_reasons(error)))
                codes = {reason.code for reason in outcome.reasons}
                if Code.CONFLICT in codes and attempt + 1 < self._attempts:
                    pause(random.uniform(0, delay))
                    delay = min(delay * 2, _BACKOFF_CAP)
                    continue
                if Code.VALIDATION in codes or Code.ITEM_TOO_LARGE in codes:
                    raise ValidationError(
                        f"DynamoDB refused the write: {outcome.describe()}"
                    ) from error
                if codes & {Code.CONFLICT, Code.THROTTLED, Code.PROVISIONED_THROUGHPUT, Code.OTHER}:
                    raise StorageError(
                        f"TransactWriteItems was cancelled: {outcome.describe()}"
                    ) from error
                return outcome
        raise AssertionError("unreachable")  # pragma: no cover

    # --- the table itself -----------------------------------------------------

    def describe_table(self) -> dict[str, Any] | None:
        """The table's description; ``None`` when it does not exist."""
        try:
            return cast(
                "dict[str, Any]",
                self._send("describe_table", {"TableName": self.table_name})["Table"],
            )
        except TableNotFoundError:
            return None

    def describe_ttl(self) -> dict[str, Any]:
        response = self._send("describe_time_to_live", {"TableName": self.table_name})
        return cast("dict[str, Any]", response["TimeToLiveDescription"])

    def table_request(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """A control-plane request on this table (``create_table``, ``update_table``,
        ``update_time_to_live``, ``delete_table``)."""
        return self._send(operation, {"TableName": self.table_name, **request})


class Deleter:
    """Deletes keys 25 a ``BatchWriteItem``, with up to ``parallel`` batches in flight.

    Get one from ``Gateway.deleter``. Each batch goes through
    ``Gateway.batch_write`` (its ``UnprocessedItems`` retried, botocore's
    retries underneath), on a worker thread of a pool of ``parallel`` threads
    that lives as long as the deleter; inside an async adapter's call, as
    further bridged calls on its event loop instead (``_bridge``). Bounded: ``add`` waits while
    ``parallel`` batches are in flight, so at most ``parallel`` batches of
    keys are held beyond the one being filled. Work that fits one batch is
    sent on the calling thread (no pool is started for it). ``sent`` counts
    the keys of the batches DynamoDB processed so far.
    """

    def __init__(self, gateway: Gateway, parallel: int) -> None:
        if not isinstance(parallel, int) or isinstance(parallel, bool) or parallel < 1:
            raise ValidationError("parallel must be a positive integer")
        self._gateway = gateway
        self._parallel = parallel
        self._filling: list[Mapping[str, Any]] = []
        self._held: list[Mapping[str, Any]] | None = None
        """The first full batch, held until a second one shows whether a pool pays off."""
        self._pool: BridgeAwareExecutor | None = None
        self._in_flight: set[Future[int]] = set()
        self._lock = threading.Lock()
        self.sent = 0

    def add(self, key: Mapping[str, Any]) -> None:
        """Delete the item at ``key`` (sent once its batch is full, or at the end)."""
        self._filling.append(key)
        if len(self._filling) == BATCH_SIZE:
            batch, self._filling = self._filling, []
            self._dispatch(batch)

    def _dispatch(self, batch: list[Mapping[str, Any]]) -> None:
        if self._parallel == 1:
            self._send(batch)
            return
        if self._pool is None:
            if self._held is None:
                self._held = batch
                return
            parallel = self._parallel
            self._pool = BridgeAwareExecutor(
                lambda: ThreadPoolExecutor(
                    max_workers=parallel, thread_name_prefix="session-store-delete"
                )
            )
            held, self._held = self._held, None
            self._submit(held)
        self._submit(batch)

    def _submit(self, batch: list[Mapping[str, Any]]) -> None:
        assert self._pool is not None
        while len(self._in_flight) >= self._parallel:
            done, self._in_flight = wait_futures(self._in_flight, first_completed=True)
            for future in done:
                future.result()  # a failed batch stops the deletes here
        self._in_flight.add(self._pool.submit(self._send, batch))

    def _send(self, batch: list[Mapping[str, Any]]) -> int:
        self._gateway.batch_write([{"DeleteRequest": {"Key": key}} for key in batch])
        with self._lock:
            self.sent += len(batch)
        return len(batch)

    def finish(self) -> None:
        """Send what is left and wait for every batch; raises the first failure."""
        try:
            if self._filling:
                batch, self._filling = self._filling, []
                if self._pool is None and self._held is None:
                    self._send(batch)  # the only batch: no pool for it
                else:
                    self._dispatch(batch)
            if self._held is not None:  # one full batch and nothing after it
                held, self._held = self._held, None
                self._send(held)
            for future in self._wait_all():
                failure = future.exception()
                if failure is not None:
                    raise failure
        finally:
            self._close_pool()

    def abandon(self) -> None:
        """Send nothing more; wait for the batches in flight (their failures dropped)."""
        self._filling = []
        self._held = None
        self._wait_all()
        self._close_pool()

    def _wait_all(self) -> set[Future[int]]:
        finished = self._in_flight
        self._in_flight = set()
        wait_futures(finished)
        return finished

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _reasons(error: BaseException) -> Iterator[Reason]:
    response = getattr(error, "response", {})
    for reason in response.get("CancellationReasons", []):
        yield Reason(Code.of(reason.get("Code")), reason.get("Item"), reason.get("Message", ""))


# --- S3 -------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredObject:
    """One object of a listing."""

    key: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class DeleteFailure:
    """A key ``DeleteObjects`` did not delete, with S3's code and message for it."""

    key: str
    code: str
    message: str


class ObjectStore:
    """Sends one bucket's S3 requests through one botocore S3 client (``_client.s3_client``).

    ``client`` is called for the client on each request. botocore retries
    throttling, 5xx and connection errors; failures leave as errors of the
    hierarchy (``translate``): a missing bucket is a ``StorageError`` coded
    ``BUCKET_NOT_FOUND`` naming bucket, region and endpoint; a missing
    object ``ObjectNotFound``. Keys are used as given (``session_store.offload``
    makes them).
    """

    def __init__(self, client: Callable[[], Any], where: BucketLocation) -> None:
        self._client = client
        self.where = where
        self.bucket = where.bucket

    @property
    def client(self) -> Any:
        """The botocore S3 client (for hooks: request counting, fault injection)."""
        return self._client()

    def _send(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        client = self._client()
        try:
            return cast("dict[str, Any]", getattr(client, operation)(Bucket=self.bucket, **request))
        except (ClientError, BotoCoreError) as error:
            raise translate(error, operation, self._resolved(client)) from error

    def _resolved(self, client: Any) -> BucketLocation:
        """``where``, with the endpoint botocore resolved when none was configured."""
        if self.where.endpoint_url is not None:
            return self.where
        return replace(self.where, endpoint_url=_endpoint_of(client))

    def put(self, key: str, body: bytes, *, content_type: str = "application/json") -> None:
        """PutObject. Writing the same bytes to the same key again is harmless, so
        botocore's retry after a lost response is too."""
        self._send("put_object", {"Key": key, "Body": body, "ContentType": content_type})

    def get(self, key: str) -> bytes:
        """The object's bytes; ``ObjectNotFound`` when it is not there."""
        response = self._send("get_object", {"Key": key})
        body = response["Body"]
        try:
            return cast("bytes", body.read())
        except BotoCoreError as error:  # the connection dropped mid-body
            raise translate(error, "get_object", self.where) from error
        finally:
            body.close()

    def delete(self, key: str) -> None:
        """DeleteObject; deleting an absent key succeeds (S3's semantics)."""
        self._send("delete_object", {"Key": key})

    def delete_many(self, keys: Sequence[str]) -> list[DeleteFailure]:
        """Delete ``keys``, ``DELETE_BATCH_SIZE`` a request; the keys S3 did not delete,
        each with its reason (empty when all went). Absent keys count as deleted. A
        request that fails as a whole raises, naming how many keys were deleted before."""
        failures: list[DeleteFailure] = []
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), DELETE_BATCH_SIZE):
            chunk = unique[start : start + DELETE_BATCH_SIZE]
            try:
                response = self._send(
                    "delete_objects",
                    {"Delete": {"Objects": [{"Key": key} for key in chunk], "Quiet": True}},
                )
            except StorageError as error:
                if start == 0:
                    raise
                raise StorageError(
                    f"{error} (after {start} of {len(unique)} keys were handled)"
                ) from error
            failures.extend(
                DeleteFailure(
                    str(entry.get("Key", "?")),
                    str(entry.get("Code", "?")),
                    str(entry.get("Message", "")),
                )
                for entry in response.get("Errors", [])
            )
        return failures

    def list(self, prefix: str = "", older_than: datetime | None = None) -> Iterator[StoredObject]:
        """Every object under ``prefix`` (all pages, read as consumed), only those last
        modified before ``older_than`` when it is given (an aware datetime)."""
        if older_than is not None and older_than.tzinfo is None:
            raise ValidationError("older_than must be timezone-aware")
        request: dict[str, Any] = {"Prefix": prefix}
        while True:
            response = self._send("list_objects_v2", request)
            for entry in response.get("Contents", []):
                modified = entry["LastModified"]
                if older_than is None or modified < older_than:
                    yield StoredObject(entry["Key"], int(entry.get("Size", 0)), modified)
            token = response.get("NextContinuationToken")
            if not response.get("IsTruncated") or not token:
                return
            request["ContinuationToken"] = token
