"""One regression test per input that once gave a 500, or was acted on when it
should have been refused (issue 10, "no 500 from any input")."""

from __future__ import annotations

import base64
import http.client
import io
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.test import TestResponse

from oidc_adapter.app import MAX_BODY_BYTES

from . import oidc_fixtures as fx
from .e2e.servers import Provider
from .oidc_fixtures import REDIRECT, Oidc, admin, basic, query

make_oidc, oidc = fx.make_oidc, fx.oidc  # fixtures

DEEP_JSON = b"[" * 3000
VALID_ID = "A" * 22


def assert_json_error(response: TestResponse, status: int, error: str) -> None:
    assert response.status_code == status, response.data[:300]
    assert response.is_json, response.data[:300]
    assert response.json["error"] == error
    assert response.json["error_description"]
    assert b"Traceback" not in response.data


def deep_jwt() -> str:
    """A token whose JOSE header is 3,000 `[`: signature and claims never matter."""
    head = base64.urlsafe_b64encode(DEEP_JSON).rstrip(b"=").decode()
    return f"{head}.e30.c2ln"


def take(oidc: Oidc) -> dict[str, Any]:
    response = oidc.browser.post("/api/rooms/shop/tickets")
    assert response.status_code == 201
    return response.json


DEEP_BODY_CALLS = [
    ("post", "/api/rooms/shop/tickets", {}),
    ("patch", "/admin/rooms/shop/settings", admin()),
    ("post", "/admin/rooms/shop/admit", admin()),
    ("post", "/admin/rooms/shop/revoke", admin()),
    ("post", "/admin/rooms/shop/compact", admin()),
    ("post", "/admin/rooms/shop/reset", admin()),
    ("post", "/api/sessions/end", basic()),
    ("delete", "/api/rooms/shop/tickets/{ticket}", {}),
    ("post", "/api/rooms/shop/tickets/{ticket}/token", {}),
]


@pytest.mark.parametrize(("method", "path", "headers"), DEEP_BODY_CALLS)
def test_a_deeply_nested_json_body_is_a_400(oidc, method, path, headers):
    ticket = take(oidc)["ticket"]
    response = getattr(oidc.browser, method)(
        path.format(ticket=ticket), data=DEEP_JSON, content_type="application/json", headers=headers
    )
    assert_json_error(response, 400, "invalid_request")
    room = oidc.room()
    assert (room["last_ticket"], room["overrides"]) == (1, {})


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("path", ["/userinfo", "/auth/verify", "/auth/verify?room=shop"])
def test_a_token_with_a_deeply_nested_header_is_a_401(oidc, method, path):
    response = getattr(oidc.browser, method)(
        path, headers={"Authorization": f"Bearer {deep_jwt()}"}
    )
    assert_json_error(response, 401, "invalid_token")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "authorization",
    [
        # the header's own bytes are not UTF-8 (a WSGI server hands them over as latin-1)
        b"Basic \xff\xfe\xfa:\xc3\x28".decode("latin-1"),
        # the base64 decodes to bytes that are not UTF-8
        "Basic " + base64.b64encode(b"\xff\xfe:\xc3\x28").decode(),
        "Basic " + base64.b64encode(b"alb:\xff" + b"x" * 20).decode(),
    ],
)
def test_basic_credentials_that_are_not_utf8_are_a_401(oidc, authorization):
    response = oidc.browser.post(
        "/api/sessions/end", data={"sid": VALID_ID}, headers={"Authorization": authorization}
    )
    assert_json_error(response, 401, "invalid_client")


