"""The CAPTCHA hook: the provider confirms a visitor's token before its ticket is taken.

An outbound HTTPS call with a short timeout. Anything but a clear "success"
from the provider refuses the ticket (fail closed): a CAPTCHA that lets
everyone in while the provider is down would be no barrier at the moment a
bot rush makes it slow.
"""

from __future__ import annotations

import os

import requests

VERIFY_URLS = {
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
}
#: The form field each provider's widget adds to the page's form.
FORM_FIELDS = {"turnstile": "cf-turnstile-response", "hcaptcha": "h-captcha-response"}
TIMEOUT_SECONDS = 3.0
MAX_TOKEN_LENGTH = 4096


class CaptchaRefused(Exception):
    """`status` 403: the token is missing or wrong; 503: we could not get an answer."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def verify_captcha(provider: str, secret_env: str, token: object, remote_ip: str) -> None:
    """Raises CaptchaRefused unless the provider confirms the token."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise CaptchaRefused(403, "captcha_required", "Solve the CAPTCHA to join the line.")
    secret = os.environ.get(secret_env, "") if secret_env else ""
    if not secret:
        raise CaptchaRefused(
            503, "captcha_unavailable", "The CAPTCHA check is not configured on this server."
        )
    try:
        reply = requests.post(
            VERIFY_URLS[provider],
            data={"secret": secret, "response": token, "remoteip": remote_ip},
            timeout=TIMEOUT_SECONDS,
        )
        reply.raise_for_status()
        success = reply.json().get("success") is True
    except (requests.RequestException, ValueError, AttributeError):
        raise CaptchaRefused(
            503, "captcha_unavailable", "The CAPTCHA check could not be completed; try again."
        ) from None
    if not success:
        raise CaptchaRefused(403, "captcha_failed", "The CAPTCHA was not solved; try again.")
