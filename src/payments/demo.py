"""`payments demo`: approve, decline, step-up and fraud-block payments through a running stack."""

from __future__ import annotations

import json
import sys
import uuid
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
        return error.code, json.loads(error.read() or b"null")


def run_demo(api: str) -> int:
    try:
        call(api, "GET", "/healthz")
    except URLError as error:
        print(f"cannot reach {api} ({error.reason}): start the stack with `make run` first", file=sys.stderr)
        return 1
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
        print(f"  create    -> {status} {intent['paymentIntentId']} {intent['status']}")
        status, result = call(api, "POST", f"/v1/payment-intents/{intent['paymentIntentId']}/authorize")
        if status == 200:
            print(f"  authorize -> {status} {result['status']} transaction {result.get('transactionId')}")
        else:
            problem = result["error"]
            extra = f" ({problem['declineCode']})" if "declineCode" in problem else ""
            print(f"  authorize -> {status} {problem['code']}{extra}: {problem['message']}")
        _, final = call(api, "GET", f"/v1/payment-intents/{intent['paymentIntentId']}")
        print(f"  now       -> {final['status']}")
    status, listing = call(api, "GET", f"/v1/customers/{customer}/payment-intents")
    print(f"\n{customer} has {len(listing['data'])} payment intents (newest first).")
    return 0
