"""A seeded fault campaign against a running local stack, and the invariants checked after it.

The workload is drawn from the seed: each payment's currency, amount, test card, path (the checkout
workflow or the synchronous authorize), and what follows (capture in full or in part, void, refunds one
by one or in a bulk file). Clients behave as the contract asks: every POST keeps its Idempotency-Key
across retries, and a 5xx, a reset connection or a retryable 409 (`idempotency_in_progress`,
`concurrent_update`) is retried.

Meanwhile the stack injects faults (`/_local/chaos`): gateway calls failing at the given rate (refused,
timed out, or done with the answer lost), functions crashing at random points, and every asynchronous
message delivered twice or out of order. Thread interleaving is not replayed; the workload and each
fault generator's draws are.

With two processors (`two_processors`, a stack started with `--processor stripe`), the merchant's
rules send its payments to the sandbox first and to Stripe (localstripe) where the sandbox provably
never received the request, and the sandbox also goes down now and then (its port refuses
connections: `gatewayOutageRate`). Every payment is then read back at both processors: at most one
authorization of it was approved anywhere (no double authorization), and every approved one of a
payment that did not end captured was voided.

With merchant webhooks (`webhooks`), two endpoints of the merchant, registered through the API before
the run, point at a receiver of the caller's (bench/webhook_receiver.py: it verifies each delivery with
the official Standard Webhooks library, and one endpoint refuses about 30 % of them, at most 3 times an
event) and want every payment event type. The stack must run with `WEBHOOK_STACK_PARAMETERS`: six
attempts a second apart, and a crashed fan-out or attempt back in seconds. Once every delivery is
settled, `webhook_violations` must find: every event of every campaign payment (`GET /v1/events`, and
each movement on its books) accepted by each endpoint, signed; one body per webhook-id, the event's
own, and no movement under two ids; nothing received or logged that is no campaign payment's event; no
delivery pending, and none failed unless the receiver refused every one of its attempts (the cap makes
that impossible here, so any failed delivery is the stack's).

Afterwards, with the faults off and the stack quiet, every payment must hold:
- a terminal status (captured, refunded, voided or declined: nothing pending or authorized);
- at the gateway (both processors, with two): no hold left open unless the payment is authorized (none
  is), at most one capture, and exactly the captured and refunded amounts the payment records (no
  double charge or refund);
- in the ledger: the payment's entries net to its captured minus refunded amount, holds released;
- what the client was told: each acknowledged capture and refund is in the books, no more;
and for the stack: every currency's balances sum to zero, no queue or dead-letter queue holds a
message, no asynchronous invocation or stream record is in flight, every bulk file is settled.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import quote, urlsplit

from payments.local.api_key import authorization

TERMINAL: Final = frozenset({"CAPTURED", "PARTIALLY_REFUNDED", "REFUNDED", "VOIDED", "DECLINED"})
RETRIED_STATUSES: Final = frozenset({500, 502, 503, 504})
RETRIED_CONFLICTS: Final = frozenset({"idempotency_in_progress", "concurrent_update"})
STEP_DEADLINE_SECONDS: Final = 90.0
CHECKOUT_DEADLINE_SECONDS: Final = 180.0
CURRENCIES: Final = ("USD", "USD", "USD", "EUR", "GBP")
# (test card, weight): mostly approvals, and every other outcome the sandbox has.
CARDS: Final = (
    ("pm_card_visa", 50),
    ("pm_card_mastercard", 18),
    ("pm_card_declined", 7),
    ("pm_card_insufficient_funds", 5),
    ("pm_card_gateway_flaky", 6),
    ("pm_card_risk_highest", 4),
    ("pm_card_3ds_required", 5),
    ("pm_card_risk_elevated", 5),
)
STEP_UP_CARDS: Final = frozenset({"pm_card_3ds_required", "pm_card_risk_elevated"})
# The one test card both processors know (localstripe knows three, none the sandbox's declines).
TWO_PROCESSOR_CARDS: Final = (("pm_card_visa", 1),)
MERCHANT: Final = "mer_chaos"
# The local stack's Stripe key (`payments local up --processor stripe`), to read Stripe back.
LOCAL_STRIPE_KEY: Final = "sk_test_payments_local"
# Merchant webhooks: six attempts a second apart (more than the 3 refusals an event can meet), and a
# message whose fan-out or attempt crashed back in 5 s rather than AWS's 180 (launch parameters).
WEBHOOK_RETRY_SCHEDULE: Final = "1,1,1,1,1"
WEBHOOK_ATTEMPTS: Final = WEBHOOK_RETRY_SCHEDULE.count(",") + 2
WEBHOOK_STACK_PARAMETERS: Final = {
    "WebhookRetrySchedule": WEBHOOK_RETRY_SCHEDULE,
    "WebhookQueuesVisibilityTimeout": "5",
}
# The types whose every event the campaign can read back (`GET /v1/events`); checkout and bulk-file
# outcomes are not asked for.
WEBHOOK_TYPES: Final = tuple(
    f"payment.{kind}"
    for kind in (
        "authorized",
        "captured",
        "voided",
        "declined",
        "refunded",
        "disputed",
        "dispute_won",
        "dispute_lost",
    )
)
WEBHOOK_SETTLE_SECONDS: Final = 120.0
WEBHOOK_REFUSED: Final = 500  # what the receiver answers a delivery it refuses on purpose


@dataclass(frozen=True, slots=True)
class CampaignSettings:
    seed: int
    payments: int
    gateway_fault_rate: float
    crash_rate: float = 0.02
    async_faults: bool = True
    clients: int = 16
    # The sandbox first, Stripe where the sandbox provably never got the request (see the docstring).
    two_processors: bool = False
    gateway_outage_rate: float = 0.0  # the chance, every 0.5 s, that the sandbox goes down a moment
    # Two endpoints of the merchant get every payment event, one refusing this share of its answers.
    webhooks: bool = False
    webhook_refusal_rate: float = 0.3


@dataclass(frozen=True, slots=True)
class PaymentPlan:
    number: int
    currency: str
    amount: int
    card: str
    checkout: bool  # the workflow, else the synchronous authorize
    automatic_capture: bool
    then: str  # "capture", "capture_part" or "void" once authorized
    refunds: tuple[int, ...]  # per mille of the captured amount, one by one
    bulk_refund: bool  # one refund of half, through the bulk file


def plan_payment(seed: int, number: int, cards: tuple[tuple[str, int], ...] = CARDS) -> PaymentPlan:
    draw = random.Random(f"{seed}:{number}")
    card = draw.choices([card for card, _ in cards], weights=[weight for _, weight in cards])[0]
    checkout = card in STEP_UP_CARDS or draw.random() < 0.7  # a step-up needs the workflow
    then = draw.choices(["capture", "capture_part", "void"], weights=[55, 30, 15])[0]
    refund_kind = draw.choices(["none", "one", "two", "full", "bulk"], weights=[35, 20, 15, 10, 20])[0]
    refunds = {"none": (), "one": (draw.randint(100, 900),), "two": (300, 400), "full": (1000,)}
    return PaymentPlan(
        number=number,
        currency=draw.choice(CURRENCIES),
        amount=draw.randrange(500, 20_000, 5),
        card=card,
        checkout=checkout,
        automatic_capture=not checkout and draw.random() < 0.1,
        then=then,
        refunds=refunds.get(refund_kind, ()),
        bulk_refund=refund_kind == "bulk",
    )


@dataclass
class Told:
    """What the client was told, per payment: the money it may count on."""

    payment_intent_id: str = ""
    captured: int = 0
    refunded: int = 0
    bulk: int = 0  # asked for in the bulk file
    bulk_unknown: bool = False  # the file did not settle every row: the books alone decide
    gave_up: list[str] = field(default_factory=list)


class Client:
    """One keep-alive connection; `call` retries what the contract says is retryable."""

    def __init__(self, base_url: str, statuses: Counter[int], lock: threading.Lock) -> None:
        parts = urlsplit(base_url)
        self._address = (parts.hostname or "127.0.0.1", parts.port)
        self._connection = http.client.HTTPConnection(*self._address, timeout=30)
        self._statuses, self._lock = statuses, lock

    def _once(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, Any]:
        try:
            self._connection.request(method, path, body=body, headers=headers)
            response = self._connection.getresponse()
            return response.status, json.loads(response.read() or b"null")
        except (OSError, http.client.HTTPException, ValueError):
            self._connection.close()
            self._connection = http.client.HTTPConnection(*self._address, timeout=30)
            return 0, None

    def call(
        self, method: str, path: str, body: Any = None, *, raw: bytes | None = None, csv: bool = False
    ) -> tuple[int, Any]:
        headers = {"content-type": "text/csv" if csv else "application/json", **authorization()}
        if method == "POST":
            headers["idempotency-key"] = str(uuid.uuid4())
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        deadline, pause = time.monotonic() + STEP_DEADLINE_SECONDS, 0.05
        while True:
            status, answer = self._once(method, path, data, headers)
            with self._lock:
                self._statuses[status] += 1
            # A 409 the API marks retryable (`retry-after`): the same request is still running, or
            # another one is moving the payment at the processor right now.
            in_progress = status == 409 and _code(answer) in RETRIED_CONFLICTS
            if not (status == 0 or status in RETRIED_STATUSES or in_progress) or time.monotonic() > deadline:
                return status, answer
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


def _depth(queue: dict[str, Any]) -> int:
    return int(queue["visible"]) + int(queue["inFlight"]) + int(queue["delayed"])


def _is_dead_letter_queue(queue: dict[str, Any], queues: list[dict[str, Any]]) -> bool:
    return "dlq" in queue["name"] or any(other["deadLetterTarget"] == queue["name"] for other in queues)


def _code(answer: Any) -> str | None:
    error = answer.get("error") if isinstance(answer, dict) else None
    return error.get("code") if isinstance(error, dict) else None


class Delivered(Protocol):
    """One request a webhook receiver got (bench/webhook_receiver.py's `Received`)."""

    @property
    def endpoint(self) -> str: ...  # the endpoint's name, the path its URL names

    @property
    def webhook_id(self) -> str: ...

    @property
    def body(self) -> bytes: ...

    @property
    def answered(self) -> int: ...

    @property
    def signed(self) -> bool: ...  # verified against the endpoint's secret


class Receiver(Protocol):
    """Where the campaign's webhook endpoints point (bench/webhook_receiver.py's `WebhookReceiver`,
    given by the caller: bench/ is imported as `bench.*` by tests and by bare name by its scripts)."""

    def url(self, endpoint: str) -> str: ...

    def expect(self, endpoint: str, secret: str, *, refusal_rate: float = 0.0) -> None: ...

    def received(self) -> Sequence[Delivered]: ...

    @property
    def quiet_for(self) -> float: ...


@dataclass
class WebhookFigures:
    """What the campaign's webhook endpoints got, and what their delivery logs say."""

    endpoints: int = 0
    events_expected: int = 0  # events of campaign payments: each is due at every endpoint
    received: int = 0  # requests, every attempt and copy
    accepted: int = 0  # answered 2xx
    refused: int = 0  # answered 500 on purpose
    duplicates: int = 0  # accepted again: an event the endpoint had already taken, under its id
    ids_with_two_bodies: int = 0
    movements_under_two_ids: int = 0
    signature_failures: int = 0
    unexpected: int = 0  # ids received or logged that are no campaign payment's event
    missing: int = 0  # (endpoint, event) never accepted
    retried: int = 0  # deliveries the log shows took more than one attempt
    failed_deliveries: int = 0  # the log's `failed`
    exhausted: int = 0  # of those, every attempt refused by the receiver: the endpoint's doing
    seconds_to_settle: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "deliveries_expected": self.events_expected * self.endpoints,
            "seconds_to_settle": round(self.seconds_to_settle, 1),
        }


