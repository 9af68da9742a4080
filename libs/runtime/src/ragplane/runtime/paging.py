"""Opaque page tokens for the List* RPCs, so that every service issues and rejects them the same way.

A token is the URL-safe base64 of the position the next page starts after (the sort key of the last item
returned). Callers must treat it as opaque; the service that issued it decodes it.
"""

from __future__ import annotations

import base64
import binascii

from ragplane.runtime.errors import InvalidArgument


def encode_page_token(position: str) -> str:
    """The token that resumes a listing after ``position``."""
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> str:
    """The position a token resumes after; "" for an empty token (the first page).

    Raises:
        InvalidArgument: naming page_token, when the token is not one this codec issued.
    """
    if not token:
        return ""
    try:
        return base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_page_token(token) from None


def invalid_page_token(token: str, why: str = "is not a token this service issued") -> InvalidArgument:
    """The error for a token that decodes but names no position the listing can resume from."""
    return InvalidArgument("page_token", f"{why}: {token!r}")
