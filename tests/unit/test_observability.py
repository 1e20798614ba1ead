"""Every handler logs one JSON line per invocation with its correlation ids, and never the event body."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from payments.domain.errors import AuthenticationRequired, CardDeclined, FraudSuspected, PaymentRefused
from payments.functions.observability import correlation_ids, logger, observed
from payments.local.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parents[2]


class Context:
    function_name = "payments-authorize-dev"


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the logger writes (stdout, as Lambda sends it to CloudWatch Logs), kept for the test."""
    stream = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    yield stream
    handler.setStream(previous)  # type: ignore[attr-defined]


def _lines(logged: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in logged.getvalue().splitlines()]


def test_an_api_call_is_logged_with_its_payment_and_outcome(logged: io.StringIO) -> None:
    @observed
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 402, "body": "{}"}

    event = {
        "pathParameters": {"paymentIntentId": "pi_123"},
        # A body that must never be logged, whatever it holds.
        "body": json.dumps({"card": "4242424242424242", "cvc": "123", "receiptEmail": "a@b.example"}),
    }
    handler(event, Context())
    (line,) = _lines(logged)
    assert (line["message"], line["level"], line["service"]) == ("invocation handled", "INFO", "payments")
    assert (line["paymentIntentId"], line["statusCode"], line["function"]) == (
        "pi_123",
        402,
        "payments-authorize-dev",
    )
    assert isinstance(line["durationMs"], float)
    text = json.dumps(line)
    assert "4242" not in text
    assert "cvc" not in text
    assert "a@b.example" not in text


def test_a_failure_is_logged_with_its_traceback_and_raised_again(logged: io.StringIO) -> None:
    @observed
    def task(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("the gateway answered 500")

    with pytest.raises(RuntimeError):
        task({"paymentIntentId": "pi_9", "trackingId": "chk_9"}, Context())
    (line,) = _lines(logged)
    assert (line["level"], line["trackingId"], line["paymentIntentId"]) == ("ERROR", "chk_9", "pi_9")
    assert "RuntimeError: the gateway answered 500" in line["exception"]


@pytest.mark.parametrize(
    "outcome",
    [
        AuthenticationRequired("a 3-D Secure step-up is needed"),
        CardDeclined("insufficient_funds"),
        FraudSuspected("the payment was blocked by the fraud check"),
    ],
)
def test_a_payment_outcome_raised_for_the_workflow_is_an_info_line_without_a_traceback(
    logged: io.StringIO, outcome: PaymentRefused
) -> None:
    @observed
    def task(event: dict[str, Any], context: Any) -> None:
        raise outcome

    # The workflow's Catch still sees it
    with pytest.raises(type(outcome)):
        task({"paymentIntentId": "pi_9", "trackingId": "chk_9"}, Context())
    (line,) = _lines(logged)
    assert (line["level"], line["message"]) == ("INFO", "invocation answered with a payment outcome")
    assert (line["errorType"], line["code"], line["trackingId"]) == (
        type(outcome).__name__,
        outcome.code,
        "chk_9",
    )
    assert "exception" not in line


def test_ids_do_not_carry_over_to_the_next_invocation(logged: io.StringIO) -> None:
    @observed
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {}

    handler({"paymentIntentId": "pi_first"}, Context())
    handler({"Records": []}, Context())
    first, second = _lines(logged)
    assert first["paymentIntentId"] == "pi_first"
    assert "paymentIntentId" not in second


@pytest.mark.parametrize(
    ("event", "ids"),
    [
        ({"pathParameters": {"trackingId": "chk_1"}}, {"trackingId": "chk_1"}),
        (
            {"paymentIntentId": "pi_1", "trackingId": "chk_1"},
            {"paymentIntentId": "pi_1", "trackingId": "chk_1"},
        ),
        ({"pathParameters": None, "batchId": "rb_1"}, {"batchId": "rb_1"}),
        ({"paymentIntentId": 42}, {}),  # only strings are ids
        ([1, 2], {}),
    ],
)
def test_correlation_ids_come_from_path_parameters_or_task_input(event: Any, ids: dict[str, str]) -> None:
    assert correlation_ids(event) == ids


def test_every_handler_in_the_template_is_observed() -> None:
    import importlib  # noqa: PLC0415

    template = load_template(ROOT / "template.yaml")
    handlers = {
        resource["Properties"]["Handler"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    unobserved = []
    for handler in sorted(handlers):
        module, _, name = handler.rpartition(".")
        function = getattr(importlib.import_module(module), name)
        if getattr(function, "__wrapped__", None) is None:
            unobserved.append(handler)
    assert len(handlers) > 40
    assert unobserved == []


def test_business_metrics_are_emf_lines_with_the_dimensions_the_dashboard_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from payments.adapters import emf_metrics  # noqa: PLC0415

    emf_metrics.record_checkout_outcome("DECLINED", stage="dev")
    emf_metrics.record_authorize_latency(183.4, stage="dev")
    emf_metrics.record_refunds_processed(7, stage="dev")
    outcome, latency, refunds = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    (directive,) = outcome["_aws"]["CloudWatchMetrics"]
    assert sorted(directive["Dimensions"][0]) == ["outcome", "service", "stage"]
    assert (outcome["outcome"], outcome["CheckoutOutcome"]) == ("DECLINED", [1.0])
    assert latency["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "AuthorizeLatency", "Unit": "Milliseconds"}
    ]
    assert (latency["AuthorizeLatency"], refunds["RefundsProcessed"]) == ([183.4], [7.0])