@dataclass
class CampaignResult:
    settings: CampaignSettings
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    final_statuses: Counter[str] = field(default_factory=Counter)
    injected: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    told: dict[int, Told] = field(default_factory=dict)
    # With two processors: where each payment ended, and how many authorizations were approved for
    # payments at more than one (none may be), and for payments that did not end captured (each voided).
    processors: Counter[str] = field(default_factory=Counter)
    double_authorizations: int = 0
    failed_authorizations: int = 0
    failed_authorizations_voided: int = 0
    webhooks: WebhookFigures = field(default_factory=WebhookFigures)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def figures(self) -> dict[str, Any]:
        counts = self.injected.get("counts", {})
        gateway = self.injected.get("gateway", {})
        return {
            "seed": self.settings.seed,
            "payments": self.settings.payments,
            "gateway_fault_rate": self.settings.gateway_fault_rate,
            "crash_rate": self.settings.crash_rate,
            "seconds": round(self.seconds, 1),
            "requests": self.requests,
            "answers": {str(status): count for status, count in sorted(self.statuses.items())},
            "final_statuses": dict(sorted(self.final_statuses.items())),
            "faults": {
                "gateway_refused": gateway.get("faultsRefused", 0),
                "gateway_timed_out": gateway.get("faultsTimedOut", 0),
                "gateway_answer_lost": gateway.get("faultsLost", 0),
                "crashes_before_a_call": counts.get("crashes_before_send", 0),
                "crashes_after_a_call": counts.get("crashes_after_send", 0),
                "crashes_at_return": counts.get("crashes_at_end", 0),
                "async_duplicated": counts.get("duplicated", 0),
                "async_reordered": counts.get("reordered", 0),
                "invocations": counts.get("invocations", 0),
                "gateway_outages": self.injected.get("gatewayOutages", {}).get("outages", 0),
                "gateway_seconds_down": self.injected.get("gatewayOutages", {}).get("secondsDown", 0),
            },
            **(
                {
                    "processors": dict(sorted(self.processors.items())),
                    "double_authorizations": self.double_authorizations,
                    "failed_authorizations": self.failed_authorizations,
                    "failed_authorizations_voided": self.failed_authorizations_voided,
                }
                if self.settings.two_processors
                else {}
            ),
            **({"webhooks": self.webhooks.as_dict()} if self.settings.webhooks else {}),
            "violations": len(self.violations),
        }


