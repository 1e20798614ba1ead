"""Business metrics in CloudWatch's embedded metric format (EMF): one JSON line on stdout that CloudWatch
Logs turns into a metric, so recording one costs no API call and adds no latency to a payment.

Every metric is in the `Payments` namespace with the dimensions `service` and `stage` (plus its own,
such as a checkout's outcome); the alarms and the dashboard in template.yaml name exactly these.
"""

from __future__ import annotations

NAMESPACE = "Payments"
# The dimensions every alarm on these metrics names; set here, not left to the environment.
SERVICE = "payments"


def _emit(name: str, unit: str, value: float, *, stage: str, **dimensions: str) -> None:
    from aws_lambda_powertools.metrics import MetricUnit, single_metric  # noqa: PLC0415 (cold start)

    with single_metric(
        name=name,
        unit=MetricUnit[unit],
        value=value,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE, "stage": stage, **dimensions},
    ):
        pass


def record_authorization(*, declined: bool, stage: str) -> None:
    """One authorization attempt's outcome as `DeclineRate` (100 declined, 0 approved): its average over
    a minute is the share declined, which the canary's rollback alarm watches."""
    _emit("DeclineRate", "Percent", 100.0 if declined else 0.0, stage=stage)


def record_authorize_latency(milliseconds: float, *, stage: str) -> None:
    """`AuthorizeLatency`: the synchronous authorization, fraud check and gateway call included."""
    _emit("AuthorizeLatency", "Milliseconds", milliseconds, stage=stage)


def record_checkout_outcome(outcome: str, *, stage: str) -> None:
    """`CheckoutOutcome` (a count) by `outcome`: SUCCEEDED, DECLINED or FAILED."""
    _emit("CheckoutOutcome", "Count", 1.0, stage=stage, outcome=outcome)


def record_checkout_error(*, stage: str) -> None:
    """One checkout with a fault of ours in it (`CheckoutErrors`, a rollback alarm): a task that crashed
    or raised an error no payment outcome names, or a failed step after the authorization. Never a
    payment outcome, nor an unreachable gateway, which must not roll our deployment back."""
    _emit("CheckoutErrors", "Count", 1.0, stage=stage)


def record_refunds_processed(count: int, *, stage: str) -> None:
    """`RefundsProcessed`: refund jobs a worker batch finished (refunded, or failed for good)."""
    _emit("RefundsProcessed", "Count", float(count), stage=stage)
