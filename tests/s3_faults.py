"""S3 faults for ``tests.faults``: the same injector, S3's error responses.

``faults.inject(s3_client, FaultPlan(...))`` works on a botocore S3 client as
it does on a DynamoDB one (the injector stands in front of the endpoint's
``before-send``, below botocore's retry layer; operations are S3's names:
``PutObject``, ``GetObject``, ``DeleteObject``, ``DeleteObjects``,
``ListObjectsV2``). What differs is the shape of an error: S3 answers with an
XML body (``<Error><Code>…</Code><Message>…</Message></Error>``), which the
faults here produce, so botocore parses and classifies them as real S3
answers (``INTERNAL_ERROR`` and ``SLOW_DOWN`` are retried, ``ACCESS_DENIED``
is not). The connection faults of ``faults`` (``CONNECTION_RESET``,
``READ_TIMEOUT``, ``CONNECT_ERROR``) apply to S3 unchanged.

``DELETE_OBJECTS_REFUSED`` answers a ``DeleteObjects`` with HTTP 200 and an
``<Error>`` entry for every key of the request (nothing is deleted): a
partial failure S3 reports per key, which in-process moto never produces.
Usage::

    with inject(store.client, FaultPlan(lose_response("PutObject", then=INTERNAL_ERROR))):
        store.put(key, body)
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from xml.etree import ElementTree

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders

from tests.faults import Fault, _RawBody

__all__ = [
    "ACCESS_DENIED",
    "DELETE_OBJECTS_REFUSED",
    "INTERNAL_ERROR",
    "NO_SUCH_BUCKET",
    "SLOW_DOWN",
    "S3Fault",
]

_S3_NAMESPACE = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def _xml_response(url: str, status: int, root: ElementTree.Element) -> AWSResponse:
    data = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root)
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/xml"
    headers["Content-Length"] = str(len(data))
    headers["x-amz-request-id"] = uuid.uuid4().hex.upper()[:16]
    headers["Date"] = formatdate(usegmt=True)
    return AWSResponse(url, status, headers, _RawBody(data))


def _element(tag: str, children: Mapping[str, str]) -> ElementTree.Element:
    element = ElementTree.Element(tag)
    for name, text in children.items():
        ElementTree.SubElement(element, name).text = text
    return element


@dataclass(frozen=True)
class S3Fault(Fault):
    """An S3 error response (HTTP ``status``, XML body with ``code``), or, with
    ``per_key``, a 200 ``DeleteObjects`` answer reporting every key failed with ``code``."""

    per_key: bool = False

    def answer(self, request: AWSPreparedRequest, body: Mapping[str, Any] | None) -> AWSResponse:
        if self.raises is not None:
            raise self.raises(request.url)
        if self.status is None or self.code is None:
            raise ValueError(f"fault {self.name!r} has neither a status nor an exception")
        if self.per_key:
            return self._every_key_failed(request)
        root = _element(
            "Error",
            {"Code": self.code, "Message": self.message, "RequestId": uuid.uuid4().hex},
        )
        return _xml_response(request.url, self.status, root)

    def _every_key_failed(self, request: AWSPreparedRequest) -> AWSResponse:
        raw = request.body
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        if not isinstance(raw, bytes | bytearray):
            raise ValueError(f"fault {self.name!r} needs a DeleteObjects request body")
        sent = ElementTree.fromstring(raw)
        keys = [element.text or "" for element in sent.iter(f"{_S3_NAMESPACE}Key")]
        keys += [element.text or "" for element in sent.iter("Key")]
        result = ElementTree.Element("DeleteResult", xmlns=_S3_NAMESPACE.strip("{}"))
        for key in keys:
            result.append(
                _element(
                    "Error",
                    {"Key": key, "Code": self.code or "InternalError", "Message": self.message},
                )
            )
        return _xml_response(request.url, 200, result)


INTERNAL_ERROR = S3Fault(
    "S3InternalError", status=500, code="InternalError", message="We encountered an internal error."
)
SLOW_DOWN = S3Fault(
    "SlowDown", status=503, code="SlowDown", message="Please reduce your request rate."
)
ACCESS_DENIED = S3Fault("AccessDenied", status=403, code="AccessDenied", message="Access Denied")
NO_SUCH_BUCKET = S3Fault(
    "NoSuchBucket", status=404, code="NoSuchBucket", message="The specified bucket does not exist"
)
DELETE_OBJECTS_REFUSED = S3Fault(
    "DeleteObjectsRefused",
    status=200,
    code="InternalError",
    message="We encountered an internal error. Please try again.",
    per_key=True,
)
