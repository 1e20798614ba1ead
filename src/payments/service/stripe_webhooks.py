"""Stripe's webhook events (payments-stripe-webhooks): disputes, and cancellations made at Stripe.

`parse_event` reads an event whose signature has already been checked into one command: open or
close a dispute, record a void, or nothing. `handle_stripe_event` applies it to our payment intent.

Our intent keeps Stripe's PaymentIntent id as its authorization (`authorization_id`), and Stripe's
PaymentIntent names our intent in `metadata.reference`: that is how an event finds our payment (a
dispute names only the PaymentIntent's id, so its reference is read from Stripe). The payment must be
a Stripe payment holding exactly that PaymentIntent, else the event is not ours to apply
(`unknown_payment`: a PaymentIntent another system made on the same account, say).

A dispute's movement is recorded under an id derived from Stripe's event id, so a redelivered event
finds its movement there and changes nothing (`replayed`). A void is once per payment: an event
finding the payment VOIDED already changes nothing either. An event the payment is not in a state for
(a dispute closed before it was opened) is refused with a 409, and Stripe delivers it again later.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypeAlias, assert_never

from payments.domain.errors import ConcurrentUpdate, InvalidRequest, NotFound
from payments.domain.intents import PaymentIntent, Processor, Status
from payments.service.intents import Clock
from payments.service.ports import IntentRepository
from payments.service.webhooks import is_recorded

DISPUTE_CREATED: Final = "charge.dispute.created"
DISPUTE_CLOSED: Final = "charge.dispute.closed"
PAYMENT_INTENT_CANCELED: Final = "payment_intent.canceled"
# Stripe's ids (evt_..., pi_..., dp_...) and ours (pi_<ULID>): letters, digits, `_` and `-`.
_SAFE_ID: Final = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")
# A dispute in one of these states is an inquiry: the issuer asks questions and no money has moved.
_INQUIRY_PREFIX: Final = "warning_"


class Result(StrEnum):
    """What became of an event (the answer's `result`)."""

    APPLIED = "applied"  # the event changed the payment
    REPLAYED = "replayed"  # its change was already recorded: nothing changed
    IGNORED = "ignored"  # a type, or a state, this stack does not act on: nothing changed
    UNKNOWN_PAYMENT = "unknown_payment"  # no Stripe payment of this stack holds that PaymentIntent


@dataclass(frozen=True, slots=True)
class OpenDispute:
    event_id: str
    payment_intent: str  # Stripe's PaymentIntent id
    reference: str | None  # our intent id, when the event carries the PaymentIntent; else read from Stripe
    dispute_id: str


@dataclass(frozen=True, slots=True)
class CloseDispute:
    event_id: str
    payment_intent: str
    reference: str | None
    dispute_id: str
    won: bool


@dataclass(frozen=True, slots=True)
class RecordVoid:
    """Stripe canceled the PaymentIntent (its hold is released): an AUTHORIZED payment is voided."""

    event_id: str
    payment_intent: str
    reference: str | None


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """Nothing to apply; `result` says why."""

    event_id: str
    result: Result


StripeCommand: TypeAlias = OpenDispute | CloseDispute | RecordVoid | Acknowledge


def movement_id_for(event_id: str) -> str:
    """The id of the movement a Stripe event records (apart from the gateway's webhooks' ids)."""
    return f"whk_stripe_{event_id}"


# -- reading an event --------------------------------------------------------------------------------


def parse_event(body: Any) -> StripeCommand:
    """The command a verified Stripe event (the webhook's JSON body) asks for; InvalidRequest when it
    is not an event of the shape Stripe documents (`{id, object: "event", type, data: {object}}`)."""
    if not isinstance(body, dict) or body.get("object") != "event":
        raise InvalidRequest('a Stripe event is {id, object: "event", type, data: {object}}')
    event_id, event_type, data = body.get("id"), body.get("type"), body.get("data")
    if not isinstance(event_id, str) or not _SAFE_ID.match(event_id) or not isinstance(event_type, str):
        raise InvalidRequest("the event needs a string id (letters, digits, _ and -) and a type")
    subject = data.get("object") if isinstance(data, dict) else None
    if not isinstance(subject, dict):
        raise InvalidRequest("the event needs data.object")
    if event_type in {DISPUTE_CREATED, DISPUTE_CLOSED}:
        return _dispute(event_id, event_type, subject)
    if event_type == PAYMENT_INTENT_CANCELED:
        payment_intent = _id(subject, "the canceled PaymentIntent (data.object)")
        return RecordVoid(event_id, payment_intent, _reference(subject))
    # The rest, payment_intent.succeeded, .payment_failed and .amount_capturable_updated among them:
    # this stack records each movement it makes from Stripe's own answer to it, and one made at Stripe
    # alone (a capture in the Dashboard) is not applied from an event (docs/processors.md).
    return Acknowledge(event_id, Result.IGNORED)


def _dispute(event_id: str, event_type: str, dispute: dict[str, Any]) -> StripeCommand:
    if dispute.get("object") != "dispute":
        raise InvalidRequest(f'{event_type} needs a Dispute (data.object.object "dispute")')
    dispute_id = _id(dispute, "the Dispute (data.object)")
    status = dispute.get("status")
    if not isinstance(status, str) or not status:
        raise InvalidRequest(f"{event_type} needs the Dispute's status")
    if status.startswith(_INQUIRY_PREFIX):
        return Acknowledge(event_id, Result.IGNORED)  # an inquiry moves no money, opened or closed
    linked = dispute.get("payment_intent")
    if linked is None:
        return Acknowledge(event_id, Result.UNKNOWN_PAYMENT)  # a charge no PaymentIntent made: not ours
    if isinstance(linked, dict):  # the PaymentIntent itself, expanded
        payment_intent, reference = _id(linked, "the disputed PaymentIntent"), _reference(linked)
        if reference is None:
            return Acknowledge(event_id, Result.UNKNOWN_PAYMENT)
    elif isinstance(linked, str) and _SAFE_ID.match(linked):
        payment_intent, reference = linked, None
    else:
        raise InvalidRequest(f"{event_type} needs data.object.payment_intent: a PaymentIntent id")
    if event_type == DISPUTE_CREATED:
        return OpenDispute(event_id, payment_intent, reference, dispute_id)
    return CloseDispute(event_id, payment_intent, reference, dispute_id, won=dispute_won(status))


def dispute_won(status: str) -> bool:
    """A closed dispute's outcome, read strictly: anything but `won` or `lost` is refused, never taken
    for a loss (which would hand the disputed funds back)."""
    match status:
        case "won":
            return True
        case "lost":
            return False
        case other:
            raise InvalidRequest(
                f"charge.dispute.closed needs the Dispute's status won or lost, not {other!r}"
            )


def _id(stripe_object: dict[str, Any], what: str) -> str:
    value = stripe_object.get("id")
    if not isinstance(value, str) or not _SAFE_ID.match(value):
        raise InvalidRequest(f"{what} needs an id (letters, digits, _ and -)")
    return value


def _reference(payment_intent: dict[str, Any]) -> str | None:
    metadata = payment_intent.get("metadata")
    reference = metadata.get("reference") if isinstance(metadata, dict) else None
    return reference if isinstance(reference, str) and reference else None


# -- applying it ---------------------------------------------------------------------------------------


References: TypeAlias = Callable[[str], str | None]


def handle_stripe_event(
    command: StripeCommand,
    *,
    intents: IntentRepository,
    reference_of: References,
    clock: Clock,
) -> Result:
    """Apply the command. `reference_of(payment_intent_id)` is our intent id as Stripe's PaymentIntent
    names it (None: Stripe has no such PaymentIntent, or it names none); it is asked only when the
    event did not carry the PaymentIntent."""
    match command:
        case Acknowledge(result=result):
            return result
        case OpenDispute() | CloseDispute():
            return _apply_dispute(command, intents=intents, reference_of=reference_of, clock=clock)
        case RecordVoid():
            return _apply_void(command, intents=intents, reference_of=reference_of, clock=clock)
        case _:
            assert_never(command)


def _apply_dispute(
    command: OpenDispute | CloseDispute, *, intents: IntentRepository, reference_of: References, clock: Clock
) -> Result:
    movement_id = movement_id_for(command.event_id)
    if is_recorded(intents, movement_id):
        return Result.REPLAYED
    intent = _ours(command.payment_intent, command.reference, intents=intents, reference_of=reference_of)
    if intent is None:
        return Result.UNKNOWN_PAYMENT
    match command:
        case OpenDispute():
            intent.open_dispute(movement_id=movement_id, now=clock(), gateway_reference=command.dispute_id)
        case CloseDispute():
            intent.close_dispute(
                won=command.won, movement_id=movement_id, now=clock(), gateway_reference=command.dispute_id
            )
        case _:
            assert_never(command)
    try:
        intents.save(intent)
    except ConcurrentUpdate:
        if is_recorded(intents, movement_id):
            return Result.REPLAYED  # the same event, delivered twice at once
        raise
    return Result.APPLIED


def _apply_void(
    command: RecordVoid, *, intents: IntentRepository, reference_of: References, clock: Clock
) -> Result:
    intent = _ours(command.payment_intent, command.reference, intents=intents, reference_of=reference_of)
    if intent is None:
        return Result.UNKNOWN_PAYMENT
    if intent.status is Status.VOIDED:
        return Result.REPLAYED  # an earlier delivery, or the void this stack asked Stripe for
    if intent.status is not Status.AUTHORIZED:
        return Result.IGNORED  # nothing held here to release (expired, say)
    intent.void(
        now=clock(), gateway_reference=command.payment_intent, request_id=movement_id_for(command.event_id)
    )
    try:
        intents.save(intent)
    except ConcurrentUpdate:
        if intents.get(intent.payment_intent_id, consistent=True).status is Status.VOIDED:
            return Result.REPLAYED
        raise
    return Result.APPLIED


def _ours(
    payment_intent: str, reference: str | None, *, intents: IntentRepository, reference_of: References
) -> PaymentIntent | None:
    """Our Stripe payment holding that PaymentIntent, or None."""
    if reference is None:
        reference = reference_of(payment_intent)
    if reference is None or not _SAFE_ID.match(reference):
        return None
    try:
        intent = intents.get(reference, consistent=True)
    except NotFound:
        return None
    if intent.processor is not Processor.STRIPE or intent.authorization_id != payment_intent:
        return None
    return intent
