"""The checkout workflow end to end, over HTTP, against `payments local up` (the ASL as deployed)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.request import Request, urlopen

import pytest

from tests.e2e.conftest import STEP_UP_TIMEOUT_SECONDS, Api, RunningStack, net

SETTLED = {"SUCCEEDED", "FAILED"}


def start(api: Api, method: str = "pm_card_visa", **fields: Any) -> tuple[str, str]:
    intent = api.create_intent(paymentMethod=method, receiptEmail="ana@example.com", **fields).body
    reply = api.request("POST", "/v1/checkouts", {"paymentIntentId": intent["paymentIntentId"]})
    assert reply.status == 202, reply.body
    assert reply.body["status"] == "RUNNING"
    return reply.body["trackingId"], intent["paymentIntentId"]


def wait_for(api: Api, tracking_id: str, statuses: set[str], timeout: float = 40) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = api.request("GET", f"/v1/checkouts/{tracking_id}").body
        if view["status"] in statuses:
            return dict(view)
        time.sleep(0.1)
    raise AssertionError(f"checkout {tracking_id} never reached {statuses}: {view}")


def outcome(view: dict[str, Any]) -> tuple[str, str, str | None]:
    """(status, paymentStatus, error code): what a failing assertion shows whole."""
    return view["status"], view["paymentStatus"], view.get("error", {}).get("code")


@pytest.fixture(scope="module")
def events_queue(stack: RunningStack) -> str:
    return stack.listen(":payment-events-local")


def events_for(stack: RunningStack, queue_url: str, payment_intent_id: str) -> list[dict[str, Any]]:
    found = []
    sqs = stack.aws("sqs")
    for _ in range(10):
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        batch = messages.get("Messages", [])
        if not batch:
            break
        for message in batch:
            envelope = json.loads(message["Body"])
            if payment_intent_id in envelope["Message"]:
                found.append(envelope)
    return found


def audit_record(stack: RunningStack, tracking_id: str) -> dict[str, Any]:
    """The checkout's audit record in the audit bucket, checked to be encrypted with the data key."""
    s3 = stack.aws("s3")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "auditbucket" in b["Name"])
    [key] = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix="audit/")["Contents"]
        if tracking_id in o["Key"]
    ]
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    return dict(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


@pytest.fixture
def no_faults(api: Api) -> Iterator[None]:
    yield
    api.request("DELETE", "/_local/faults")


def test_happy_path_authorizes_publishes_sends_the_receipt_and_keeps_the_audit(
    api: Api, stack: RunningStack, events_queue: str
) -> None:
    tracking_id, intent_id = start(api, amount=125_000, currency="MXN", locale="es-MX")
    view = wait_for(api, tracking_id, SETTLED)
    assert (view["status"], view["paymentStatus"]) == ("SUCCEEDED", "AUTHORIZED")
    assert "error" not in view

    # The AUTHORIZED event left on payment-events with its filterable attributes: announced by the
    # workflow and by the transactions stream as one event (one eventId) for subscribers to dedupe
    deadline = time.monotonic() + 10
    messages: list[dict[str, Any]] = []
    while len(messages) < 2 and time.monotonic() < deadline:
        messages += events_for(stack, events_queue, intent_id)
        time.sleep(0.1)
    assert messages
    attributes = [{name: value["Value"] for name, value in m["MessageAttributes"].items()} for m in messages]
    assert {(a["eventType"], a["amountTier"]) for a in attributes} == {("AUTHORIZED", "HIGH")}
    assert len({a["eventId"] for a in attributes}) == 1
    assert json.loads(messages[0]["Message"])["eventId"].startswith("txn_")
    # ... with one body, so every subscriber (the ledger, fraud feedback) reads either the same way
    assert len(messages) == 2
    assert len({json.dumps(json.loads(m["Message"]), sort_keys=True) for m in messages}) == 1

    # The receipt went out in the intent's locale, rendered
    emails = [e for e in api.request("GET", "/_local/emails").body["data"] if intent_id in e["text"]]
    assert len(emails) == 1
    assert emails[0]["to"] == ["ana@example.com"]
    assert (emails[0]["template"], emails[0]["locale"]) == ("receipt-v3", "es-MX")
    assert emails[0]["subject"] == "Su recibo por $1,250.00"  # MXN in es-MX: "$", CLDR grouping
    assert api.get_intent(intent_id).body["receiptStatus"] == "SENT"

    # The audit record holds the execution history, encrypted with the data key, without the
    # receipt's address: the payment is proved by its ids, amount and outcome
    audit = audit_record(stack, tracking_id)
    assert audit["trackingId"] == tracking_id
    assert any(e["type"] == "ExecutionStarted" for e in audit["events"])
    [validated] = [
        json.loads(e["stateExitedEventDetails"]["output"])["intent"]
        for e in audit["events"]
        if e.get("stateExitedEventDetails", {}).get("name") == "ValidateIntent"
    ]
    assert (validated["email"], validated["amount"], validated["currency"]) == ("[redacted]", 125_000, "MXN")
    assert "ana@example.com" not in json.dumps(audit)

    # The hold is on the books once: the checkout's ledger branch and the AUTHORIZED event name one entry
    entries = api.ledger(intent_id, kinds=["AUTHORIZED"])
    assert entries[0]["entryId"] == api.get_intent(intent_id).body["transactionId"]
    assert net(entries) == {
        ("authorizations_pending", "MXN"): 125_000,
        ("customer_authorizations", "MXN"): -125_000,
    }


def test_starting_twice_runs_one_execution(api: Api, stack: RunningStack) -> None:
    intent = api.create_intent().body
    first = api.request("POST", "/v1/checkouts", {"paymentIntentId": intent["paymentIntentId"]})
    second = api.request("POST", "/v1/checkouts", {"paymentIntentId": intent["paymentIntentId"]})
    assert first.body["trackingId"] == second.body["trackingId"]
    wait_for(api, first.body["trackingId"], SETTLED)
    sfn = stack.aws("stepfunctions")
    [machine] = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert [e["name"] for e in executions].count(first.body["trackingId"]) == 1


def test_card_decline_fails_cleanly_and_the_ledger_nets_to_zero(api: Api, stack: RunningStack) -> None:
    tracking_id, intent_id = start(api, "pm_card_declined")
    view = wait_for(api, tracking_id, SETTLED)
    assert (view["status"], view["paymentStatus"]) == ("FAILED", "DECLINED")
    assert view["error"]["code"] == "card_declined"
    api.wait_for_event(intent_id, "DECLINED")
    api.quiet()
    # A hold the ledger branch posted ahead of the decline is reversed; none may be left behind
    assert sorted(entry["kind"] for entry in api.ledger(intent_id)) in (
        [],
        ["AUTHORIZED", "AUTHORIZED_REVERSED"],
    )
    assert net(api.ledger(intent_id)) == {}


def test_fraud_block_declines_without_calling_the_gateway(api: Api, stack: RunningStack) -> None:
    before = stack.gateway_stats()["authorizations"]
    tracking_id, intent_id = start(api, "pm_card_risk_highest")
    view = wait_for(api, tracking_id, SETTLED)
    assert outcome(view) == ("FAILED", "DECLINED", "fraud_suspected"), view
    assert stack.gateway_stats()["authorizations"] == before
    assert api.ledger(intent_id) == []


@pytest.mark.parametrize("method", ["pm_card_risk_elevated", "pm_card_3ds_required"])
def test_step_up_passed_authorizes(api: Api, method: str) -> None:
    tracking_id, _ = start(api, method)
    view = wait_for(api, tracking_id, {"ACTION_REQUIRED", *SETTLED})
    assert view["status"] == "ACTION_REQUIRED"
    assert view["nextAction"] == {"type": "three_d_secure"}
    assert view["paymentStatus"] == "PENDING"
    reply = api.request("POST", f"/v1/checkouts/{tracking_id}/challenge", {"outcome": "passed"})
    assert reply.status == 202
    again = api.request("POST", f"/v1/checkouts/{tracking_id}/challenge", {"outcome": "passed"})
    assert (again.status, again.body["error"]["code"]) == (409, "invalid_state")
    view = wait_for(api, tracking_id, SETTLED)
    assert (view["status"], view["paymentStatus"]) == ("SUCCEEDED", "AUTHORIZED")


def test_step_up_failed_declines(api: Api) -> None:
    tracking_id, _ = start(api, "pm_card_risk_elevated")
    wait_for(api, tracking_id, {"ACTION_REQUIRED"})
    assert api.request("POST", f"/v1/checkouts/{tracking_id}/challenge", {"outcome": "failed"}).status == 202
    view = wait_for(api, tracking_id, SETTLED)
    assert (view["status"], view["paymentStatus"], view["error"]["code"]) == (
        "FAILED",
        "DECLINED",
        "authentication_failed",
    )


def test_step_up_timeout_fails_cleanly(api: Api) -> None:
    tracking_id, _ = start(api, "pm_card_risk_elevated")
    wait_for(api, tracking_id, {"ACTION_REQUIRED"})
    view = wait_for(api, tracking_id, SETTLED, timeout=STEP_UP_TIMEOUT_SECONDS + 30)
    assert (view["status"], view["error"]["code"], view["paymentStatus"]) == (
        "FAILED",
        "authentication_timed_out",
        "DECLINED",
    ), view  # the whole view (the error's message names the state's error) if it fails
    late = api.request("POST", f"/v1/checkouts/{tracking_id}/challenge", {"outcome": "passed"})
    assert late.status == 409


def test_a_challenge_nobody_asked_for_is_refused(api: Api) -> None:
    tracking_id, _ = start(api)
    wait_for(api, tracking_id, SETTLED)
    reply = api.request("POST", f"/v1/checkouts/{tracking_id}/challenge", {"outcome": "passed"})
    assert (reply.status, reply.body["error"]["code"]) == (409, "invalid_state")
    assert api.request("POST", "/v1/checkouts/chk_nope/challenge", {"outcome": "passed"}).status == 404
    assert api.request("POST", f"/v1/checkouts/{tracking_id}/challenge", {"outcome": "maybe"}).status == 400


def test_flaky_gateway_is_recovered_by_the_workflows_retries(api: Api, stack: RunningStack) -> None:
    tracking_id, _ = start(api, "pm_card_gateway_flaky")
    view = wait_for(api, tracking_id, SETTLED)
    assert (view["status"], view["paymentStatus"]) == ("SUCCEEDED", "AUTHORIZED")

    # The audit keeps each failed attempt as its error type and message: no stack trace, no path
    audit = audit_record(stack, tracking_id)
    failed = [
        details
        for e in audit["events"]
        for name, details in e.items()
        if name.endswith("FailedEventDetails") and details.get("error") == "UpstreamUnavailable"
    ]
    assert failed
    assert all(set(json.loads(d["cause"])) == {"errorType", "errorMessage"} for d in failed)
    text = json.dumps(audit)
    assert "stackTrace" not in text
    assert "Traceback" not in text
    assert ".py" not in text


def test_gateway_down_fails_compensates_and_alerts_ops(api: Api, stack: RunningStack) -> None:
    tracking_id, intent_id = start(api, "pm_card_gateway_down")
    view = wait_for(api, tracking_id, SETTLED)
    assert (view["status"], view["error"]["code"], view["paymentStatus"]) == (
        "FAILED",
        "upstream_unavailable",
        "DECLINED",
    )
    api.wait_for_event(intent_id, "DECLINED")
    api.quiet()
    assert net(api.ledger(intent_id)) == {}
    alerts = [
        n for n in api.request("GET", "/_local/notifications").body["data"] if intent_id in json.dumps(n)
    ]
    assert len(alerts) == 1


def lose_gateway_answers(stack: RunningStack, calls: int) -> None:
    """The gateway does the next `calls` money-moving calls and loses their answers (502)."""
    body = json.dumps({"requests": calls, "kind": "lost"}).encode()
    request = Request(f"{stack.gateway_url}/_sandbox/outage", data=body, method="POST")  # noqa: S310
    with urlopen(request, timeout=10):  # noqa: S310
        pass


def gateway_authorizations(stack: RunningStack, intent_id: str) -> list[dict[str, Any]]:
    with urlopen(f"{stack.gateway_url}/v1/authorizations?reference={intent_id}", timeout=10) as found:  # noqa: S310
        return list(json.loads(found.read())["data"])


def test_an_approval_whose_answers_were_all_lost_is_found_and_voided(api: Api, stack: RunningStack) -> None:
    # Given the gateway approves the authorization but every answer to it is lost (3 attempts a try,
    # 3 tries), and the first void's answers too
    intent_id = api.create_intent(receiptEmail="ana@example.com").body["paymentIntentId"]
    lose_gateway_answers(stack, 12)
    reply = api.request("POST", "/v1/checkouts", {"paymentIntentId": intent_id})
    view = wait_for(api, reply.body["trackingId"], SETTLED, timeout=60)
    # Then the checkout fails as the gateway being unreachable, and the hold it never heard of is voided
    assert outcome(view) == ("FAILED", "DECLINED", "upstream_unavailable")
    [authorization] = gateway_authorizations(stack, intent_id)
    assert (authorization["status"], authorization["voided"]) == ("approved", True)
    api.quiet()
    assert net(api.ledger(intent_id)) == {}


def test_a_synchronous_authorize_whose_answers_were_lost_is_approved_once_on_retry(
    api: Api, stack: RunningStack
) -> None:
    intent_id = api.create_intent().body["paymentIntentId"]
    lose_gateway_answers(stack, 3)
    first = api.authorize(intent_id, key=f"{intent_id}-a")
    assert (first.status, first.body["error"]["code"]) == (503, "upstream_unavailable")
    assert api.get_intent(intent_id).body["status"] == "PENDING"
    again = api.authorize(intent_id, key=f"{intent_id}-a")
    assert (again.status, again.body["status"]) == (200, "AUTHORIZED")
    [authorization] = gateway_authorizations(stack, intent_id)  # the first approval, not a second
    assert (authorization["status"], authorization["voided"]) == ("approved", False)


@pytest.mark.parametrize("capture_method", ["manual", "automatic"])
def test_ledger_failure_voids_the_authorization_and_alerts_ops(
    api: Api, stack: RunningStack, no_faults: None, capture_method: str
) -> None:
    # Given the ledger write fails on every attempt the workflow makes
    injected = api.request("POST", "/_local/faults", {"function": "CheckoutLedgerFunction", "count": 3})
    assert injected.status == 200
    before = stack.gateway_stats()["voids"]
    tracking_id, intent_id = start(api, captureMethod=capture_method)
    view = wait_for(api, tracking_id, SETTLED)
    # Then the checkout fails, the gateway authorization was voided, and the ledger nets to zero
    assert view["status"] == "FAILED"
    assert view["paymentStatus"] == "VOIDED"
    assert stack.gateway_stats()["voids"] == before + 1
    # The AUTHORIZED event posted the hold the failed branch could not, and the VOIDED event released it
    assert net(api.ledger(intent_id, kinds=["AUTHORIZED", "VOIDED"])) == {}
    [alert] = [
        n for n in api.request("GET", "/_local/notifications").body["data"] if intent_id in json.dumps(n)
    ]
    assert "authorizationVoided" in json.dumps(alert)


def test_unknown_and_finished_intents_are_refused(api: Api) -> None:
    reply = api.request("POST", "/v1/checkouts", {"paymentIntentId": "pi_00000000000000000000000000"})
    assert (reply.status, reply.body["error"]["code"]) == (404, "not_found")
    intent = api.create_intent().body
    assert api.authorize(intent["paymentIntentId"]).status == 200
    reply = api.request("POST", "/v1/checkouts", {"paymentIntentId": intent["paymentIntentId"]})
    assert (reply.status, reply.body["error"]["code"]) == (409, "invalid_state")
    assert api.request("GET", "/v1/checkouts/chk_unknown").status == 404


def test_fault_injection_validates_its_input(api: Api) -> None:
    assert api.request("POST", "/_local/faults", {"function": "NoSuchFunction", "count": 1}).status == 400
    assert (
        api.request("POST", "/_local/faults", {"function": "CheckoutLedgerFunction", "count": 0}).status
        == 400
    )
    assert api.request("GET", "/_local/faults").body == {"faults": {}}
