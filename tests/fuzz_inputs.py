"""Hostile request parts for the fuzz test (tests/test_fuzz.py).

Everything is drawn from one seeded `random.Random`, so a failing run is
replayed exactly by running it again with the same seed. The values aim at
the places where parsers give up in ways a handler does not expect: huge,
deeply nested, not UTF-8, the wrong JSON type, control and quote characters,
and credentials that are almost right.
"""

from __future__ import annotations

import base64
import io
import json
import random
import string
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from werkzeug.datastructures import MultiDict

DEEP = ("[" * 3000, '{"a":' * 2000, "[{" * 1500 + '"x"', "{" * 3000)
ODD = "\"\\\t\x00\x01\x7f\x85\xa0\xe9\xf6\u2028\u202e\ufeff\U0001f600<>&%;,=+/?#'`:@ "
NUMBERS = ("-1", "0", "1e999", "NaN", "Infinity", "9" * 40, "0x10", "1.5", "-0", " 1", "1_0")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "PROPFIND")
CONTENT_TYPES = (
    "application/json",
    "application/json; charset=ebcdic",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-16",
    "multipart/form-data",
    'multipart/form-data; boundary="x"',
    "text/plain",
    "application/jwt",
    "",
    "*/*",
    "application/json\x00",
)
#: Just past the body limit, and well past it, for chunked bodies.
CHUNKED_SIZES = (0, 10, 16 * 1024, 16 * 1024 + 1, 40 * 1024)


#: The sweep sends each of these once in every field of every endpoint.
HOSTILE_VALUES: tuple[Any, ...] = (
    "[" * 3000,
    "\ud800x",  # half a surrogate pair: only JSON can carry it
    'é"\\\t\u2028',
    "\x00",
    "A" * 20000,
    "../../etc/passwd",
    "%ff%fe",
    2**70,
    -1,
    1e308,
    None,
    True,
    [],
    {"a": {"b": []}},
)
#: ...and each of these as the Authorization header, and as a body.
HOSTILE_AUTHORIZATIONS = (
    "Basic " + base64.b64encode(b"\xff\xfe:\xc3\x28").decode(),
    "Basic " + base64.b64encode(b"alb:\xff").decode(),
    "Basic \xff\xfe\xfa",  # header bytes that are not UTF-8, as a server hands them over
    "Basic ===",
    "Bearer "
    + ".".join(
        base64.urlsafe_b64encode(p).decode().rstrip("=") for p in (b"[" * 3000, b"{}", b"s")
    ),
    "Bearer \xc3\xa9.\xc3\xa9.\xc3\xa9",
    "Bearer " + "A" * 9000,
    "Ticket \xc3\xa9",
    "Ticket " + "A" * 5000,
    "Bearer",
    "Basic",
    "Ticket",
)
HOSTILE_BODIES: tuple[tuple[bytes, str], ...] = (
    (b"[" * 3000, "application/json"),
    (b'{"a": ' + b"[" * 3000 + b"}", "application/json"),
    (b'{"a": "\\ud800"}', "application/json"),
    (b"\xff\xfe\x00", "application/json"),
    (b"a=%ff%fe&b=%zz&=&&", "application/x-www-form-urlencoded"),
    (b"a=\xff\xfe", "application/x-www-form-urlencoded; charset=utf-16"),
    (
        b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n\xff",
        'multipart/form-data; boundary="x"',
    ),
    (b"\x00" * 100, "multipart/form-data"),
)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def as_form(params: dict[str, Any]) -> MultiDict[str, str]:
    """Form or query values are strings; a JSON value is sent as its JSON text."""
    out: MultiDict[str, str] = MultiDict()
    for key, value in params.items():
        text = value if isinstance(value, str) else json.dumps(value)
        # A form is bytes: the half surrogate pairs of JSON values cannot be sent.
        out.add(key, text.encode("utf-8", "replace").decode())
    return out


def on_the_wire(value: str) -> str:
    """A header as a WSGI server hands it over: the client's UTF-8 bytes read as
    latin-1, and no line breaks (a server would have ended the header there)."""
    return value.encode("utf-8", "surrogatepass").decode("latin-1").translate({13: None, 10: None})


