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
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final
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
        on_payment: Callable[[int], None] = lambda _done: None,
    ) -> None:
        if settings.two_processors and stripe is None:
            raise ValueError("a two-processor campaign needs the stack's Stripe URL (--processor stripe)")
        self.api, self.gateway, self.settings, self.stripe = api, gateway, settings, stripe
        self._at_stripe: dict[str, list[dict[str, Any]]] = {}
        self.result = CampaignResult(settings)
        self._lock = threading.Lock()
        self._on_payment = on_payment
        self._done = 0

    # -- the run -----------------------------------------------------------------------------------

    def run(self) -> CampaignResult:
        started = time.monotonic()
        control = self._client()
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
        self.result.seconds = time.monotonic() - started
        self._check(control)
        return self.result

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
        return found + payment_violations(
            where,
            intent,
            authorizations,
            entries.get("data", []) if isinstance(entries, dict) else [],
            told,
        )


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
