"""The guides' TOML examples are what an operator copies first: each must parse,
and, added to the operator guide's full example, make a config the server
accepts. A block meant as alternatives has to say so in comments, or TOML
refuses the second value of a key. A `"..."` is the guides' placeholder for a
secret of the operator's own."""

from __future__ import annotations

import base64
import tomllib
from pathlib import Path
from typing import Any

import pytest

from oidc_adapter.config import parse_config

from .helpers import ROOT, doc_blocks

GUIDES = ("docs/operators.md", "docs/integrations.md", "waiting_page/README.md", "keys/README.md")
FULL_EXAMPLE_MARK = "issuer ="
PLACEHOLDER, FILLED = '"..."', '"an-operators-own-secret-0123"'
ENV = {
    "OIDC_ADAPTER_KEY_ENCRYPTION_KEY": base64.b64encode(bytes(range(32))).decode(),
    "SHOP_ALB_SECRET": "0123456789abcdef-shop-alb",
    "ALICE_ADMIN_TOKEN": "alice-0123456789abcdef",
    "BOB_ADMIN_TOKEN": "bob-0123456789abcdef-0",
}


def toml_blocks(guide: str) -> list[str]:
    return [block.replace(PLACEHOLDER, FILLED) for block in doc_blocks(guide, "toml")]


EXAMPLES = [
    pytest.param(block, id=f"{guide}#{n}")
    for guide in GUIDES
    for n, block in enumerate(toml_blocks(guide), 1)
]


def full_example() -> dict[str, Any]:
    (block,) = (b for b in toml_blocks("docs/operators.md") if b.startswith(FULL_EXAMPLE_MARK))
    return tomllib.loads(block)


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merged(out[key], value) if both else value
    return out


def with_the_files_it_names(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The branding an example points at, as the operator would have it."""
    for room in data["rooms"].values():
        if "logo" in room:
            (folder / room["logo"]).parent.mkdir(parents=True, exist_ok=True)
            (folder / room["logo"]).write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
        if "template_dir" in room:
            (folder / room["template_dir"]).mkdir(parents=True, exist_ok=True)
    return data


def test_the_guides_have_examples_and_the_full_one():
    assert len(EXAMPLES) >= 5
    assert full_example()["clients"]["shop-alb"]["room"] == "shop"


@pytest.mark.parametrize("block", EXAMPLES)
def test_an_example_parses_and_makes_a_config_the_server_accepts(block, tmp_path):
    data = with_the_files_it_names(merged(full_example(), tomllib.loads(block)), tmp_path)
    cfg = parse_config(data, env=ENV, base=tmp_path)
    assert cfg.rooms["shop"].name == "shop"
    assert cfg.clients["shop-alb"].secret == ENV["SHOP_ALB_SECRET"]


def test_the_docker_example_config_is_accepted(tmp_path):
    data = tomllib.loads((ROOT / "docker" / "wait.example.toml").read_text())
    cfg = parse_config(data, env=ENV, base=tmp_path)
    assert cfg.clients["shop-alb"].redirect_uris == ("https://shop.example.com/oauth2/idpresponse",)
