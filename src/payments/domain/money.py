"""Money as a type: integer minor units of one ISO 4217 currency.

Floats, bools and mixed currencies are refused by construction, so no amount can be rounded or
added across currencies by accident. The exponent of each currency comes from ISO 4217
(JPY 0, USD 2, KWD 3, ...), never from a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from payments.domain.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    exponent: int

    def __str__(self) -> str:
        return self.code


def _table(exponents: dict[int, str]) -> MappingProxyType[str, Currency]:
    return MappingProxyType(
        {code: Currency(code, exponent) for exponent, codes in exponents.items() for code in codes.split()}
    )


# ISO 4217 active codes grouped by minor-unit exponent (precious metals, SDR and test codes left out).
CURRENCIES: Final = _table(
    {
        0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
        2: (
            "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD "
            "CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP "
            "GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD "
            "LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB "
            "PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC "
            "SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWG"
        ),
        3: "BHD IQD JOD KWD LYD OMR TND",
        4: "CLF UYW",
    }
)


def currency(code: object) -> Currency:
    """The currency for an ISO 4217 code, upper case; anything else is an invalid request."""
    if not isinstance(code, str) or code not in CURRENCIES:
        raise InvalidRequest(f"unknown currency {code!r}: use an ISO 4217 code in upper case")
    return CURRENCIES[code]


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in the minor unit of its currency (cents for USD, yen for JPY, fils for KWD)."""

    amount: int
    currency: Currency

    def __post_init__(self) -> None:
        # bool is a subclass of int, and float/Decimal would invite rounding: only a real int passes.
        if type(self.amount) is not int:
            raise InvalidRequest(
                f"amount must be an integer number of minor units, not {type(self.amount).__name__}"
            )
        if not isinstance(self.currency, Currency):
            raise InvalidRequest("currency must be a Currency")

    @classmethod
    def of(cls, amount: object, code: object) -> Money:
        """Build from untrusted values (an int of minor units and an ISO code)."""
        return cls(amount, currency(code))  # type: ignore[arg-type]

    @classmethod
    def zero(cls, of: Currency) -> Money:
        return cls(0, of)

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise InvalidRequest(f"cannot combine {self.currency} with {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    @property
    def is_positive(self) -> bool:
        return self.amount > 0

    @property
    def is_zero(self) -> bool:
        return self.amount == 0

    def major_units_str(self) -> str:
        """The amount in major units as an exact decimal string ("12.50", "1200", "1.250")."""
        exponent = self.currency.exponent
        sign = "-" if self.amount < 0 else ""
        whole, fraction = divmod(abs(self.amount), 10**exponent)
        return f"{sign}{whole}.{fraction:0{exponent}d}" if exponent else f"{sign}{whole}"

    def __str__(self) -> str:
        return f"{self.major_units_str()} {self.currency.code}"
