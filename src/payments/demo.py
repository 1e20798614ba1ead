"""`payments demo`: approve, decline, step-up and fraud-block payments through a running stack.

The 3-D Secure payment is walked to the end: the synchronous authorize answers 402
`authentication_required`, so the demo pays it through the checkout workflow, answers the challenge as
the customer would, and shows the final status. A key the stack refuses (401, 403) is one line, not a
traceback: the demo cannot do anything without one.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from payments.local.api_key import authorization

SCENARIOS = (
    ("an approved card, captured automatically", "pm_card_visa", "automatic"),
    ("an approved card, authorized only", "pm_card_mastercard", "manual"),
    ("a declined card", "pm_card_declined", "manual"),
    ("insufficient funds", "pm_card_insufficient_funds", "manual"),
    ("an issuer that demands 3-D Secure", "pm_card_3ds_required", "manual"),
    ("a payment the fraud check blocks", "pm_card_risk_highest", "manual"),
)
CHECKOUT_WAIT_SECONDS = 30.0


class KeyRefused(Exception):
    """API Gateway answered 401 or 403 (its own answer, with no error code of ours): the API key is
    missing, unknown or revoked."""


def call(api: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    request = Request(  # noqa: S310 (the URL is the operator's own local API)
        f"{api.rstrip('/')}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "content-type": "application/json",
            "idempotency-key": str(uuid.uuid4()),
            **authorization(),  # PAYMENTS_API_KEY, or the local stack's sandbox key
        },
    )
    try:
        with urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except HTTPError as error:
        return error.code, error_answer(error.code, error.read())


def error_answer(status: int, raw: bytes) -> Any:
    """An error's body, read; KeyRefused for API Gateway's own 401 or 403 (no error code of ours)."""
    try:
        answer = json.loads(raw or b"null")
    except ValueError:  # not the API's JSON (a proxy's page): shown as text
        answer = raw.decode(errors="replace")
    if status in (401, 403) and not (isinstance(answer, dict) and "error" in answer):
        raise KeyRefused(str(status))
    return answer


Call = Callable[..., tuple[int, Any]]


def run_demo(api: str, *, call: Call = call, poll_seconds: float = 0.2) -> int:
    try:
        call(api, "GET", "/healthz")
    except URLError as error:
        print(f"cannot reach {api} ({error.reason}): start the stack with `make run` first", file=sys.stderr)
        return 1
    try:
        return _walk(api, call, poll_seconds)
    except KeyRefused as refused:
        print(
            f"the stack refused the API key ({refused}): set PAYMENTS_API_KEY to a key it knows"
            " (`payments local up` prints the local one)",
            file=sys.stderr,
        )
        return 1


def _walk(api: str, call: Call, poll_seconds: float) -> int:
    customer = f"cus_demo_{uuid.uuid4().hex[:8]}"
    for title, method, capture in SCENARIOS:
        print(f"\n== {title} ({method})")
        status, intent = call(
            api,
            "POST",
            "/v1/payment-intents",
            {
                "amount": 4999,
                "currency": "USD",
                "customerId": customer,
                "merchantId": "mer_demo",
                "paymentMethod": method,
                "captureMethod": capture,
            },
        )
        if status != 201:
            print(f"  create    -> {status} {_problem(intent)}")
            continue
        intent_id = intent["paymentIntentId"]
        print(f"  create    -> {status} {intent_id} {intent['status']}")
        status, result = call(api, "POST", f"/v1/payment-intents/{intent_id}/authorize")
        if status == 200:
            print(f"  authorize -> {status} {result['status']} transaction {result.get('transactionId')}")
        else:
            print(f"  authorize -> {status} {_problem(result)}")
            if status == 402 and result["error"]["code"] == "authentication_required":
                _step_up(api, call, intent_id, poll_seconds)
        _, final = call(api, "GET", f"/v1/payment-intents/{intent_id}")
        print(f"  now       -> {final['status']}")
    status, listing = call(api, "GET", f"/v1/customers/{customer}/payment-intents")
    print(f"\n{customer} has {len(listing['data'])} payment intents (newest first).")
    return 0


def _problem(answer: Any) -> str:
    """An error answer in one line: its code, the decline code if any, its message."""
    problem = (answer or {}).get("error", {}) if isinstance(answer, dict) else {}
    extra = f" ({problem['declineCode']})" if "declineCode" in problem else ""
    return f"{problem.get('code', 'error')}{extra}: {problem.get('message', answer)}"


def _step_up(api: str, call: Call, intent_id: str, poll_seconds: float) -> None:
    """What the customer's browser does: the checkout asks for the 3-D Secure challenge, the customer
    passes it, the checkout authorizes."""
    status, started = call(api, "POST", "/v1/checkouts", {"paymentIntentId": intent_id})
    if status != 202:
        print(f"  checkout  -> {status} {_problem(started)}")
        return
    tracking_id = started["trackingId"]
    print(f"  checkout  -> {status} {tracking_id} {started['status']}")
    view = _wait(api, call, tracking_id, {"ACTION_REQUIRED", "SUCCEEDED", "FAILED"}, poll_seconds)
    if view["status"] != "ACTION_REQUIRED":
        print(f"  checkout  -> {_outcome(view)}")
        return
    print(f"  checkout  -> ACTION_REQUIRED ({view['nextAction']['type']}): the customer is challenged")
    status, answer = call(api, "POST", f"/v1/checkouts/{tracking_id}/challenge", {"outcome": "passed"})
    print(
        f"  challenge -> {status} passed" if status == 202 else f"  challenge -> {status} {_problem(answer)}"
    )
    print(f"  checkout  -> {_outcome(_wait(api, call, tracking_id, {'SUCCEEDED', 'FAILED'}, poll_seconds))}")


def _wait(api: str, call: Call, tracking_id: str, statuses: set[str], poll_seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + CHECKOUT_WAIT_SECONDS
    while True:
        _, view = call(api, "GET", f"/v1/checkouts/{tracking_id}")
        if view["status"] in statuses or time.monotonic() >= deadline:
            return dict(view)
        time.sleep(poll_seconds)


def _outcome(view: dict[str, Any]) -> str:
    error = view.get("error")
    why = f" ({error['code']}: {error['message']})" if error else ""
    return f"{view['status']}, payment {view['paymentStatus']}{why}"
