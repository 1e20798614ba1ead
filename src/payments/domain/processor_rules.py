"""Which processor a merchant's new payment goes to: the merchant's rules, in order, else the default.

A rule names a processor and, optionally, the currencies and the amount range (inclusive, in minor
units of the payment's own currency) it applies to. The first rule a payment matches wins; a payment
no rule matches, or a merchant with no rules, goes to the deployment's default processor. The
processors of the later rules it matches are its fallbacks, in order: where the first provably never
received the authorization request (`service/authorize.py`), the payment moves to the next.

Rules come from an operator (`payments processors set`) and from a table: both go through `rules_from`
here, which refuses anything it cannot read exactly, so a rule never routes money by a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from payments.domain.errors import InvalidRequest
from payments.domain.intents import Processor
from payments.domain.money import CURRENCIES, Money

# Rules are read on every new payment of the merchant, in one item: a short list is all routing needs.
MAX_RULES: Final = 50
# The most a rule's amounts may be: what DynamoDB's numbers and every processor's API carry exactly.
MAX_AMOUNT: Final = 10**15
_FIELDS: Final = frozenset({"processor", "currencies", "minAmount", "maxAmount"})


@dataclass(frozen=True, slots=True)
class ProcessorRule:
    """Send a payment to `processor` when its currency is one of `currencies` (None: any) and its
    amount is within [`min_amount`, `max_amount`] (None: unbounded), both in minor units."""

    processor: Processor
    currencies: tuple[str, ...] | None = None
    min_amount: int | None = None
    max_amount: int | None = None

    def __post_init__(self) -> None:
        _check(self)

    def matches(self, amount: Money) -> bool:
        if self.currencies is not None and amount.currency.code not in self.currencies:
            return False
        if self.min_amount is not None and amount.amount < self.min_amount:
            return False
        return self.max_amount is None or amount.amount <= self.max_amount

    def as_dict(self) -> dict[str, Any]:
        """The rule as the table and `--json` keep it: absent fields are left out."""
        item: dict[str, Any] = {"processor": self.processor.value}
        if self.currencies is not None:
            item["currencies"] = list(self.currencies)
        if self.min_amount is not None:
            item["minAmount"] = self.min_amount
        if self.max_amount is not None:
            item["maxAmount"] = self.max_amount
        return item

    def as_text(self) -> str:
        """The rule as `payments processors set --rule` takes it: `processor[:CUR,CUR[:min[:max]]]`."""
        parts = [
            self.processor.value,
            ",".join(self.currencies or ()),
            "" if self.min_amount is None else str(self.min_amount),
            "" if self.max_amount is None else str(self.max_amount),
        ]
        while len(parts) > 1 and parts[-1] == "":
            parts.pop()
        return ":".join(parts)


def choose(rules: Sequence[ProcessorRule], amount: Money, default: Processor) -> Processor:
    """The processor of the first rule the payment matches, else `default`."""
    return candidates(rules, amount, default)[0]


def candidates(rules: Sequence[ProcessorRule], amount: Money, default: Processor) -> tuple[Processor, ...]:
    """The processors of every rule the payment matches, in the rules' order, each once; `(default,)`
    when it matches none. The first takes the payment, the rest are its fallbacks."""
    matched = dict.fromkeys(rule.processor for rule in rules if rule.matches(amount))
    return tuple(matched) or (default,)


def _check(rule: ProcessorRule) -> None:
    if not isinstance(rule.processor, Processor):
        raise InvalidRequest(f"processor must be one of {', '.join(Processor)}")
    if rule.currencies is not None:
        if not rule.currencies:
            raise InvalidRequest("currencies must name at least one currency (leave it out for any)")
        for code in rule.currencies:
            if not isinstance(code, str) or code not in CURRENCIES:
                raise InvalidRequest(f"unknown currency {code!r}: use ISO 4217 codes in upper case")
        if len(set(rule.currencies)) != len(rule.currencies):
            raise InvalidRequest(f"currencies name a currency twice: {','.join(rule.currencies)}")
    for name, value in (("minAmount", rule.min_amount), ("maxAmount", rule.max_amount)):
        if value is None:
            continue
        if type(value) is not int:  # bool is an int, a float would invite rounding
            raise InvalidRequest(f"{name} must be a whole number of minor units, not {value!r}")
        if not 0 <= value <= MAX_AMOUNT:
            raise InvalidRequest(f"{name} must be between 0 and {MAX_AMOUNT}, got {value}")
    if rule.min_amount is not None and rule.max_amount is not None and rule.min_amount > rule.max_amount:
        raise InvalidRequest(
            f"minAmount {rule.min_amount} is more than maxAmount {rule.max_amount}: min must be <= max"
        )
    if (rule.min_amount is not None or rule.max_amount is not None) and rule.currencies is None:
        # 500000 is $5,000 in cents and 500,000 yen: an amount means nothing without its currency.
        raise InvalidRequest("an amount range needs currencies: amounts are minor units of a currency")


def rule_from(raw: object, *, position: int = 1) -> ProcessorRule:
    """One rule from its stored (JSON) shape: `{processor, currencies?, minAmount?, maxAmount?}`."""
    where = f"rule {position}"
    if not isinstance(raw, Mapping):
        raise InvalidRequest(f"{where}: must be an object with a processor")
    unknown = sorted(str(key) for key in raw if key not in _FIELDS)
    if unknown:
        raise InvalidRequest(f"{where}: unknown field(s) {', '.join(unknown)}")
    processor = raw.get("processor")
    if processor not in {member.value for member in Processor}:
        raise InvalidRequest(f"{where}: unknown processor {processor!r}: use one of {', '.join(Processor)}")
    currencies = raw.get("currencies")
    if currencies is not None and (
        not isinstance(currencies, list | tuple) or not all(isinstance(code, str) for code in currencies)
    ):
        raise InvalidRequest(f"{where}: currencies must be a list of ISO 4217 codes")
    try:
        return ProcessorRule(
            processor=Processor(processor),
            currencies=None if currencies is None else tuple(currencies),
            min_amount=raw.get("minAmount"),
            max_amount=raw.get("maxAmount"),
        )
    except InvalidRequest as error:
        raise InvalidRequest(f"{where}: {error.message}") from None


def rules_from(raw: object) -> tuple[ProcessorRule, ...]:
    """A merchant's rules from their stored shape: a list of rules, in order."""
    if not isinstance(raw, list | tuple):
        raise InvalidRequest("rules must be a list")
    if len(raw) > MAX_RULES:
        raise InvalidRequest(f"at most {MAX_RULES} rules, got {len(raw)}")
    return tuple(rule_from(item, position=index) for index, item in enumerate(raw, start=1))


def parse_rule(text: str) -> ProcessorRule:
    """A rule as an operator writes it: `processor[:CURRENCIES[:MIN[:MAX]]]`, each part optional but the
    processor (`stripe:USD,EUR:0:500000`, `sandbox`, `stripe:JPY::100000`); codes in any case."""
    parts = text.strip().split(":")
    if len(parts) > 4:
        raise InvalidRequest(f"rule {text!r}: expected processor[:CURRENCIES[:MIN[:MAX]]]")
    parts += [""] * (4 - len(parts))
    processor, codes, low, high = (part.strip() for part in parts)
    raw: dict[str, Any] = {"processor": processor}
    if codes:
        raw["currencies"] = [code.strip().upper() for code in codes.split(",")]
    for name, value in (("minAmount", low), ("maxAmount", high)):
        if not value:
            continue
        if not value.isascii() or not value.isdigit():
            raise InvalidRequest(
                f"rule {text!r}: {name} must be a whole number of minor units, got {value!r}"
            )
        raw[name] = int(value)
    try:
        return rule_from(raw)
    except InvalidRequest as error:
        raise InvalidRequest(f"rule {text!r}: {error.message.removeprefix('rule 1: ')}") from None
