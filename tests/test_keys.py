"""The signing-key store: states, refusals, files on disk, rotation seen by other workers,
and one set of next/active/retired keys per algorithm."""

from __future__ import annotations

import dataclasses
import stat
import threading
import time
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from oidc_adapter.config import ConfigError, parse_config
from oidc_adapter.keys import (
    GRACE_SECONDS,
    KeyStore,
    KeyStoreError,
    algorithms_in_use,
    max_token_lifetime,
    store_for,
)
from oidc_adapter.keys.manifest import dumps, loads

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


def states(store: KeyStore, alg: str | None = None) -> dict[str, str]:
    return {k.kid: k.state for k in store.keys() if alg in (None, k.alg)}


def kid_in(store: KeyStore, state: str, alg: str | None = None) -> str:
    (kid,) = [k for k, s in states(store, alg).items() if s == state]
    return kid


def sign(store: KeyStore, claims: dict | None = None, alg: str | None = None) -> str:
    kid, alg, key = store.signing_key(alg)
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


@pytest.mark.parametrize("algs", [("RS256",), ("ES256", "RS256")])
def test_concurrent_first_start_creates_one_active_key_per_algorithm(make_store, algs):
    """Several workers booting together on an empty directory."""
    stores = [make_store(algs=algs) for _ in range(4)]
    threads = [threading.Thread(target=s.ensure) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for alg in algs:
        assert sorted(states(make_store(), alg).values()) == ["active", "next"]
        assert len({s.signing_key(alg)[0] for s in stores}) == 1
    assert {k.alg for k in make_store().keys()} == set(algs)


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

    (new_active,) = store.rotate()

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

    (new_active,) = worker_a.rotate()

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


def test_emergency_rotation_without_a_next_key(make_store):
    store = make_store()
    store.ensure()
    store.retire(kid_in(store, "next"))
    (promoted,) = store.rotate()
    assert promoted.created_at == promoted.activated_at  # it never was published before
    assert sorted(states(store).values()) == ["active", "next", "retired"]


# -- one set of keys per algorithm ---------------------------------------------


def test_ensure_gives_every_algorithm_in_use_an_active_and_a_next_key(make_store):
    store = make_store(algs=["ES256"])
    assert store.algs == ("ES256", "RS256")
    assert store.missing_algs() == ["ES256", "RS256"]
    store.ensure()
    assert store.missing_algs() == []
    for alg in ("RS256", "ES256"):
        assert sorted(states(store, alg).values()) == ["active", "next"]
        kid, signed_alg, _ = store.signing_key(alg)
        assert (kid, signed_alg) == (kid_in(store, "active", alg), alg)
    # The default algorithm is the store's own (the config's signing_alg).
    assert store.signing_key() == store.signing_key("RS256")
    # Every key of every algorithm is published, and tokens of both verify.
    published = {(k["kid"], k["alg"], k["kty"]) for k in store.public_jwks()["keys"]}
    assert published == {
        (k.kid, k.alg, {"RS256": "RSA", "ES256": "EC"}[k.alg]) for k in store.keys()
    }
    for alg in ("RS256", "ES256"):
        assert verify_with_jwks(store, sign(store, {"sub": alg}, alg))["sub"] == alg


def test_an_algorithm_not_in_use_has_no_key_and_says_how_to_get_one(make_store):
    store = make_store()
    store.ensure()
    assert store.algs == ("RS256",) and store.missing_algs() == []
    with pytest.raises(KeyStoreError, match=r"no active signing key for ES256.*--alg ES256"):
        store.signing_key("ES256")
    with pytest.raises(KeyStoreError, match=r"no active ES256 key .*generate --alg ES256"):
        store.rotate("ES256")


def test_existing_single_key_store_gains_a_new_algorithm_at_start(make_store, tmp_path):
    """An RS256-only store from before per-algorithm keys, and a config that now
    has an ES256 client: the server's ensure() adds ES256 keys, touching no RS256 key."""
    make_store().ensure()
    manifest = tmp_path / "keys" / "keys.json"
    rsa_before = manifest.read_bytes()
    running_worker = make_store(reload_interval=0)
    rsa_kid = running_worker.signing_key()[0]

    upgraded = make_store(algs=["ES256"])
    assert upgraded.missing_algs() == ["ES256"]
    upgraded.ensure()

    assert states(upgraded, "RS256") == {k.kid: k.state for k in loads(rsa_before)}
    assert sorted(states(upgraded, "ES256").values()) == ["active", "next"]
    assert running_worker.signing_key()[0] == rsa_kid
    assert running_worker.signing_key("ES256")[0] == kid_in(upgraded, "active", "ES256")


def test_ensure_promotes_a_prepublished_next_key_of_a_new_algorithm(make_store, tmp_path):
    """A store whose ES256 key was only published (the old `keys generate --alg
    ES256` before a switch): that key, which RPs may have cached, starts signing."""
    store = make_store()
    store.ensure()
    store.generate(alg="ES256")
    manifest = tmp_path / "keys" / "keys.json"
    kept = [k for k in loads(manifest.read_bytes()) if (k.alg, k.state) != ("ES256", "active")]
    manifest.write_bytes(dumps(kept))
    prepublished = kid_in(make_store(), "next", "ES256")

    make_store(algs=["ES256"]).ensure()

    after = make_store()
    assert kid_in(after, "active", "ES256") == prepublished
    assert kid_in(after, "next", "ES256") != prepublished


def test_rotating_one_algorithm_leaves_the_others_alone(make_store, clock):
    store = make_store(algs=["ES256"])
    store.ensure()
    rsa = states(store, "RS256")
    es_active, es_next = kid_in(store, "active", "ES256"), kid_in(store, "next", "ES256")
    clock.now += 100

    (promoted,) = store.rotate("ES256")

    assert (promoted.kid, promoted.alg) == (es_next, "ES256")
    assert states(store, "RS256") == rsa
    assert states(store, "ES256")[es_active] == "retired"
    assert store.signing_key("ES256")[0] == es_next
    assert store.signing_key("RS256")[0] == kid_in(store, "active", "RS256")


def test_rotate_without_alg_rotates_every_algorithm_in_one_step(make_store):
    store = make_store(algs=["ES256"])
    store.ensure()
    nexts = {alg: kid_in(store, "next", alg) for alg in ("ES256", "RS256")}
    actives = {alg: kid_in(store, "active", alg) for alg in ("ES256", "RS256")}

    promoted = store.rotate()

    assert {info.alg: info.kid for info in promoted} == nexts
    for alg in ("ES256", "RS256"):
        assert states(store, alg)[actives[alg]] == "retired"
        assert sorted(states(store, alg).values()) == ["active", "next", "retired"]


def test_retire_refuses_the_active_key_of_any_algorithm(make_store):
    store = make_store(algs=["ES256"])
    store.ensure()
    es_active = kid_in(store, "active", "ES256")
    with pytest.raises(KeyStoreError, match="active signing key for ES256.*rotate --alg ES256"):
        store.retire(es_active, force=True)
    assert store.signing_key("ES256")[0] == es_active


def test_manifest_allows_one_active_key_per_algorithm(make_store, tmp_path):
    store = make_store(algs=["ES256"])
    store.ensure()
    records = store.keys()
    assert loads(dumps(records)) == [dataclasses.replace(r, published_until=None) for r in records]
    two_rsa = [dataclasses.replace(r, state="active") if r.alg == "RS256" else r for r in records]
    with pytest.raises(KeyStoreError, match="more than one active key of one algorithm"):
        loads(dumps(two_rsa))


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
    assert store.algs == ("ES256", "RS256")  # RS256 always: discovery promises it
    short = parse_config({"rooms": {"a": {"session_seconds": 600}}}, env={})
    assert max_token_lifetime(short) == 86400
    assert algorithms_in_use(short) == ("RS256",)


def test_algorithms_in_use_follow_the_clients(tmp_path):
    def clients(*algs: str) -> dict:
        return {
            f"c{i}": {
                "secret": "s" * 16,
                "redirect_uris": ["https://rp.example.com/cb"],
                "room": "a",
                **({"id_token_signed_response_alg": alg} if alg else {}),
            }
            for i, alg in enumerate(algs)
        }

    def algs(**cfg) -> tuple[str, ...]:
        return algorithms_in_use(parse_config({"rooms": {"a": {}}, **cfg}, env={}))

    assert algs(clients=clients("")) == ("RS256",)
    assert algs(clients=clients("", "ES256")) == ("ES256", "RS256")
    assert algs(clients=clients("ES256"), signing_alg="ES256") == ("ES256", "RS256")
    assert algs(signing_alg="ES256") == ("ES256", "RS256")
    with pytest.raises(ConfigError) as caught:
        algs(clients=clients("HS256"))
    assert caught.value.problems == [
        ("clients.c0.id_token_signed_response_alg", "must be RS256 or ES256")
    ]