@pytest.mark.parametrize("response_type", ['co"de', "co\\de", "co\tde", "cödé", "code\u2028"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_odd_response_type_is_redirected_as_unsupported(oidc, response_type, method):
    response = oidc.authorize(method=method, response_type=response_type, state="s1")
    assert response.status_code == 302, response.data[:300]
    got = query(response)
    assert got["error"] == "unsupported_response_type"
    assert (got["state"], got["iss"]) == ("s1", "http://localhost:8000")
    assert response.headers["Location"].startswith(REDIRECT + "?")
    assert not oidc.code_keys()


@pytest.mark.parametrize(
    "path", ["/api/rooms/shop/tickets/{ticket}", "/api/rooms/shop/tickets/{ticket}/token"]
)
@pytest.mark.parametrize(
    "proof",
    [{"json": {"ticket_secret": "sécret"}}, {"headers": {"Authorization": "Ticket s\xc3\xa9cret"}}],
)
def test_a_ticket_secret_that_is_not_ascii_is_a_403(oidc, path, proof):
    """hmac.compare_digest raises TypeError for such strings."""
    ticket = take(oidc)["ticket"]
    method = oidc.browser.delete if path.endswith("}") else oidc.browser.post
    assert_json_error(method(path.format(ticket=ticket), **proof), 403, "invalid_ticket_secret")
    assert oidc.browser.get(f"/api/rooms/shop/tickets/{ticket}").status_code == 200  # still live


def test_half_a_surrogate_pair_in_a_json_body_is_a_400(oidc):
    """A JSON escape can carry one; such a string cannot even be encoded as UTF-8."""
    body = b'{"client_id": "alb", "client_secret": "\\ud800x", "sid": "%s"}' % VALID_ID.encode()
    response = oidc.browser.post("/api/sessions/end", data=body, content_type="application/json")
    assert_json_error(response, 400, "invalid_request")
    response = oidc.browser.post(
        "/api/rooms/shop/tickets", data=b'{"x": [{"\\udfff": 1}]}', content_type="application/json"
    )
    assert_json_error(response, 400, "invalid_request")
    assert oidc.room()["last_ticket"] == 0


# -- chunked bodies --------------------------------------------------------------


def settings_body(total: int) -> bytes:
    """A complete, valid change in the first 16 KB, then more: cut at the limit it would pass."""
    change = json.dumps({"admit_per_minute": 7}).encode()
    head = change + b" " * (MAX_BODY_BYTES - len(change))
    return head + b"x" * (total - len(head))


def chunked(oidc: Oidc, body: bytes, terminated: bool = True) -> TestResponse:
    """Sent as a server that decodes chunked framing hands it on: no Content-Length."""
    return oidc.browser.patch(
        "/admin/rooms/shop/settings",
        input_stream=io.BytesIO(body),
        headers={**admin(), "Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True} if terminated else {},
    )


@pytest.mark.parametrize("total", [MAX_BODY_BYTES + 1, MAX_BODY_BYTES + 4096, 1 << 20])
def test_a_chunked_body_over_the_limit_is_a_413(oidc, total):
    assert_json_error(chunked(oidc, settings_body(total)), 413, "request_entity_too_large")
    assert oidc.room()["overrides"] == {}


def test_a_chunked_body_within_the_limit_is_read_whole(oidc):
    change = json.dumps({"admit_per_minute": 9, "max_active": 3}).encode()
    padded = b" " * (MAX_BODY_BYTES - len(change)) + change  # the change is the last bytes
    assert chunked(oidc, padded).status_code == 200
    room = oidc.room()
    assert (room["admit_per_minute"], room["max_active"]) == (9, 3)


def test_a_chunked_body_the_server_did_not_decode_is_refused(oidc):
    """Without wsgi.input_terminated werkzeug would read it as empty; acting on
    that would silently ignore what the client sent."""
    response = chunked(oidc, json.dumps({"admit_per_minute": 9}).encode(), terminated=False)
    assert_json_error(response, 411, "length_required")
    assert oidc.room()["overrides"] == {}


def test_a_declared_length_over_the_limit_is_refused_before_any_view(oidc):
    """Even where the view never reads a body, so nothing of it is acted on."""
    response = oidc.browser.post(
        "/admin/rooms/shop/pause", data=b"x" * (MAX_BODY_BYTES + 1), headers=admin()
    )
    assert_json_error(response, 413, "request_entity_too_large")
    assert oidc.room()["mode"] == "auto"


def multipart_at_the_limit() -> bytes:
    """A form of exactly MAX_BODY_BYTES (one field, no closing boundary)."""
    head = b'--x\r\nContent-Disposition: form-data; name="pad"\r\n\r\n'
    return head + b"a" * (MAX_BODY_BYTES - len(head))


@pytest.mark.parametrize("chunked", [False, True])
def test_a_form_of_exactly_the_limit_is_read_by_an_error_page(oidc, chunked):
    """The handoff's error page reads the form for its language (ui_locales;
    werkzeug reads no form for a GET, so HEAD).
    Served with wsgi.input_terminated (gunicorn), werkzeug refused a form of
    exactly the limit with a 413 raised there, out of every error handler: a
    500 (found with FUZZ_SEED=12)."""
    body = multipart_at_the_limit()
    response = oidc.browser.open(
        "/auth/handoff?wr_token=x.y.z",
        method="HEAD",
        input_stream=io.BytesIO(body),
        headers={
            "Content-Type": 'multipart/form-data; boundary="x"',
            **({"Transfer-Encoding": "chunked"} if chunked else {}),
        },
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 403
    assert "text/html" in response.headers["Content-Type"]


def test_a_form_of_exactly_the_limit_reaches_the_view(oidc):
    body = multipart_at_the_limit()
    response = oidc.browser.post(
        "/token",
        input_stream=io.BytesIO(body),
        headers={"Content-Type": 'multipart/form-data; boundary="x"'},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert (
        response.status_code in (400, 401) and response.json["error"] != "request_entity_too_large"
    )


# -- the same under gunicorn, over real HTTP -----------------------------------------


@pytest.fixture
def served(tmp_path, redis_server, redis_client) -> Iterator[Provider]:
    """The app as `oidc-adapter serve` runs it: gunicorn decodes the chunks."""
    provider = Provider(
        tmp_path / "gunicorn",
        redis_server.url,
        rooms={"shop": {"admit_per_minute": 60, "max_active": 0}},
        clients={},
    )
    try:
        yield provider.start()
    finally:
        provider.stop()


def send_chunked(port: int, body: bytes) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        pieces = (body[i : i + 4096] for i in range(0, len(body), 4096))
        headers = {
            "Authorization": f"Bearer {Provider.ADMIN_TOKEN}",
            "Content-Type": "application/json",
        }
        connection.request(
            "PATCH", "/admin/rooms/shop/settings", body=pieces, headers=headers, encode_chunked=True
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_gunicorn_refuses_a_chunked_body_over_the_limit(served):
    status, body = send_chunked(served.port, settings_body(MAX_BODY_BYTES + 4096))
    assert status == 413, body[:300]
    assert json.loads(body)["error"] == "request_entity_too_large"
    assert served.admin("GET", "/rooms/shop")["overrides"] == {}
    change = json.dumps({"admit_per_minute": 9}).encode()
    status, body = send_chunked(served.port, b" " * (MAX_BODY_BYTES - len(change)) + change)
    assert status == 200, body[:300]
    assert served.admin("GET", "/rooms/shop")["admit_per_minute"] == 9


def test_gunicorn_answers_broken_chunks_with_a_400(served):
    """gunicorn raises its own ParseException for them, which is no OSError."""
    head = (
        b"POST /api/rooms/shop/tickets HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    for chunks in (b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n", b"2;\rx\r\n{}\r\n0\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as connection:
            connection.sendall(head + chunks)
            answer = connection.makefile("rb").read()
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert "Traceback" not in served.log_tail(200)
    assert served.admin("GET", "/rooms/shop")["last_ticket"] == 0


@pytest.mark.parametrize("chunked", [False, True])
def test_gunicorn_reads_a_form_of_exactly_the_limit(served, chunked):
    """gunicorn sets wsgi.input_terminated, under which werkzeug refused it."""
    body = multipart_at_the_limit()
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        connection.request(
            "POST",
            "/token",
            body=iter([body]) if chunked else body,
            headers={"Content-Type": 'multipart/form-data; boundary="x"'},
            encode_chunked=chunked,
        )
        response = connection.getresponse()
        status, answer = response.status, json.loads(response.read())
    finally:
        connection.close()
    assert status in (400, 401) and answer["error"] != "request_entity_too_large", answer
