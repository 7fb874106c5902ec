"""The three XML-RPC methods of PyPI's ``/pypi`` endpoint that a follower needs.

``changelog_last_serial()`` → int; ``changelog_since_serial(serial)`` → rows
``[name, version, timestamp, action, serial]`` with serial > ``serial``, oldest
first, at most ``cap`` of them (50,000 on PyPI); ``list_packages_with_serial()``
→ ``{name: last serial}``. A version that does not apply (``create``, ``remove
project``...) is ``<nil/>``. Anything else is answered, with HTTP 200 as PyPI
does, by a fault with the interoperability codes: -32700 unparsable request,
-32601 unknown method, -32602 wrong parameters.
"""

from __future__ import annotations

import xmlrpc.client
from typing import Any

from pypi_witness.fakeindex.state import Index

PARSE_ERROR = -32700
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


def _fault(code: int, message: str) -> bytes:
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True).encode()


def respond(index: Index, body: bytes, cap: int) -> bytes:
    """The XML-RPC response body (a result or a fault) for a request body; never raises."""
    try:
        params, method = xmlrpc.client.loads(body, use_builtin_types=True)
    except Exception:  # noqa: BLE001 - expat, ResponseError, ValueError...: all mean the same to the caller
        return _fault(PARSE_ERROR, "parse error. not well formed")
    if method is None:
        return _fault(PARSE_ERROR, "parse error. not well formed")
    result: Any
    if method == "changelog_last_serial":
        if params:
            return _fault(INVALID_PARAMS, "server error; invalid method params")
        result = index.last_serial
    elif method == "changelog_since_serial":
        if len(params) != 1 or type(params[0]) is not int:
            return _fault(INVALID_PARAMS, "server error; invalid method params")
        result = [list(row) for row in index.changelog_since(params[0], cap)]
    elif method == "list_packages_with_serial":
        if params:
            return _fault(INVALID_PARAMS, "server error; invalid method params")
        result = index.packages_with_serial()
    else:
        return _fault(METHOD_NOT_FOUND, "server error; requested method not found")
    return xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True).encode()
