"""`payments processors show|set|clear|set-key`: each merchant's processor rules and its own Stripe key.

The rules live in the stack's `payment-merchant-processors-<stage>` table (create-intent reads them to
choose a new payment's processor); a merchant's own Stripe key in the Secrets Manager secret
`payments/stripe-api-key-<stage>/<merchantId>`, encrypted with the same KMS key as the deployment's
`payments/stripe-api-key-<stage>`, which a merchant without one of its own is paid with. Both are found
by those names through boto3 (AWS_ENDPOINT_URL locally). No key's value is ever printed: `show` says
which secrets exist, `set-key` reads the key from stdin (without echo on a terminal).
"""

from __future__ import annotations

import getpass
import json
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from payments.domain.errors import InvalidRequest
from payments.domain.merchants import MERCHANT_ID
from payments.domain.processor_rules import ProcessorRule, parse_rule
from payments.service.ports import MerchantRules, ProcessorNotConfigured

# What Stripe's secret and restricted keys look like (the template's StripeSecretKey takes the same).
STRIPE_KEY: Final = re.compile(r"(sk|rk)_(test|live)_[A-Za-z0-9_]+")


def table_name(stage: str) -> str:
    return f"payment-merchant-processors-{stage}"


def deployment_secret_name(stage: str) -> str:
    return f"payments/stripe-api-key-{stage}"


def merchant_secret_name(stage: str, merchant_id: str) -> str | None:
    """`payments/stripe-api-key-<stage>/<merchantId>`, as the functions read it; None for a merchant
    id a secret's name cannot hold (a `:`)."""
    from payments.bootstrap import merchant_secret_name as beside  # noqa: PLC0415

    return beside(deployment_secret_name(stage), merchant_id)


class _Refused(Exception):
    """Bad input: one line on stderr, exit code 2."""


@dataclass(frozen=True, slots=True)
class _SecretState:
    name: str
    owner: str  # "merchant" or "deployment"
    exists: bool
    scheduled_for_deletion: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "processor": "stripe",
            "owner": self.owner,
            "exists": self.exists,
            "scheduledForDeletion": self.scheduled_for_deletion,
        }


def _client(service: str) -> Any:
    from payments.operators import aws_client  # noqa: PLC0415

    return aws_client(service)


def _rules_store(stage: str) -> Any:
    from payments.adapters.dynamodb_processor_rules import DynamoDBProcessorRules  # noqa: PLC0415

    return DynamoDBProcessorRules(_client("dynamodb"), table=table_name(stage))


def _check_merchant(merchant_id: str) -> None:
    if not MERCHANT_ID.fullmatch(merchant_id):
        raise _Refused("--merchant must be 1 to 128 letters, digits or _.:-")


def _refused(command: str, error: Exception) -> int:
    message = error.message if isinstance(error, InvalidRequest) else str(error)
    print(f"payments processors {command}: {message}", file=sys.stderr)
    return 2


def _secret_state(secrets: Any, name: str, owner: str) -> _SecretState:
    try:
        described = secrets.describe_secret(SecretId=name)
    except secrets.exceptions.ResourceNotFoundException:
        return _SecretState(name, owner, exists=False)
    return _SecretState(name, owner, exists=True, scheduled_for_deletion="DeletedDate" in described)


def _key_secrets(stage: str, merchant_id: str) -> list[_SecretState]:
    """The merchant's own Stripe key secret and the deployment's, as they stand (never their values)."""
    secrets = _client("secretsmanager")
    found = []
    own = merchant_secret_name(stage, merchant_id)
    if own is not None:
        found.append(_secret_state(secrets, own, "merchant"))
    found.append(_secret_state(secrets, deployment_secret_name(stage), "deployment"))
    return found


def _in_use(secrets: list[_SecretState]) -> _SecretState | None:
    """The secret the stack pays this merchant's Stripe payments with: its own if it exists, else the
    deployment's."""
    return next((secret for secret in secrets if secret.exists), None)


def _rule_lines(rules: tuple[ProcessorRule, ...]) -> list[str]:
    return [f"  {index}. {rule.as_text()}" for index, rule in enumerate(rules, start=1)]


