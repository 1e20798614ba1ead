"""The processors of one deployment, behind the gateway port: each payment goes to its own.

A payment's processor is chosen when its intent is created and kept with it; every movement after
that (authorize, capture, void, refund, compensation) goes to that processor, because it alone holds
the authorization. A gateway is built per processor and merchant on first use (a merchant may hold its
own account at a processor, and so its own key), so a function that never meets a Stripe payment never
reads a Stripe key; a processor whose gateway is the same for every merchant hands back one instance.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from payments.domain.intents import PaymentIntent, Processor
from payments.service.ports import GatewayRouting, PaymentGateway, ProcessorNotConfigured


class Processors(GatewayRouting):
    """Routes each payment to its processor's gateway for its merchant (it moves no money itself).

    `gateways` builds a processor's gateway for one merchant id; each is built once per merchant.
    """

    def __init__(self, gateways: Mapping[Processor, Callable[[str], PaymentGateway]]) -> None:
        self._builders = dict(gateways)
        self._built: dict[tuple[Processor, str], PaymentGateway] = {}
        self._lock = threading.Lock()

    @property
    def configured(self) -> frozenset[Processor]:
        return frozenset(self._builders)

    def for_payment(self, intent: PaymentIntent) -> PaymentGateway:
        processor, merchant_id = intent.processor, intent.merchant_id
        with self._lock:
            gateway = self._built.get((processor, merchant_id))
            if gateway is None:
                build = self._builders.get(processor)
                if build is None:
                    raise ProcessorNotConfigured(
                        f"payment {intent.payment_intent_id} is {processor}'s, and this deployment has no "
                        f"{processor} configured"
                    )
                gateway = self._built[(processor, merchant_id)] = build(merchant_id)
        return gateway.for_payment(intent)
