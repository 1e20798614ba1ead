"""POST /v1/payment-intents/{paymentIntentId}/authorize: the synchronous money path."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from payments import bootstrap
from payments.adapters import emf_metrics
from payments.domain.errors import CardDeclined, FraudSuspected
from payments.functions import http
from payments.functions.schemas import AuthorizeBody, intent_body
from payments.service.authorize import AuthorizeIntent, authorize_intent
from payments.service.merchant_scope import MerchantScopedIntents
from payments.service.ports import FraudScreen, GatewayRouting, IntentRepository


@dataclass(frozen=True, slots=True)
class Dependencies:
    intents: IntentRepository
    fraud: FraudScreen
    gateway: GatewayRouting
    stage: str
    clock: Callable[[], datetime] = bootstrap.now


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(
        intents=bootstrap.intent_repository(env),
        fraud=bootstrap.fraud_screen(env),
        gateway=bootstrap.gateway(env),
        stage=env.settings.stage,
    )


def _command(event: http.Event) -> AuthorizeIntent:
    body = http.parse(AuthorizeBody, http.json_body(event, required=False))
    return AuthorizeIntent(
        payment_intent_id=http.path_parameter(event, "paymentIntentId"),
        device_fingerprint=body.deviceFingerprint,
        ip_address=body.ipAddress,
        request_id=http.header(event, "idempotency-key"),
    )


@http.route(wire, parse=_command, idempotent=True)
def handler(request: http.Request[AuthorizeIntent], deps: Dependencies) -> http.Response:
    started = time.perf_counter()
    try:
        intent = authorize_intent(
            request.input,
            intents=MerchantScopedIntents(deps.intents, request.caller),
            fraud=deps.fraud,
            gateway=deps.gateway,
            clock=deps.clock,
        )
    except (CardDeclined, FraudSuspected):
        emf_metrics.record_authorization(declined=True, stage=deps.stage)
        raise
    finally:
        emf_metrics.record_authorize_latency((time.perf_counter() - started) * 1000, stage=deps.stage)
    emf_metrics.record_authorization(declined=False, stage=deps.stage)
    return http.respond(200, intent_body(intent))