class Junk:
    """Values a hostile client might send; `near` holds real values to mix in,
    so some requests are almost valid and reach deeper code."""

    def __init__(self, rng: random.Random, near: Sequence[str] = ()):
        self.rng = rng
        self.near = tuple(near) or ("x",)
        self._texts: tuple[Callable[[], str], ...] = (
            lambda: "",
            lambda: self._chars(string.printable.strip(), 40),
            lambda: self._chars(ODD + string.ascii_letters, 30),
            lambda: self.rng.choice("xA[%\xe9") * self.rng.randint(1000, 20000),
            lambda: self.rng.choice(DEEP),
            lambda: self.rng.choice(NUMBERS),
            lambda: self.rng.choice(self.near),
            lambda: self.rng.choice(self.near) + self._chars(ODD, 3),
            lambda: self.bytes_(20).decode("latin-1"),  # how a server hands over non-UTF-8
        )

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, options: Sequence[Any]) -> Any:
        return self.rng.choice(options)

    def _chars(self, alphabet: str, most: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(1, most)))

    def bytes_(self, most: int) -> bytes:
        return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, most)))

    def text(self) -> str:
        return self.rng.choice(self._texts)()

    def header(self) -> str:
        return on_the_wire(self.text())

    def value(self) -> Any:
        """A JSON value of any type, for type confusion in JSON bodies; half of
        them strings, as a field usually expects."""
        if self.chance(0.5):
            return self.text()
        nested: Any = self.text()
        for _ in range(self.rng.randint(1, 200)):
            nested = [nested] if self.chance(0.5) else {"a": nested}
        near = self.pick(self.near)
        return self.pick(
            (None, True, False, 0, -1, 2**70, -(2**63), 1.5, 1e308, float("nan"))
            # JSON can carry half a surrogate pair, which no other part of a request can
            + ("\ud800" + near, near[:5] + "\udfff", near + "\udbff\udbff")
            + ([self.text()], {self.text(): near}, nested)
        )

    def raw_body(self) -> bytes:
        """A body that is not what its content type says, or not decodable at all."""
        return self.pick(
            (
                self.text().encode("utf-8", "surrogatepass"),
                self.bytes_(300),
                self.pick(DEEP).encode(),
                b'{"ticket": ' + self.pick(DEEP).encode() + b"}",
                b'{"count": 1, "a": [' + self.pick(DEEP).encode(),
                b"\xff\xfe" + json.dumps({"a": self.text()}).encode("utf-16-le"),
                json.dumps({"count": 1, "ticket": self.text()}).encode()[: self.rng.randint(0, 30)],
                b"a=%ff%fe&b=%zz&&=&c&" + quote(self.text()).encode(),
                b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n' + self.bytes_(50),
            )
        )

    def path_segment(self, *valid: str, odds: float = 0.8) -> str:
        """A valid value with these odds; else something a router or validator must refuse."""
        if valid and self.chance(odds):
            return self.pick(valid)
        return self.pick(
            (
                quote(self.text()[:300], safe=""),
                "%ff%fe",
                "%00",
                "..",
                "%2e%2e",
                "A" * 22 + "%0a",
                self._chars(string.ascii_letters + "-_", 30),
            )
        )

    def jwt(self) -> str:
        """Three base64url parts whose header and payload are anything at all."""
        header = self.pick(
            (
                self.pick(DEEP).encode(),
                json.dumps(
                    {
                        "alg": self.pick(("RS256", self.value())),
                        "kid": self.value(),
                        "typ": "at+jwt",
                    }
                ).encode(),
                self.bytes_(60),
                json.dumps(self.value()).encode(),
            )
        )
        payload = self.pick((b"{}", self.pick(DEEP).encode(), json.dumps(self.value()).encode()))
        parts = [b64url(header), b64url(payload), b64url(self.bytes_(40))]
        if self.chance(0.2):
            parts = parts[: self.rng.randint(1, 3)] + [self.text()]
        return ".".join(parts)

    def authorization(self, valid: Sequence[str]) -> str:
        """Every scheme we read, with garbage, plus real credentials now and then."""
        made = self.pick(
            (
                lambda: "Basic " + base64.b64encode(self.bytes_(60)).decode(),
                lambda: "Basic " + self.text(),
                lambda: "Basic " + base64.b64encode(b"alb:" + self.bytes_(20)).decode(),
                lambda: "Bearer " + self.jwt(),
                lambda: "Bearer " + self.jwt(),
                lambda: "Bearer " + self.jwt(),
                lambda: "Bearer " + self.text(),
                lambda: "Ticket " + self.text(),
                lambda: self.pick(("Basic", "Bearer", "Ticket", "Bearer  ", "Negotiate x")),
                lambda: self.text(),
                lambda: self.pick(valid) if valid else "",
            )
        )()
        return on_the_wire(made)

    def cookie(self, names: Sequence[str]) -> str:
        if self.chance(0.3):
            return self.header()
        pairs = [
            f"{self.pick((*names, self.text()[:20]))}={self.text()}"
            for _ in range(self.rng.randint(1, 4))
        ]
        return on_the_wire("; ".join(pairs))

    def extra_headers(self) -> dict[str, str]:
        """Headers that content negotiation, CORS, proxies and file serving read."""
        names = (
            "Accept",
            "Accept-Language",
            "Origin",
            "X-Forwarded-For",
            "X-Forwarded-Proto",
            "X-Forwarded-Host",
            "Forwarded",
            "If-Modified-Since",
            "If-None-Match",
            "Range",
            "Host",
            "Content-Encoding",
            "Expect",
            self._chars(string.ascii_letters + "-", 20),
        )
        return {self.pick(names): self.header() for _ in range(self.rng.randint(1, 3))}

    def form(self, params: dict[str, Any]) -> MultiDict[str, str]:
        """Form or query values, a field sometimes repeated."""
        out = as_form(params)
        for key in params:
            if self.chance(0.05):
                out.add(key, self.text())
        return out

    def query(self, params: dict[str, Any]) -> MultiDict[str, str] | str:
        """Mostly well encoded; sometimes raw, with escapes that decode to no text."""
        if self.chance(0.85):
            return self.form(params)
        pairs = [f"{key}={value}" for key, value in as_form(params).items(multi=True)]
        odd = ("%ff=%fe", "a=%zz", "=", "&&", "%00=%00", "a=%E9", "\xe9=\xe9", "a=%", ";;")
        return "&".join([*pairs, self.pick(odd)])

    def body(self, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Test-client keyword arguments for a body of some kind, and headers it needs."""
        kind = self.rng.randrange(8)
        if kind == 0:
            return {"json": params}, {}
        if kind == 1:
            return {"data": self.form(params)}, {}
        if kind in (2, 3):
            # Most endpoints parse only what is labelled JSON: label most of it so.
            kind_of = CONTENT_TYPES[0] if self.chance(0.5) else self.pick(CONTENT_TYPES)
            return {"data": self.raw_body(), "content_type": kind_of}, {}
        if kind == 4:
            files = self.form(params)
            files.add("file", (io.BytesIO(self.raw_body()), self.text()[:40] or "f"))  # type: ignore[arg-type]
            return {"data": files, "content_type": "multipart/form-data"}, {}
        if kind == 5:
            return self.chunked(params)
        return {}, {}

    def chunked(self, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """A body as a server hands over a decoded chunked one: no Content-Length."""
        encoded = json.dumps(params).encode() if self.chance(0.5) else self.raw_body()
        size = self.pick(CHUNKED_SIZES)
        body = encoded[:size] if len(encoded) >= size else encoded + b" " * (size - len(encoded))
        return (
            {
                "input_stream": io.BytesIO(body),
                "environ_overrides": {"wsgi.input_terminated": True},
            },
            {"Transfer-Encoding": "chunked", "Content-Type": self.pick(CONTENT_TYPES)},
        )
