"""The real handlers, invoked as Lambda invokes them, against the emulator and the sandbox gateway."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from payments.local.frontdoor import CompiledRoute, build_event
from payments.local.runtime import LocalStack


def _call(
    stack: LocalStack,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = None,
    source_ip: str = "198.51.100.20",
) -> tuple[int, Any, dict[str, str]]:
    for route in stack.deployed.routes:
        parameters = CompiledRoute(route).match(method, path)
        if parameters is not None:
            break
    else:
        raise AssertionError(f"no route for {method} {path}")
    headers = {"content-type": "application/json"}
    if key:
        headers["idempotency-key"] = key
    event = build_event(
        route=route,
        method=method,
        raw_path=path,
        raw_query="",
        headers=headers,
        body=b"" if body is None else json.dumps(body).encode(),
        path_parameters=parameters,
        source_ip=source_ip,
        api_id="test",
    )
    event["requestContext"]["authorizer"] = {"lambda": {"scope": "platform", "keyId": "sk_test_…0000"}}
    result = stack.invoker.invoke(route.function_name, event)
    assert not result.error, result.payload
    response = result.payload
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def _create(stack: LocalStack, **fields: Any) -> dict[str, Any]:
    body = {
        "amount": 700,
        "currency": "JPY",
        "customerId": f"cus_{uuid.uuid4().hex[:10]}",
        "merchantId": "mer_1",
        "paymentMethod": "pm_card_visa",
        **fields,
    }
    status, intent, _ = _call(stack, "POST", "/v1/payment-intents", body, key=str(uuid.uuid4()))
    assert status == 201, intent
    return dict(intent)


# The local event sources keep polling the stream and the queues meanwhile: not the function's calls.
BACKGROUND_POLLING = frozenset(
    {"dynamodb GetRecords", "dynamodb GetShardIterator", "dynamodb DescribeStream", "sqs ReceiveMessage"}
)


def test_authorize_counts_five_aws_calls_in_its_own_function(local_stack: LocalStack) -> None:
    # Given a pending intent
    intent = _create(local_stack)
    before = local_stack.emulator.calls.snapshot()
    # When it is authorized with an idempotency key
    status, body, _ = _call(
        local_stack,
        "POST",
        f"/v1/payment-intents/{intent['paymentIntentId']}/authorize",
        key=str(uuid.uuid4()),
    )
    assert (status, body["status"]) == (200, "AUTHORIZED")
    after = local_stack.emulator.calls.snapshot()
    delta = {
        op: after[op] - before.get(op, 0)
        for op in after
        if after[op] != before.get(op, 0) and op not in BACKGROUND_POLLING
    }
    # Then the emulator saw: idempotency lock + complete, one strong read, one fraud invoke,
    # one atomic write, and the fraud function's velocity counter: the customer's alone, since the
    # request names no ipAddress and the caller's own address is never taken as the customer's.
    assert delta == {
        "dynamodb PutItem:payments-idempotency-local": 1,
        "dynamodb UpdateItem:payments-idempotency-local": 1,
        "dynamodb GetItem:payment-intents-local": 1,
        "lambda Invoke:arn:aws:lambda:us-east-1:123456789012:function:payments-fraud-check-local:live": 1,
        "dynamodb TransactWriteItems": 1,
        "dynamodb UpdateItem:fraud-velocity-local": 1,
    }


def test_velocity_over_the_limit_steps_up(local_stack: LocalStack) -> None:
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    statuses = []
    for _ in range(11):
        intent = _create(local_stack, customerId=customer, amount=100)
        status, _, _ = _call(
            local_stack, "POST", f"/v1/payment-intents/{intent['paymentIntentId']}/authorize"
        )
        statuses.append(status)
    # The default limit is 10 attempts an hour per customer; the eleventh needs 3-D Secure.
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 402


def test_a_rejected_create_leaves_no_idempotency_record(local_stack: LocalStack, dynamodb: Any) -> None:
    table = local_stack.deployed.resources["IdempotencyTable"]
    before = dynamodb.scan(TableName=table, Select="COUNT")["Count"]
    status, body, _ = _call(local_stack, "POST", "/v1/payment-intents", {"amount": 1.5}, key="k-rejected")
    assert (status, body["error"]["code"]) == (400, "invalid_request")
    assert dynamodb.scan(TableName=table, Select="COUNT")["Count"] == before


def test_replayed_create_is_marked_and_identical(local_stack: LocalStack) -> None:
    key = str(uuid.uuid4())
    body = {
        "amount": 5,
        "currency": "USD",
        "customerId": "cus_r",
        "merchantId": "m",
        "paymentMethod": "pm_card_visa",
    }
    first = _call(local_stack, "POST", "/v1/payment-intents", body, key=key)
    again = _call(local_stack, "POST", "/v1/payment-intents", body, key=key)
    assert (again[0], again[1]) == (first[0], first[1])
    assert again[2].get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first[2]


@pytest.mark.parametrize("key", ["x" * 256, "tab\there"])
def test_bad_idempotency_keys_are_refused(local_stack: LocalStack, key: str) -> None:
    body = {
        "amount": 5,
        "currency": "USD",
        "customerId": "c",
        "merchantId": "m",
        "paymentMethod": "pm_card_visa",
    }
    status, answer, _ = _call(local_stack, "POST", "/v1/payment-intents", body, key=key)
    assert (status, answer["error"]["code"]) == (400, "invalid_request")


def test_an_expired_idempotency_record_is_not_replayed_even_before_ttl_removes_it(
    local_stack: LocalStack, dynamodb: Any
) -> None:
    # Given a create with a key, whose record has outlived its 24 h (the table's TTL has not run)
    table = local_stack.deployed.resources["IdempotencyTable"]
    key = str(uuid.uuid4())
    body = {
        "amount": 5,
        "currency": "USD",
        "customerId": "cus_t",
        "merchantId": "m",
        "paymentMethod": "pm_card_visa",
    }
    first = _call(local_stack, "POST", "/v1/payment-intents", body, key=key)
    created_id = first[1]["paymentIntentId"]
    [record] = [
        item
        for item in dynamodb.scan(TableName=table)["Items"]
        if created_id in item.get("data", {}).get("S", "")
    ]
    assert record["status"]["S"] == "COMPLETED"
    dynamodb.update_item(
        TableName=table,
        Key={"id": record["id"]},
        UpdateExpression="SET expiration = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )
    # When the same key comes again, Then the request runs again instead of replaying
    again = _call(local_stack, "POST", "/v1/payment-intents", body, key=key)
    assert again[0] == 201
    assert again[1]["paymentIntentId"] != first[1]["paymentIntentId"]
    assert "idempotent-replayed" not in again[2]
