"""One size limit for every request body, however it is framed.

Flask's MAX_CONTENT_LENGTH refuses a declared Content-Length over the limit,
but only once a view reads the body, and a chunked body declares no length
at all: werkzeug then reads up to the limit and stops without complaint, so
a view would act on the first 16 KB of a longer body. Here, before any view
runs, a declared length over the limit is refused, and a chunked body is read
(at most one byte past the limit), refused with 413 when longer, and handed
on as an ordinary body of known length otherwise.
"""

from __future__ import annotations

import io
from functools import partial
from typing import IO

from flask import Flask, request
from werkzeug.exceptions import BadRequest, LengthRequired, RequestEntityTooLarge
from werkzeug.http import parse_set_header
from werkzeug.wsgi import get_content_length


def limit_request_bodies(app: Flask, limit: int) -> None:
    """Install the limit; runs before every other request hook of the app."""
    app.config["MAX_CONTENT_LENGTH"] = limit
    app.before_request_funcs.setdefault(None, []).insert(0, partial(_check_body, limit))


def _check_body(limit: int) -> None:
    environ = request.environ
    # Not request.content_length: it is cached, and the environ changes below.
    declared = get_content_length(environ)
    if declared is not None:
        if declared > limit:
            raise RequestEntityTooLarge()
        _read_to_its_length(environ)
        return
    if "chunked" not in parse_set_header(environ.get("HTTP_TRANSFER_ENCODING")):
        return
    if "wsgi.input_terminated" not in environ:
        # The server passes the chunks on undecoded: werkzeug would silently
        # read an empty body, and acting on it would ignore what was sent.
        raise LengthRequired()
    body = _read_at_most(environ["wsgi.input"], limit + 1)
    if len(body) > limit:
        raise RequestEntityTooLarge()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    del environ["HTTP_TRANSFER_ENCODING"]
    _read_to_its_length(environ)


def _read_to_its_length(environ: dict) -> None:
    """A body of known length, checked against the limit, is read up to that
    length. With the server's `wsgi.input_terminated` werkzeug would instead
    read up to MAX_CONTENT_LENGTH and answer 413 when a reader asks past the
    end of a body of exactly that size (the multipart parser does)."""
    environ.pop("wsgi.input_terminated", None)


def _read_at_most(stream: IO[bytes], size: int) -> bytes:
    """A server's input may return fewer bytes than asked; it ends with b""."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        try:
            data = stream.read(remaining)
        except Exception as exc:
            # A client gone mid-body, or chunks the server cannot parse: servers
            # raise their own types for that (gunicorn's ParseException is no
            # OSError), and none of it is the app's fault.
            raise BadRequest("The request body could not be read.") from exc
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)
