"""Merchant API keys on the emulator: the table keeps hashes only, the authorizer (invoked as API
Gateway invokes it) accepts an active key and refuses an unknown or revoked one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from payments.adapters.dynamodb_api_keys import DynamoDBApiKeys
from payments.domain.api_keys import key_hash, key_id, new_secret
from payments.local.api_key import local_api_key
from payments.local.runtime import LocalStack

pytestmark = pytest.mark.enable_socket
NOW = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.fixture
def keys(dynamodb: Any, table_names: dict[str, str]) -> DynamoDBApiKeys:
    return DynamoDBApiKeys(dynamodb, table=table_names["ApiKeysTable"])


def authorize(stack: LocalStack, header: str | None) -> dict[str, Any]:
    headers = {} if header is None else {"authorization": header}
    result = stack.invoker.invoke("payments-api-authorizer-local", {"type": "REQUEST", "headers": headers})
    assert not result.error, result.payload
    return dict(result.payload)


def test_a_key_is_kept_as_its_hash_and_works_until_revoked(
    local_stack: LocalStack, keys: DynamoDBApiKeys, dynamodb: Any, table_names: dict[str, str]
) -> None:
    secret = new_secret("local")
    made = keys.add(secret, merchant_id="mer_keys", now=NOW)
    stored = dynamodb.get_item(
        TableName=table_names["ApiKeysTable"], Key={"keyHash": {"S": key_hash(secret)}}
    )
    assert secret not in json.dumps(stored["Item"])
    assert authorize(local_stack, f"Bearer {secret}") == {
        "isAuthorized": True,
        "context": {"scope": "merchant", "merchantId": "mer_keys", "keyId": made.key_id},
    }
    assert keys.revoke(key_id(secret), now=NOW) == 1
    assert authorize(local_stack, f"Bearer {secret}") == {"isAuthorized": False}


def test_unknown_or_malformed_keys_are_refused(local_stack: LocalStack) -> None:
    for header in (None, "", "Bearer sk_local_nobody", f"Basic {local_api_key()}", local_api_key()):
        assert authorize(local_stack, header) == {"isAuthorized": False}, header


def test_the_local_stack_made_its_documented_key_a_platform_key(local_stack: LocalStack) -> None:
    answer = authorize(local_stack, f"Bearer {local_api_key()}")
    assert answer["isAuthorized"] is True
    assert answer["context"]["scope"] == "platform"
    assert "merchantId" not in answer["context"]


def test_a_platform_key_names_no_merchant(local_stack: LocalStack, keys: DynamoDBApiKeys) -> None:
    secret = new_secret("local")
    made = keys.add(secret, merchant_id=None, now=NOW)
    assert made.is_platform
    assert authorize(local_stack, f"Bearer {secret}") == {
        "isAuthorized": True,
        "context": {"scope": "platform", "keyId": made.key_id},
    }


def test_a_stored_key_with_no_scope_is_its_merchants(
    local_stack: LocalStack, keys: DynamoDBApiKeys, dynamodb: Any, table_names: dict[str, str]
) -> None:
    # Given a key stored before keys had a scope (a merchant's, as every key was then)
    secret = new_secret("local")
    dynamodb.put_item(
        TableName=table_names["ApiKeysTable"],
        Item={
            "keyHash": {"S": key_hash(secret)},
            "keyId": {"S": key_id(secret)},
            "merchantId": {"S": "mer_before"},
            "status": {"S": "ACTIVE"},
        },
    )
    # Then it still acts for that merchant alone, never as a platform key
    assert authorize(local_stack, f"Bearer {secret}")["context"] == {
        "scope": "merchant",
        "merchantId": "mer_before",
        "keyId": key_id(secret),
    }


def test_a_key_is_never_overwritten(keys: DynamoDBApiKeys) -> None:
    secret = new_secret("local")
    keys.add(secret, merchant_id="mer_a", now=NOW)
    with pytest.raises(Exception, match="ConditionalCheckFailed"):
        keys.add(secret, merchant_id="mer_b", now=NOW)
    assert keys.revoke(secret, now=NOW) == 1  # by the key itself, too
