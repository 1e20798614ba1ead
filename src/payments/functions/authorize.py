"""POST /v1/payment-intents/{paymentIntentId}/authorize: the synchronous money path."""

from __future__ import annotations

import time
from typing import Any

from payments import bootstrap
from payments.adapters import emf_metrics
from payments.domain.errors import CardDeclined, FraudSuspected, PaymentsError
from payments.functions import http
from payments.functions.observability import observed
from payments.functions.schemas import AuthorizeBody, intent_body
from payments.service.authorize import AuthorizeIntent, authorize_intent


def _command(event: http.Event) -> AuthorizeIntent:
    body = http.parse(AuthorizeBody, http.json_body(event, required=False))
    return AuthorizeIntent(
        payment_intent_id=http.path_parameter(event, "paymentIntentId"),
        device_fingerprint=body.deviceFingerprint,
        ip_address=body.ipAddress,
        request_id=http.header(event, "idempotency-key"),
    )


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    try:
        command = _command(event)
    except PaymentsError as error:
        return http.error_response(error)

    def work() -> http.Response:
        stage = bootstrap.settings().stage
        started = time.perf_counter()
        try:
            intent = authorize_intent(
                command,
                intents=bootstrap.intents_for(http.caller(event)),
                fraud=bootstrap.fraud_screen(),
                gateway=bootstrap.gateway(),
                clock=bootstrap.now,
            )
        except (CardDeclined, FraudSuspected):
            emf_metrics.record_authorization(declined=True, stage=stage)
            raise
        finally:
            emf_metrics.record_authorize_latency((time.perf_counter() - started) * 1000, stage=stage)
        emf_metrics.record_authorization(declined=False, stage=stage)
        return http.respond(200, intent_body(intent))

    return bootstrap.idempotent_requests()(event, context, work)
