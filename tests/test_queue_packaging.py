"""The queue engine's Lua scripts ship in a regular (non-editable) install."""

from __future__ import annotations

import tomllib
from pathlib import Path

import oidc_adapter

PACKAGE = Path(oidc_adapter.__file__).parent


def test_package_data_covers_every_lua_script():
    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["oidc_adapter"]
    shipped = {path for pattern in patterns for path in PACKAGE.glob(pattern)}
    scripts = set(PACKAGE.rglob("*.lua"))
    assert scripts and scripts <= shipped
