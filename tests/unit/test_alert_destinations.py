"""Alerts that reach a person: where template.yaml sends ops's and customer success's messages for each
choice of destinations, the stack it refuses, and the workflow's alarms of last resort."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from payments.local.template import Template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
EMAIL = "ops@shop.example"
OPS_CHAT = "https://hooks.slack.com/services/T0/B0/ops"
CS_CHAT = "https://hooks.slack.com/services/T0/B1/cs"


def stack(**parameters: str) -> Template:
    return Template.load(TEMPLATE_PATH, stack_name="payments", parameters=parameters)


def deployed(template: Template) -> set[str]:
    """The logical ids the parameters deploy (a resource's Condition evaluated)."""
    return {
        logical_id
        for logical_id, resource in template.resources.items()
        if "Condition" not in resource or template.condition(resource["Condition"])
    }


@pytest.mark.parametrize(
    ("parameters", "refused"),
    [
        ({}, True),
        ({"OpsAlertEmail": EMAIL}, False),
        ({"OpsWebhookUrl": OPS_CHAT}, False),
        ({"CustomerSuccessWebhookUrl": CS_CHAT}, True),  # customer success's chat is not ops's
    ],
)
def test_a_stack_whose_alerts_would_reach_nobody_is_refused(
    parameters: dict[str, str], refused: bool
) -> None:
    broken = stack(**parameters).broken_rules()
    assert broken == (
        ["Set OpsAlertEmail, OpsWebhookUrl or both, so that ops alerts and alarms reach someone."]
        if refused
        else []
    )


def test_the_local_stack_passes_the_rule_with_its_webhook_sink() -> None:
    """`payments local up` sets OpsWebhookUrl to its /_local/notifications sink (runtime.py)."""
    source = (ROOT / "src" / "payments" / "local" / "runtime.py").read_text()
    assert re.search(r'"OpsWebhookUrl": f"\{self\.front_door\.url\}/_local/notifications"', source)
    assert stack(OpsWebhookUrl="http://127.0.0.1:8080/_local/notifications").broken_rules() == []


def test_with_only_an_email_every_alert_is_emailed_and_nothing_posts_to_an_empty_url() -> None:
    template = stack(OpsAlertEmail=EMAIL)
    resources = deployed(template)
    # No chat poster that could only fail into the dead-letter queue (and page about itself)
    assert resources.isdisjoint(
        {"OpsAlertsFunction", "OpsAlertsLogGroup", "CustomerSuccessFunction", "CustomerSuccessLogGroup"}
    )
    subscriptions = {
        logical_id: template.resolve(template.resources[logical_id]["Properties"])
        for logical_id in resources
        if template.resources[logical_id]["Type"] == "AWS::SNS::Subscription"
        and template.resources[logical_id]["Properties"]["Protocol"] == "email"
    }
    topics = {props["TopicArn"].rsplit(":", 1)[1]: props for props in subscriptions.values()}
    assert set(topics) == {"ops-alerts-dev", "payment-events-dev", "customer-success-dev"}
    assert {props["Endpoint"] for props in topics.values()} == {EMAIL}
    # The same disputes the chat poster hears, no more
    poster = template.resources["OpsAlertsFunction"]["Properties"]["Events"]["Disputes"]["Properties"]
    assert topics["payment-events-dev"]["FilterPolicy"] == poster["FilterPolicy"]
    assert "FilterPolicy" not in topics["ops-alerts-dev"]


@pytest.mark.parametrize(
    ("parameters", "customer_success_url", "emailed"),
    [
        # Only ops's chat: customer success's notifications go there too
        ({"OpsWebhookUrl": OPS_CHAT}, OPS_CHAT, set()),
        # Its own chat: there, and ops's e-mail gets ops's alerts only
        (
            {"OpsWebhookUrl": OPS_CHAT, "OpsAlertEmail": EMAIL, "CustomerSuccessWebhookUrl": CS_CHAT},
            CS_CHAT,
            {
                "OpsAlertsEmailSubscription",
                "DisputesEmailSubscription",
            },
        ),
        # Ops's chat and e-mail, none of its own: both of ops's
        (
            {"OpsWebhookUrl": OPS_CHAT, "OpsAlertEmail": EMAIL},
            OPS_CHAT,
            {
                "OpsAlertsEmailSubscription",
                "DisputesEmailSubscription",
                "CustomerSuccessEmailSubscription",
            },
        ),
    ],
)
def test_customer_success_hears_on_its_chat_else_on_ops_destinations(
    parameters: dict[str, str], customer_success_url: str, emailed: set[str]
) -> None:
    template = stack(**parameters)
    resources = deployed(template)
    assert {"OpsAlertsFunction", "CustomerSuccessFunction"} <= resources
    variables = template.resolve(template.resources["CustomerSuccessFunction"]["Properties"]["Environment"])
    assert variables["Variables"]["CUSTOMER_SUCCESS_WEBHOOK_URL"] == customer_success_url
    assert {r for r in resources if r.endswith("EmailSubscription")} == emailed


@pytest.mark.parametrize("outcome", ["Failed", "TimedOut", "Aborted"])
def test_a_checkout_execution_that_ends_badly_pages(
    application_template: dict[str, Any], outcome: str
) -> None:
    """The workflow alerts ops itself; an execution ends FAILED, TIMED_OUT or ABORTED only when it could
    not, so each of those pages (through the ops topic, which an e-mail or the chat always reaches)."""
    props = application_template["Resources"][f"CheckoutExecutions{outcome}Alarm"]["Properties"]
    assert (props["Namespace"], props["MetricName"]) == ("AWS/States", f"Executions{outcome}")
    assert props["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "CheckoutStateMachine"}}]
    assert (props["Statistic"], props["Period"], props["Threshold"]) == ("Sum", 60, 0)
    assert (props["ComparisonOperator"], props["TreatMissingData"]) == (
        "GreaterThanThreshold",
        "notBreaching",
    )
    assert props["AlarmActions"] == [{"Ref": "OpsAlertsTopic"}]


def test_the_step_up_wait_ends_before_the_workflow_times_out(application_template: dict[str, Any]) -> None:
    import json  # noqa: PLC0415

    workflow = json.loads((ROOT / "statemachines" / "checkout.asl.json").read_text())
    longest_wait = application_template["Parameters"]["StepUpTimeoutSeconds"]["MaxValue"]
    assert longest_wait * 1.5 < workflow["TimeoutSeconds"]


def test_every_alarm_is_in_the_operators_list(application_template: dict[str, Any]) -> None:
    listed = (ROOT / "docs" / "observability.md").read_text()
    names = [
        resource["Properties"]["AlarmName"]["Fn::Sub"].replace("${Stage}", "<stage>")
        for resource in application_template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert len(names) > 15
    assert [name for name in names if f"`{name}`" not in listed] == []
