"""The Redis key store (keys_backend = "redis"): the same rules as the file store,
private keys only as ciphertext in Redis, and a rotation on one host reaching
every app on the same Redis within the reload interval."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from oidc_adapter.app import create_app
from oidc_adapter.cli import main
from oidc_adapter.config import ConfigError, parse_config
from oidc_adapter.config.kek import KEK_ENV
from oidc_adapter.keys import KeyStore, KeyStoreError, RedisStorage, store_for
from oidc_adapter.keys.redis_storage import REDIS_KEY
from oidc_adapter.keys.storage import WriteConflict

from .conftest import ADMIN_TOKEN

ROOMS = {"shop": {"admit_per_minute": 600, "max_active": 0}}


def new_kek() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def kek() -> str:
    return new_kek()


def redis_config(redis_url: str, kek: str, tmp_path: Path, **extra):
    data = {
        "redis_url": redis_url,
        "admin_token": ADMIN_TOKEN,
        "keys_backend": "redis",
        "keys_dir": str(tmp_path / "keys"),
        "rooms": ROOMS,
        **extra,
    }
    return parse_config(data, env={KEK_ENV: kek})


def redis_store(client: redis.Redis, kek: str, **kw) -> KeyStore:
    return KeyStore(RedisStorage(client, base64.b64decode(kek)), **kw)


def raw_values(redis_url: str) -> list[bytes]:
    """Every key and string stored anywhere in Redis, as bytes, whatever the key's type."""
    raw = redis.Redis.from_url(redis_url)
    values: list[bytes] = []
    for key in raw.scan_iter():
        kind = raw.type(key)
        if kind == b"hash":
            values += [part for pair in raw.hgetall(key).items() for part in pair]
        elif kind == b"string":
            values.append(raw.get(key))
        values.append(key)
    raw.close()
    return values


