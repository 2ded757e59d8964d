"""Languages for the browser pages: locale negotiation, texts and formats.

Texts are JSON files per locale (`waiting_page/translations/<locale>.json`),
English being the base every other locale falls back to key by key. An
operator's `translations_dir` holds files of the same shape merged over the
built-ins, so adding a language or rewording a text needs no code change.

Numbers and durations are formatted here with a few rules carried in the
files themselves (digit grouping, plural rule) instead of pulling in Babel:
the page needs integers and "about 5 minutes", nothing more. The page's
script formats the same values with the browser's Intl API.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_LOCALE = "en"
BUILTIN_DIR = Path(str(resources.files("waiting_page") / "translations"))
LOCALE_TAG = re.compile(r"^[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*$")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
#: At most this many preferences are looked at, so a huge header costs nothing.
MAX_PREFERENCES = 20
#: Plural rules a locale file can name in "_plural" ("one" forms for n == 1,
#: or for 0 and 1 as in French); the browser side uses Intl.PluralRules.
PLURAL_RULES = {"one": lambda n: n == 1, "zero-one": lambda n: n in (0, 1)}
#: Keys the page's script needs to re-render what it updates.
CLIENT_KEYS = (
    "ahead",
    "ahead_none",
    "served_total",
    "minutes",
    "hours",
    "less_than_minute",
    "wait_about",
    "wait_range",
    "wait_upto",
    "wait_soon",
    "wait_unknown",
    "updated",
    "offline",
)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("must hold a JSON object")
    return data


def _check_values(data: Any, where: str = "") -> list[str]:
    """Every text is a string, or an object of strings (plural forms, per-room texts)."""
    problems = []
    for key, value in data.items():
        if isinstance(value, dict):
            problems += _check_values(value, f"{where}{key}.")
        elif not isinstance(value, str):
            problems.append(f"{where}{key}: must be a string")
    return problems


def check_translations(folder: Path) -> list[tuple[str, str]]:
    """Problems in an operator's translation files, as (file name, message)."""
    problems: list[tuple[str, str]] = []
    for path in sorted(folder.glob("*.json")):
        if not LOCALE_TAG.match(path.stem):
            problems.append((path.name, "file names are locale tags such as de.json or pt-BR.json"))
            continue
        try:
            data = _read(path)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            problems.append((path.name, f"not a valid translation file: {exc}"))
            continue
        problems += [(path.name, message) for message in _check_values(data)]
        rule = data.get("_plural", "one")
        if rule not in PLURAL_RULES:
            problems.append((path.name, f"_plural must be one of {', '.join(PLURAL_RULES)}"))
    return problems


