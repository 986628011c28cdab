"""Sailthru's request signature (reference/sailthru-api.md §1), shared by client and sandbox.

sig = lowercase_hex(md5(utf8(secret + concat(sorted(leaf_values(params))))))

Values are signed exactly as given: a server verifies over the raw received strings and
never re-serializes the ``json`` parameter, because clients serialize JSON differently.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping

from runner.jsontypes import JSONValue


def leaf_values(params: JSONValue) -> Iterator[str]:
    """Every leaf value of nested dicts and lists, depth first, as text (keys are ignored)."""
    if isinstance(params, Mapping):
        for value in params.values():
            yield from leaf_values(value)
    elif isinstance(params, list | tuple):
        for value in params:
            yield from leaf_values(value)
    else:
        # str() like the official Python client, so True signs as "True" there and here.
        yield str(params)


def signature_string(secret: str, params: JSONValue) -> str:
    """The text that is hashed: the secret, then the sorted leaf values with no separator."""
    return secret + "".join(sorted(leaf_values(params)))


def sign(secret: str, params: JSONValue) -> str:
    """The ``sig`` parameter for ``params`` (every sent text parameter except ``sig``)."""
    return hashlib.md5(signature_string(secret, params).encode("utf-8")).hexdigest()


def verify(secret: str, params: Mapping[str, JSONValue], sig: str) -> bool:
    """Whether ``sig`` signs ``params``, compared in constant time."""
    return hmac.compare_digest(sign(secret, params), sig.lower())
