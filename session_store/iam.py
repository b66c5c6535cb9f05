"""A least-privilege IAM policy for ``DynamoDBAdapter``.

``iam_policy(table_arn)`` names exactly the DynamoDB actions the adapter
sends, on exactly the resources it sends them to:

- on the table: ``GetItem``, ``PutItem``, ``UpdateItem``, ``DeleteItem``,
  ``Query``, ``Scan``, ``BatchWriteItem`` (deleting a session's messages),
  ``DescribeTable`` and ``DescribeTimeToLive`` (``health()``);
- on the two indexes, ``<table_arn>/index/GSI1`` (by user) and
  ``<table_arn>/index/GSI2`` (by agent): ``Query``.

``TransactWriteItems`` (``add_message``, ``update_message``,
``delete_message``) is not an IAM action of its own: DynamoDB authorizes
each item of a transaction with the action of the same name
(``Put`` -> ``PutItem``, ``Update`` -> ``UpdateItem``, ``Delete`` ->
``DeleteItem``, ``ConditionCheck`` -> ``ConditionCheckItem``). The adapter's
transactions hold puts, updates and deletes only, so
``dynamodb:ConditionCheckItem`` is not granted.

``include_admin=True`` adds what ``create_table()`` and ``migrate()`` need on
top: ``CreateTable``, ``UpdateTable`` (adding a missing GSI) and
``UpdateTimeToLive`` (turning TTL on); they also describe the table and its
TTL, which the data statement already allows. Give this only to the role
that deploys or migrates, not to the services that read and write sessions.

``offload=S3Offload(...)`` adds what large messages need
(``S3_OBJECT_ACTIONS``: ``s3:PutObject``, ``s3:GetObject``,
``s3:DeleteObject``, on ``arn:<partition>:s3:::<bucket>/<prefix>*`` only;
deleting many keys at once, ``DeleteObjects``, is authorized as
``s3:DeleteObject`` on each key) and, for ``collect_orphans``/``gc``,
``s3:ListBucket`` on the bucket, conditioned on ``s3:prefix`` being under the
prefix. The partition is the table's.

Not included: the stream actions a Lambda's event source mapping needs to
feed ``handle_stream_event`` (``dynamodb:DescribeStream``, ``GetRecords``,
``GetShardIterator``, ``ListStreams`` on ``<table_arn>/stream/*``) belong to
the Lambda's execution role; KMS permissions for a table encrypted with a
customer managed key belong with that key.
"""

from __future__ import annotations

import re
from typing import Any

from session_store.errors import ValidationError
from session_store.models import AGENT_INDEX_NAME, USER_INDEX_NAME
from session_store.offload import S3Offload

__all__ = [
    "ADMIN_ACTIONS",
    "DATA_ACTIONS",
    "INDEX_ACTIONS",
    "S3_LIST_ACTIONS",
    "S3_OBJECT_ACTIONS",
    "iam_policy",
]

DATA_ACTIONS: tuple[str, ...] = (
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:UpdateItem",
)
"""What the adapter's data-plane methods (and ``health()``) send to the table."""

INDEX_ACTIONS: tuple[str, ...] = ("dynamodb:Query",)
"""What ``list_sessions`` by user or by agent sends to GSI1/GSI2."""

ADMIN_ACTIONS: tuple[str, ...] = (
    "dynamodb:CreateTable",
    "dynamodb:UpdateTable",
    "dynamodb:UpdateTimeToLive",
)
"""What ``create_table()``/``migrate()`` send beyond the data-plane actions."""

S3_OBJECT_ACTIONS: tuple[str, ...] = ("s3:DeleteObject", "s3:GetObject", "s3:PutObject")
"""What offloading sends for the objects under the prefix."""

S3_LIST_ACTIONS: tuple[str, ...] = ("s3:ListBucket",)
"""What ``collect_orphans`` (``session-store gc``) sends to list the prefix."""

# arn:<partition>:dynamodb:<region>:<12-digit account>:table/<name>
_TABLE_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*)"
    r":dynamodb"
    r":(?P<region>[a-z]{2}(?:-[a-z]+)+-\d{1,2})"
    r":(?P<account>\d{12})"
    r":table/(?P<table>[A-Za-z0-9_.-]{3,255})"
)


def _check_table_arn(table_arn: object) -> str:
    if not isinstance(table_arn, str):
        raise ValidationError(f"table_arn must be a string, got {type(table_arn).__name__}")
    if _TABLE_ARN.fullmatch(table_arn) is None:
        raise ValidationError(
            f"not a DynamoDB table ARN: {table_arn!r} (expected "
            "arn:<partition>:dynamodb:<region>:<12-digit account>:table/<name>, "
            "without wildcards, index or stream suffixes)"
        )
    return table_arn


def _offload_statements(partition: str, offload: S3Offload) -> list[dict[str, Any]]:
    bucket_arn = f"arn:{partition}:s3:::{offload.bucket}"
    listing: dict[str, Any] = {
        "Sid": "SessionStoreOffloadList",
        "Effect": "Allow",
        "Action": list(S3_LIST_ACTIONS),
        "Resource": [bucket_arn],
    }
    if offload.prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [f"{offload.prefix}*"]}}
    return [
        {
            "Sid": "SessionStoreOffloadObjects",
            "Effect": "Allow",
            "Action": list(S3_OBJECT_ACTIONS),
            "Resource": [f"{bucket_arn}/{offload.prefix}*"],
        },
        listing,
    ]


def iam_policy(
    table_arn: str, *, include_admin: bool = False, offload: S3Offload | None = None
) -> dict[str, Any]:
    """The IAM policy document (``Version`` 2012-10-17) the adapter needs on ``table_arn``.

    ``table_arn`` is the table's exact ARN
    (``arn:aws:dynamodb:eu-west-1:123456789012:table/sessions``); anything
    else, wildcards included, is a ``ValidationError``. ``include_admin``
    adds the control-plane actions of ``create_table()`` and ``migrate()``;
    ``offload`` the S3 actions on its bucket and prefix.
    The result is a plain ``dict``: ``json.dumps`` it, or hand its
    ``Statement`` list to your infrastructure code.
    """
    arn = _check_table_arn(table_arn)
    if not isinstance(include_admin, bool):
        raise ValidationError("include_admin must be a bool")
    if offload is not None and not isinstance(offload, S3Offload):
        raise ValidationError("offload must be an S3Offload")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "SessionStoreTable",
            "Effect": "Allow",
            "Action": list(DATA_ACTIONS),
            "Resource": [arn],
        },
        {
            "Sid": "SessionStoreIndexes",
            "Effect": "Allow",
            "Action": list(INDEX_ACTIONS),
            "Resource": [f"{arn}/index/{USER_INDEX_NAME}", f"{arn}/index/{AGENT_INDEX_NAME}"],
        },
    ]
    if include_admin:
        statements.append(
            {
                "Sid": "SessionStoreAdmin",
                "Effect": "Allow",
                "Action": list(ADMIN_ACTIONS),
                "Resource": [arn],
            }
        )
    if offload is not None:
        partition = arn.split(":", 2)[1]
        statements.extend(_offload_statements(partition, offload))
    return {"Version": "2012-10-17", "Statement": statements}
