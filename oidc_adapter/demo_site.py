"""The demo's protected site: a small relying party that logs in through the queue.

Only for `oidc-adapter demo`; real deployments put an ALB or
mod_auth_openidc here. It uses Authlib's client, which checks state, nonce,
PKCE and the ID token signature against our JWKS.
"""

from __future__ import annotations

import html
import os
import sys

from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, request, session, url_for

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}
code{{background:#eee;padding:.1rem .3rem}}</style></head><body>{body}</body></html>"""


def create_site(
    issuer: str, client_id: str, client_secret: str, secret_key: str, site_url: str
) -> Flask:
    """`site_url` is the address registered for the callback: a visitor who
    came by another name for this host (127.0.0.1 for localhost) is sent there
    first, or the IdP would refuse the unregistered return address, and the
    login state, kept in a cookie of the first name, would not come back."""
    site = Flask(__name__)
    site.secret_key = secret_key
    site.config["SESSION_COOKIE_NAME"] = "demo_site_session"
    oauth = OAuth(site)
    oauth.register(
        "room",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid", "code_challenge_method": "S256"},
    )

    @site.before_request
    def one_name():
        if request.host_url.rstrip("/") != site_url:
            return redirect(site_url + request.full_path.rstrip("?"))
        return None

    @site.get("/")
    def home():
        user = session.get("user")
        if not user:
            return redirect(url_for("login"))
        body = (
            "<h1>You are in!</h1><p>This page is protected by the waiting room.</p>"
            f"<p>Your subject: <code>{html.escape(user['sub'])}</code>, room "
            f"<code>{html.escape(user.get('room', ''))}</code>.</p>"
            '<p><a href="/logout">Leave</a></p>'
        )
        return PAGE.format(title="Protected page", body=body)

    @site.get("/login")
    def login():
        return oauth.room.authorize_redirect(url_for("callback", _external=True))

    @site.get("/callback")
    def callback():
        token = oauth.room.authorize_access_token()
        session["user"] = dict(token["userinfo"])
        return redirect("/")

    @site.get("/favicon.ico")
    def favicon():
        return "", 204

    @site.get("/logout")
    def logout():
        session.clear()
        return PAGE.format(title="Bye", body='<p>Signed out. <a href="/">Queue again</a></p>')

    return site


def main() -> None:
    """Run the site on its port (started as a child process by the demo)."""
    port = int(sys.argv[1])
    site = create_site(
        os.environ["DEMO_ISSUER"],
        os.environ["DEMO_CLIENT_ID"],
        os.environ["DEMO_CLIENT_SECRET"],
        os.environ["DEMO_SITE_SECRET"],
        os.environ["DEMO_SITE_URL"],
    )
    site.run(host="127.0.0.1", port=port, threaded=True)


if __name__ == "__main__":
    main()
