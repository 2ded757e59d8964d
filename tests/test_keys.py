"""The signing-key store: states, refusals, files on disk, and rotation seen by other workers."""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from oidc_adapter.config import parse_config
from oidc_adapter.keys import (
    GRACE_SECONDS,
    KeyStore,
    KeyStoreError,
    max_token_lifetime,
    store_for,
)

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth"}
LIFETIME = 3600


class Clock:
    """Wall clock in seconds that tests move by hand (token lifetimes are hours)."""

    def __init__(self, now: float = 1_900_000_000):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_store(tmp_path, clock):
    def factory(alg: str = "RS256", **kw) -> KeyStore:
        kw.setdefault("max_token_lifetime", LIFETIME)
        return KeyStore(tmp_path / "keys", alg=alg, clock=clock, **kw)

    return factory


def states(store: KeyStore) -> dict[str, str]:
    return {k.kid: k.state for k in store.keys()}


def kid_in(store: KeyStore, state: str) -> str:
    (kid,) = [k for k, s in states(store).items() if s == state]
    return kid


def sign(store: KeyStore, claims: dict | None = None) -> str:
    kid, alg, key = store.signing_key()
    return jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, claims or {"sub": "x"}, key, [alg])


def verify_with_jwks(store: KeyStore, token: str) -> dict:
    keyset = KeySet.import_key_set(store.public_jwks())
    return jwt.decode(token, keyset, algorithms=["RS256", "ES256"]).claims


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.01)


def test_first_generate_makes_active_and_next_later_ones_add_next(make_store):
    store = make_store()
    first = store.generate()
    assert first.state == "active" and first.alg == "RS256"
    assert first.activated_at is not None
    assert sorted(states(store).values()) == ["active", "next"]
    assert store.signing_key()[0] == first.kid

    extra = store.generate()
    assert extra.state == "next"
    assert sorted(states(store).values()) == ["active", "next", "next"]
    assert store.signing_key()[0] == first.kid


def test_rsa_keys_are_2048_bit(make_store):
    store = make_store()
    store.ensure()
    _, alg, key = store.signing_key()
    assert alg == "RS256"
    assert key.raw_value.key_size == 2048


def test_ensure_creates_once(make_store):
    store = make_store()
    store.ensure()
    kids = states(store)
    store.ensure()
    make_store().ensure()
    assert states(make_store()) == kids


