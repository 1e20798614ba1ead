"""The fraud screen as seen from other functions: a synchronous `lambda.invoke` of fraud-check.

The wire format (both directions) lives here too, so the caller and the function cannot drift apart.
The checkout workflow builds the same request in its FraudCheck state (statemachines/checkout.asl.json),
from these field names.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from payments.domain.errors import InvalidRequest, UpstreamUnavailable
from payments.domain.fraud import Decision, FraudAssessment, FraudSignals
from payments.domain.money import Money
from payments.service.ports import FraudScreen

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient


def signals_to_payload(signals: FraudSignals) -> dict[str, Any]:
    return {
        "amount": signals.amount.amount,
        "currency": signals.amount.currency.code,
        "merchantId": signals.merchant_id,
        "customerId": signals.customer_id,
        "paymentMethod": signals.payment_method,
        "deviceFingerprint": signals.device_fingerprint,
        "ipAddress": signals.ip_address,
        "email": signals.email,
    }


def signals_from_payload(payload: dict[str, Any]) -> FraudSignals:
    """The attempt a request describes. The merchant is required: without it a customer id cannot be
    told from another merchant's customer of the same id."""
    try:
        return FraudSignals(
            amount=Money.of(payload["amount"], payload["currency"]),
            merchant_id=str(payload["merchantId"]),
            customer_id=str(payload["customerId"]),
            payment_method=str(payload["paymentMethod"]),
            device_fingerprint=payload.get("deviceFingerprint"),
            ip_address=payload.get("ipAddress"),
            email=payload.get("email"),
        )
    except KeyError as missing:
        raise InvalidRequest(f"fraud check request is missing {missing}") from None


def assessment_to_payload(assessment: FraudAssessment) -> dict[str, Any]:
    return {
        "decision": assessment.decision.value,
        "score": assessment.score,
        "reasons": list(assessment.reasons),
    }


def assessment_from_payload(payload: dict[str, Any]) -> FraudAssessment:
    return FraudAssessment(
        decision=Decision(payload["decision"]),
        score=int(payload["score"]),
        reasons=tuple(payload.get("reasons", ())),
    )


class LambdaFraudScreen(FraudScreen):
    def __init__(self, client: LambdaClient, *, function_name: str) -> None:
        self._client = client
        self._function_name = function_name

    def assess(self, signals: FraudSignals) -> FraudAssessment:
        try:
            response = self._client.invoke(
                FunctionName=self._function_name,
                InvocationType="RequestResponse",
                Payload=json.dumps(signals_to_payload(signals)).encode(),
            )
            body = json.loads(response["Payload"].read())
        except (BotoCoreError, ClientError, ValueError) as error:
            raise UpstreamUnavailable("the fraud check could not be reached", upstream="fraud") from error
        if response.get("FunctionError") or not isinstance(body, dict) or "decision" not in body:
            # Fail closed: a payment is never authorized without an answer from the fraud check.
            raise UpstreamUnavailable("the fraud check failed", upstream="fraud")
        return assessment_from_payload(body)
