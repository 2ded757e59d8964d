"""Pages rendered once per look and filled in per request.

Every visitor of a room who reads the same language and sees the same view
gets the same waiting page but for a few values: the ticket, its place, the
URLs of this login. Rendering the template with Jinja on every arrival cost
more than the rest of the request together (inheritance, a translation call
per text, the room's branding), so a page is rendered once per look with a
*slot* standing in for each per-request value, cut at the slots, and a
request only joins the pieces with its own values, escaped exactly as
Jinja's autoescaping (`{{ value }}`) or its `tojson` filter would have.

A slot can only be printed, with or without `|e` or `|tojson`. A template
that does anything else with a per-request value (tests it, compares it,
computes with it, hands it to a filter or a function) cannot be cut this way:
the slot refuses, and that look is rendered per request with the real values.
The request itself (`request`, `session`, `g`, flashed messages, absolute
URLs) refuses too, so nothing one visitor sent can be kept in a page served
to another.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app, url_for
from jinja2 import Environment
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import escape

#: Per process and unguessable: no operator text or request can spell a slot.
_NONCE = secrets.token_hex(8)
_SLOT = re.compile(rf'"\[{_NONCE}!([\w.]+)\]"|\[{_NONCE}:([\w.]+)\]')
#: Request-bound names of Flask's template context; a look must not depend on them.
REQUEST_BOUND = ("request", "session", "g", "get_flashed_messages")
#: Looks kept per app; far more than rooms × languages × views in practice.
MAX_LOOKS = 512


class PerRequestValue(Exception):
    """A template used a per-request value for more than printing it."""


class Slot:
    """The stand-in of a per-request value while a look is rendered."""

    __slots__ = ("_slot_name",)

    def __init__(self, name: str):
        self._slot_name = name

    def __html__(self) -> str:
        return f"[{_NONCE}:{self._slot_name}]"

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise PerRequestValue(self._slot_name)

    __str__ = __repr__ = __format__ = __bool__ = __len__ = __iter__ = __contains__ = _refuse
    __getitem__ = __call__ = __int__ = __float__ = __index__ = __neg__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse  # type: ignore[assignment]
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __floordiv__ = __mod__ = __rmod__ = _refuse
    __hash__ = object.__hash__

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise PerRequestValue(self._slot_name)


class Unprintable(Slot):
    """A request-bound name: even printing it makes the look per request."""

    __slots__ = ()
    __html__ = Slot._refuse  # type: ignore[assignment]


def json_default(fallback: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A JSON `default` that writes a slot's marker, for the page environment's `tojson`."""

    def default(value: Any) -> Any:
        if isinstance(value, Slot):
            return f"[{_NONCE}!{value._slot_name}]"  # inside JSON quotes: see _SLOT
        return fallback(value)

    return default


def _relative_url_for(endpoint: str, **values: Any) -> str:
    """url_for for a look: an absolute URL would carry the request's Host header."""
    if "_external" in values or "_scheme" in values:
        raise PerRequestValue("url_for")
    return url_for(endpoint, **values)


@dataclass(frozen=True)
class Look:
    """A page cut at its slots: `pieces[i]`, the value of `slots[i]`, `pieces[i + 1]` ..."""

    pieces: tuple[str, ...]
    #: (value name, key inside it or None, written as JSON)
    slots: tuple[tuple[str, str | None, bool], ...]

    def fill(self, values: Mapping[str, Any], to_json: Callable[[Any], str]) -> str:
        out = [self.pieces[0]]
        for (name, key, as_json), piece in zip(self.slots, self.pieces[1:], strict=True):
            value = values[name] if key is None else values[name][key]
            out.append(to_json(value) if as_json else escape(value))
            out.append(piece)
        return "".join(out)


#: A look that refused to be cut: rendered per request.
PER_REQUEST = Look(("",), ())


def _cut(html: str) -> Look:
    pieces, slots, start = [], [], 0
    for match in _SLOT.finditer(html):
        pieces.append(html[start : match.start()])
        name = match.group(1) or match.group(2)
        head, _, key = name.partition(".")
        slots.append((head, key or None, match.group(1) is not None))
        start = match.end()
    pieces.append(html[start:])
    if any(_NONCE in piece for piece in pieces):
        raise PerRequestValue("a slot was changed by a filter")
    return Look(tuple(pieces), tuple(slots))


def _stand_ins(values: Mapping[str, Any], expand: tuple[str, ...]) -> dict[str, Any]:
    """Slots for the per-request values; an expanded dict keeps its keys, each a slot."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in expand:
            out[name] = {key: Slot(f"{name}.{key}") for key in value}
        else:
            out[name] = Slot(name)
    return out


def _to_json(env: Environment) -> Callable[[Any], str]:
    dumps, kwargs = env.policies["json.dumps_function"], env.policies["json.dumps_kwargs"]
    return lambda value: htmlsafe_json_dumps(value, dumps=dumps, **kwargs)


def render(
    env: Environment,
    name: str,
    key: Hashable,
    fixed: Callable[[], dict[str, Any]],
    values: Mapping[str, Any],
    expand: tuple[str, ...] = (),
) -> str:
    """Template `name` with the look's context `fixed()` and this request's `values`.

    `key` must name everything `fixed()` depends on, and the keys of every
    expanded dict in `values` (a template may test which ones exist).
    """
    app = current_app
    looks: dict[Hashable, Look] = app.extensions.setdefault("cut_pages", {})
    full_key = (id(env), name, key)
    look = looks.get(full_key)
    if look is None:
        context = fixed()
        app.update_template_context(context)
        context.update({n: Unprintable(n) for n in REQUEST_BOUND}, url_for=_relative_url_for)
        context.update(_stand_ins(values, expand))
        try:
            look = _cut(env.get_template(name).render(context))
        except PerRequestValue:
            look = PER_REQUEST
        if len(looks) >= MAX_LOOKS:
            looks.clear()
        looks[full_key] = look
    if look is PER_REQUEST:
        context = {**fixed(), **values}
        app.update_template_context(context)
        return env.get_template(name).render(context)
    return look.fill(values, _to_json(env))
