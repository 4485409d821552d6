"""X-Request-Id: the id a client or proxy gave the request, or a new one, on the answer and in the log.

A WSGI middleware, so that every answer carries it (errors included) and everything
below it reads the id as the request's own `X-Request-Id` header.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("fhirip.request")

HEADER = "X-Request-Id"
_ENVIRON_KEY = "HTTP_X_REQUEST_ID"
# What is echoed: a short token of visible characters (nothing that could split a header or a log line).
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


class RequestId:
    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        given = environ.get(_ENVIRON_KEY, "")
        request_id = given if _ACCEPTABLE.match(given) else str(uuid.uuid4())
        environ[_ENVIRON_KEY] = request_id

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [(k, v) for k, v in headers if k.lower() != HEADER.lower()] + [(HEADER, request_id)]
            log.info("%s %s %s -> %s", request_id, environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"),
                     status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        return self.app(environ, start)
