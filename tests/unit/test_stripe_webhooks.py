"""POST /v1/webhooks/stripe on fakes, no sockets: Stripe's signature checked by Stripe's SDK, on events
signed here as Stripe documents it (`Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>">` keyed with the endpoint's signing secret), then disputes and cancellations applied once."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from payments.adapters.stripe_gateway import StripeGateway
from payments.domain.errors import UpstreamUnavailable
from payments.domain.intents import (
    PaymentIntent,
    Processor,
    Status,
    TransactionKind,
    transaction_id_for,
)
from payments.domain.money import Money
from payments.functions import http
from payments.functions.stripe_webhooks import Dependencies, handler
from payments.service.stripe_webhooks import movement_id_for
from tests.unit.fakes import FakeClock, FakeIntentRepository
from tests.unit.test_stripe_gateway import RecordedStripe, invalid_request, payment_intent

SECRET = "whsec_test_5tR1pe0123456789abcdef"
STRIPE_PI = "pi_3QxYzLkdIwHu7ix01AbCdEfG"
DISPUTE = "dp_1QxYzLkdIwHu7ix0DiSpUtE1"


# --- signing and sending, as Stripe does ----------------------------------------------------------------


def signature(payload: bytes, *, secret: str = SECRET, at: float | None = None) -> str:
    timestamp = int(time.time() if at is None else at)
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def stripe_event(
    event_type: str, subject: dict[str, Any], event_id: str = "evt_1QxYzLkdIwHu7ix0Ev1"
) -> bytes:
    """An event as Stripe delivers it (a snapshot event, API version of the endpoint)."""
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2025-06-30.basil",
            "created": int(time.time()),
            "data": {"object": subject},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        },
        indent=2,  # as Stripe sends it: the signature covers these exact bytes
    ).encode()


def dispute(status: str, payment_intent_field: Any = STRIPE_PI, **fields: Any) -> dict[str, Any]:
    return {
        "id": DISPUTE,
        "object": "dispute",
        "amount": 8_000,
        "charge": "ch_3QxYzLkdIwHu7ix01ChArGe1",
        "created": 1_760_000_500,
        "currency": "usd",
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": payment_intent_field,
        "reason": "fraudulent",
        "status": status,
        **fields,
    }


def canceled(reference: str | None, pi_id: str = STRIPE_PI) -> dict[str, Any]:
    return payment_intent(
        "canceled",
        id=pi_id,
        amount=8_000,
        metadata={} if reference is None else {"reference": reference},
        cancellation_reason="requested_by_customer",
        latest_charge=None,
    )


class World:
    """The handler on fakes: our intents, and Stripe's PaymentIntents' references."""

    def __init__(self) -> None:
        self.intents = FakeIntentRepository()
        self.clock = FakeClock()
        self.references: dict[str, str] = {}
        self.asked: list[str] = []
        self.secret = SECRET
        self.stripe_down = False

    def reference_of(self, payment_intent_id: str) -> str | None:
        if self.stripe_down:
            raise UpstreamUnavailable("Stripe did not answer (APIConnectionError)", upstream="gateway")
        self.asked.append(payment_intent_id)
        return self.references.get(payment_intent_id)

    def send(self, payload: bytes, header: str | None = "sign", *, base64: bool = False) -> tuple[int, Any]:
        headers = {"content-type": "application/json"}
        if header is not None:
            headers["stripe-signature"] = signature(payload) if header == "sign" else header
        event: dict[str, Any] = {"headers": headers, "isBase64Encoded": base64}
        event["body"] = payload.decode()
        routed = http.Routed(
            Dependencies(
                intents=self.intents,
                signing_secret=lambda: self.secret,
                reference_of=self.reference_of,
                clock=self.clock,
            )
        )
        response = handler.with_dependencies(routed)(event, None)
        return response["statusCode"], json.loads(response["body"])

    def payment(
        self,
        *,
        captured: bool = True,
        processor: Processor = Processor.STRIPE,
        authorization: str = STRIPE_PI,
    ) -> PaymentIntent:
        intent = PaymentIntent.create(
            amount=Money.of(8_000, "USD"),
            customer_id="cus_1",
            merchant_id="mer_1",
            payment_method="pm_card_visa",
            now=self.clock(),
            time_to_live=timedelta(hours=1),
            processor=processor,
        )
        self.intents.add(intent)
        intent.authorize(authorization_id=authorization, now=self.clock())
        if captured:
            intent.capture(amount=None, now=self.clock(), gateway_reference="ch_3QxYzLkdIwHu7ix01ChArGe1")
        self.references[authorization] = intent.payment_intent_id
        return self.intents.save(intent)

    def stored(self, intent: PaymentIntent) -> PaymentIntent:
        return self.intents.get(intent.payment_intent_id)


@pytest.fixture
def world() -> World:
    return World()


APPLIED = {"received": True, "result": "applied"}
REPLAYED = {"received": True, "result": "replayed"}
IGNORED = {"received": True, "result": "ignored"}
UNKNOWN = {"received": True, "result": "unknown_payment"}


# --- the signature --------------------------------------------------------------------------------------


def test_a_signed_event_within_300_seconds_passes(world: World) -> None:
    payload = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    assert world.send(payload, signature(payload, at=time.time() - 290)) == (200, IGNORED)


def test_one_matching_signature_among_several_passes(world: World) -> None:
    """While the endpoint's secret is rolled, Stripe signs with the old and the new one."""
    payload = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    old = signature(payload, secret="whsec_the_one_before").split(",")[1]
    assert world.send(payload, f"{signature(payload)},{old}") == (200, IGNORED)


