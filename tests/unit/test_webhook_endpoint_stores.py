"""Webhook endpoints and their signing secrets on the in-process emulator (DynamoDB, Secrets Manager,
KMS): what the adapters write, that every read is strongly consistent and scoped by merchant, that a
save is conditioned on the version, that the secrets are encrypted with the data key and rotate with a
day's overlap, and that no secret reaches a table (not even the `Idempotency-Key` record)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from payments.adapters.dynamodb_webhook_endpoints import DynamoDBWebhookEndpoints
from payments.adapters.secretsmanager_webhook_secrets import SecretsManagerWebhookSecrets
from payments.domain.errors import ConcurrentUpdate, InvalidState, NotFound
from payments.domain.merchant_webhooks import SECRET_PREFIX
from payments.domain.webhook_endpoints import MAX_ENDPOINTS_PER_MERCHANT, DisabledReason, WebhookEndpoint
from payments.functions import create_webhook_endpoint, http, rotate_webhook_secret

TABLE = "webhook-endpoints-test"
IDEMPOTENCY_TABLE = "payments-idempotency-test"
PREFIX = "payments/webhook-secret-test/"
DATA_KEY = "alias/payments-data-test"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class Recording:
    """The client, with every call made through it (name and arguments)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method) or name == "exceptions":
            return method

        def call(**arguments: Any) -> Any:
            self.calls.append((name, arguments))
            return method(**arguments)

        return call


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", **CREDENTIALS)
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "merchantId", "KeyType": "HASH"},
                {"AttributeName": "webhookEndpointId", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "merchantId", "AttributeType": "S"},
                {"AttributeName": "webhookEndpointId", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.create_table(
            TableName=IDEMPOTENCY_TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        kms = boto3.client("kms", **CREDENTIALS)
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=DATA_KEY, TargetKeyId=key)
        yield


@pytest.fixture
def dynamodb(aws: None) -> Recording:
    return Recording(boto3.client("dynamodb", **CREDENTIALS))


@pytest.fixture
def secretsmanager(aws: None) -> Recording:
    return Recording(boto3.client("secretsmanager", **CREDENTIALS))


@pytest.fixture
def endpoints(dynamodb: Recording) -> DynamoDBWebhookEndpoints:
    return DynamoDBWebhookEndpoints(dynamodb, table=TABLE)  # type: ignore[arg-type]


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def secrets(secretsmanager: Recording, ticks: Ticks) -> SecretsManagerWebhookSecrets:
    return SecretsManagerWebhookSecrets(secretsmanager, prefix=PREFIX, kms_key=DATA_KEY, clock=ticks)


def endpoint(number: int = 1, merchant_id: str = "mer_a", **fields: Any) -> WebhookEndpoint:
    made = NOW + timedelta(seconds=number)
    defaults: dict[str, Any] = {"events": None, "enabled": True, "created_at": made, "updated_at": made}
    return WebhookEndpoint(
        webhook_endpoint_id=f"we_{number:026d}",
        merchant_id=merchant_id,
        url=f"https://hooks.example.com/{number}",
        **{**defaults, **fields},
    )


# -- endpoints ----------------------------------------------------------------------------------------


def test_an_endpoint_reads_back_as_written_every_field_set(endpoints: DynamoDBWebhookEndpoints) -> None:
    full = endpoint(
        events=("payment.captured", "checkout.failed"),
        enabled=False,
        disabled_reason=DisabledReason.GONE,
        failing_since=NOW,
    )
    endpoints.add(full)
    endpoints.add(endpoint(2))
    assert endpoints.get("mer_a", full.webhook_endpoint_id) == full
    assert endpoints.get("mer_a", "we_00000000000000000000000002") == endpoint(2)


def test_the_item_holds_the_endpoint_and_nothing_else(
    endpoints: DynamoDBWebhookEndpoints, dynamodb: Recording
) -> None:
    endpoints.add(endpoint(events=("payment.voided",)))
    (item,) = dynamodb.scan(TableName=TABLE)["Items"]
    assert item == {
        "merchantId": {"S": "mer_a"},
        "webhookEndpointId": {"S": "we_00000000000000000000000001"},
        "url": {"S": "https://hooks.example.com/1"},
        "events": {"L": [{"S": "payment.voided"}]},
        "enabled": {"BOOL": True},
        "createdAt": {"S": "2026-03-02T09:00:01.000Z"},
        "updatedAt": {"S": "2026-03-02T09:00:01.000Z"},
        "version": {"N": "1"},
    }


def test_a_merchant_reads_its_own_endpoints_only_oldest_first(endpoints: DynamoDBWebhookEndpoints) -> None:
    for number in (3, 1, 2):
        endpoints.add(endpoint(number))
    endpoints.add(endpoint(4, merchant_id="mer_b"))
    assert [found.webhook_endpoint_id[-1] for found in endpoints.list("mer_a")] == ["1", "2", "3"]
    assert endpoints.list("mer_c") == []
    with pytest.raises(NotFound, match="no webhook endpoint we_00000000000000000000000004"):
        endpoints.get("mer_a", "we_00000000000000000000000004")


def test_every_read_is_strongly_consistent(endpoints: DynamoDBWebhookEndpoints, dynamodb: Recording) -> None:
    endpoints.add(endpoint())
    endpoints.get("mer_a", endpoint().webhook_endpoint_id)
    endpoints.list("mer_a")
    reads = [(name, arguments) for name, arguments in dynamodb.calls if name in {"get_item", "query"}]
    assert len(reads) == 3  # the add's count, the get, the list
    assert all(arguments["ConsistentRead"] is True for _, arguments in reads)


def test_a_save_is_written_only_over_the_version_it_read(endpoints: DynamoDBWebhookEndpoints) -> None:
    endpoints.add(endpoint())
    read = endpoints.get("mer_a", endpoint().webhook_endpoint_id)
    saved = endpoints.save(read.failed_once(NOW))
    assert saved.version == 2
    assert endpoints.get("mer_a", read.webhook_endpoint_id) == saved
    with pytest.raises(ConcurrentUpdate):
        endpoints.save(read.disabled(DisabledReason.BY_MERCHANT, NOW))  # still at version 1
    assert endpoints.get("mer_a", read.webhook_endpoint_id) == saved
    endpoints.delete("mer_a", read.webhook_endpoint_id)
    with pytest.raises(NotFound):
        endpoints.save(saved)


def test_another_merchant_can_neither_save_nor_delete_an_endpoint(
    endpoints: DynamoDBWebhookEndpoints,
) -> None:
    mine = endpoint()
    endpoints.add(mine)
    with pytest.raises(NotFound):
        endpoints.save(replace(mine, merchant_id="mer_b", url="https://evil.example.com/"))
    with pytest.raises(NotFound):
        endpoints.delete("mer_b", mine.webhook_endpoint_id)
    assert endpoints.get("mer_a", mine.webhook_endpoint_id) == mine
    endpoints.delete("mer_a", mine.webhook_endpoint_id)
    with pytest.raises(NotFound):
        endpoints.delete("mer_a", mine.webhook_endpoint_id)


def test_a_merchant_has_at_most_so_many_endpoints(endpoints: DynamoDBWebhookEndpoints) -> None:
    for number in range(MAX_ENDPOINTS_PER_MERCHANT):
        endpoints.add(endpoint(number))
    with pytest.raises(InvalidState, match=f"at most {MAX_ENDPOINTS_PER_MERCHANT} webhook endpoints"):
        endpoints.add(endpoint(99))
    endpoints.add(endpoint(99, merchant_id="mer_b"))
    endpoints.delete("mer_a", endpoint(0).webhook_endpoint_id)
    endpoints.add(endpoint(99))
    assert len(endpoints.list("mer_a")) == MAX_ENDPOINTS_PER_MERCHANT


# -- secrets -------------------------------------------------------------------------------------------


def _stored(secretsmanager: Recording, endpoint_id: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(
        secretsmanager.get_secret_value(SecretId=PREFIX + endpoint_id)["SecretString"]
    )
    return value


def test_a_secret_is_its_endpoints_own_and_encrypted_with_the_data_key(
    secrets: SecretsManagerWebhookSecrets, secretsmanager: Recording
) -> None:
    secret = secrets.create("we_1")
    assert secret.startswith(SECRET_PREFIX)
    assert secrets.create("we_2") != secret
    described = secretsmanager.describe_secret(SecretId=f"{PREFIX}we_1")
    assert described["Name"] == "payments/webhook-secret-test/we_1"
    assert described["KmsKeyId"] == DATA_KEY
    assert _stored(secretsmanager, "we_1") == {"current": secret}
    assert secrets.signing("we_1", NOW) == [secret]


def test_a_function_without_the_data_key_creates_no_secret(secretsmanager: Recording) -> None:
    readers = SecretsManagerWebhookSecrets(secretsmanager, prefix=PREFIX, kms_key=None)
    with pytest.raises(RuntimeError, match="DATA_KEY"):
        readers.create("we_1")
    assert secretsmanager.list_secrets()["SecretList"] == []


def test_a_rotated_secret_signs_beside_the_new_one_for_a_day(
    secrets: SecretsManagerWebhookSecrets, secretsmanager: Recording
) -> None:
    first = secrets.create("we_1")
    second = secrets.rotate("we_1", NOW)
    assert secrets.signing("we_1", NOW + timedelta(hours=23, minutes=59)) == [second, first]
    assert secrets.signing("we_1", NOW + timedelta(hours=24)) == [second]
    assert _stored(secretsmanager, "we_1") == {
        "current": second,
        "previous": first,
        "previousUntil": "2026-03-03T09:00:00.000Z",
    }
    third = secrets.rotate("we_1", NOW + timedelta(hours=1))
    assert secrets.signing("we_1", NOW + timedelta(hours=2)) == [third, second]  # the first is gone


def test_signing_reads_each_endpoint_once_a_minute_and_sees_a_rotation_within_it(
    secretsmanager: Recording, ticks: Ticks
) -> None:
    # Given an endpoint whose secret the delivery worker has read once ...
    maker = SecretsManagerWebhookSecrets(secretsmanager, prefix=PREFIX, kms_key=DATA_KEY)
    first = maker.create("we_1")
    worker = SecretsManagerWebhookSecrets(secretsmanager, prefix=PREFIX, kms_key=None, clock=ticks)
    assert worker.signing("we_1", NOW) == [first]
    # ... when the route (another container) rotates it
    second = maker.rotate("we_1", NOW)
    secretsmanager.calls.clear()
    # then the worker signs from its copy for up to a minute, one read after it
    ticks.now += 59
    assert worker.signing("we_1", NOW) == [first]
    ticks.now += 1
    assert worker.signing("we_1", NOW) == [second, first]
    assert worker.signing("we_1", NOW) == [second, first]
    assert [name for name, _ in secretsmanager.calls] == ["get_secret_value"]


def test_a_deleted_secret_is_gone_at_once(
    secrets: SecretsManagerWebhookSecrets, secretsmanager: Recording
) -> None:
    secrets.create("we_1")
    assert secrets.signing("we_1", NOW)
    secrets.delete("we_1")
    with pytest.raises(NotFound, match="no signing secret for we_1"):
        secrets.signing("we_1", NOW)  # not even from this instance's copy
    assert secretsmanager.list_secrets()["SecretList"] == []  # no recovery window
    secrets.delete("we_1")  # twice: nothing to do
    with pytest.raises(NotFound):
        secrets.rotate("we_1", NOW)


# -- no secret in a table --------------------------------------------------------------------------------


class Context:
    function_name = "payments-create-webhook-endpoint-test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def _answer(handler: Any, path: str, body: Any, key: str) -> tuple[int, dict[str, str], Any]:
    event = {
        "routeKey": f"POST {path}",
        "rawPath": path,
        "requestContext": {"authorizer": {"lambda": {"scope": "merchant", "merchantId": "mer_a"}}},
        "headers": {"content-type": "application/json", "idempotency-key": key},
        "pathParameters": {"webhookEndpointId": path.split("/")[3]} if path.count("/") > 2 else None,
        "body": None if body is None else json.dumps(body),
    }
    response = handler(event, Context())
    return response["statusCode"], response["headers"], json.loads(response["body"])


def test_a_replay_answers_the_secret_that_signs_now_and_no_table_holds_one(
    endpoints: DynamoDBWebhookEndpoints,
    secrets: SecretsManagerWebhookSecrets,
    dynamodb: Recording,
) -> None:
    requests = http.IdempotentRequests(
        table_name=IDEMPOTENCY_TABLE, client=dynamodb, expires_after_seconds=600
    )
    create = create_webhook_endpoint.handler.with_dependencies(
        http.Routed(create_webhook_endpoint.Dependencies(endpoints, secrets), requests)
    )
    rotate = rotate_webhook_secret.handler.with_dependencies(
        http.Routed(rotate_webhook_secret.Dependencies(endpoints, secrets), requests)
    )
    body = {"url": "https://hooks.example.com/p"}
    # Given an endpoint made under a key, and its secret rotated under another
    status, _, made = _answer(create, "/v1/webhook-endpoints", body, "make-1")
    assert status == 201
    path = f"/v1/webhook-endpoints/{made['webhookEndpointId']}/rotate-secret"
    status, _, rotated = _answer(rotate, path, None, "rotate-1")
    assert status == 200
    assert rotated["secret"] not in (made["secret"], None)
    # When both are sent again with their keys
    status, headers, replayed = _answer(create, "/v1/webhook-endpoints", body, "make-1")
    _, rotate_headers, rotated_again = _answer(rotate, path, None, "rotate-1")
    # Then nothing is made or rotated again, and each answers the secret that signs now
    assert (status, headers["idempotent-replayed"], rotate_headers["idempotent-replayed"]) == (
        201,
        "true",
        "true",
    )
    assert replayed == {**made, "secret": rotated["secret"]}
    assert rotated_again == rotated
    assert len(endpoints.list("mer_a")) == 1
    assert secrets.signing(made["webhookEndpointId"], datetime.now(UTC)) == [
        rotated["secret"],
        made["secret"],
    ]
    # And neither table holds a secret
    kept = json.dumps(
        [dynamodb.scan(TableName=table)["Items"] for table in (TABLE, IDEMPOTENCY_TABLE)], sort_keys=True
    )
    assert kept.count('"COMPLETED"') == 2  # the two answers are kept ...
    assert SECRET_PREFIX not in kept  # ... without a secret
    assert made["secret"].removeprefix(SECRET_PREFIX) not in kept


def test_a_replay_after_the_endpoint_was_deleted_is_not_found(
    endpoints: DynamoDBWebhookEndpoints, secrets: SecretsManagerWebhookSecrets, dynamodb: Recording
) -> None:
    requests = http.IdempotentRequests(
        table_name=IDEMPOTENCY_TABLE, client=dynamodb, expires_after_seconds=600
    )
    create = create_webhook_endpoint.handler.with_dependencies(
        http.Routed(create_webhook_endpoint.Dependencies(endpoints, secrets), requests)
    )
    body = {"url": "https://hooks.example.com/p"}
    _, _, made = _answer(create, "/v1/webhook-endpoints", body, "make-1")
    endpoints.delete("mer_a", made["webhookEndpointId"])
    secrets.delete(made["webhookEndpointId"])
    status, _, answer = _answer(create, "/v1/webhook-endpoints", body, "make-1")
    assert (status, answer["error"]["code"]) == (404, "not_found")
    assert endpoints.list("mer_a") == []


def test_an_id_no_endpoint_can_have_is_not_found_without_a_read(
    endpoints: DynamoDBWebhookEndpoints, dynamodb: Recording
) -> None:
    for odd in ("we_short", "pi_01JHMR6K20V5R1X5AM5BNPXYCM", "we_" + "0" * 2000):
        with pytest.raises(NotFound, match="no webhook endpoint"):
            endpoints.get("mer_a", odd)
        with pytest.raises(NotFound):
            endpoints.delete("mer_a", odd)
    assert dynamodb.calls == []