@dataclass(frozen=True)
class Translator:
    """The texts and formats of one locale."""

    lang: str
    messages: dict[str, Any]

    @property
    def direction(self) -> str:
        return "rtl" if self.messages.get("_dir") == "rtl" else "ltr"

    def __call__(self, key: str, **values: Any) -> str:
        text = self.messages.get(key, key)
        return _fill(text if isinstance(text, str) else key, values)

    def plural(self, key: str, n: int) -> str:
        forms = self.messages.get(key)
        if not isinstance(forms, dict):
            return self(key, n=self.number(n))
        rule = PLURAL_RULES.get(self.messages.get("_plural", "one"), PLURAL_RULES["one"])
        text = forms.get("one") if rule(n) and "one" in forms else forms.get("other", key)
        return _fill(text, {"n": self.number(n)})

    def number(self, n: int) -> str:
        """An integer with the locale's digit grouping (CLDR's minimum grouping digits)."""
        digits = str(abs(int(n)))
        group = self.messages.get("_group", ",")
        min_grouping = int(self.messages.get("_min_grouping", "1"))
        if len(digits) >= 4 + min_grouping - 1:
            head, tail = digits[: len(digits) % 3], digits[len(digits) % 3 :]
            parts = [head] if head else []
            parts += [tail[i : i + 3] for i in range(0, len(tail), 3)]
            digits = group.join(parts)
        return ("-" if n < 0 else "") + digits

    def duration(self, seconds: int) -> str:
        """Rounded up to whole minutes; past an hour, to the nearest five minutes."""
        if seconds < 60:
            return self("less_than_minute")
        minutes = math.ceil(seconds / 60)
        if minutes < 60:
            return self.plural("minutes", minutes)
        hours, rest = divmod(5 * round(minutes / 5), 60)
        text = self.plural("hours", hours)
        return f"{text} {self.plural('minutes', rest)}" if rest else text

    def wait(self, estimate: dict[str, Any] | None) -> str:
        """The estimated wait as a range; with nothing measured yet, say so."""
        if estimate is None:
            return self("wait_unknown")
        middle = self.duration(estimate["seconds"])
        low, high = self.duration(estimate["low"]), self.duration(estimate["high"])
        if estimate["high"] < 60:
            return middle
        if estimate["seconds"] < 60:
            return self("wait_soon", high=high)
        if low == high:
            return self("wait_about", wait=middle)
        if estimate["low"] < 60:
            return self("wait_upto", wait=middle, high=high)
        return self("wait_range", wait=middle, low=low, high=high)

    def room_text(self, room: str, key: str, fallback: str) -> str:
        """A room's title or message in this locale, else the config file's text."""
        rooms = self.messages.get("rooms")
        texts = rooms.get(room) if isinstance(rooms, dict) else None
        value = texts.get(key) if isinstance(texts, dict) else None
        return value if isinstance(value, str) and value else fallback

    def client_texts(self) -> dict[str, Any]:
        return {key: self.messages[key] for key in CLIENT_KEYS if key in self.messages}


def _fill(text: str, values: dict[str, Any]) -> str:
    """Replaces {name} placeholders; unknown ones and other braces stay as written."""
    return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)


class Catalog:
    """All locales: the built-ins with an operator's files merged over them."""

    def __init__(self, extra_dir: Path | None = None):
        base = _read(BUILTIN_DIR / f"{DEFAULT_LOCALE}.json")
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for folder in (BUILTIN_DIR, extra_dir):
            if folder is None:
                continue
            for path in sorted(folder.glob("*.json")):
                if not LOCALE_TAG.match(path.stem):
                    continue
                key = path.stem.lower()
                _, earlier = found.get(key, (path.stem, base))
                found[key] = (path.stem, _merge(earlier, _read(path)))
        self.locales = {key: Translator(lang, messages) for key, (lang, messages) in found.items()}

    def match(self, tag: str) -> str | None:
        """The locale serving `tag`: exact, else its language, else a region of it."""
        tag = tag.strip().replace("_", "-").lower()
        if not LOCALE_TAG.match(tag):
            return None
        if tag in self.locales:
            return tag
        language = tag.split("-")[0]
        if language in self.locales:
            return language
        regional = sorted(k for k in self.locales if k.split("-")[0] == language)
        return regional[0] if regional else None

    def negotiate(self, ui_locales: str | None, accept: Iterable[tuple[str, float]]) -> Translator:
        """OIDC ui_locales (in order of preference) first, then Accept-Language."""
        wanted = (ui_locales or "").split()[:MAX_PREFERENCES]
        ranked = sorted(
            ((tag, q) for tag, q in list(accept)[:MAX_PREFERENCES] if q > 0),
            key=lambda item: -item[1],
        )
        for tag in wanted + [tag for tag, _ in ranked]:
            found = self.match(tag)
            if found:
                return self.locales[found]
        return self.locales[DEFAULT_LOCALE]


@lru_cache(maxsize=8)
def catalog(extra_dir: Path | None = None) -> Catalog:
    """Loaded once per process: translation files change with a restart, like the config."""
    return Catalog(extra_dir)