def wait_for(condition, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def test_the_rotation_rules_work_the_same_in_redis(redis_client, kek):
    store = redis_store(redis_client, kek, algs=["ES256"])
    store.ensure()
    states = {(k.alg, k.state) for k in store.keys()}
    assert states == {(a, s) for a in ("RS256", "ES256") for s in ("active", "next")}
    first = store.signing_key("RS256")[0]

    reader = redis_store(redis_client, kek)  # another process: reads what the writer stored
    assert reader.signing_key("RS256")[0] == first
    (promoted,) = store.rotate("RS256")
    assert reader.signing_key("RS256")[0] == first  # until its reload interval passes
    reader.reload_interval = 0
    assert reader.signing_key("RS256")[0] == promoted.kid != first
    assert {k.kid: k.state for k in reader.keys()}[first] == "retired"
    with pytest.raises(KeyStoreError, match="may still verify live tokens"):
        store.retire(first)
    store.retire(first, force=True)
    assert first not in {k["kid"] for k in reader.public_jwks()["keys"]}
    assert not redis_client.hexists(REDIS_KEY, f"key:{first}")


def test_redis_holds_only_ciphertext_and_never_the_kek(redis_client, redis_url, kek):
    store = redis_store(redis_client, kek, algs=["ES256"])
    store.ensure()
    store.rotate()
    values = raw_values(redis_url)
    envelopes = [json.loads(v) for v in values if v.startswith(b'{"format"')]
    assert len(envelopes) == len(store.keys()) == 6
    kek_bytes = base64.b64decode(kek)
    for value in values:
        assert b"PRIVATE KEY" not in value and b"-----BEGIN" not in value
        assert kek.encode() not in value and kek_bytes not in value
    for envelope in envelopes:
        for name in ("wrapped_key", "ciphertext"):
            blob = base64.b64decode(envelope[name])
            assert b"PRIVATE KEY" not in blob and not blob.startswith(b"\x30\x82")  # no DER
    # ...and yet a store with the KEK signs with those keys.
    assert redis_store(redis_client, kek).signing_key()[0] == store.signing_key()[0]


def test_a_wrong_kek_fails_cleanly_and_changes_nothing(redis_client, redis_url, kek, tmp_path):
    redis_store(redis_client, kek).ensure()
    version = redis_client.hget(REDIS_KEY, "version")
    stranger = redis_store(redis_client, new_kek())
    assert stranger.missing_algs() == ["RS256"]  # /readyz: not ready
    assert stranger.public_jwks() == {"keys": []}
    with pytest.raises(KeyStoreError, match="no active signing key"):
        stranger.signing_key()
    with pytest.raises(KeyStoreError, match="another key-encryption key"):
        stranger.rotate()
    app = create_app(redis_config(redis_url, new_kek(), tmp_path))
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.json["checks"]["signing_key"] is False, ready.json
    assert redis_client.hget(REDIS_KEY, "version") == version


def test_an_envelope_moved_to_another_kid_does_not_decrypt(redis_client, kek):
    store = redis_store(redis_client, kek)
    store.ensure()
    active, upcoming = (k.kid for k in store.keys())
    redis_client.hset(REDIS_KEY, f"key:{upcoming}", redis_client.hget(REDIS_KEY, f"key:{active}"))
    fresh = redis_store(redis_client, kek)
    assert fresh.missing_algs() == ["RS256"]
    with pytest.raises(KeyStoreError, match=f"key {upcoming} .* does not decrypt"):
        fresh.generate()


def test_concurrent_writers_lose_nothing(redis_client, kek):
    """Hosts' CLIs writing at once: the write script's version check refuses a write
    based on an old read, and KeyStore then reads again and retries."""
    redis_store(redis_client, kek).ensure()
    storage = RedisStorage(redis_client, base64.b64decode(kek))
    stale = storage.load()
    redis_store(redis_client, kek).generate()
    with pytest.raises(WriteConflict):
        storage.write(stale, stale.manifest, {}, [])

    writers = [redis_store(redis_client, kek) for _ in range(4)]
    threads = [threading.Thread(target=w.generate) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    states = [k.state for k in redis_store(redis_client, kek).keys()]
    assert states.count("next") == 2 + len(writers) and states.count("active") == 1


def test_the_config_needs_a_well_formed_kek(redis_url, tmp_path):
    for env, message in [
        ({}, f"needs {KEK_ENV}"),
        ({KEK_ENV: "not base64!"}, "not valid base64"),
        ({KEK_ENV: base64.b64encode(b"short").decode()}, "must decode to 32 bytes"),
    ]:
        with pytest.raises(ConfigError) as caught:
            parse_config({"keys_backend": "redis", "rooms": ROOMS}, env=env)
        ((field, text),) = caught.value.problems
        assert field == "keys_backend" and message in text
    cfg = redis_config(redis_url, new_kek(), tmp_path)
    assert cfg.key_encryption_key is not None
    assert "key_encryption_key" not in str(cfg.model_dump(warnings=False))
    assert "key_encryption_key" not in repr(cfg)


def signing_kid(app) -> str:
    """The kid of a real access token from the app: direct API, served ticket."""
    browser = app.test_client()
    taken = browser.post("/api/rooms/shop/tickets").json
    response = browser.post(
        f"/api/rooms/shop/tickets/{taken['ticket']}/token",
        headers={"Authorization": f"Ticket {taken['ticket_secret']}"},
    )
    assert response.status_code == 200, response.json
    header = response.json["access_token"].split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def test_a_cli_rotation_reaches_every_app_within_the_reload_interval(
    redis_client, redis_url, kek, tmp_path, monkeypatch
):
    cfg = redis_config(redis_url, kek, tmp_path)
    store_for(cfg, redis_client=redis_client).ensure()
    apps = [create_app(cfg), create_app(cfg)]  # two hosts on one Redis, no shared folder
    before = {signing_kid(app) for app in apps}
    assert len(before) == 1 and all(
        app.test_client().get("/readyz").status_code == 200 for app in apps
    )

    config_file = tmp_path / "wait.toml"
    config_file.write_text(
        f'redis_url = "{redis_url}"\nkeys_backend = "redis"\n[rooms.shop]\nmax_active = 0\n'
    )
    monkeypatch.setenv(KEK_ENV, kek)
    rotated = CliRunner().invoke(main, ["keys", "rotate", "--config", str(config_file)])
    assert rotated.exit_code == 0, rotated.output
    new_kid = rotated.output.split()[1]
    assert new_kid not in before
    for app in apps:  # within the reload interval (2 s), plus slack for a loaded machine
        wait_for(lambda app=app: signing_kid(app) == new_kid, "the rotation", timeout=6.0)


def keys_cli(config_file: Path, *args: str, kek: str | None):
    env = {"OIDC_ADAPTER_CONFIG": None, KEK_ENV: kek}
    return CliRunner().invoke(main, ["keys", *args, "--config", str(config_file)], env=env)


@pytest.fixture
def config_file(tmp_path, redis_url) -> Path:
    path = tmp_path / "wait.toml"
    path.write_text(
        f'redis_url = "{redis_url}"\nkeys_backend = "redis"\nkeys_dir = "keys"\n'
        "[rooms.shop]\nmax_active = 0\n"
    )
    return path


def test_the_cli_commands_work_on_the_redis_backend(redis_client, config_file, kek):
    generated = keys_cli(config_file, "generate", kek=kek)
    assert generated.exit_code == 0, generated.output
    active = generated.output.split()[1]
    rotated = keys_cli(config_file, "rotate", kek=kek)
    assert f"retired: {active}" in rotated.output
    listed = keys_cli(config_file, "list", kek=kek)
    rows = {line.split()[0]: line.split()[2] for line in listed.output.splitlines()[1:]}
    assert rows[active] == "retired" and sorted(rows.values()) == ["active", "next", "retired"]
    dropped = keys_cli(config_file, "retire", active, "--force", kek=kek)
    assert dropped.exit_code == 0 and active not in keys_cli(config_file, "list", kek=kek).output
    assert not (config_file.parent / "keys").exists()  # nothing went to disk

    missing = keys_cli(config_file, "list", kek=None)
    assert missing.exit_code == 2
    assert f"keys_backend: the redis backend needs {KEK_ENV}" in missing.output
    wrong = keys_cli(config_file, "rotate", kek=new_kek())
    assert wrong.exit_code == 1 and "another key-encryption key" in wrong.output


def test_migrate_copies_a_file_store_into_redis_unchanged(redis_client, config_file, kek):
    on_disk = KeyStore(config_file.parent / "keys", algs=["ES256"])
    on_disk.ensure()
    on_disk.rotate("RS256")
    migrated = keys_cli(config_file, "migrate", "--to", "redis", kek=kek)
    assert migrated.exit_code == 0, migrated.output
    assert migrated.output.count("copied: ") == 5
    in_redis = redis_store(redis_client, kek)
    assert in_redis.keys() == on_disk.keys()
    assert in_redis.public_jwks() == on_disk.public_jwks()
    assert in_redis.signing_key("ES256")[0] == on_disk.signing_key("ES256")[0]

    again = keys_cli(config_file, "migrate", "--to", "redis", kek=kek)
    assert again.exit_code == 1 and "already holds keys; nothing was copied" in again.output
    published = on_disk.public_jwks()
    folder = config_file.parent / "keys"
    for path in folder.iterdir():
        path.unlink()
    returned = keys_cli(config_file, "migrate", "--to", "file", kek=kek)  # and back
    assert returned.exit_code == 0, returned.output
    assert KeyStore(folder).public_jwks() == published


def test_serve_with_another_kek_stops_with_a_clear_message(redis_client, config_file, kek):
    redis_store(redis_client, kek).ensure()
    config_file.write_text(
        config_file.read_text().replace("[rooms", f'admin_token = "{ADMIN_TOKEN}"\n[rooms')
    )
    env = {"OIDC_ADAPTER_CONFIG": None, KEK_ENV: new_kek()}
    refused = CliRunner().invoke(main, ["serve", "--config", str(config_file)], env=env)
    assert refused.exit_code == 1
    assert "key store: key" in refused.output and "another key-encryption key" in refused.output
