"""Money: integer minor units of one ISO 4217 currency, exact and never mixed."""

from __future__ import annotations

import operator
from collections.abc import Callable
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.domain.errors import InvalidRequest, PaymentsError
from payments.domain.money import CURRENCIES, Currency, Money, currency

CODES = sorted(CURRENCIES)
currencies = st.sampled_from(CODES).map(currency)
amounts = st.integers(min_value=-(10**18), max_value=10**18)


@st.composite
def money_pairs(draw: st.DrawFn) -> tuple[Money, Money]:
    cur = draw(currencies)
    return Money(draw(amounts), cur), Money(draw(amounts), cur)


@st.composite
def money_triples(draw: st.DrawFn) -> tuple[Money, Money, Money]:
    cur = draw(currencies)
    return Money(draw(amounts), cur), Money(draw(amounts), cur), Money(draw(amounts), cur)


# -- currencies and exponents --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exponent"),
    [
        ("JPY", 0),
        ("KRW", 0),
        ("CLP", 0),
        ("ISK", 0),
        ("USD", 2),
        ("EUR", 2),
        ("GBP", 2),
        ("MXN", 2),
        ("KWD", 3),
        ("BHD", 3),
        ("JOD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("CLF", 4),
        ("UYW", 4),
    ],
)
def test_currency_exponent_follows_iso_4217(code: str, exponent: int) -> None:
    # When
    found = currency(code)

    # Then
    assert found == Currency(code, exponent)
    assert found.exponent == exponent
    assert str(found) == code


def test_every_listed_code_is_three_upper_case_letters_with_a_known_exponent() -> None:
    assert len(CODES) > 100
    for code, cur in CURRENCIES.items():
        assert len(code) == 3
        assert code.isascii()
        assert code.isalpha()
        assert code.isupper()
        assert cur.code == code
        assert cur.exponent in {0, 2, 3, 4}


def test_currency_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        CURRENCIES["XXX"] = Currency("XXX", 2)  # type: ignore[index]


@pytest.mark.parametrize(
    "code",
    ["usd", "Usd", "jpy", "US", "USDD", " USD", "USD ", "", "XXX", "ABC", None, 840, b"USD", ["USD"]],
)
def test_unknown_or_lower_case_currency_is_an_invalid_request(code: object) -> None:
    with pytest.raises(InvalidRequest, match="unknown currency"):
        currency(code)


# -- construction --------------------------------------------------------------------------------


def test_of_builds_money_from_an_int_and_an_iso_code() -> None:
    # When
    money = Money.of(1250, "USD")

    # Then
    assert money.amount == 1250
    assert money.currency == Currency("USD", 2)
    assert money == Money(1250, currency("USD"))


@pytest.mark.parametrize(
    "amount",
    [
        12.5,
        12.0,
        0.0,
        float("nan"),
        float("inf"),
        True,
        False,
        Decimal("12.50"),
        Decimal(12),
        "1250",
        "12.50",
        None,
        Fraction(1, 2),
        [1250],
        1250 + 0j,
    ],
)
def test_of_refuses_every_amount_that_is_not_a_real_int(amount: object) -> None:
    # When / Then
    with pytest.raises(InvalidRequest, match="integer number of minor units") as raised:
        Money.of(amount, "USD")
    assert raised.value.code == "invalid_request"


@pytest.mark.parametrize("code", ["usd", "eur", "Jpy", "ZZZ", "", None, 978])
def test_of_refuses_unknown_and_lower_case_currencies(code: object) -> None:
    with pytest.raises(InvalidRequest, match="unknown currency"):
        Money.of(100, code)


def test_constructor_refuses_a_currency_that_is_not_a_currency() -> None:
    with pytest.raises(InvalidRequest, match="currency must be a Currency"):
        Money(100, "USD")  # type: ignore[arg-type]


def test_invalid_request_is_a_payments_error_with_a_stable_code() -> None:
    with pytest.raises(PaymentsError) as raised:
        Money.of(1.5, "USD")
    assert isinstance(raised.value, InvalidRequest)
    assert raised.value.code == "invalid_request"
    assert raised.value.retryable is False


def test_money_is_immutable() -> None:
    money = Money.of(100, "USD")
    with pytest.raises(AttributeError):
        money.amount = 200  # type: ignore[misc]
    assert money.amount == 100


def test_money_is_hashable_and_equal_by_value() -> None:
    assert {Money.of(100, "USD"), Money.of(100, "USD"), Money.of(100, "EUR")} == {
        Money.of(100, "USD"),
        Money.of(100, "EUR"),
    }
    assert Money.of(100, "USD") != Money.of(100, "EUR")
    assert Money.of(100, "USD") != Money.of(101, "USD")


def test_negative_amounts_are_representable() -> None:
    money = Money.of(-5, "USD")
    assert money.amount == -5
    assert not money.is_positive
    assert not money.is_zero


# -- zero ----------------------------------------------------------------------------------------


@given(currencies)
@settings(max_examples=50)
def test_zero_is_the_additive_identity_of_its_currency(cur: Currency) -> None:
    zero = Money.zero(cur)
    assert zero.amount == 0
    assert zero.currency == cur
    assert zero.is_zero
    assert not zero.is_positive
    assert -zero == zero
    assert Money(7, cur) + zero == Money(7, cur)
    assert zero + Money(7, cur) == Money(7, cur)


