"""The named rules behind the config schema: URLs, WCAG contrast, branding files.

Each rule is a validator raising a message worded for an operator, or an
annotated type bundling them; models.py attaches them to fields.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from ..i18n import check_translations
from ..return_to import NOT_REGISTERED, ReturnToRefused, check_return_to
from ..room.settings import worded

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
HTTPS_ONLY = "must use https (http is allowed only for localhost)"
ORIGIN = "must be an origin such as https://shop.example.com"
PATH = "must be a path string"
HEX_COLOR = r"^#(?:[0-9a-fA-F]{3}){1,2}$"
LOGO_TYPES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif")
MAX_LOGO_BYTES = 512 * 1024
#: The type of an error that carries the problems of a folder's files in its
#: context, each reported at `field/file name`.
FILE_PROBLEMS = "file_problems"
#: Whose X-Forwarded-* headers count when nothing is configured: a proxy on this host.
LOOPBACK = ("127.0.0.1/32", "::1/128")

#: The waiting page's default colours (waiting.css uses the same). Room
#: colours are checked against each other with these filling the gaps, so an
#: operator cannot ship a page that fails WCAG 2.1 AA contrast.
DEFAULT_COLORS = {"brand_color": "#0b57d0", "background_color": "#ffffff", "text_color": "#1b1f24"}
MIN_CONTRAST = 4.5


def problem(message: str) -> PydanticCustomError:
    """An operator-facing problem; the message is final text, not a template."""
    return PydanticCustomError("invalid", "{message}", {"message": message})


# -- URLs ----------------------------------------------------------------------------


def is_local(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in LOCAL_HOSTS or host.endswith(".localhost")


def http_url(value: str) -> str:
    """Absolute http(s) and no fragment: the only URLs OAuth redirects and issuers allow."""
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise problem("must be an absolute http(s) URL")
    if parts.fragment:
        raise problem("must not contain a fragment")
    return value


def https_unless_local(value: str) -> str:
    """Tokens and cookies travel over these URLs; plain http only for development."""
    if urlsplit(value).scheme == "http" and not is_local(value):
        raise problem(HTTPS_ONLY)
    return value


def without_query(value: str) -> str:
    """The issuer is compared verbatim with `iss` and prefixes every endpoint URL."""
    if urlsplit(value).query:
        raise problem("must not contain a query")
    return value


def origin(value: str) -> str:
    """Browsers send `Origin` as scheme://host[:port] exactly; anything else never matches."""
    parts = urlsplit(value)
    if (
        parts.scheme not in ("https", "http")
        or not parts.netloc
        or value != f"{parts.scheme}://{parts.netloc}"
    ):
        raise problem(ORIGIN)
    return value


HttpUrl = Annotated[str, worded("must be a URL string"), AfterValidator(http_url)]
SecureUrl = Annotated[HttpUrl, AfterValidator(https_unless_local)]
Issuer = Annotated[
    HttpUrl,
    AfterValidator(without_query),
    AfterValidator(https_unless_local),
    AfterValidator(lambda url: url.rstrip("/")),
]
Origin = Annotated[str, worded(ORIGIN), AfterValidator(origin), AfterValidator(https_unless_local)]


def return_address(value: str, origins: tuple[str, ...]) -> str:
    """A room's default_return_to meets the rules of every visitor's return_to."""
    try:
        return check_return_to(value, origins)
    except ReturnToRefused as exc:
        if str(exc) == NOT_REGISTERED:
            raise problem("its origin must be one of return_origins") from None
        raise problem(str(exc)) from None


#: RFC 6265 cookie-name characters a proxy config can carry unquoted.
CookieName = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$"),
    worded("must be a cookie name of letters, digits, '_', '.' and '-' (max 64)"),
]
#: A cookie Path attribute: no ';' or ',' that would end or split the header.
CookiePath = Annotated[
    str,
    Field(pattern=r"^/[A-Za-z0-9._~!$&'()*+=:@%/-]{0,255}$"),
    worded('must be a URL path starting with "/"'),
]


# -- colours -------------------------------------------------------------------------


def _luminance(color: str) -> float:
    digits = color[1:] if len(color) == 7 else "".join(c * 2 for c in color[1:])
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2.1 contrast ratio of two hex colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable(key: str, color: str | None, background: str | None) -> None:
    """Text and brand colour (links, buttons, progress) must both read on the background.

    An unset colour is the page's default, so changing one colour alone is
    checked against the defaults it will be shown with.
    """
    color = color or DEFAULT_COLORS[key]
    background = background or DEFAULT_COLORS["background_color"]
    ratio = contrast_ratio(color, background)
    if ratio < MIN_CONTRAST:
        raise problem(
            f"contrast with background_color {background} is {ratio:.2f}:1; "
            f"WCAG 2.1 AA needs at least {MIN_CONTRAST}:1"
        )


HexColor = Annotated[
    str,
    Field(pattern=HEX_COLOR),
    worded('must be a hex colour such as "#0b57d0" or "#fff"'),
    AfterValidator(str.lower),
]


# -- texts, paths and files ----------------------------------------------------------


def not_empty(value: Any) -> Any:
    """Refused before anything else: "" as a path would mean the working directory, and
    an empty list would otherwise pass (pydantic counts a list's items after checking them).
    """
    if value in ("", [], ()):
        raise ValueError("empty")
    return value


Text = Annotated[str, Field(max_length=500), worded("must be a string of at most 500 characters")]
#: A path kept as text (branding files, resolved by the room's validators).
PathString = Annotated[str, Field(min_length=1), worded(PATH)]
#: A path as a Path; "" would silently mean the working directory, so it is refused.
PathValue = Annotated[Path, BeforeValidator(not_empty), worded(PATH)]


def logo_file(path: Path) -> str:
    """The page embeds the logo from our origin, so it must be a small image we can serve."""
    if path.suffix.lower() not in LOGO_TYPES:
        raise problem(f"must be an image file ({', '.join(LOGO_TYPES)})")
    if not path.is_file():
        raise problem(f"file not found: {path}")
    if path.stat().st_size > MAX_LOGO_BYTES:
        raise problem(f"must be at most {MAX_LOGO_BYTES // 1024} KB")
    return str(path)


def folder(path: Path) -> Path:
    """Found now rather than at the first page view during an event."""
    if not path.is_dir():
        raise problem(f"folder not found: {path}")
    return path


def translations(path: Path) -> Path:
    """Every broken translation file is reported, each under its own name."""
    found = check_translations(folder(path))
    if found:
        raise PydanticCustomError(
            FILE_PROBLEMS,
            "{count} translation file problem(s)",
            {"count": len(found), "problems": found},
        )
    return path


def comma_list(value: Any) -> Any:
    """A list given as one string (from the environment): "a, b" -> ["a", "b"]."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def network(value: str) -> IPv4Network | IPv6Network:
    try:
        return ip_network(value)
    except ValueError:
        raise problem("must be an IP network in CIDR form such as 10.0.0.0/16") from None


Network = Annotated[str, worded("must be an IP network string"), AfterValidator(network)]
