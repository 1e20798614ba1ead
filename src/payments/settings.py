"""Typed settings, read once from the environment the template gives each function.

Only `bootstrap` calls `Settings.from_env`; everything else receives values explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from payments.domain.fraud import FraudRules
from payments.domain.intents import Processor
from payments.domain.receipts import order_page_url_problem


class SettingsError(ValueError):
    """A required environment variable is missing or malformed: the function cannot start."""


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is required")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None


_OVERRIDE = re.compile(r"([A-Z]{3}):([0-9]+):([0-9]+)")


def _amount_overrides(env: Mapping[str, str]) -> dict[str, tuple[int, int]]:
    """FRAUD_AMOUNT_OVERRIDES: comma-separated `CODE:review:high`, in that currency's major units
    (e.g. `JPY:300000:1500000,KWD:600:3000`); blanks ignored."""
    overrides: dict[str, tuple[int, int]] = {}
    for entry in filter(None, (part.strip() for part in env.get("FRAUD_AMOUNT_OVERRIDES", "").split(","))):
        match = _OVERRIDE.fullmatch(entry)
        if match is None or int(match[2]) > int(match[3]):
            raise SettingsError(
                f"FRAUD_AMOUNT_OVERRIDES entry {entry!r}: expected CODE:review:high in whole major units, "
                "review <= high"
            )
        overrides[match[1]] = (int(match[2]), int(match[3]))
    return overrides


@dataclass(frozen=True, slots=True)
class Settings:
    intents_table: str
    transactions_table: str
    idempotency_table: str
    fraud_function_name: str = ""
    fraud_velocity_table: str = ""
    gateway_base_url: str = ""
    # Stripe, where a function may move Stripe payments: its API (localstripe locally) and the secret
    # holding the account's secret key; and the processor of a merchant that has none configured.
    stripe_api_base: str = ""
    stripe_return_url: str = ""  # where Stripe sends the customer back after a challenge; empty: none
    stripe_secret_arn: str = ""
    stripe_webhook_secret_arn: str = ""  # the signing secret of Stripe's webhooks to this stack
    default_processor: str = "sandbox"
    merchant_processors_table: str = ""  # each merchant's processor rules (create-intent)
    # Merchant webhooks: the endpoints, events and deliveries tables, the queue of deliveries, the
    # prefix of endpoints' signing secrets in Secrets Manager (`<prefix><endpointId>`), the retry
    # schedule (seconds, comma-separated), whether http://127.0.0.1 may receive (the local stack only),
    # and how long a receiver may take to answer.
    webhook_endpoints_table: str = ""
    webhook_events_table: str = ""
    webhook_deliveries_table: str = ""
    webhook_deliveries_queue_url: str = ""
    webhook_events_queue_url: str = ""  # where outcome events (checkouts, refund batches) are fanned out
    webhook_secrets_prefix: str = ""
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    webhook_allow_loopback: str = "false"
    webhook_timeout_seconds: float = 15.0
    gateway_timeout_seconds: float = 1.0
    gateway_max_attempts: int = 3
    intent_ttl_seconds: int = 86_400
    idempotency_ttl_seconds: int = 86_400
    fraud_rules: FraudRules = field(default_factory=FraudRules)
    checkouts_table: str = ""
    ledger_table: str = ""
    ledger_balances_table: str = ""
    refund_batches_table: str = ""
    api_keys_table: str = ""
    refund_files_bucket: str = ""
    refund_jobs_queue_url: str = ""
    refund_jobs_max_receives: int = 3
    checkout_state_machine_arn: str = ""
    receipt_sender: str = ""
    receipts_configuration_set: str = ""
    order_page_url_template: str = ""  # the receipt's link: https://... with {orderId}; empty: no link
    audit_bucket: str = ""
    data_key: str = ""
    data_key_arn: str = ""  # the data key named so another account can use it (the settlement gateway)
    ops_alerts_topic_arn: str = ""
    step_up_timeout_seconds: int = 900
    settlements_bucket: str = ""
    settlements_table: str = ""
    stage: str = "dev"  # part of the names of resources found by name (SES templates)
    receipt_suppressions_table: str = ""
    customer_success_topic_arn: str = ""
    customer_success_webhook_url: str = ""
    ops_webhook_url: str = ""
    events_table: str = ""
    payment_events_topic_arn: str = ""
    webhook_secret_arn: str = ""
    # The deployment hooks: the function versions a canary checks, and the sandbox card it pays with.
    canary_create_intent_function: str = ""
    canary_authorize_function: str = ""
    canary_void_function: str = ""
    canary_start_checkout_function: str = ""
    canary_get_checkout_function: str = ""
    canary_payment_method: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        blocklist = frozenset(
            entry.strip() for entry in env.get("FRAUD_BLOCKLIST", "").split(",") if entry.strip()
        )
        defaults = FraudRules()
        try:
            rules = FraudRules(
                step_up_score=_int(env, "FRAUD_STEP_UP_SCORE", defaults.step_up_score),
                block_score=_int(env, "FRAUD_BLOCK_SCORE", defaults.block_score),
                amount_review_usd=_int(env, "FRAUD_AMOUNT_REVIEW_USD", defaults.amount_review_usd),
                amount_high_usd=_int(env, "FRAUD_AMOUNT_HIGH_USD", defaults.amount_high_usd),
                amount_overrides_major=_amount_overrides(env),
                customer_limit=_int(env, "FRAUD_CUSTOMER_LIMIT", defaults.customer_limit),
                device_limit=_int(env, "FRAUD_DEVICE_LIMIT", defaults.device_limit),
                ip_limit=_int(env, "FRAUD_IP_LIMIT", defaults.ip_limit),
                velocity_window_seconds=_int(
                    env, "FRAUD_VELOCITY_WINDOW_SECONDS", defaults.velocity_window_seconds
                ),
                blocklist=blocklist,
            )
        except SettingsError:
            raise
        except ValueError as error:  # the rules refused a value: a blocklist entry, an override's code
            raise SettingsError(f"FRAUD_BLOCKLIST or FRAUD_AMOUNT_OVERRIDES: {error}") from None
        # Every other field is read from the variable of its name in capitals (`ledger_table` from
        # LEDGER_TABLE), typed as the field is; a field without a default is required.
        values: dict[str, Any] = {}
        for setting in fields(cls):
            name = setting.name.upper()
            if setting.name == "fraud_rules":
                continue
            if setting.default is MISSING:
                values[setting.name] = _required(env, name)
            elif setting.type == "int":
                values[setting.name] = _int(env, name, int(setting.default))
            elif setting.type == "float":
                values[setting.name] = _float(env, name, float(setting.default))
            else:
                values[setting.name] = env.get(name, setting.default)
        values["gateway_base_url"] = values["gateway_base_url"].rstrip("/")
        settings = cls(fraud_rules=rules, **values)
        _check(settings)
        return settings


def _check(settings: Settings) -> None:
    """What no function may run with, said at its start rather than on its first request."""
    if settings.idempotency_ttl_seconds < 86_400:
        raise SettingsError("IDEMPOTENCY_TTL_SECONDS must be at least 86400 (24 h)")
    if settings.default_processor not in {processor.value for processor in Processor}:
        raise SettingsError(
            f"DEFAULT_PROCESSOR must be one of {', '.join(Processor)}, got {settings.default_processor!r}"
        )
    if settings.webhook_allow_loopback not in {"true", "false"}:
        raise SettingsError(
            f"WEBHOOK_ALLOW_LOOPBACK must be true or false, got {settings.webhook_allow_loopback!r}"
        )
    problem = order_page_url_problem(settings.order_page_url_template)
    if problem:
        raise SettingsError(f"ORDER_PAGE_URL_TEMPLATE {problem}, got {settings.order_page_url_template!r}")
