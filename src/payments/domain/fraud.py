"""Fraud scoring: amount, velocity per customer / device / IP, a blocklist, and the risk test methods.

Each signal adds points to a 0-100 score; the score picks the decision. Every threshold is a field of
`FraudRules`, read from configuration at the edge (see docs/fraud.md for the defaults and why).

Every signal is about the shopper, as the merchant describes them: `/v1` is called by the merchant's
servers, so nothing about the caller (its address, its user agent) is a signal. Customer ids are each
merchant's own (two merchants' `cus_1` are two people), so every customer signal is keyed by
`merchant_customer(merchant_id, customer_id)`; a device fingerprint or an IP address is the same
shopper at whichever merchant, so those are global.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from payments.domain.money import CURRENCIES, Money


def merchant_customer(merchant_id: str, customer_id: str) -> str:
    """One merchant's customer, as velocity counters, approval history and the blocklist name it.
    `#` is in no API identifier (`[A-Za-z0-9_.:-]`), so `<merchantId>#<customerId>` is unambiguous."""
    return f"{merchant_id}#{customer_id}"


def _magnitudes(table: str) -> MappingProxyType[str, int]:
    pairs = (entry.split() for entry in table.split(",") if entry.strip())
    return MappingProxyType({code: int(units.replace("_", "")) for code, units in pairs})


# Roughly what 1,000 USD is in whole units of each currency: a magnitude that puts the USD amount
# thresholds at a comparable spend in every currency, NOT an exchange rate. Approximate 2025 market
# rates rounded to two significant figures; where a currency has an official and a parallel rate far
# apart (CUP, IRR, KPW, MMK, SDG, YER) a figure between them. A factor of 2 either way only moves a
# review band, so the table is revised only when a currency moves by more than that (high-inflation
# currencies: ARS, VES, ...); a merchant needing exact figures sets `amount_overrides_major`.
PER_THOUSAND_USD: Final = _magnitudes(
    # ISO 4217 exponent 0
    "BIF 2_900_000, CLP 950_000, DJF 180_000, GNF 8_600_000, ISK 130_000, JPY 150_000, KMF 450_000,"
    "KRW 1_400_000, PYG 7_500_000, RWF 1_400_000, UGX 3_700_000, UYI 6_300, VND 26_000_000,"
    "VUV 120_000, XAF 600_000, XOF 600_000, XPF 110_000,"
    # exponent 2
    "AED 3_700, AFN 70_000, ALL 90_000, AMD 390_000, ANG 1_800, AOA 910_000, ARS 1_200_000,"
    "AUD 1_500, AWG 1_800, AZN 1_700, BAM 1_800, BBD 2_000, BDT 120_000, BGN 1_800, BMD 1_000,"
    "BND 1_300, BOB 6_900, BRL 5_500, BSD 1_000, BTN 85_000, BWP 14_000, BYN 3_200, BZD 2_000,"
    "CAD 1_400, CDF 2_800_000, CHF 850, CNY 7_200, COP 4_100_000, CRC 510_000, CUP 120_000,"
    "CVE 100_000, CZK 22_000, DKK 6_700, DOP 62_000, DZD 130_000, EGP 49_000, ERN 15_000,"
    "ETB 130_000, EUR 900, FJD 2_300, FKP 780, GBP 780, GEL 2_700, GHS 12_000, GIP 780, GMD 71_000,"
    "GTQ 7_700, GYD 210_000, HKD 7_800, HNL 26_000, HTG 130_000, HUF 360_000, IDR 16_000_000,"
    "ILS 3_600, INR 85_000, IRR 900_000_000, JMD 160_000, KES 130_000, KGS 87_000, KHR 4_000_000,"
    "KPW 3_000_000, KYD 830, KZT 510_000, LAK 22_000_000, LBP 90_000_000, LKR 300_000,"
    "LRD 190_000, LSL 18_000, MAD 9_300, MDL 17_000, MGA 4_500_000, MKD 55_000, MMK 3_000_000,"
    "MNT 3_600_000, MOP 8_100, MRU 40_000, MUR 46_000, MVR 15_000, MWK 1_800_000, MXN 19_000,"
    "MYR 4_300, MZN 64_000, NAD 18_000, NGN 1_500_000, NIO 37_000, NOK 10_000, NPR 140_000,"
    "NZD 1_700, PAB 1_000, PEN 3_600, PGK 4_100, PHP 57_000, PKR 280_000, PLN 3_800, QAR 3_600,"
    "RON 4_500, RSD 105_000, RUB 85_000, SAR 3_800, SBD 8_400, SCR 14_000, SDG 2_000_000,"
    "SEK 10_000, SGD 1_300, SHP 780, SLE 23_000, SOS 570_000, SRD 37_000, SSP 4_500_000,"
    "STN 22_000, SVC 8_800, SYP 13_000_000, SZL 18_000, THB 33_000, TJS 10_000, TMT 3_500,"
    "TOP 2_400, TRY 40_000, TTD 6_800, TWD 31_000, TZS 2_500_000, UAH 41_000, USD 1_000,"
    "UYU 40_000, UZS 12_000_000, VES 150_000, WST 2_700, XCD 2_700, YER 1_000_000, ZAR 18_000,"
    "ZMW 25_000, ZWG 27_000,"
    # exponent 3
    "BHD 380, IQD 1_300_000, JOD 710, KWD 310, LYD 5_400, OMR 380, TND 3_000,"
    # exponent 4 (units of account: Chile's UF, Uruguay's unidad previsional)
    "CLF 24, UYW 24_000"
)


class Decision(StrEnum):
    ALLOW = "allow"
    STEP_UP = "step_up"  # ask for 3-D Secure
    BLOCK = "block"  # a clean decline, the gateway is never called


@dataclass(frozen=True, slots=True)
class FraudRules:
    step_up_score: int = 40
    block_score: int = 80
    # Amount thresholds in whole US dollars, brought to each currency through PER_THOUSAND_USD; a
    # currency named in `amount_overrides_major` uses its own (review, high), in its major units.
    amount_review_usd: int = 2_000
    amount_high_usd: int = 10_000
    amount_overrides_major: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    amount_review_points: int = 25
    amount_high_points: int = 45
    # Attempts allowed per window before a dimension counts as too fast.
    velocity_window_seconds: int = 3600
    customer_limit: int = 10
    device_limit: int = 10
    ip_limit: int = 20
    # Customer or device over its limit steps up on its own, both together block; an IP over its limit
    # only adds weight (many customers share one address behind a NAT).
    customer_points: int = 40
    device_points: int = 40
    ip_points: int = 25
    blocklist: frozenset[str] = frozenset()
    always_block_methods: frozenset[str] = frozenset({"pm_card_risk_highest"})
    always_step_up_methods: frozenset[str] = frozenset({"pm_card_risk_elevated"})

    def __post_init__(self) -> None:
        # A customer id means nothing without its merchant: an entry without one would block nobody
        # (or, read globally, every merchant's customer of that id), so it is refused.
        for entry in self.blocklist:
            kind, _, value = entry.partition(":")
            if kind == "customer" and not _names_its_merchant(value):
                raise ValueError(
                    f"blocklist entry {entry!r}: a customer is named with its merchant, "
                    "customer:<merchantId>#<customerId>"
                )
        unknown = sorted(set(self.amount_overrides_major) - set(CURRENCIES))
        if unknown:
            raise ValueError(f"amount overrides for unknown currencies: {', '.join(unknown)}")
        # Emails match whatever their case: normalise the entries once, as attempts are normalised.
        normalised = frozenset(
            entry.lower() if entry.lower().startswith("email:") else entry for entry in self.blocklist
        )
        object.__setattr__(self, "blocklist", normalised)

    def amount_thresholds_minor(self, money: Money) -> tuple[int, int]:
        """(review, high) in the payment's minor units: the currency's override, else the USD
        thresholds at that currency's magnitude (rounded up to a whole minor unit)."""
        code, scale = money.currency.code, 10**money.currency.exponent
        if code in self.amount_overrides_major:
            review, high = self.amount_overrides_major[code]
            return review * scale, high * scale
        per_thousand = PER_THOUSAND_USD[code]
        return (
            -(-self.amount_review_usd * per_thousand * scale // 1_000),
            -(-self.amount_high_usd * per_thousand * scale // 1_000),
        )


def _names_its_merchant(value: str) -> bool:
    merchant_id, separator, customer_id = value.partition("#")
    return bool(merchant_id and separator and customer_id)


@dataclass(frozen=True, slots=True)
class FraudSignals:
    """What is known about one attempt. Velocity counts include this attempt.

    `merchant_id` is the payment's merchant: it scopes `customer_id`. The device and the IP address
    are what the merchant sent about the shopper, or None: never the API caller's own."""

    amount: Money
    merchant_id: str
    customer_id: str
    payment_method: str
    device_fingerprint: str | None = None
    ip_address: str | None = None
    email: str | None = None
    customer_attempts: int = 1
    device_attempts: int = 0
    ip_attempts: int = 0

    @property
    def customer(self) -> str:
        """The customer, scoped to its merchant (see `merchant_customer`)."""
        return merchant_customer(self.merchant_id, self.customer_id)


@dataclass(frozen=True, slots=True)
class FraudAssessment:
    decision: Decision
    score: int
    reasons: tuple[str, ...]


def blocklist_keys(signals: FraudSignals) -> tuple[str, ...]:
    """The `kind:value` entries a blocklist may name for this attempt."""
    keys = [f"customer:{signals.customer}"]
    if signals.device_fingerprint:
        keys.append(f"device:{signals.device_fingerprint}")
    if signals.ip_address:
        keys.append(f"ip:{signals.ip_address}")
    if signals.email:
        keys.append(f"email:{signals.email.lower()}")
    return tuple(keys)


def assess(signals: FraudSignals, rules: FraudRules) -> FraudAssessment:
    reasons: list[str] = []
    score = 0

    def add(points: int, reason: str) -> None:
        nonlocal score
        score += points
        reasons.append(reason)

    if signals.payment_method in rules.always_block_methods:
        add(100, "risk_test_method_highest")
    elif signals.payment_method in rules.always_step_up_methods:
        add(rules.step_up_score, "risk_test_method_elevated")
    if any(key in rules.blocklist for key in blocklist_keys(signals)):
        add(100, "blocklisted")

    review, high = rules.amount_thresholds_minor(signals.amount)
    if signals.amount.amount >= high:
        add(rules.amount_high_points, "amount_high")
    elif signals.amount.amount >= review:
        add(rules.amount_review_points, "amount_elevated")

    if signals.customer_attempts > rules.customer_limit:
        add(rules.customer_points, "velocity_customer")
    if signals.device_attempts > rules.device_limit:
        add(rules.device_points, "velocity_device")
    if signals.ip_attempts > rules.ip_limit:
        add(rules.ip_points, "velocity_ip")

    score = min(score, 100)
    if score >= rules.block_score:
        decision = Decision.BLOCK
    elif score >= rules.step_up_score:
        decision = Decision.STEP_UP
    else:
        decision = Decision.ALLOW
    return FraudAssessment(decision=decision, score=score, reasons=tuple(reasons))
