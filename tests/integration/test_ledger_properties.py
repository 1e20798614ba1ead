"""The books under any payment history and any delivery: a stateful property test.

Hypothesis drives random authorizations (approved or declined, manual or automatic capture),
captures, voids, refunds and disputes through the real use cases, the DynamoDB adapters and the
sandbox gateway. Every movement recorded in the transactions table becomes its payment event, which
reaches the ledger in any order and any number of times (the wire format and back). After every
step: every currency balances to zero, the balances are exactly the sum of the entries, the refunded
total never exceeds the captured total, and every delivered event had exactly one effect.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from payments.adapters.dynamodb_intents import DynamoDBIntentRepository
from payments.adapters.dynamodb_items import transaction_from_item
from payments.adapters.event_topic import event_body, event_from_body
from payments.adapters.gateway_client import HttpGateway
from payments.domain.errors import CardDeclined, InvalidRequest, InvalidState
from payments.domain.events import EventType, event_for
from payments.domain.intents import CaptureMethod, PaymentIntent, Status, TransactionKind, transaction_id_for
from payments.domain.ledger import Account, Direction
from payments.domain.money import Money
from payments.local.runtime import LocalStack
from payments.service.authorize import AuthorizeIntent, authorize_intent
from payments.service.intents import CreateIntent, create_intent
from payments.service.ledger import post_event, post_hold_ahead, reverse_hold_if_unauthorized
from payments.service.movements import CaptureIntent, RefundIntent, capture_intent, refund_intent, void_intent
from payments.service.webhooks import DISPUTE_CLOSED, DISPUTE_CREATED, GatewayEvent, handle_gateway_event
from tests.integration.ledger_tables import all_entries, fresh_books

REFUSED = (InvalidState, InvalidRequest, CardDeclined)  # the domain saying no: a valid outcome here
MONEY_EVENTS = frozenset(EventType) - {EventType.DECLINED}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class World:
    intents: DynamoDBIntentRepository
    gateway: HttpGateway
    dynamodb: Any
    table_names: dict[str, str]


class Payments(RuleBasedStateMachine):
    world: ClassVar[World]
    payments = Bundle("payments")

    def __init__(self) -> None:
        super().__init__()
        self.customer = f"cus_{uuid.uuid4().hex[:12]}"
        self.books = fresh_books(
            self.world.dynamodb, intents_table=self.world.table_names["PaymentIntentsTable"]
        )
        self.created: list[str] = []
        self.seen: set[str] = set()
        self.undelivered: list[str] = []  # event bodies on the wire, in no particular order
        self.delivered: dict[str, str] = {}
        self.effects: Counter[str] = Counter()  # postings that landed, per event id
        self.held_ahead: set[str] = set()  # payments whose hold the checkout's branch posted

    # -- movements ---------------------------------------------------------------------------

    def _collect(self) -> None:
        """New movements in the transactions table become events in flight (as the stream does)."""
        response = self.world.dynamodb.query(
            TableName=self.world.table_names["TransactionsTable"],
            IndexName="by-customer",
            KeyConditionExpression="customerId = :customer",
            ExpressionAttributeValues={":customer": {"S": self.customer}},
        )
        recorded = [transaction_from_item(item) for item in response["Items"]]
        # In the order the steps made them (ids are random; the steps are not)
        recorded.sort(
            key=lambda moved: (
                self.created.index(moved.payment_intent_id),
                moved.created_at,
                list(TransactionKind).index(moved.kind),
            )
        )
        for transaction in recorded:
            if transaction.transaction_id not in self.seen:
                self.seen.add(transaction.transaction_id)
                self.undelivered.append(json.dumps(event_body(event_for(transaction))))

    @rule(
        target=payments,
        amount=st.integers(1, 150_000),
        code=st.sampled_from(["USD", "JPY", "EUR"]),
        method=st.sampled_from(["pm_card_visa", "pm_card_visa", "pm_card_mastercard", "pm_card_declined"]),
        automatic=st.booleans(),
        checkout_hold=st.sampled_from([None, "ahead", "late"]),
    )
    def authorize(
        self, amount: int, code: str, method: str, automatic: bool, checkout_hold: str | None
    ) -> str:
        """A payment authorized directly, or as the checkout does it: its ledger branch posts the hold
        ahead of the gateway's answer, or late (after a decline was compensated)."""
        intent = create_intent(
            CreateIntent(
                amount=Money.of(amount, code),
                customer_id=self.customer,
                merchant_id="mer_books",
                payment_method=method,
                capture_method=CaptureMethod.AUTOMATIC if automatic else CaptureMethod.MANUAL,
            ),
            intents=self.world.intents,
            clock=_now,
            time_to_live=timedelta(hours=1),
        )
        self.created.append(intent.payment_intent_id)
        ledger = self.books.ledger
        if checkout_hold == "ahead":
            self._hold(intent)
        try:
            authorize_intent(
                AuthorizeIntent(intent.payment_intent_id),
                intents=self.world.intents,
                fraud=None,
                gateway=self.world.gateway,
                clock=_now,
            )
        except REFUSED:
            if checkout_hold is not None:  # the checkout compensates its declined payment
                declined = self.world.intents.get(intent.payment_intent_id)
                reverse_hold_if_unauthorized(declined, ledger=ledger, clock=_now)
        if checkout_hold == "late":
            self._hold(intent)
        self._collect()
        return intent.payment_intent_id

    def _hold(self, intent: PaymentIntent) -> None:
        """The checkout's ledger branch: its hold is the AUTHORIZED event's own entry (same id)."""
        if post_hold_ahead(intent, ledger=self.books.ledger, clock=_now):
            self.effects[transaction_id_for(intent.payment_intent_id, TransactionKind.AUTHORIZATION)] += 1
            self.held_ahead.add(intent.payment_intent_id)

    @rule(payment=payments, share=st.one_of(st.none(), st.integers(1, 100)))
    def capture(self, payment: str, share: int | None) -> None:
        authorized = self.world.intents.get(payment).amount_authorized
        amount = None if share is None else max(1, authorized * share // 100)
        with suppress(*REFUSED):
            capture_intent(
                CaptureIntent(payment, amount),
                intents=self.world.intents,
                gateway=self.world.gateway,
                clock=_now,
            )
        self._collect()

    @rule(payment=payments)
    def void(self, payment: str) -> None:
        with suppress(*REFUSED):
            void_intent(payment, intents=self.world.intents, gateway=self.world.gateway, clock=_now)
        self._collect()

    @rule(payment=payments, share=st.one_of(st.none(), st.integers(1, 120)))
    def refund(self, payment: str, share: int | None) -> None:
        refundable = self.world.intents.get(payment).amount_refundable
        amount = None if share is None else max(1, refundable * share // 100)  # may ask for too much
        with suppress(*REFUSED):
            refund_intent(
                RefundIntent(payment, request_id=uuid.uuid4().hex, amount=amount),
                intents=self.world.intents,
                gateway=self.world.gateway,
                clock=_now,
            )
        self._collect()

    @rule(payment=payments, closed=st.sampled_from([None, "won", "lost"]))
    def dispute(self, payment: str, closed: str | None) -> None:
        event = GatewayEvent(
            event_id=f"evt_{uuid.uuid4().hex[:12]}",
            type=DISPUTE_CREATED if closed is None else DISPUTE_CLOSED,
            payment_intent_id=payment,
            dispute_id=f"dp_{payment}",
            outcome=closed,
        )
        with suppress(*REFUSED):
            handle_gateway_event(event, intents=self.world.intents, clock=_now)
        self._collect()

    # -- deliveries --------------------------------------------------------------------------

    def _deliver(self, body: str) -> None:
        event = event_from_body(json.loads(body))
        self.effects[event.event_id] += post_event(event, ledger=self.books.ledger)
        self.delivered[event.event_id] = body

    @precondition(lambda self: self.undelivered)
    @rule(pick=st.integers(0, 1_000), duplicate=st.booleans())
    def deliver(self, pick: int, duplicate: bool) -> None:
        """Any event in flight, not the oldest; a duplicate stays in flight for later."""
        body = self.undelivered[pick % len(self.undelivered)]
        if not duplicate:
            self.undelivered.remove(body)
        self._deliver(body)

    @precondition(lambda self: self.delivered)
    @rule(pick=st.integers(0, 1_000))
    def redeliver(self, pick: int) -> None:
        bodies = list(self.delivered.values())  # in delivery order: the same steps pick the same event
        self._deliver(bodies[pick % len(bodies)])

    # -- what must always hold ---------------------------------------------------------------

    @invariant()
    def every_currency_balances_and_the_balances_are_the_entries(self) -> None:
        from_entries: defaultdict[tuple[str, str], int] = defaultdict(int)
        for item in all_entries(self.world.dynamodb, self.books):
            for leg in item["legs"]["L"]:
                fields = leg["M"]
                sign = 1 if fields["direction"]["S"] == Direction.DEBIT else -1
                from_entries[(fields["account"]["S"], fields["currency"]["S"])] += sign * int(
                    fields["amount"]["N"]
                )
        balances = {
            (balance.account.value, balance.currency): balance.balance
            for balance in self.books.ledger.balances()
        }
        assert {key: value for key, value in from_entries.items() if value} == {
            key: value for key, value in balances.items() if value
        }
        per_currency: defaultdict[str, int] = defaultdict(int)
        for (_, code), value in balances.items():
            per_currency[code] += value
        assert set(per_currency.values()) <= {0}, per_currency

    @invariant()
    def every_delivered_event_had_exactly_one_effect(self) -> None:
        for event_id, body in self.delivered.items():
            event = json.loads(body)
            # A declined payment's id is its authorization's: a hold the checkout posted ahead counts
            held = event["paymentIntentId"] in self.held_ahead
            expected = 1 if event["eventType"] in MONEY_EVENTS or held else 0
            assert self.effects[event_id] == expected, (event_id, body)

    @invariant()
    def refunds_never_exceed_captures(self) -> None:
        for payment in self.created:
            intent = self.world.intents.get(payment)
            assert 0 <= intent.amount_refunded <= intent.amount_captured <= intent.amount_authorized

    def teardown(self) -> None:
        """Once everything in flight has arrived, each payment's books say what happened to it."""
        while self.undelivered:
            self._deliver(self.undelivered.pop())
        for payment in self.created:
            intent = self.world.intents.get(payment)
            totals: defaultdict[Account, int] = defaultdict(int)
            for entry in self.books.ledger.entries_for(payment):
                for (account, _), change in entry.balance_changes().items():
                    totals[account] += change
            held = intent.amount_authorized if intent.status is Status.AUTHORIZED else 0
            at_stake = intent.amount_refundable if intent.status is Status.DISPUTED else 0
            books = (
                totals[Account.AUTHORIZATIONS_PENDING],
                totals[Account.MERCHANT_PAYABLE],
                totals[Account.DISPUTES_PENDING],
            )
            expected = (held, -(intent.amount_captured - intent.amount_refunded), at_stake)
            assert books == expected, (payment, intent.status, "(hold, payable, disputed)")


def test_the_books_balance_under_any_history_and_any_delivery(
    local_stack: LocalStack, dynamodb: Any, table_names: dict[str, str]
) -> None:
    intents = DynamoDBIntentRepository(
        dynamodb,
        intents_table=table_names["PaymentIntentsTable"],
        transactions_table=table_names["TransactionsTable"],
    )
    Payments.world = World(
        intents, HttpGateway(local_stack.gateway.url, read_timeout=2.0), dynamodb, table_names
    )
    run_state_machine_as_test(
        Payments,
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            # A failure prints its steps as found: shrinking a machine that runs on the stack would
            # take longer than the suite may.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
        ),
    )