@pytest.mark.parametrize(
    ("make_header", "message"),
    [
        (lambda payload: None, "the Stripe-Signature header is missing"),
        (lambda payload: "", "the Stripe-Signature header is missing"),
        (lambda payload: signature(payload, at=time.time() - 301), "the signature is older than 300 seconds"),
        (
            lambda payload: signature(payload, secret="whsec_not_this_endpoint"),
            "the signature does not match",
        ),
        (lambda payload: signature(payload + b" "), "the signature does not match"),
        (lambda payload: signature(payload).replace("v1=", "v1=0"), "the signature does not match"),
    ],
    ids=["missing", "empty", "stale", "wrong-secret", "other-body", "mangled"],
)
def test_a_missing_wrong_or_stale_signature_is_401_and_nothing_is_read(
    world: World, make_header: Callable[[bytes], str | None], message: str
) -> None:
    intent = world.payment()
    payload = stripe_event("charge.dispute.created", dispute("needs_response"))
    reply = world.send(payload, make_header(payload))
    assert reply == (401, {"error": {"code": "invalid_signature", "message": message}})
    assert (world.asked, world.stored(intent).status, world.intents.writes) == ([], Status.CAPTURED, 2)


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "t=notanumber,v1=abc123",
        "v1=abc123",  # no timestamp
        "t=1760000000",  # no v1 signature
        "t=1760000000,v0=abc123",  # only the scheme Stripe no longer signs with
        "t=1760000000, v1=abc123",  # not as Stripe writes it
        "t=1760000000,v1=",
        f"t={'9' * 13},v1=abc123",
    ],
)
def test_a_malformed_header_is_400_and_nothing_is_read(world: World, header: str) -> None:
    intent = world.payment()
    reply = world.send(stripe_event("charge.dispute.created", dispute("needs_response")), header)
    assert reply[0] == 400
    assert reply[1]["error"]["code"] == "invalid_request"
    assert (world.asked, world.stored(intent).status) == ([], Status.CAPTURED)


def test_a_body_that_is_not_utf8_is_400(world: World) -> None:
    import base64  # noqa: PLC0415

    raw = b'{"id": "evt_1", "object": "event", "type": "x", "data": {"object": {"n": "\xff"}}}'
    reply = world.send(base64.b64encode(raw), signature(raw), base64=True)
    assert reply == (400, {"error": {"code": "invalid_request", "message": "the body is not UTF-8 text"}})


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"id": "evt_1", "type": "charge.dispute.created", "data": {"object": {}}}',  # no object: event
        b'{"id": "evt 1", "object": "event", "type": "x", "data": {"object": {}}}',
        b'{"id": "evt_1", "object": "event", "type": "x", "data": {}}',
        b'{"id": "evt_1", "object": "event", "type": "charge.dispute.created", '
        b'"data": {"object": {"id": "dp_1"}}}',  # not a Dispute
    ],
)
def test_a_signed_body_that_is_not_a_stripe_event_is_400(world: World, payload: bytes) -> None:
    status, body = world.send(payload)
    assert (status, body["error"]["code"]) == (400, "invalid_request")