def show(merchant_id: str, *, stage: str, as_json: bool = False, out: TextIO | None = None) -> int:
    out = sys.stdout if out is None else out
    try:
        _check_merchant(merchant_id)
    except _Refused as error:
        return _refused("show", error)
    try:
        stored: MerchantRules | None = _rules_store(stage).rules_for(merchant_id)
    except ProcessorNotConfigured as error:
        print(f"payments processors show: {error}", file=sys.stderr)
        return 1
    secrets = _key_secrets(stage, merchant_id)
    used = _in_use(secrets)
    rules = () if stored is None else stored.rules
    if as_json:
        answer = {
            "merchantId": merchant_id,
            "rules": [rule.as_dict() for rule in rules],
            "updatedAt": None if stored is None else stored.updated_at,
            "secrets": [secret.as_dict() for secret in secrets],
            "stripeKeySecret": None if used is None else used.name,
        }
        print(json.dumps(answer), file=out)
        return 0
    if stored is None or not stored.rules:
        print(f"{merchant_id}: no rules: every payment goes to the stack's default processor", file=out)
    else:
        print(f"{merchant_id}: rules, the first that matches wins (updated {stored.updated_at}):", file=out)
        print("\n".join(_rule_lines(stored.rules)), file=out)
        print("  otherwise: the stack's default processor", file=out)
    for secret in secrets:
        if not secret.exists:
            continue
        whose = "the merchant's own" if secret.owner == "merchant" else "the deployment's"
        note = " (scheduled for deletion: its Stripe payments fail)" if secret.scheduled_for_deletion else ""
        using = ": its Stripe payments use it" if secret is used else ""
        print(f"stripe key secret {secret.name} ({whose}){using}{note}", file=out)
    if used is None:
        print(f"no Stripe key secret exists for {merchant_id} (is --stage right?)", file=out)
    return 0


def set_rules(merchant_id: str, rules: list[str], *, stage: str, out: TextIO | None = None) -> int:
    out = sys.stdout if out is None else out
    try:
        _check_merchant(merchant_id)
        if not rules:
            raise _Refused("give at least one --rule (`payments processors clear` drops them all)")
        parsed = tuple(parse_rule(text) for text in rules)
    except (_Refused, InvalidRequest) as error:
        return _refused("set", error)
    stored = _rules_store(stage).put(merchant_id, parsed, now=datetime.now(UTC))
    print(f"{merchant_id}: {len(stored.rules)} rule(s), the first that matches wins:", file=out)
    print("\n".join(_rule_lines(stored.rules)), file=out)
    print("  otherwise: the stack's default processor", file=out)
    return 0


def clear_rules(merchant_id: str, *, stage: str, out: TextIO | None = None) -> int:
    out = sys.stdout if out is None else out
    try:
        _check_merchant(merchant_id)
    except _Refused as error:
        return _refused("clear", error)
    removed = _rules_store(stage).remove(merchant_id)
    what = "rules dropped" if removed else "had no rules"
    print(f"{merchant_id}: {what}: every payment goes to the stack's default processor", file=out)
    return 0


def _read_key(source: TextIO) -> str:
    if source.isatty():
        return getpass.getpass("Stripe secret or restricted key (not echoed): ")
    return source.read().strip()


def set_key(
    merchant_id: str,
    *,
    processor: str,
    stage: str,
    source: TextIO | None = None,
    out: TextIO | None = None,
) -> int:
    """Create or update the merchant's own key secret, encrypted as the deployment's is."""
    out = sys.stdout if out is None else out
    try:
        _check_merchant(merchant_id)
        if processor != "stripe":
            raise _Refused(f"{processor} takes no key: only stripe does")
        name = merchant_secret_name(stage, merchant_id)
        if name is None:
            raise _Refused(f"merchant id {merchant_id!r} cannot name a secret (no ':' in secret names)")
        key = _read_key(sys.stdin if source is None else source)
        if not STRIPE_KEY.fullmatch(key):
            # The value is not repeated: it may be a key pasted into the wrong place.
            raise _Refused(
                "stdin is not a Stripe secret or restricted key (sk_test_..., sk_live_..., rk_...)"
            )
    except _Refused as error:
        return _refused("set-key", error)
    secrets = _client("secretsmanager")
    deployment = deployment_secret_name(stage)
    try:
        encryption = secrets.describe_secret(SecretId=deployment).get("KmsKeyId")
    except secrets.exceptions.ResourceNotFoundException:
        return _refused("set-key", _Refused(f"no secret {deployment}: is --stage right?"))
    try:
        existing = secrets.describe_secret(SecretId=name)
    except secrets.exceptions.ResourceNotFoundException:
        request: dict[str, Any] = {
            "Name": name,
            "Description": f"Merchant {merchant_id}'s own Stripe key (payments processors set-key).",
            "SecretString": key,
        }
        if encryption:
            request["KmsKeyId"] = encryption
        secrets.create_secret(**request)
        print(f"{name}: created; {merchant_id}'s Stripe payments use it within 5 minutes", file=out)
        return 0
    if "DeletedDate" in existing:
        secrets.restore_secret(SecretId=name)
    secrets.put_secret_value(SecretId=name, SecretString=key)
    print(f"{name}: updated; running functions take it up within 5 minutes", file=out)
    return 0
