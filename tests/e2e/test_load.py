"""A short load run in `make test`: 20 concurrent clients, each taking payments through their life
(create, authorize, capture part, refund part, read) for a few seconds, against the same stack. Every
answer must be the contract's; nothing is timed (bench/load.py measures, for 60 s).

What it catches: answers that break under concurrency (a refused connection, a 5xx, a lost update, a
status that goes wrong when requests interleave)."""

from __future__ import annotations

import threading
import time
import uuid

from tests.e2e.conftest import Api

CLIENTS = 20
SECONDS = 8.0


def _one_payment(api: Api, number: int) -> list[str]:
    """One payment's life; the problems seen (none, when everything answers as the contract says)."""
    created = api.create_intent(amount=4_000, customerId=f"cus_load_{number}_{uuid.uuid4().hex[:8]}")
    if created.status != 201:
        return [f"create: {created.status} {created.body}"]
    intent_id = created.body["paymentIntentId"]
    steps = [
        ("authorize", api.authorize(intent_id), 200, "AUTHORIZED"),
        (
            "capture",
            api.request("POST", f"/v1/payment-intents/{intent_id}/capture", {"amount": 3_000}),
            200,
            "CAPTURED",
        ),
        (
            "refund",
            api.request("POST", "/v1/refunds", {"paymentIntentId": intent_id, "amount": 1_000}),
            201,
            None,
        ),
        ("read", api.get_intent(intent_id), 200, "PARTIALLY_REFUNDED"),
    ]
    problems = []
    for name, reply, status, intent_status in steps:
        if reply.status != status or (intent_status and reply.body.get("status") != intent_status):
            problems.append(f"{name} {intent_id}: {reply.status} {reply.body}")
            break
    if not problems:
        final = api.get_intent(intent_id).body
        if (final["amountCaptured"], final["amountRefunded"]) != (3_000, 1_000):
            problems.append(f"amounts {intent_id}: {final}")
    return problems


def test_twenty_concurrent_clients_get_only_the_contracts_answers(api: Api) -> None:
    until = time.monotonic() + SECONDS
    problems: list[str] = []
    payments = [0] * CLIENTS
    lock = threading.Lock()

    def client(number: int) -> None:
        while time.monotonic() < until:
            try:
                found = _one_payment(api, number)
            except OSError as error:  # a refused or reset connection is a failure too
                found = [repr(error)]
            with lock:
                problems.extend(found)
                payments[number] += not found

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    assert all(done > 0 for done in payments), payments  # every client got through, none starved