class Campaign:
    def __init__(
        self,
        api: str,
        gateway: str,
        settings: CampaignSettings,
        *,
        stripe: str | None = None,
        receiver: Receiver | None = None,
        on_payment: Callable[[int], None] = lambda _done: None,
        on_webhooks: Callable[[int, int], None] = lambda _settled, _logged: None,
    ) -> None:
        if settings.two_processors and stripe is None:
            raise ValueError("a two-processor campaign needs the stack's Stripe URL (--processor stripe)")
        if settings.webhooks and receiver is None:
            raise ValueError("a webhook campaign needs a started receiver (bench/webhook_receiver.py)")
        self.api, self.gateway, self.settings, self.stripe = api, gateway, settings, stripe
        self.receiver = receiver
        self._at_stripe: dict[str, list[dict[str, Any]]] = {}
        self.result = CampaignResult(settings)
        self._lock = threading.Lock()
        self._on_payment = on_payment
        self._on_webhooks = on_webhooks
        self._done = 0
        self._endpoints: dict[str, str] = {}  # the receiver's name for each -> webhookEndpointId
        self._events: dict[str, dict[str, Any]] = {}  # every campaign payment's events, by eventId

    # -- the run -----------------------------------------------------------------------------------

    def run(self) -> CampaignResult:
        started = time.monotonic()
        control = self._client()
        try:
            if self.settings.webhooks:
                self._add_endpoints(control)
            self._run(control, started)
        finally:
            self._delete_endpoints(control)
        return self.result

    def _run(self, control: Client, started: float) -> None:
        chaos = {
            "seed": self.settings.seed,
            "crashRate": self.settings.crash_rate,
            "asyncFaults": self.settings.async_faults,
            "gatewayFaultRate": self.settings.gateway_fault_rate,
            "gatewayOutageRate": self.settings.gateway_outage_rate,
        }
        status, answer = control.call("POST", "/_local/chaos", chaos)
        if status != 200:
            raise RuntimeError(f"the stack refused the chaos settings: {status} {answer}")
        try:
            with ThreadPoolExecutor(self.settings.clients, thread_name_prefix="campaign") as pool:
                clients = threading.local()

                def one(number: int) -> None:
                    if not hasattr(clients, "client"):
                        clients.client = self._client()
                    cards = TWO_PROCESSOR_CARDS if self.settings.two_processors else CARDS
                    self._pay(clients.client, plan_payment(self.settings.seed, number, cards))

                list(pool.map(one, range(self.settings.payments)))
            self._bulk_refunds(control)
        finally:
            _, self.result.injected = control.call("GET", "/_local/chaos")
            control.call("DELETE", "/_local/chaos")
        self._quiet(control)
        if self.settings.webhooks:
            self._settle_webhooks(control)
        self.result.seconds = time.monotonic() - started
        self._check(control)

    def _client(self) -> Client:
        return Client(self.api, self.result.statuses, self._lock)

    def _pay(self, client: Client, plan: PaymentPlan) -> None:
        told = Told()
        with self._lock:
            self.result.told[plan.number] = told
        try:
            self._pay_steps(client, plan, told)
        finally:
            with self._lock:
                self._done += 1
                done = self._done
            self._on_payment(done)

    def _pay_steps(self, client: Client, plan: PaymentPlan, told: Told) -> None:
        body = {
            "amount": plan.amount,
            "currency": plan.currency,
            "customerId": f"cus_chaos_{self.settings.seed}_{plan.number}",
            "merchantId": MERCHANT,
            "paymentMethod": plan.card,
            "captureMethod": "automatic" if plan.automatic_capture else "manual",
        }
        status, intent = client.call("POST", "/v1/payment-intents", body)
        if status != 201:
            told.gave_up.append(f"create: {status} {intent}")
            return
        told.payment_intent_id = intent_id = intent["paymentIntentId"]
        if plan.checkout:
            self._checkout(client, intent_id, told)
        else:
            status, answer = client.call("POST", f"/v1/payment-intents/{intent_id}/authorize", {})
            if status not in (200, 402):
                told.gave_up.append(f"authorize: {status} {answer}")
        self._capture_or_void(client, plan, told)
        if told.captured:
            self._refund(client, plan, told)

    @staticmethod
    def _capture_or_void(client: Client, plan: PaymentPlan, told: Told) -> None:
        path = f"/v1/payment-intents/{told.payment_intent_id}"
        _, intent = client.call("GET", path)
        if intent.get("status") == "CAPTURED":  # captured automatically
            told.captured = int(intent["amountCaptured"])
        if intent.get("status") != "AUTHORIZED":
            return
        if plan.then == "void":
            status, answer = client.call("POST", f"{path}/void", {})
            if status != 200:
                told.gave_up.append(f"void: {status} {answer}")
            return
        amount = plan.amount if plan.then == "capture" else plan.amount // 2
        status, answer = client.call("POST", f"{path}/capture", {"amount": amount})
        if status == 409 and _code(answer) == "invalid_state":  # captured meanwhile: read what was
            _, intent = client.call("GET", path)
            if intent.get("status") == "CAPTURED":
                told.captured = int(intent["amountCaptured"])
                return
        if status != 200:
            told.gave_up.append(f"capture: {status} {answer}")
            return
        told.captured = amount

    @staticmethod
    def _refund(client: Client, plan: PaymentPlan, told: Told) -> None:
        for per_mille in plan.refunds:
            amount = max(1, told.captured * per_mille // 1000)
            refund = {"paymentIntentId": told.payment_intent_id, "amount": amount}
            status, answer = client.call("POST", "/v1/refunds", refund)
            if status != 201:
                told.gave_up.append(f"refund: {status} {answer}")
                return
            told.refunded += amount
        if plan.bulk_refund:
            told.bulk = max(1, told.captured // 2)

    def _checkout(self, client: Client, intent_id: str, told: Told) -> None:
        status, answer = client.call("POST", "/v1/checkouts", {"paymentIntentId": intent_id})
        if status != 202:
            told.gave_up.append(f"checkout: {status} {answer}")
            return
        tracking = f"/v1/checkouts/{answer['trackingId']}"
        deadline = time.monotonic() + CHECKOUT_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            status, view = client.call("GET", tracking)
            state = view.get("status") if isinstance(view, dict) else None
            if state in ("SUCCEEDED", "FAILED"):
                return
            if state == "ACTION_REQUIRED":
                client.call("POST", f"{tracking}/challenge", {"outcome": "passed"})
            time.sleep(0.3)
        told.gave_up.append(f"checkout {tracking} still running after {CHECKOUT_DEADLINE_SECONDS:.0f} s")

    def _bulk_refunds(self, client: Client) -> None:
        """One file for every payment that asked for a bulk refund, then wait for it to settle."""
        rows = [told for _, told in sorted(self.result.told.items()) if told.bulk]
        if not rows:
            return
        text = "merchantId,paymentIntentId,amount,reason\n" + "".join(
            f"{MERCHANT},{told.payment_intent_id},{told.bulk},campaign\n" for told in rows
        )
        status, answer = client.call("POST", "/v1/refund-batches", raw=text.encode(), csv=True)
        if status != 202:
            self.result.violations.append(f"bulk file refused: {status} {answer}")
            return
        batch = f"/v1/refund-batches/{answer['batchId']}"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status, view = client.call("GET", batch)
            if status == 200 and view.get("pending") == 0:
                if view.get("succeeded") != len(rows):
                    self.result.violations.append(f"bulk file: {view} (rows {len(rows)})")
                    for told in rows:
                        told.bulk_unknown = True
                return
            time.sleep(0.5)
        self.result.violations.append(f"bulk file {batch} not settled after 300 s")

    def _quiet(self, client: Client, timeout: float = 180) -> None:
        """Until nothing is queued, in flight, or being read from a stream, three looks in a row."""
        deadline, calm, last = time.monotonic() + timeout, 0, None
        while calm < 3 and time.monotonic() < deadline:
            _, sources = client.call("GET", "/_local/event-sources")
            _, functions = client.call("GET", "/_local/functions")
            _, queues = client.call("GET", "/_local/queues")
            streams = [(s["fetched"], s["delivered"] + s["dropped"]) for s in sources["data"]]
            consumed = {poller["queue"].rsplit(":", 1)[-1] for poller in sources["queues"]}
            busy = sum(_depth(q) for q in queues["data"] if q["name"] in consumed)
            settled = (
                streams == last
                and all(fetched == done for fetched, done in streams)
                and functions["async"]["pending"] == 0
                and busy == 0
            )
            calm, last = (calm + 1 if settled else 0), streams
            time.sleep(0.5)
        if calm < 3:
            self.result.violations.append(f"the stack was still busy {timeout:.0f} s after the run")

    # -- merchant webhooks ---------------------------------------------------------------------------

    def _add_endpoints(self, client: Client) -> None:
        """A steady endpoint and a flaky one, as the merchant's servers would add them (faults off)."""
        assert self.receiver is not None
        for role, refusal_rate in (("steady", 0.0), ("flaky", self.settings.webhook_refusal_rate)):
            name = f"chaos-{self.settings.seed}-{role}-{uuid.uuid4().hex[:8]}"
            wanted = {"url": self.receiver.url(name), "events": list(WEBHOOK_TYPES), "merchantId": MERCHANT}
            status, made = client.call("POST", "/v1/webhook-endpoints", wanted)
            if status != 201:
                raise RuntimeError(f"the stack refused a webhook endpoint: {status} {made}")
            self.receiver.expect(name, str(made["secret"]), refusal_rate=refusal_rate)
            self._endpoints[name] = str(made["webhookEndpointId"])

    def _delete_endpoints(self, client: Client) -> None:
        """So that the next campaign on this stack sends nothing to a receiver that is gone."""
        for webhook_endpoint_id in self._endpoints.values():
            client.call("DELETE", f"/v1/webhook-endpoints/{webhook_endpoint_id}?merchantId={MERCHANT}")

    def _delivery_logs(self, client: Client) -> dict[str, list[dict[str, Any]]]:
        """Each endpoint's delivery log, every page."""
        logs: dict[str, list[dict[str, Any]]] = {}
        for name, webhook_endpoint_id in self._endpoints.items():
            path = f"/v1/webhook-endpoints/{webhook_endpoint_id}/deliveries?merchantId={MERCHANT}&limit=100"
            logs[name] = self._pages(client, path)
        return logs

    def _pages(self, client: Client, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            status, page = client.call("GET", path + ("" if token is None else f"&nextToken={quote(token)}"))
            if status != 200:
                raise RuntimeError(f"GET {path}: {status} {page}")
            items += page["data"]
            token = page.get("nextToken")
            if not token:
                return items

    def _settle_webhooks(self, client: Client, timeout: float = WEBHOOK_SETTLE_SECONDS) -> None:
        """Until no delivery is pending and the receiver has heard nothing for 2 s, twice in a row."""
        assert self.receiver is not None
        started = time.monotonic()
        deadline, calm, pending = started + timeout, 0, 0
        while calm < 2 and time.monotonic() < deadline:
            entries = [entry for log in self._delivery_logs(client).values() for entry in log]
            pending = sum(1 for entry in entries if entry["status"] == "pending")
            self._on_webhooks(len(entries) - pending, len(entries))
            calm = calm + 1 if pending == 0 and self.receiver.quiet_for >= 2 else 0
            time.sleep(1)
        self.result.webhooks.seconds_to_settle = time.monotonic() - started
        if calm < 2:
            self.result.violations.append(
                f"webhooks: {pending} deliveries still pending {timeout:.0f} s after the stack was quiet"
            )

    def _payment_events(self, client: Client, intent_id: str, ledger: list[dict[str, Any]]) -> list[str]:
        """Keep the payment's events; each movement on its books must be one of them."""
        events = self._pages(client, f"/v1/events?paymentIntentId={quote(intent_id)}&limit=100")
        with self._lock:
            self._events.update((str(event["eventId"]), event) for event in events)
        published = {str(event["eventId"]) for event in events}
        on_books = {str(entry["entryId"]) for entry in ledger if ":" not in str(entry["entryId"])}
        return [
            f"movement {movement} is on the books but no event" for movement in sorted(on_books - published)
        ]

    # -- the invariants ----------------------------------------------------------------------------

    def _check(self, client: Client) -> None:
        violations = self.result.violations
        gateway = Client(self.gateway, Counter(), threading.Lock())
        self._at_stripe = {} if self.stripe is None else stripe_authorizations(self.stripe)
        for number, told in sorted(self.result.told.items()):
            violations += [f"payment {number}: the client gave up: {why}" for why in told.gave_up]
            if told.payment_intent_id:
                violations += self._check_payment(client, gateway, number, told)
        _, balances = client.call("GET", "/v1/ledger/balances")
        totals: Counter[str] = Counter()
        for balance in balances["data"]:
            totals[balance["currency"]] += int(balance["balance"])
        violations += [
            f"the ledger is off by {total} in {currency}" for currency, total in totals.items() if total
        ]
        _, queues = client.call("GET", "/_local/queues")
        _, sources = client.call("GET", "/_local/event-sources")
        # A queue read by a function must be empty, a dead-letter queue too; a queue no function here
        # reads (another team's subscription, such as analytics) keeps what it was sent.
        consumed = {poller["queue"].rsplit(":", 1)[-1] for poller in sources["queues"]}
        violations += [
            f"queue {q['name']} holds {_depth(q)} message(s)"
            for q in queues["data"]
            if _depth(q) and (q["name"] in consumed or _is_dead_letter_queue(q, queues["data"]))
        ]
        violations += [f"stream records dropped: {s}" for s in sources["data"] if s["dropped"]]
        _, functions = client.call("GET", "/_local/functions")
        if functions["async"]["deadLettered"]:
            violations.append(f"{functions['async']['deadLettered']} asynchronous event(s) dead-lettered")
        if self.receiver is not None and self.settings.webhooks:
            settled = self.result.webhooks.seconds_to_settle
            figures, found = webhook_violations(
                self._events, self.receiver.received(), self._delivery_logs(client), attempts=WEBHOOK_ATTEMPTS
            )
            figures.seconds_to_settle = settled
            self.result.webhooks = figures
            violations += found

    def _check_payment(self, client: Client, gateway: Client, number: int, told: Told) -> list[str]:
        intent_id = told.payment_intent_id
        _, intent = client.call("GET", f"/v1/payment-intents/{intent_id}")
        _, held = gateway.call("GET", f"/v1/authorizations?reference={quote(intent_id)}")
        _, entries = client.call("GET", f"/v1/payment-intents/{intent_id}/ledger")
        authorizations = held.get("data", []) if isinstance(held, dict) else []
        where = f"payment {number} ({intent_id}, {intent.get('status')})"
        found: list[str] = []
        if self.settings.two_processors:
            at_stripe = self._at_stripe.get(intent_id, [])
            approved = [a for a in (*authorizations, *at_stripe) if a["status"] == "approved"]
            ended_captured = int(intent.get("amountCaptured") or 0) > 0
            with self._lock:
                self.result.processors[str(intent.get("processor"))] += 1
                self.result.double_authorizations += len(approved) > 1
                if not ended_captured:
                    self.result.failed_authorizations += len(approved)
                    self.result.failed_authorizations_voided += sum(1 for a in approved if a["voided"])
            if len(approved) > 1:
                found.append(f"{where}: authorized {len(approved)} times: {[a['id'] for a in approved]}")
            authorizations = [*authorizations, *at_stripe]
        with self._lock:
            self.result.final_statuses[str(intent.get("status"))] += 1
        ledger = entries.get("data", []) if isinstance(entries, dict) else []
        if self.settings.webhooks:
            found += [f"{where}: {why}" for why in self._payment_events(client, intent_id, ledger)]
        return found + payment_violations(where, intent, authorizations, ledger, told)


def route_to_sandbox_then_stripe(aws_endpoint: str, merchant: str = MERCHANT) -> None:
    """The merchant's rules, set as an operator sets them (`payments processors set`): the sandbox,
    then Stripe where the sandbox provably never received a payment's authorization request."""
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": aws_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    command = [sys.executable, "-m", "payments.cli", "processors", "set", "--merchant", merchant]
    ran = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [*command, "--rule", "sandbox", "--rule", "stripe"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if ran.returncode != 0:
        raise RuntimeError(f"payments processors set failed ({ran.returncode}): {ran.stderr.strip()}")


def stripe_authorizations(stripe_url: str, key: str = LOCAL_STRIPE_KEY) -> dict[str, list[dict[str, Any]]]:
    """Every PaymentIntent at the stack's Stripe, read with the official SDK and described as the
    sandbox describes an authorization (`id`, `status`, `voided`, `captureId`, `capturedAmount`,
    `refundedAmount`), by our payment intent id (the PaymentIntent's `metadata.reference`)."""
    import stripe  # noqa: PLC0415 (only a two-processor campaign reads Stripe)

    reader = stripe.StripeClient(key, base_addresses={"api": stripe_url}, max_network_retries=2)
    refunded: Counter[str] = Counter()
    for refund in reader.v1.refunds.list({"limit": 100}).auto_paging_iter():
        if refund.payment_intent:  # localstripe books a partial capture's rest as a refund of none
            refunded[str(refund.payment_intent)] += int(refund.amount)
    found: dict[str, list[dict[str, Any]]] = {}
    for listed in reader.v1.payment_intents.list({"limit": 100}).auto_paging_iter():
        intent = listed.to_dict()
        reference = (intent.get("metadata") or {}).get("reference")
        if reference:
            found.setdefault(str(reference), []).append(
                stripe_authorization(intent, refunded[str(intent["id"])])
            )
    return found


def stripe_authorization(intent: dict[str, Any], refunded: int) -> dict[str, Any]:
    """One PaymentIntent as the sandbox describes an authorization. Approved: it held the money
    (`requires_capture`), took it (`succeeded`) or let it go (`canceled`, after a hold: a cancel
    before confirmation leaves no charge). Captured: the charge less the uncaptured rest localstripe
    books as a refund naming no PaymentIntent (Stripe's own `amount_received` where it is given)."""
    status, charge = intent.get("status"), intent.get("latest_charge")
    charge = charge if isinstance(charge, dict) else {}
    held = status in ("requires_capture", "succeeded") or (status == "canceled" and bool(charge))
    captured = 0
    if status == "succeeded":
        captured = intent.get("amount_received") or int(charge.get("amount", 0)) - sum(
            int(refund.get("amount", 0))
            for refund in (charge.get("refunds") or {}).get("data", [])
            if isinstance(refund, dict) and refund.get("payment_intent") is None
        )
    return {
        "id": intent["id"],
        "status": "approved" if held else str(status),
        "voided": status == "canceled",
        "captureId": charge.get("id") if status == "succeeded" else None,
        "capturedAmount": captured,
        "refundedAmount": refunded,
    }


def payment_violations(
    where: str,
    intent: dict[str, Any],
    authorizations: list[dict[str, Any]],
    ledger_entries: list[dict[str, Any]],
    told: Told,
) -> list[str]:
    """What is wrong with one payment after the run: its status, the gateway's holds and movements
    for it, its ledger entries, and what its client was told, against each other."""
    found: list[str] = []
    status = str(intent.get("status"))
    captured, refunded = int(intent.get("amountCaptured") or 0), int(intent.get("amountRefunded") or 0)
    if status not in TERMINAL:
        found.append(f"{where}: not in a terminal status")
    approved = [a for a in authorizations if a["status"] == "approved"]
    open_holds = [a["id"] for a in approved if not a["voided"] and not a["captureId"]]
    if open_holds and status != "AUTHORIZED":
        found.append(f"{where}: authorization(s) {open_holds} still hold money at the gateway")
    if sum(1 for a in approved if a["captureId"]) > 1:
        found.append(f"{where}: captured twice at the gateway")
    gateway_captured = sum(int(a["capturedAmount"]) for a in approved)
    gateway_refunded = sum(int(a["refundedAmount"]) for a in approved)
    if (gateway_captured, gateway_refunded) != (captured, refunded):
        found.append(
            f"{where}: the gateway moved {gateway_captured} captured / {gateway_refunded} refunded, "
            f"the payment records {captured} / {refunded}"
        )
    if told.captured != captured:
        found.append(f"{where}: the client was told {told.captured} captured, the payment has {captured}")
    if not told.bulk_unknown and refunded != told.refunded + told.bulk:
        found.append(f"{where}: the client was told {told.refunded + told.bulk} refunded, it has {refunded}")
    balance: Counter[str] = Counter()
    for entry in ledger_entries:
        for leg in entry["legs"]:
            balance[leg["account"]] += int(leg["amount"]) * (1 if leg["direction"] == "debit" else -1)
    net = captured - refunded
    wanted = {
        account: amount
        for account, amount in (("gateway_clearing", net), ("merchant_payable", -net))
        if amount
    }
    actual = {account: amount for account, amount in balance.items() if amount}
    if actual != wanted:
        found.append(f"{where}: its ledger nets to {actual}, expected {wanted}")
    return found


def webhook_violations(
    events: Mapping[str, Mapping[str, Any]],
    received: Sequence[Delivered],
    logs: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    attempts: int,
) -> tuple[WebhookFigures, list[str]]:
    """What is wrong with the webhooks after the run: `events` are the campaign payments' events by id
    (as `GET /v1/events` shows them), `received` what the receiver got, `logs` each endpoint's delivery
    log by the receiver's name for it, `attempts` the retry schedule's attempts in all.

    A failed delivery is the stack's fault unless it is an exhaustion the endpoint caused: the log
    counts every attempt of the schedule and the receiver refused at least that many."""
    figures = WebhookFigures(endpoints=len(logs), events_expected=len(events), received=len(received))
    tally, found = _tally(received, logs, figures)
    found += _id_violations(events, logs, tally, figures)
    for endpoint, log in sorted(logs.items()):
        found += _log_violations(
            endpoint, log, events=events, tally=tally, attempts=attempts, figures=figures
        )
    return figures, found


@dataclass
class _Tally:
    """What the endpoints got, signed: the bodies under each webhook-id, and by (endpoint, webhook-id)
    the 2xx answers and the refusals."""

    bodies: defaultdict[str, set[bytes]] = field(default_factory=lambda: defaultdict(set))
    accepted: Counter[tuple[str, str]] = field(default_factory=Counter)
    refused: Counter[tuple[str, str]] = field(default_factory=Counter)


def _tally(
    received: Sequence[Delivered], logs: Mapping[str, object], figures: WebhookFigures
) -> tuple[_Tally, list[str]]:
    tally, found = _Tally(), []
    for got in received:
        where = f"webhook {got.webhook_id or '(no id)'} to {got.endpoint}"
        if got.endpoint not in logs:
            found.append(f"{where}: no campaign endpoint has that URL")
        elif not got.signed:
            figures.signature_failures += 1
            found.append(f"{where}: its signature does not verify")
        else:
            tally.bodies[got.webhook_id].add(got.body)
            if 200 <= got.answered < 300:
                tally.accepted[got.endpoint, got.webhook_id] += 1
            elif got.answered == WEBHOOK_REFUSED:
                tally.refused[got.endpoint, got.webhook_id] += 1
    figures.accepted, figures.refused = sum(tally.accepted.values()), sum(tally.refused.values())
    figures.duplicates = sum(count - 1 for count in tally.accepted.values())
    return tally, found


def _id_violations(
    events: Mapping[str, Mapping[str, Any]],
    logs: Mapping[str, Sequence[Mapping[str, Any]]],
    tally: _Tally,
    figures: WebhookFigures,
) -> list[str]:
    """Each webhook-id: a campaign payment's event, one body, that event's; each movement, one id."""
    unexpected = {webhook_id for webhook_id in tally.bodies if webhook_id not in events}
    unexpected |= {str(entry["eventId"]) for log in logs.values() for entry in log} - set(events)
    figures.unexpected = len(unexpected)
    found = [f"webhook {webhook_id}: not an event of a campaign payment" for webhook_id in sorted(unexpected)]
    movements: defaultdict[tuple[Any, ...], set[str]] = defaultdict(set)
    for webhook_id, sent in sorted(tally.bodies.items()):
        if len(sent) > 1:
            figures.ids_with_two_bodies += 1
            found.append(f"webhook {webhook_id}: {len(sent)} different bodies under one id")
        for body in sorted(sent):
            payload = json.loads(body)
            data = payload.get("data", {})
            if webhook_id in events:
                found += _content_violations(webhook_id, payload, events[webhook_id])
            if data.get("version") is not None:
                movements[data.get("paymentIntentId"), payload.get("type"), data["version"]].add(webhook_id)
    for (payment, kind, version), ids in sorted(movements.items(), key=str):
        if len(ids) > 1:
            figures.movements_under_two_ids += 1
            found.append(
                f"{kind} of {payment} at version {version} delivered under {len(ids)} ids: {sorted(ids)}"
            )
    return found


def _content_violations(webhook_id: str, payload: Mapping[str, Any], event: Mapping[str, Any]) -> list[str]:
    """A delivery's body against the event it carries: its type, id, payment, amount and status."""
    data = payload.get("data", {})
    told = (
        payload.get("type"),
        data.get("eventId"),
        data.get("paymentIntentId"),
        data.get("amount"),
        data.get("currency"),
        data.get("status"),
    )
    wanted = (
        f"payment.{str(event['eventType']).lower()}",
        webhook_id,
        event["paymentIntentId"],
        event["amount"],
        event["currency"],
        event["paymentStatus"],
    )
    return [] if told == wanted else [f"webhook {webhook_id}: the body says {told}, the event is {wanted}"]


def _log_violations(
    endpoint: str,
    log: Sequence[Mapping[str, Any]],
    *,
    events: Mapping[str, Mapping[str, Any]],
    tally: _Tally,
    attempts: int,
    figures: WebhookFigures,
) -> list[str]:
    """One endpoint's delivery log against what it got, and every event against both."""
    found: list[str] = []
    logged = {str(entry["eventId"]): entry for entry in log}
    if len(logged) != len(log):
        found.append(f"{endpoint}: its delivery log lists {len(log) - len(logged)} event(s) twice")
    exhausted = set()
    for event_id, entry in sorted(logged.items()):
        tries, status, refused = int(entry["attempts"]), entry["status"], tally.refused[endpoint, event_id]
        figures.retried += tries > 1
        where = f"{endpoint}: the delivery of {event_id}"
        if status == "pending":
            found.append(f"{where} is still pending after {tries} attempt(s)")
        elif status == "failed":
            figures.failed_deliveries += 1
            if refused >= tries >= attempts:
                exhausted.add(event_id)
            else:
                found.append(
                    f"{where} failed after {tries} of {attempts} attempts (last answer "
                    f"{entry.get('lastStatusCode')}); the endpoint refused {refused}"
                )
        elif status == "succeeded" and not tally.accepted[endpoint, event_id]:
            found.append(f"{where} is logged succeeded, but the endpoint never accepted it")
    figures.exhausted += len(exhausted)
    for event_id, event in sorted(events.items()):
        if tally.accepted[endpoint, event_id] or event_id in exhausted:
            continue
        figures.missing += 1
        found.append(
            f"{endpoint}: event {event_id} ({event['eventType']} of {event['paymentIntentId']}) never "
            f"accepted{'' if event_id in logged else ', and not in its delivery log'}"
        )
    return found
