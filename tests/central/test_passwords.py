"""argon2id hashes of central users (argon2-cffi)."""

from __future__ import annotations

from argon2 import PasswordHasher

from race_control.accounts import check_verifier
from race_control.central.passwords import hash_password, needs_rehash, verify_password


def test_hashes_are_argon2id_and_only_the_password_matches() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert stored != hash_password("correct horse battery")  # salted
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batter")
    assert not verify_password("not a hash", "correct horse battery")
    assert not verify_password("$argon2id$v=19$m=65536,t=3,p=4$broken", "correct horse battery")
    assert not needs_rehash(stored)
    assert check_verifier("correct horse battery", stored)  # the local login accepts a cached one


def test_a_hash_with_weaker_parameters_verifies_but_needs_a_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("correct horse battery")
    assert verify_password(weak, "correct horse battery")
    assert needs_rehash(weak)
    assert needs_rehash("not a hash")