# --- disputes -------------------------------------------------------------------------------------------


def test_a_dispute_opens_once_and_a_replay_changes_nothing(world: World) -> None:
    intent = world.payment()
    payload = stripe_event("charge.dispute.created", dispute("needs_response"), event_id="evt_open")
    assert world.send(payload) == (200, APPLIED)
    opened = world.stored(intent)
    movement = world.intents.get_transaction(movement_id_for("evt_open"))
    assert (opened.status, movement.kind, movement.amount, movement.gateway_reference) == (
        Status.DISPUTED,
        TransactionKind.DISPUTE_OPENED,
        Money.of(8_000, "USD"),
        DISPUTE,
    )
    assert world.asked == [STRIPE_PI]  # the dispute names the PaymentIntent only: its reference is Stripe's

    assert world.send(payload) == (200, REPLAYED)
    assert world.stored(intent).version == opened.version


@pytest.mark.parametrize(
    ("outcome", "status", "refunded", "kind"),
    [
        ("won", Status.CAPTURED, 0, TransactionKind.DISPUTE_WON),
        ("lost", Status.REFUNDED, 8_000, TransactionKind.DISPUTE_LOST),
    ],
)
def test_a_dispute_closes_won_or_lost_once(
    world: World, outcome: str, status: Status, refunded: int, kind: TransactionKind
) -> None:
    intent = world.payment()
    world.send(stripe_event("charge.dispute.created", dispute("needs_response"), event_id="evt_open"))
    close = stripe_event("charge.dispute.closed", dispute(outcome), event_id="evt_close")
    assert world.send(close) == (200, APPLIED)
    closed = world.stored(intent)
    assert (closed.status, closed.amount_refunded) == (status, refunded)
    assert world.intents.get_transaction(movement_id_for("evt_close")).kind is kind
    assert world.send(close) == (200, REPLAYED)
    assert world.stored(intent).version == closed.version


def test_a_closed_dispute_neither_won_nor_lost_is_refused(world: World) -> None:
    intent = world.payment()
    world.send(stripe_event("charge.dispute.created", dispute("needs_response"), event_id="evt_open"))
    reply = world.send(stripe_event("charge.dispute.closed", dispute("prevented"), event_id="evt_close"))
    assert (reply[0], reply[1]["error"]["code"]) == (400, "invalid_request")
    assert world.stored(intent).status is Status.DISPUTED


def test_a_close_before_its_open_is_409_so_stripe_delivers_it_again(world: World) -> None:
    intent = world.payment()
    close = stripe_event("charge.dispute.closed", dispute("won"), event_id="evt_close")
    assert world.send(close)[0] == 409
    assert world.send(stripe_event("charge.dispute.created", dispute("needs_response")))[0] == 200
    assert world.send(close) == (200, APPLIED)
    assert world.stored(intent).status is Status.CAPTURED


def test_an_inquiry_moves_nothing(world: World) -> None:
    intent = world.payment()
    for event_type, status in (
        ("charge.dispute.created", "warning_needs_response"),
        ("charge.dispute.closed", "warning_closed"),
    ):
        assert world.send(stripe_event(event_type, dispute(status))) == (200, IGNORED)
    assert world.stored(intent).status is Status.CAPTURED


def test_another_processors_payment_is_not_touched(world: World) -> None:
    """A sandbox payment named by a Stripe PaymentIntent's metadata (a forged or mistaken reference)."""
    sandbox = world.payment(processor=Processor.SANDBOX, authorization="auth_sandbox_1")
    world.references[STRIPE_PI] = sandbox.payment_intent_id
    assert world.send(stripe_event("charge.dispute.created", dispute("needs_response"))) == (200, UNKNOWN)
    assert world.stored(sandbox) == sandbox


def test_a_stripe_payment_holding_another_payment_intent_is_not_touched(world: World) -> None:
    ours = world.payment(authorization="pi_3OtherLkdIwHu7ix0AuThOr1")
    world.references[STRIPE_PI] = ours.payment_intent_id
    assert world.send(stripe_event("charge.dispute.created", dispute("needs_response"))) == (200, UNKNOWN)
    assert world.stored(ours) == ours


