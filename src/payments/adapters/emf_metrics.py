"""Business metrics in CloudWatch's embedded metric format (EMF): one JSON line on stdout that CloudWatch
Logs turns into a metric, so recording one costs no API call and adds no latency to a payment."""

from __future__ import annotations

NAMESPACE = "Payments"
# The dimensions every alarm on these metrics names; set here, not left to the environment.
SERVICE = "payments"


def record_authorization(*, declined: bool, stage: str) -> None:
    """One authorization attempt's outcome as `DeclineRate` (100 declined, 0 approved): its average over
    a minute is the share declined, which the canary's rollback alarm watches."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric  # noqa: PLC0415 (cold start)

    with single_metric(
        name="DeclineRate",
        unit=MetricUnit.Percent,
        value=100.0 if declined else 0.0,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE, "stage": stage},
    ):
        pass


def record_checkout_error(*, stage: str) -> None:
    """One checkout that failed on a fault rather than a payment outcome (`CheckoutErrors`)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric  # noqa: PLC0415 (cold start)

    with single_metric(
        name="CheckoutErrors",
        unit=MetricUnit.Count,
        value=1.0,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE, "stage": stage},
    ):
        pass
