"""``DynamoDBAdapter``: the storage-adapter interface over the PynamoDB models.

Requests are built from the models' wire format and sent through the bound
models' botocore client, so each method spends exactly the requests the
specification allows (see the README's cost table). Reads of one session's
items are strongly consistent; GSI listings (by user, by agent) are
eventually consistent on AWS.
"""

from session_store._listings import Listings
from session_store.dynamodb._core import DEFAULT_CURSOR_SECRET
from session_store.dynamodb._expiry import CLOCK_SKEW_ALLOWANCE, ExpiryMethods
from session_store.dynamodb._messages import MessageMethods
from session_store.dynamodb._sessions import SessionMethods
from session_store.limits import MAX_APPEND

__all__ = ["CLOCK_SKEW_ALLOWANCE", "DEFAULT_CURSOR_SECRET", "MAX_APPEND", "DynamoDBAdapter"]


class DynamoDBAdapter(SessionMethods, MessageMethods, ExpiryMethods, Listings):
    """Sessions and messages in one DynamoDB table.

    ``table_name``, ``region`` and ``endpoint_url`` are chosen per adapter;
    credentials come from the standard AWS chain. With ``session_ttl``, a
    session expires that long after its last activity (sliding expiry).
    ``retry`` sets botocore's retry policy (attempts, backoff mode, timeouts).
    With ``offload=S3Offload(bucket, ...)``, a message too large for an item
    keeps its payload in S3 (``session_store.offloader``; the README's "Large
    messages"); every read returns it whole, every removal removes its object.
    """