@pytest.mark.parametrize("payment_intent_field", [None, "pi_3NotOursLkdIwHu7ix0NoPe"])
def test_a_dispute_of_a_payment_intent_not_ours_is_acknowledged(
    world: World, payment_intent_field: str | None
) -> None:
    intent = world.payment()
    payload = stripe_event("charge.dispute.created", dispute("needs_response", payment_intent_field))
    assert world.send(payload) == (200, UNKNOWN)
    assert world.stored(intent) == intent


def test_a_dispute_carrying_its_payment_intent_needs_no_call_to_stripe(world: World) -> None:
    intent = world.payment()
    expanded = payment_intent("succeeded", id=STRIPE_PI, metadata={"reference": intent.payment_intent_id})
    assert world.send(stripe_event("charge.dispute.created", dispute("needs_response", expanded))) == (
        200,
        APPLIED,
    )
    assert (world.asked, world.stored(intent).status) == ([], Status.DISPUTED)


def test_stripe_not_answering_the_lookup_is_503_and_retried(world: World) -> None:
    intent = world.payment()
    world.stripe_down = True
    reply = world.send(stripe_event("charge.dispute.created", dispute("needs_response")))
    assert (reply[0], reply[1]["error"]["code"]) == (503, "upstream_unavailable")
    assert world.stored(intent).status is Status.CAPTURED


# --- PaymentIntents moved at Stripe -----------------------------------------------------------------------


def test_a_payment_intent_canceled_at_stripe_voids_the_authorized_payment_once(world: World) -> None:
    intent = world.payment(captured=False)
    payload = stripe_event(
        "payment_intent.canceled", canceled(intent.payment_intent_id), event_id="evt_cancel"
    )
    assert world.send(payload) == (200, APPLIED)
    voided = world.stored(intent)
    assert voided.status is Status.VOIDED
    void = world.intents.get_transaction(transaction_id_for(intent.payment_intent_id, TransactionKind.VOID))
    assert (void.kind, void.gateway_reference, void.request_id) == (
        TransactionKind.VOID,
        STRIPE_PI,
        movement_id_for("evt_cancel"),
    )
    assert world.asked == []  # the canceled PaymentIntent carries its reference
    assert world.send(payload) == (200, REPLAYED)
    assert world.stored(intent).version == voided.version


def test_a_cancellation_of_a_payment_not_authorized_here_changes_nothing(world: World) -> None:
    captured = world.payment()
    payload = stripe_event("payment_intent.canceled", canceled(captured.payment_intent_id))
    assert world.send(payload) == (200, IGNORED)
    assert world.stored(captured) == captured
    other = stripe_event("payment_intent.canceled", canceled(None, pi_id="pi_3NotOursLkdIwHu7ix0NoPe"))
    assert world.send(other) == (200, UNKNOWN)


@pytest.mark.parametrize(
    "event_type",
    [
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.amount_capturable_updated",
        "charge.dispute.updated",
        "charge.refunded",
    ],
)
def test_other_events_are_acknowledged_and_ignored(world: World, event_type: str) -> None:
    intent = world.payment(captured=False)
    subject = payment_intent("succeeded", id=STRIPE_PI, metadata={"reference": intent.payment_intent_id})
    assert world.send(stripe_event(event_type, subject)) == (200, IGNORED)
    assert world.stored(intent) == intent


# --- the connector's lookup -------------------------------------------------------------------------------


def test_the_reference_is_read_from_the_payment_intent_at_stripe() -> None:
    client = RecordedStripe()
    gateway = StripeGateway(
        api_key=lambda: "sk_test_first",
        api_base="https://api.stripe.test",
        timeout_seconds=2,
        max_retries=0,
        http_client=client,
    )
    client.script(
        (200, payment_intent("succeeded", id=STRIPE_PI, metadata={"reference": "pi_ours_01"})),
        (200, payment_intent("succeeded", id=STRIPE_PI, metadata={})),
        (404, invalid_request("resource_missing", f"No such payment_intent: '{STRIPE_PI}'", "intent")),
    )
    assert [gateway.reference_of(STRIPE_PI) for _ in range(3)] == ["pi_ours_01", None, None]
    assert [(sent.method, sent.path) for sent in client.sent] == [
        ("get", f"/v1/payment_intents/{STRIPE_PI}")
    ] * 3
