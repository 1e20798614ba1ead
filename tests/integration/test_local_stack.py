"""Everything template.yaml declares exists in the emulator, as declared."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import urllib3

from payments.local.cfn_yaml import load_template
from payments.local.runtime import LocalStack


def _client(stack: LocalStack, service: str) -> Any:
    return boto3.client(service, endpoint_url=stack.emulator.endpoint)


def test_every_template_resource_was_created(local_stack: LocalStack) -> None:
    resources = load_template(local_stack.template_path)["Resources"]
    # Alerts go to the local chat sink (OpsWebhookUrl) and no OpsAlertEmail is given: no e-mail
    # subscription, every other resource as declared.
    emailed = {
        logical_id
        for logical_id, resource in resources.items()
        if resource.get("Condition") in {"OpsAlertEmailGiven", "CustomerSuccessByEmail"}
    }
    assert emailed == {
        "OpsAlertsEmailSubscription",
        "DisputesEmailSubscription",
        "CustomerSuccessEmailSubscription",
    }
    assert set(local_stack.deployed.resources) == set(resources) - emailed


def test_tables_match_their_declaration(local_stack: LocalStack) -> None:
    dynamodb = _client(local_stack, "dynamodb")
    transactions = dynamodb.describe_table(TableName="transactions-local")["Table"]
    assert transactions["KeySchema"] == [{"AttributeName": "transactionId", "KeyType": "HASH"}]
    assert transactions["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert [index["IndexName"] for index in transactions["GlobalSecondaryIndexes"]] == ["by-customer"]
    ttl = dynamodb.describe_time_to_live(TableName="payments-idempotency-local")["TimeToLiveDescription"]
    assert (ttl["AttributeName"], ttl["TimeToLiveStatus"]) == ("expiration", "ENABLED")


def test_functions_carry_the_template_settings(local_stack: LocalStack) -> None:
    lambda_client = _client(local_stack, "lambda")
    authorize = lambda_client.get_function(FunctionName="payments-authorize-local")
    config = authorize["Configuration"]
    assert (config["Runtime"], config["MemorySize"], config["Timeout"]) == ("python3.12", 512, 10)
    assert config["Architectures"] == ["arm64"]
    assert authorize["Concurrency"]["ReservedConcurrentExecutions"] == 100
    fraud_alias = "arn:aws:lambda:us-east-1:123456789012:function:payments-fraud-check-local:live"
    assert config["Environment"]["Variables"]["FRAUD_FUNCTION_NAME"] == fraud_alias
    # Every function has its `live` alias (the one version a local start publishes), as in AWS.
    alias = lambda_client.get_alias(FunctionName="payments-authorize-local", Name="live")
    assert alias["FunctionVersion"] == "1"
    # One role per function, each with its own inline policy.
    roles = {f["Role"] for f in lambda_client.list_functions()["Functions"]}
    assert len(roles) == len(local_stack.deployed.functions)


def test_log_groups_have_retention(local_stack: LocalStack) -> None:
    groups = _client(local_stack, "logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]
    assert {g["logGroupName"] for g in groups} >= {"/aws/lambda/payments-authorize-local"}
    assert all(g.get("retentionInDays") == 30 for g in groups)


def test_routes_are_registered_in_the_emulator(local_stack: LocalStack) -> None:
    apis = _client(local_stack, "apigatewayv2")
    [api] = apis.get_apis()["Items"]
    keys = {route["RouteKey"] for route in apis.get_routes(ApiId=api["ApiId"])["Items"]}
    assert keys == {route.route_key for route in local_stack.deployed.routes}


def _chaos(stack: LocalStack, method: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    encoded = None if body is None else json.dumps(body).encode()
    response = urllib3.request(method, f"{stack.api_url}/_local/chaos", body=encoded, retries=False)
    return response.status, json.loads(response.data)


def test_chaos_takes_the_gateway_down_at_the_outage_rate(local_stack: LocalStack) -> None:
    # A rate outside 0..1 (or not a number) is refused, and nothing is turned on.
    for rate in (1.5, -1, "often"):
        status, answer = _chaos(local_stack, "POST", {"seed": 3, "gatewayOutageRate": rate})
        assert status == 400
        assert answer["error"]["code"] == "invalid_request"
    assert _chaos(local_stack, "GET")[1]["gatewayOutageRate"] == 0
    try:
        # Outages at every draw: the gateway goes down within a draw or two.
        status, answer = _chaos(local_stack, "POST", {"seed": 3, "gatewayOutageRate": 1})
        assert (status, answer["gatewayOutageRate"]) == (200, 1)
        deadline = time.monotonic() + 3
        while not local_stack.gateway.is_down:
            assert time.monotonic() < deadline, "no outage"
            time.sleep(0.02)
    finally:
        status, answer = _chaos(local_stack, "DELETE")
    # Turned off, the gateway is up and the outages are counted.
    assert status == 200
    assert not local_stack.gateway.is_down
    assert answer["gatewayOutageRate"] == 0
    assert answer["gatewayOutages"]["outages"] >= 1
    assert answer["gatewayOutages"]["secondsDown"] > 0
    assert "faultsRefused" in answer["gateway"]
    assert urllib3.request("GET", f"{local_stack.gateway.url}/healthz", retries=False).status == 200