def test_concurrent_first_start_creates_one_active_key(make_store):
    """Several workers booting together on an empty directory."""
    stores = [make_store() for _ in range(4)]
    threads = [threading.Thread(target=s.ensure) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(states(make_store()).values()) == ["active", "next"]
    assert len({s.signing_key()[0] for s in stores}) == 1


def test_files_are_private_and_written_atomically(make_store, tmp_path):
    store = make_store()
    store.ensure()
    store.rotate()
    directory = tmp_path / "keys"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    pems = sorted(directory.glob("*.pem"))
    assert {p.stem for p in pems} == set(states(store))
    for path in [*pems, directory / "keys.json"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not list(directory.glob(".*.tmp"))


def test_rotate_promotes_next_retires_active_and_creates_next(make_store, clock):
    store = make_store()
    store.ensure()
    old_active, old_next = kid_in(store, "active"), kid_in(store, "next")
    clock.now += 100

    new_active = store.rotate()

    assert new_active.kid == old_next
    assert new_active.state == "active" and new_active.activated_at == clock.now
    after = {k.kid: k for k in store.keys()}
    assert after[old_active].state == "retired"
    assert after[old_active].retired_at == clock.now
    assert after[old_active].published_until == clock.now + LIFETIME + GRACE_SECONDS
    fresh = [k for k in after.values() if k.state == "next"]
    assert len(fresh) == 1 and fresh[0].kid not in (old_active, old_next)
    assert store.signing_key()[0] == old_next


def test_rotate_without_keys_is_refused(make_store):
    with pytest.raises(KeyStoreError, match="keys generate"):
        make_store().rotate()


def test_jwks_publishes_next_active_retired_without_private_parts(make_store):
    store = make_store()
    store.ensure()
    store.rotate()
    jwks = store.public_jwks()
    assert {k["kid"] for k in jwks["keys"]} == set(states(store))
    assert len(jwks["keys"]) == 3
    for entry in jwks["keys"]:
        assert entry["use"] == "sig" and entry["alg"] == "RS256" and entry["kty"] == "RSA"
        assert not PRIVATE_MEMBERS & set(entry)
    # The active key comes first, for verifiers that ignore kid.
    assert jwks["keys"][0]["kid"] == store.signing_key()[0]
    # A caller mutating the answer cannot change the store.
    jwks["keys"].clear()
    assert len(store.public_jwks()["keys"]) == 3


def test_token_signed_before_rotation_verifies_after_it(make_store):
    store = make_store()
    store.ensure()
    token = sign(store, {"sub": "before"})
    signer = store.signing_key()[0]
    store.rotate()
    store.rotate()  # twice: the signer is now the older of two retired keys
    assert store.signing_key()[0] != signer
    assert verify_with_jwks(store, token)["sub"] == "before"
    published = {jwk["kid"]: jwk for jwk in store.public_jwks()["keys"]}
    assert signer in published and "d" not in published[signer]
    public = KeySet.import_key_set({"keys": [published[signer]]})
    assert jwt.decode(token, public, algorithms=["RS256"]).claims["sub"] == "before"
    assert "unknown-kid-0123456789" not in published


def test_retire_refusals_and_force(make_store, clock):
    store = make_store()
    store.ensure()
    store.rotate()
    active, retired = kid_in(store, "active"), kid_in(store, "retired")

    with pytest.raises(KeyStoreError, match="active signing key.*rotate"):
        store.retire(active)
    with pytest.raises(KeyStoreError, match="active signing key"):
        store.retire(active, force=True)
    with pytest.raises(KeyStoreError, match="no key 'nope'"):
        store.retire("nope")
    with pytest.raises(KeyStoreError, match=r"may still verify live tokens until .*--force"):
        store.retire(retired)
    assert retired in states(store)

    clock.now += LIFETIME  # still inside the grace period
    with pytest.raises(KeyStoreError, match="may still verify"):
        store.retire(retired)

    store.retire(retired, force=True)
    assert retired not in states(store)
    assert retired not in {k["kid"] for k in store.public_jwks()["keys"]}


def test_retire_is_allowed_once_every_token_expired(make_store, clock, tmp_path):
    store = make_store()
    store.ensure()
    store.rotate()
    retired = kid_in(store, "retired")
    clock.now += LIFETIME + GRACE_SECONDS
    store.retire(retired)
    assert retired not in states(store)
    assert not (tmp_path / "keys" / f"{retired}.pem").exists()


def test_unused_next_key_can_be_dropped(make_store):
    store = make_store()
    store.ensure()
    spare = store.generate()
    store.retire(spare.kid)
    assert spare.kid not in states(store)


def test_rotation_drops_expired_retired_keys_but_readers_never_do(make_store, clock, tmp_path):
    writer = make_store()
    writer.ensure()
    writer.rotate()
    first_retired = kid_in(writer, "retired")
    clock.now += LIFETIME + GRACE_SECONDS + 1

    reader = make_store()
    assert first_retired in {k["kid"] for k in reader.public_jwks()["keys"]}

    writer.rotate()
    assert first_retired not in states(writer)
    assert not (tmp_path / "keys" / f"{first_retired}.pem").exists()
    assert len([s for s in states(writer).values() if s == "retired"]) == 1


def test_another_worker_sees_a_rotation_within_the_reload_interval(make_store):
    worker_a = make_store(reload_interval=0.05)
    worker_b = make_store(reload_interval=0.05)
    worker_a.ensure()
    wait_for(lambda: worker_b.public_jwks()["keys"])
    before = worker_b.signing_key()[0]
    token_b = sign(worker_b)

    new_active = worker_a.rotate()

    wait_for(lambda: worker_b.signing_key()[0] == new_active.kid)
    assert new_active.kid != before
    assert verify_with_jwks(worker_b, sign(worker_a))
    assert verify_with_jwks(worker_a, token_b)


def test_reader_checks_the_directory_at_most_once_per_interval(make_store, tmp_path):
    writer = make_store()
    writer.ensure()
    reader = make_store(reload_interval=3600)
    kid = reader.signing_key()[0]
    writer.rotate()
    assert reader.signing_key()[0] == kid  # not re-read: the interval has not passed


def test_reader_keeps_last_good_keys_when_the_directory_is_broken(make_store, tmp_path):
    writer = make_store()
    writer.ensure()
    reader = make_store(reload_interval=0)
    kid = reader.signing_key()[0]
    manifest = tmp_path / "keys" / "keys.json"
    good = manifest.read_bytes()

    manifest.write_text("{ half written")
    assert reader.signing_key()[0] == kid

    # A manifest naming a key file that has not arrived yet.
    missing = "A" * 43
    manifest.write_bytes(good.replace(kid.encode(), missing.encode()))
    assert reader.signing_key()[0] == kid
    assert len(reader.public_jwks()["keys"]) == 2

    manifest.unlink()
    assert reader.signing_key()[0] == kid

    with pytest.raises(KeyStoreError, match="not valid JSON"):
        manifest.write_text("{ half written")
        writer.rotate()  # writers refuse to build on a broken manifest


def test_key_file_must_match_its_kid(make_store, tmp_path):
    store = make_store()
    store.ensure()
    directory = tmp_path / "keys"
    active, spare = kid_in(store, "active"), kid_in(store, "next")
    (directory / f"{active}.pem").write_bytes((directory / f"{spare}.pem").read_bytes())
    with pytest.raises(KeyStoreError, match="no active signing key"):
        make_store().signing_key()


def test_empty_store_reader(make_store, tmp_path):
    store = make_store()
    with pytest.raises(KeyStoreError, match="keys generate"):
        store.signing_key()
    assert store.public_jwks() == {"keys": []}
    assert store.keys() == []
    assert not (tmp_path / "keys").exists()  # readers never create anything


def test_es256_store(make_store):
    store = make_store(alg="ES256")
    store.ensure()
    kid, alg, _ = store.signing_key()
    assert alg == "ES256"
    token = sign(store)
    store.rotate()
    for entry in store.public_jwks()["keys"]:
        assert (entry["kty"], entry["crv"], entry["alg"]) == ("EC", "P-256", "ES256")
        assert "d" not in entry
    assert verify_with_jwks(store, token)["sub"] == "x"
    assert store.signing_key()[0] != kid


def test_switching_algorithm_uses_a_prepublished_next_key(make_store):
    store = make_store()
    store.ensure()
    rsa_next = kid_in(store, "next")
    es_next = store.generate(alg="ES256")
    assert es_next.state == "next"

    promoted = store.rotate(alg="ES256")

    assert promoted.kid == es_next.kid and promoted.alg == "ES256"
    by_kid = {k.kid: k for k in store.keys()}
    assert by_kid[rsa_next].state == "next"  # still there for switching back
    assert any(k.state == "next" and k.alg == "ES256" for k in by_kid.values())
    assert store.signing_key()[1] == "ES256"


def test_emergency_rotation_without_a_next_key(make_store):
    store = make_store()
    store.ensure()
    promoted = store.rotate(alg="ES256")
    assert promoted.alg == "ES256" and promoted.created_at == promoted.activated_at


def test_unsupported_algorithm_is_refused(make_store):
    with pytest.raises(KeyStoreError, match="unsupported algorithm"):
        make_store(alg="HS256")
    store = make_store()
    with pytest.raises(KeyStoreError, match="unsupported algorithm"):
        store.generate(alg="PS512")


def test_lifetime_and_store_follow_the_config(tmp_path):
    rooms = {"short": {"session_seconds": 600}, "long": {"session_seconds": 7 * 86400}}
    cfg = parse_config(
        {"rooms": rooms, "keys_dir": str(tmp_path / "k"), "signing_alg": "ES256"}, env={}
    )
    assert max_token_lifetime(cfg) == 7 * 86400
    store = store_for(cfg)
    assert store.directory == Path(tmp_path / "k")
    assert store.alg == "ES256" and store.max_token_lifetime == 7 * 86400
    short = parse_config({"rooms": {"a": {"session_seconds": 600}}}, env={})
    assert max_token_lifetime(short) == 86400
