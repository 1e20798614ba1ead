"""The payment intents one caller may reach, as a repository: every use case reads through it.

Wrapping the repository, rather than checking in each use case, means no use case can forget the
check: capture, void, refunds, checkouts and ledger views all load the payment through `get`. Another
merchant's payment (or movement) is refused with the very answer an unknown one gets, and nothing is
written. The merchant is on every intent and transaction item, so the check costs no extra read.
"""

from __future__ import annotations

from payments.domain.intents import PaymentIntent, Transaction
from payments.domain.merchants import Caller
from payments.service.ports import IntentRepository, Page, no_intent, no_transaction


class MerchantScopedIntents(IntentRepository):
    def __init__(self, intents: IntentRepository, caller: Caller) -> None:
        self._intents = intents
        self._caller = caller

    def get(self, payment_intent_id: str, *, consistent: bool = True) -> PaymentIntent:
        intent = self._intents.get(payment_intent_id, consistent=consistent)
        if not self._caller.can_see(intent.merchant_id):
            raise no_intent(payment_intent_id)
        return intent

    def get_transaction(self, transaction_id: str) -> Transaction:
        transaction = self._intents.get_transaction(transaction_id)
        if not self._caller.can_see(transaction.merchant_id):
            raise no_transaction(transaction_id)
        return transaction

    def add(self, intent: PaymentIntent) -> None:
        if not self._caller.can_see(intent.merchant_id):
            raise ValueError("an intent is created for the caller's own merchant only")
        self._intents.add(intent)

    def save(self, intent: PaymentIntent) -> PaymentIntent:
        if not self._caller.can_see(intent.merchant_id):  # loaded through `get`: cannot happen
            raise no_intent(intent.payment_intent_id)
        return self._intents.save(intent)

    def list_for_customer(
        self, customer_id: str, *, merchant_id: str | None, limit: int, next_token: str | None
    ) -> Page[PaymentIntent]:
        """A merchant key lists its own merchant's customer, whatever merchant is asked for."""
        if self._caller.merchant_id is not None:
            merchant_id = self._caller.merchant_id
        return self._intents.list_for_customer(
            customer_id, merchant_id=merchant_id, limit=limit, next_token=next_token
        )