@pytest.mark.parametrize(
    ("amount", "positive", "zero"), [(1, True, False), (0, False, True), (-1, False, False)]
)
def test_sign_predicates(amount: int, positive: bool, zero: bool) -> None:
    money = Money.of(amount, "USD")
    assert money.is_positive is positive
    assert money.is_zero is zero


# -- mixed currencies ----------------------------------------------------------------------------


USD_100 = Money.of(100, "USD")
EUR_100 = Money.of(100, "EUR")


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
    ids=["add", "sub", "lt", "le", "gt", "ge"],
)
def test_mixed_currencies_are_refused(operation: Callable[[Money, Money], object]) -> None:
    # Given two amounts with the same figure in different currencies
    # When / Then
    with pytest.raises(InvalidRequest, match="cannot combine USD with EUR"):
        operation(USD_100, EUR_100)
    with pytest.raises(InvalidRequest, match="cannot combine EUR with USD"):
        operation(EUR_100, USD_100)


@pytest.mark.parametrize("other", [1, 1.0, Decimal(1), "1"])
def test_combining_with_a_non_money_is_a_type_error(other: object) -> None:
    with pytest.raises(TypeError, match="cannot combine Money"):
        operator.add(USD_100, other)
    with pytest.raises(TypeError, match="cannot combine Money"):
        operator.lt(USD_100, other)


def test_same_figure_in_two_currencies_is_not_equal() -> None:
    assert USD_100 != EUR_100
    assert Money.of(100, "JPY") != Money.of(100, "KWD")


# -- arithmetic properties -----------------------------------------------------------------------


@given(money_pairs())
@settings(max_examples=100)
def test_addition_is_commutative(pair: tuple[Money, Money]) -> None:
    a, b = pair
    assert a + b == b + a


@given(money_triples())
@settings(max_examples=100)
def test_addition_is_associative(triple: tuple[Money, Money, Money]) -> None:
    a, b, c = triple
    assert (a + b) + c == a + (b + c)


@given(money_pairs())
@settings(max_examples=100)
def test_adding_then_subtracting_gives_back_the_start(pair: tuple[Money, Money]) -> None:
    a, b = pair
    assert a + b - b == a
    assert (a + b).amount == a.amount + b.amount
    assert (a - b).amount == a.amount - b.amount
    assert (a + b).currency == a.currency


@given(amounts, currencies)
@settings(max_examples=100)
def test_negation(amount: int, cur: Currency) -> None:
    a = Money(amount, cur)
    assert (-a).amount == -amount
    assert (-a).currency == cur
    negated = -a
    assert -negated == a
    assert a + (-a) == Money.zero(cur)
    assert Money.zero(cur) - a == -a


@given(money_pairs())
@settings(max_examples=100)
def test_ordering_is_consistent_with_the_int_amounts(pair: tuple[Money, Money]) -> None:
    a, b = pair
    assert (a < b) is (a.amount < b.amount)
    assert (a <= b) is (a.amount <= b.amount)
    assert (a > b) is (a.amount > b.amount)
    assert (a >= b) is (a.amount >= b.amount)
    assert (a == b) is (a.amount == b.amount)


@given(money_pairs())
@settings(max_examples=50)
def test_sorting_money_sorts_by_amount(pair: tuple[Money, Money]) -> None:
    a, b = pair
    assert [m.amount for m in sorted([a, b])] == sorted([a.amount, b.amount])


# -- major units ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "code", "text"),
    [
        (1250, "USD", "12.50"),
        (5, "USD", "0.05"),
        (0, "USD", "0.00"),
        (-5, "USD", "-0.05"),
        (-1250, "USD", "-12.50"),
        (1200, "JPY", "1200"),
        (0, "JPY", "0"),
        (-7, "JPY", "-7"),
        (1250, "KWD", "1.250"),
        (1, "KWD", "0.001"),
        (12345, "CLF", "1.2345"),
        (1, "CLF", "0.0001"),
        (100_000_000, "USD", "1000000.00"),
    ],
)
def test_major_units_str(amount: int, code: str, text: str) -> None:
    assert Money.of(amount, code).major_units_str() == text


def test_str_shows_major_units_and_the_code() -> None:
    assert str(Money.of(1250, "USD")) == "12.50 USD"
    assert str(Money.of(1200, "JPY")) == "1200 JPY"
    assert str(Money.of(-1, "KWD")) == "-0.001 KWD"


@given(st.integers(min_value=-(10**30), max_value=10**30), currencies)
@settings(max_examples=300)
def test_major_units_str_round_trips_to_the_minor_units(amount: int, cur: Currency) -> None:
    # Given any amount in any currency
    money = Money(amount, cur)

    # When the major-unit text is parsed back as an exact decimal
    text = money.major_units_str()
    with localcontext() as context:
        context.prec = 80
        minor = Decimal(text).scaleb(cur.exponent)

    # Then it gives back exactly the minor units, with exactly the currency's decimal places
    assert minor == amount
    assert int(minor) == amount
    decimals = len(text.partition(".")[2])
    assert decimals == cur.exponent
    assert ("." in text) is (cur.exponent > 0)
    assert text.startswith("-") is (amount < 0)
    assert not text.lstrip("-").startswith("00")
