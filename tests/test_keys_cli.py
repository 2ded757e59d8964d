"""`oidc-adapter keys ...` through the real command group."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from oidc_adapter.cli import main
from oidc_adapter.config import load_config
from oidc_adapter.keys import GRACE_SECONDS, KeyStore, store_for
from oidc_adapter.keys.manifest import iso_time


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def keys_dir(tmp_path):
    return tmp_path / "keys"


def run(runner: CliRunner, *args: str, env: dict | None = None):
    return runner.invoke(main, ["keys", *args], env=env or {"OIDC_ADAPTER_CONFIG": None})


def table(output: str) -> list[list[str]]:
    lines = output.strip().splitlines()
    assert lines[0].split()[:3] == ["KID", "ALG", "STATE"]
    return [line.split() for line in lines[1:]]


def test_generate_rotate_list_retire(runner, keys_dir):
    d = ["--keys-dir", str(keys_dir)]
    first = run(runner, "generate", *d)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("active: ")
    assert "next: " in first.output
    active = first.output.split()[1]

    rows = table(run(runner, "list", *d).output)
    assert sorted(r[2] for r in rows) == ["active", "next"]
    assert [r[0] for r in rows if r[2] == "active"] == [active]

    rotated = run(runner, "rotate", *d)
    assert rotated.exit_code == 0, rotated.output
    assert f"retired: {active}" in rotated.output
    assert "published only" in rotated.output  # the next key was just created

    listed = run(runner, "list", *d)
    rows = {r[0]: r for r in table(listed.output)}
    assert rows[active][2] == "retired"
    assert rows[active][-1].endswith("Z")  # published until a UTC time

    refused = run(runner, "retire", active, *d)
    assert refused.exit_code == 1
    assert "may still verify live tokens" in refused.output
    assert active in {k.kid for k in KeyStore(keys_dir).keys()}

    new_active = KeyStore(keys_dir).signing_key()[0]
    on_active = run(runner, "retire", new_active, "--force", *d)
    assert on_active.exit_code == 1
    assert "active signing key" in on_active.output

    forced = run(runner, "retire", active, "--force", *d)
    assert forced.exit_code == 0, forced.output
    assert active not in {k.kid for k in KeyStore(keys_dir).keys()}


def test_es256_option(runner, keys_dir):
    result = run(runner, "generate", "--alg", "ES256", "--keys-dir", str(keys_dir))
    assert result.exit_code == 0, result.output
    assert "(ES256)" in result.output
    assert KeyStore(keys_dir, alg="ES256").signing_key()[1] == "ES256"
    bad = run(runner, "generate", "--alg", "HS256", "--keys-dir", str(keys_dir))
    assert bad.exit_code == 2


def test_config_file_gives_the_directory_alg_and_lifetime(runner, tmp_path):
    config = tmp_path / "conf" / "adapter.toml"
    config.parent.mkdir()
    config.write_text(
        'keys_dir = "store"\nsigning_alg = "ES256"\n[rooms.shop]\nsession_seconds = 172800\n'
    )
    result = run(runner, "generate", "--config", str(config))
    assert result.exit_code == 0, result.output
    store = KeyStore(config.parent / "store", alg="ES256")
    assert store.signing_key()[1] == "ES256"

    rotated = run(runner, "rotate", env={"OIDC_ADAPTER_CONFIG": str(config)})
    assert rotated.exit_code == 0, rotated.output
    listed = run(runner, "list", env={"OIDC_ADAPTER_CONFIG": str(config)})
    (row,) = [r for r in table(listed.output) if r[2] == "retired"]
    (retired,) = [k for k in KeyStore(store.directory).keys() if k.state == "retired"]
    # The horizon uses the longest room session (2 days), not the 1-day floor.
    assert row[6] == iso_time(retired.retired_at + 172800 + GRACE_SECONDS)


def test_bad_config_is_reported(runner, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('signing_alg = "none"\n')
    result = run(runner, "list", "--config", str(config))
    assert result.exit_code == 2
    assert "signing_alg" in result.output


def test_a_store_location_is_required(runner):
    result = run(runner, "list")
    assert result.exit_code == 2
    assert "--keys-dir" in result.output


def test_list_of_an_empty_store(runner, keys_dir):
    result = run(runner, "list", "--keys-dir", str(keys_dir))
    assert result.exit_code == 0
    assert "no keys" in result.output
    assert not keys_dir.exists()


def test_unknown_kid_and_corrupt_manifest(runner, keys_dir):
    d = ["--keys-dir", str(keys_dir)]
    run(runner, "generate", *d)
    missing = run(runner, "retire", "not-a-key", *d)
    assert missing.exit_code == 1 and "no key 'not-a-key'" in missing.output
    # A thumbprint is base64url and may begin with "-": it is the key's id, not an option.
    dashed = run(runner, "retire", "-Ab_c", "--force", *d)
    assert dashed.exit_code == 1 and "no key '-Ab_c'" in dashed.output
    (keys_dir / "keys.json").write_text(json.dumps({"format": 99}))
    broken = run(runner, "rotate", *d)
    assert broken.exit_code == 1 and "unknown format" in broken.output


def test_keys_per_algorithm_through_the_cli(runner, keys_dir):
    d = ["--keys-dir", str(keys_dir)]
    assert run(runner, "generate", *d).exit_code == 0
    refused = run(runner, "rotate", "--alg", "ES256", *d)
    assert refused.exit_code == 1 and "generate --alg ES256" in refused.output

    es = run(runner, "generate", "--alg", "ES256", *d)
    assert es.exit_code == 0, es.output
    lines = es.output.splitlines()
    assert [line.split()[0] for line in lines] == ["active:", "next:"]
    assert all(line.endswith("(ES256)") for line in lines)
    rows = table(run(runner, "list", *d).output)
    assert sorted((r[1], r[2]) for r in rows) == [
        ("ES256", "active"),
        ("ES256", "next"),
        ("RS256", "active"),
        ("RS256", "next"),
    ]

    rsa_active = KeyStore(keys_dir).signing_key("RS256")[0]
    only_es = run(runner, "rotate", "--alg", "ES256", *d)
    assert only_es.exit_code == 0, only_es.output
    assert [line for line in only_es.output.splitlines() if line.startswith("active:")] == [
        f"active: {KeyStore(keys_dir).signing_key('ES256')[0]} (ES256)"
    ]
    assert rsa_active not in only_es.output
    assert KeyStore(keys_dir).signing_key("RS256")[0] == rsa_active

    both = run(runner, "rotate", *d)
    assert both.exit_code == 0, both.output
    promoted = [line.split()[2] for line in both.output.splitlines() if line.startswith("active:")]
    assert promoted == ["(ES256)", "(RS256)"]
    assert f"retired: {rsa_active}" in both.output
    assert both.output.count("next: ") == 2
    assert both.stderr.count("published only") == 2


def test_rotate_with_a_config_rotates_the_client_algorithm_too(runner, tmp_path):
    """`keys rotate --config` on a store the server filled for an ES256 client."""
    config = tmp_path / "adapter.toml"
    config.write_text(
        'keys_dir = "store"\n[rooms.shop]\n[clients.rp]\nsecret = "0123456789abcdef"\n'
        'redirect_uris = ["https://rp.example.com/cb"]\nroom = "shop"\n'
        'id_token_signed_response_alg = "ES256"\n'
    )
    store_for(load_config(config)).ensure()  # what `serve` does at start
    rotated = run(runner, "rotate", "--config", str(config))
    assert rotated.exit_code == 0, rotated.output
    algs = [line.split()[2] for line in rotated.output.splitlines() if line.startswith("active:")]
    assert algs == ["(ES256)", "(RS256)"]
