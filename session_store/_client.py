"""Client setup: where an adapter's requests go (region, endpoint), checked before any request.

Region resolution, the same for the library, the async adapter, the CLI and
the pytest fixtures: the explicit argument, then ``AWS_REGION``, then
``AWS_DEFAULT_REGION``, then the region of the AWS config profile. None of
them: ``ValidationError`` naming both variables.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError
from botocore.session import Session as BotocoreSession

from session_store.errors import ValidationError

__all__ = [
    "ENDPOINT_VARIABLES",
    "REGION_VARIABLES",
    "has_credentials",
    "resolve_endpoint_url",
    "resolve_region",
]

REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL")
"""The variables botocore reads for a DynamoDB endpoint, most specific first."""
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


def resolve_endpoint_url(endpoint_url: str | None) -> str | None:
    """The endpoint requests go to: the argument, else ``AWS_ENDPOINT_URL_DYNAMODB``, else
    ``AWS_ENDPOINT_URL`` (unless ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true``), else ``None``
    (AWS itself). ``ValidationError`` unless it is an ``http(s)://host[:port]`` URL."""
    ignored = os.environ.get(IGNORE_ENDPOINTS_VARIABLE, "").strip().lower() == "true"
    if endpoint_url is None and not ignored:
        for variable in ENDPOINT_VARIABLES:
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


def has_credentials() -> bool:
    """Whether the AWS credential chain finds credentials (environment, profile, ...)."""
    try:
        return BotocoreSession().get_credentials() is not None
    except BotoCoreError:
        return False
