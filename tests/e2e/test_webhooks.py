"""Gateway webhooks end to end: signed disputes over HTTP against `payments local up`."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from payments.domain import webhooks
from tests.e2e.conftest import Api

SECRET = "whsec_local_sandbox"  # the contract's local default


def send(api: Api, body: dict[str, Any], *, secret: str = SECRET, at: float | None = None) -> Any:
    raw = json.dumps(body).encode()
    signature = webhooks.sign(secret, int(time.time() if at is None else at), raw)
    request = Request(  # noqa: S310 (the local stack)
        f"{api.base_url}/v1/webhooks/gateway",
        data=raw,
        method="POST",
        headers={"content-type": "application/json", "gateway-signature": signature},
    )
    try:
        with urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())


def dispute(
    kind: str, intent_id: str, outcome: str | None = None, event_id: str | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {"paymentIntentId": intent_id, "disputeId": "dp_e2e"}
    if outcome:
        data["outcome"] = outcome
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex}",
        "type": kind,
        "createdAt": "2026-11-24T12:00:00Z",
        "data": data,
    }


def test_a_dispute_opens_and_is_won(api: Api) -> None:
    intent_id = api.captured(3_000)
    assert send(api, dispute("dispute.created", intent_id)) == (200, {"received": True, "result": "applied"})
    assert api.get_intent(intent_id).body["status"] == "DISPUTED"
    assert send(api, dispute("dispute.closed", intent_id, "won"))[0] == 200
    assert api.get_intent(intent_id).body["status"] == "CAPTURED"


def test_a_lost_dispute_returns_the_funds(api: Api) -> None:
    intent_id = api.captured(3_000)
    send(api, dispute("dispute.created", intent_id))
    assert send(api, dispute("dispute.closed", intent_id, "lost"))[0] == 200
    intent = api.get_intent(intent_id).body
    assert (intent["status"], intent["amountRefunded"]) == ("REFUNDED", 3_000)


def test_a_replayed_event_is_a_no_op(api: Api) -> None:
    intent_id = api.captured(3_000)
    body = dispute("dispute.created", intent_id)
    assert send(api, body)[1]["result"] == "applied"
    version = api.get_intent(intent_id).body["version"]
    assert send(api, body) == (200, {"received": True, "result": "replayed"})
    assert api.get_intent(intent_id).body["version"] == version


def test_bad_or_stale_signatures_change_nothing(api: Api) -> None:
    intent_id = api.captured(3_000)
    for reply in (
        send(api, dispute("dispute.created", intent_id), secret="whsec_not_the_right_one"),
        send(api, dispute("dispute.created", intent_id), at=time.time() - 301),
    ):
        assert (reply[0], reply[1]["error"]["code"]) == (401, "invalid_signature")
    unsigned = api.request("POST", "/v1/webhooks/gateway", dispute("dispute.created", intent_id))
    assert (unsigned.status, unsigned.body["error"]["code"]) == (401, "invalid_signature")
    assert api.get_intent(intent_id).body["status"] == "CAPTURED"


def test_a_close_delivered_before_its_open_is_retried_into_place(api: Api) -> None:
    intent_id = api.captured(3_000)
    close = dispute("dispute.closed", intent_id, "won")
    assert send(api, close)[0] == 409  # the gateway retries a refused delivery
    assert send(api, dispute("dispute.created", intent_id))[0] == 200
    assert send(api, close)[0] == 200
    assert api.get_intent(intent_id).body["status"] == "CAPTURED"


def test_the_dispute_is_an_event_with_its_tier(api: Api) -> None:
    intent_id = api.captured(3_000)
    send(api, dispute("dispute.created", intent_id))
    deadline = time.monotonic() + 15
    types: list[str] = []
    while "DISPUTED" not in types and time.monotonic() < deadline:
        types = [
            e["eventType"] for e in api.request("GET", f"/v1/events?paymentIntentId={intent_id}").body["data"]
        ]
        time.sleep(0.1)
    assert types == ["AUTHORIZED", "CAPTURED", "DISPUTED"]


def test_other_event_types_are_acknowledged_and_ignored(api: Api) -> None:
    reply = send(api, {"id": "evt_other", "type": "charge.updated", "createdAt": "x", "data": {}})
    assert reply == (200, {"received": True, "result": "ignored"})
