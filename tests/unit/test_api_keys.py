"""Merchant API keys: random, shown once, kept as a hash, read from a Bearer header."""

from __future__ import annotations

import pytest

from payments.domain.api_keys import bearer_secret, key_hash, key_id, new_secret


def test_a_new_key_names_its_stage_and_is_never_the_same_twice() -> None:
    keys = {new_secret("live") for _ in range(100)}
    assert len(keys) == 100
    assert all(key.startswith("sk_live_") and len(key) == len("sk_live_") + 32 for key in keys)


@pytest.mark.parametrize("stage", ["", "Live", "prod-eu", "x" * 17])
def test_a_stage_is_a_short_lower_case_word(stage: str) -> None:
    with pytest.raises(ValueError, match="stage"):
        new_secret(stage)


def test_only_a_hash_and_an_id_are_kept() -> None:
    secret = "sk_live_abcdefghijklmnopqrstuvwxyz012345"
    assert key_hash(secret) == key_hash(secret)
    assert len(key_hash(secret)) == 64
    assert secret not in key_hash(secret)
    assert key_id(secret) == "sk_live_…2345"


@pytest.mark.parametrize(
    ("header", "secret"),
    [
        ("Bearer sk_live_abc", "sk_live_abc"),
        ("  Bearer sk_live_abc  ", "sk_live_abc"),
        ("bearer sk_live_abc", None),
        ("Basic c2tfbGl2ZQ==", None),
        ("Bearer pk_live_abc", None),
        ("Bearer sk_live abc", None),
        ("Bearer " + "sk_" + "a" * 200, None),
        ("", None),
        (None, None),
    ],
)
def test_the_key_is_read_from_a_bearer_header_only(header: str | None, secret: str | None) -> None:
    assert bearer_secret(header) == secret
