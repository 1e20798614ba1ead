"""The sandbox gateway's rules, called directly (no sockets): outcomes, idempotency, money rules."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.domain.cards import contains_card_number
from payments.gateway.sandbox import SandboxGateway, SandboxResponse

AUTHORIZE = "/v1/authorizations"


def post(gateway: SandboxGateway, path: str, body: dict[str, Any], key: str | None) -> SandboxResponse:
    return gateway.handle("POST", path, json.dumps(body).encode(), idempotency_key=key)


def authorize(
    gateway: SandboxGateway,
    method: str = "pm_card_visa",
    *,
    key: str | None = "k-auth",
    amount: Any = 1000,
    **extra: Any,
) -> SandboxResponse:
    body = {"amount": amount, "currency": "USD", "paymentMethod": method, "reference": "pi_ref", **extra}
    return post(gateway, AUTHORIZE, body, key)


def approved_authorization(gateway: SandboxGateway, amount: int = 1000) -> str:
    response = authorize(gateway, amount=amount, key=f"auth-{amount}-{gateway.stats().requests}")
    assert response.body["status"] == "approved"
    return str(response.body["id"])


def capture(
    gateway: SandboxGateway, authorization_id: str, amount: Any, key: str = "k-cap"
) -> SandboxResponse:
    return post(gateway, f"{AUTHORIZE}/{authorization_id}/capture", {"amount": amount}, key)


def void(gateway: SandboxGateway, authorization_id: str, key: str = "k-void") -> SandboxResponse:
    return post(gateway, f"{AUTHORIZE}/{authorization_id}/void", {}, key)


def refund(gateway: SandboxGateway, authorization_id: str, amount: Any, key: str = "k-re") -> SandboxResponse:
    return post(gateway, "/v1/refunds", {"authorizationId": authorization_id, "amount": amount}, key)


def error_code(response: SandboxResponse) -> str:
    return str(response.body["error"]["code"])


@pytest.fixture
def gateway() -> SandboxGateway:
    return SandboxGateway(stall_seconds=1.5)


@pytest.mark.parametrize(
    ("method", "status", "decline_code"),
    [
        ("pm_card_visa", "approved", None),
        ("pm_card_mastercard", "approved", None),
        ("pm_card_risk_highest", "approved", None),
        ("pm_card_risk_elevated", "approved", None),
        ("pm_card_declined", "declined", "generic_decline"),
        ("pm_card_insufficient_funds", "declined", "insufficient_funds"),
        ("pm_card_3ds_required", "authentication_required", None),
    ],
)
def test_each_test_payment_method_has_its_outcome(
    gateway: SandboxGateway, method: str, status: str, decline_code: str | None
) -> None:
    response = authorize(gateway, method)

    assert response.status == 200
    assert response.body["status"] == status
    assert response.body.get("declineCode") == decline_code
    assert response.body["amount"] == 1000
    assert response.body["currency"] == "USD"
    assert response.body["reference"] == "pi_ref"
    assert re.fullmatch(r"auth_[0-9a-f]+", response.body["id"])


@pytest.mark.parametrize(
    ("three_ds", "status", "decline_code"),
    [("passed", "approved", None), ("failed", "declined", "authentication_failed")],
)
def test_3ds_card_after_the_challenge(
    gateway: SandboxGateway, three_ds: str, status: str, decline_code: str | None
) -> None:
    response = authorize(gateway, "pm_card_3ds_required", threeDSecure=three_ds)

    assert response.body["status"] == status
    assert response.body.get("declineCode") == decline_code


def test_a_step_up_is_not_counted_as_an_authorization(gateway: SandboxGateway) -> None:
    authorize(gateway, "pm_card_3ds_required")
    assert gateway.stats().authorizations == 0


def test_flaky_fails_twice_then_approves_once(gateway: SandboxGateway) -> None:
    # Given three attempts with one key
    statuses = [authorize(gateway, "pm_card_gateway_flaky").status for _ in range(3)]
    # Then two 503s, then an approval
    assert statuses == [503, 503, 200]
    # When it is sent again, the stored approval is replayed
    first = authorize(gateway, "pm_card_gateway_flaky", key="k-auth")
    assert first.body["status"] == "approved"
    assert gateway.stats().authorizations == 1


def test_flaky_counts_attempts_per_key(gateway: SandboxGateway) -> None:
    authorize(gateway, "pm_card_gateway_flaky", key="a")
    authorize(gateway, "pm_card_gateway_flaky", key="a")
    assert authorize(gateway, "pm_card_gateway_flaky", key="b").status == 503
    assert authorize(gateway, "pm_card_gateway_flaky", key="a").status == 200


def test_down_alternates_stall_and_unavailable_and_never_approves(gateway: SandboxGateway) -> None:
    responses = [authorize(gateway, "pm_card_gateway_down") for _ in range(6)]

    assert [response.status for response in responses] == [504, 503] * 3
    assert [response.delay_seconds for response in responses] == [1.5, 0.0] * 3
    assert error_code(responses[0]) == "gateway_timeout"
    assert gateway.stats().authorizations == 0
    assert gateway.stats().requests == 6


def test_stall_length_is_configurable() -> None:
    assert authorize(SandboxGateway(stall_seconds=0.25), "pm_card_gateway_down").delay_seconds == 0.25


def test_replay_returns_the_stored_answer_without_a_new_authorization(gateway: SandboxGateway) -> None:
    first = authorize(gateway, key="same")
    again = authorize(gateway, key="same")

    assert again == first
    assert gateway.stats().authorizations == 1


def test_a_declined_answer_is_replayed_too(gateway: SandboxGateway) -> None:
    first = authorize(gateway, "pm_card_declined", key="same")
    assert authorize(gateway, "pm_card_declined", key="same").body["id"] == first.body["id"]
    assert gateway.stats().authorizations == 1


def test_a_4xx_answer_is_stored(gateway: SandboxGateway) -> None:
    first = authorize(gateway, "pm_card_unheard_of", key="same")
    assert first.status == 400
    assert authorize(gateway, "pm_card_unheard_of", key="same") == first


def test_same_key_with_another_body_is_a_conflict(gateway: SandboxGateway) -> None:
    authorize(gateway, key="same", amount=1000)

    response = authorize(gateway, key="same", amount=1001)

    assert response.status == 422
    assert error_code(response) == "idempotency_conflict"
    assert gateway.stats().authorizations == 1


def test_same_key_on_another_path_is_a_conflict(gateway: SandboxGateway) -> None:
    authorization_id = approved_authorization(gateway)
    capture(gateway, authorization_id, 100, key="shared")

    assert error_code(void(gateway, authorization_id, key="shared")) == "idempotency_conflict"


def test_key_order_and_spacing_of_the_body_do_not_matter(gateway: SandboxGateway) -> None:
    first = authorize(gateway, key="same")
    body = b'{ "reference": "pi_ref", "paymentMethod": "pm_card_visa", "currency": "USD", "amount": 1000 }'
    assert gateway.handle("POST", AUTHORIZE, body, idempotency_key="same") == first


@pytest.mark.parametrize("key", [None, ""])
def test_every_post_needs_an_idempotency_key(gateway: SandboxGateway, key: str | None) -> None:
    response = authorize(gateway, key=key)
    assert response.status == 400
    assert "Idempotency-Key" in response.body["error"]["message"]
    assert gateway.stats().authorizations == 0


def test_an_unknown_test_payment_method_is_refused(gateway: SandboxGateway) -> None:
    response = authorize(gateway, "pm_card_unheard_of")
    assert response.status == 400
    assert error_code(response) == "invalid_request"
    assert response.body["error"]["message"] == "unknown test payment method"


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 10.0},
        {"amount": 10.5},
        {"amount": True},
        {"amount": "1000"},
        {"amount": 0},
        {"amount": -5},
        {"amount": None},
        {"currency": "usd"},
        {"currency": "US"},
        {"currency": "USDX"},
        {"currency": 840},
        {"paymentMethod": "visa"},
        {"paymentMethod": 7},
        {"reference": ""},
        {"reference": 12},
        {"threeDSecure": "maybe"},
        {"surprise": 1},
    ],
)
def test_malformed_authorizations_are_refused(gateway: SandboxGateway, change: dict[str, Any]) -> None:
    body = {
        "amount": 1000,
        "currency": "USD",
        "paymentMethod": "pm_card_visa",
        "reference": "pi_ref",
    } | change

    response = post(gateway, AUTHORIZE, body, "k")

    assert response.status == 400
    assert error_code(response) == "invalid_request"
    assert gateway.stats().authorizations == 0


@pytest.mark.parametrize("missing", ["amount", "currency", "paymentMethod", "reference"])
def test_missing_fields_are_refused(gateway: SandboxGateway, missing: str) -> None:
    body = {"amount": 1000, "currency": "USD", "paymentMethod": "pm_card_visa", "reference": "pi_ref"}
    del body[missing]
    response = post(gateway, AUTHORIZE, body, "k")
    assert response.status == 400
    assert missing in response.body["error"]["message"]


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b'"text"', b'{"amount": NaN}', b"\xff\xfe"])
def test_malformed_json_is_refused(gateway: SandboxGateway, raw: bytes) -> None:
    response = gateway.handle("POST", AUTHORIZE, raw, idempotency_key="k")
    assert response.status == 400
    assert error_code(response) == "invalid_request"


def test_malformed_json_is_not_stored_under_the_key(gateway: SandboxGateway) -> None:
    gateway.handle("POST", AUTHORIZE, b"{", idempotency_key="k")
    assert authorize(gateway, key="k").status == 200


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("reference", "order 4000056655665556"),
        ("reference", "pi 4242-4242-4242-4242"),
        (
            "reference",
            "\\u0034\\u0030\\u0030\\u0030\\u0030\\u0035\\u0036\\u0036\\u0035\\u0035\\u0036\\u0036\\u0035\\u0035\\u0035\\u0036",
        ),
        ("paymentMethod", "pm_4000056655665556"),
        ("amount", 4000056655665556),
    ],
)
def test_card_number_like_input_is_refused_and_not_kept(
    gateway: SandboxGateway, where: str, value: Any
) -> None:
    # Given a body holding a Luhn-valid card number (raw text, so JSON escapes stay escaped)
    fields = {"amount": 1000, "currency": "USD", "paymentMethod": "pm_card_visa", "reference": "pi_ref"}
    raw = ", ".join(
        f'"{name}": "{value}"'
        if name == where and isinstance(value, str)
        else f'"{name}": {json.dumps(item)}'
        for name, item in (fields | {where: value}).items()
    )

    response = gateway.handle("POST", AUTHORIZE, ("{" + raw + "}").encode(), idempotency_key="k")

    # Then it is refused, the digits are not echoed, and nothing was kept under the key
    assert response.status == 400
    assert not contains_card_number(json.dumps(response.body))
    assert gateway.stats().authorizations == 0


def test_large_amounts_are_money_not_card_numbers(gateway: SandboxGateway) -> None:
    response = authorize(gateway, amount=123_456_789)
    assert response.status == 200
    assert authorize(gateway, key="k").status == 200


def test_card_number_in_the_path_or_key_is_refused(gateway: SandboxGateway) -> None:
    assert capture(gateway, "4000056655665556", 100).status == 400
    assert gateway.handle("GET", f"{AUTHORIZE}/4000056655665556").status == 400
    assert authorize(gateway, key="key-4000056655665556").status == 400
    assert gateway.stats().authorizations == 0


def test_a_digit_run_inside_an_opaque_id_is_not_a_card_number(gateway: SandboxGateway) -> None:
    body = {
        "amount": 1000,
        "currency": "USD",
        "paymentMethod": "pm_card_visa",
        "reference": "pi_01K8A123456789QZ",
    }
    assert post(gateway, AUTHORIZE, body, "pi_01K8A123456789QZ:authorize").status == 200


def test_ids_have_their_prefix_and_never_look_like_card_numbers(gateway: SandboxGateway) -> None:
    for n in range(200):
        authorization_id = str(authorize(gateway, key=f"k{n}").body["id"])
        assert re.fullmatch(r"auth_[0-9a-f]{24}", authorization_id)
        assert not contains_card_number(authorization_id)
    authorization_id = approved_authorization(gateway)
    assert capture(gateway, authorization_id, 10).body["id"].startswith("cap_")
    assert refund(gateway, authorization_id, 5).body["id"].startswith("re_")
    assert void(gateway, approved_authorization(gateway)).body["id"].startswith("void_")


def test_capture_in_part_then_not_again(gateway: SandboxGateway) -> None:
    authorization_id = approved_authorization(gateway, 1000)

    first = capture(gateway, authorization_id, 600, key="c1")
    second = capture(gateway, authorization_id, 100, key="c2")

    assert first.status == 200
    assert first.body == {
        "id": first.body["id"],
        "status": "approved",
        "authorizationId": authorization_id,
        "amount": 600,
        "currency": "USD",
    }
    assert second.status == 409
    assert error_code(second) == "invalid_state"
    assert gateway.stats().captures == 1


def test_capture_above_the_authorized_amount_is_refused(gateway: SandboxGateway) -> None:
    authorization_id = approved_authorization(gateway, 1000)
    assert error_code(capture(gateway, authorization_id, 1001)) == "invalid_state"
    assert capture(gateway, authorization_id, 1000, key="full").status == 200


@pytest.mark.parametrize("amount", [0, -1, 1.5, True])
def test_capture_amount_must_be_a_positive_integer(gateway: SandboxGateway, amount: Any) -> None:
    assert capture(gateway, approved_authorization(gateway), amount).status == 400


def test_capture_in_another_currency_is_refused(gateway: SandboxGateway) -> None:
    authorization_id = approved_authorization(gateway)
    body = {"amount": 100, "currency": "EUR"}
    assert post(gateway, f"{AUTHORIZE}/{authorization_id}/capture", body, "k").status == 400


@pytest.mark.parametrize("method", ["pm_card_declined", "pm_card_3ds_required"])
def test_only_an_approved_authorization_can_be_captured_or_voided(
    gateway: SandboxGateway, method: str
) -> None:
    authorization_id = str(authorize(gateway, method).body["id"])
    assert capture(gateway, authorization_id, 100).status == 409
    assert void(gateway, authorization_id).status == 409


def test_void_once_and_only_before_capture(gateway: SandboxGateway) -> None:
    voided = approved_authorization(gateway)
    assert void(gateway, voided, key="v1").body["status"] == "approved"
    assert error_code(void(gateway, voided, key="v2")) == "invalid_state"
    assert error_code(capture(gateway, voided, 100)) == "invalid_state"

    captured = approved_authorization(gateway)
    capture(gateway, captured, 100, key="c")
    assert error_code(void(gateway, captured, key="v3")) == "invalid_state"
    assert gateway.stats().voids == 1


def test_refunds_need_a_capture(gateway: SandboxGateway) -> None:
    authorization_id = approved_authorization(gateway)
    assert error_code(refund(gateway, authorization_id, 100)) == "invalid_state"
    assert gateway.stats().refunds == 0


def test_refund_total_never_exceeds_the_captured_amount(gateway: SandboxGateway) -> None:
    # Given 1000 authorized and 700 captured
    authorization_id = approved_authorization(gateway, 1000)
    capture(gateway, authorization_id, 700)
    # When refunds of 300 and 400 go through, nothing is left
    assert refund(gateway, authorization_id, 300, key="r1").status == 200
    assert refund(gateway, authorization_id, 400, key="r2").status == 200
    # Then even one more unit is refused
    assert error_code(refund(gateway, authorization_id, 1, key="r3")) == "invalid_state"
    assert gateway.stats().refunds == 2


@settings(max_examples=60, deadline=None)
@given(captured=st.integers(1, 10_000), amounts=st.lists(st.integers(1, 4_000), max_size=12))
def test_refunds_accepted_never_sum_above_the_capture(captured: int, amounts: list[int]) -> None:
    gateway = SandboxGateway()
    authorization_id = approved_authorization(gateway, 10_000)
    capture(gateway, authorization_id, captured)
    refunded = 0
    for n, amount in enumerate(amounts):
        response = refund(gateway, authorization_id, amount, key=f"r{n}")
        # Each refund is accepted exactly when it fits in what is left
        assert (response.status == 200) == (refunded + amount <= captured)
        refunded += amount if response.status == 200 else 0
    view = gateway.handle("GET", f"{AUTHORIZE}/{authorization_id}").body
    assert view["refundedAmount"] == refunded <= captured


def test_unknown_ids_are_not_found(gateway: SandboxGateway) -> None:
    assert error_code(capture(gateway, "auth_nope", 100)) == "not_found"
    assert error_code(void(gateway, "auth_nope")) == "not_found"
    assert error_code(refund(gateway, "auth_nope", 100)) == "not_found"
    assert gateway.handle("GET", f"{AUTHORIZE}/auth_nope").status == 404


def test_unknown_routes_are_not_found(gateway: SandboxGateway) -> None:
    assert gateway.handle("GET", "/v1/refunds").status == 404
    assert gateway.handle("POST", "/v1/charges", b"{}", idempotency_key="k").status == 404


def test_get_shows_captured_refunded_and_voided_state(gateway: SandboxGateway) -> None:
    authorization_id = approved_authorization(gateway, 1000)
    capture_id = capture(gateway, authorization_id, 800).body["id"]
    refund_id = refund(gateway, authorization_id, 250).body["id"]

    view = gateway.handle("GET", f"{AUTHORIZE}/{authorization_id}?expand=none").body

    assert view["status"] == "approved"
    assert view["captureId"] == capture_id
    assert view["capturedAmount"] == 800
    assert view["refundedAmount"] == 250
    assert view["refunds"] == [{"id": refund_id, "amount": 250}]
    assert view["voided"] is False
    voided = approved_authorization(gateway)
    void_id = void(gateway, voided).body["id"]
    assert gateway.handle("GET", f"{AUTHORIZE}/{voided}").body["voidId"] == void_id


def test_health_and_stats(gateway: SandboxGateway) -> None:
    authorize(gateway)
    assert gateway.handle("GET", "/healthz").body == {"status": "ok"}
    assert gateway.handle("GET", "/_sandbox/stats").body == {
        "requests": 1,
        "authorizations": 1,
        "captures": 0,
        "voids": 0,
        "refunds": 0,
        "faultsRefused": 0,
        "faultsTimedOut": 0,
        "faultsLost": 0,
    }


def test_concurrent_duplicates_create_one_authorization(gateway: SandboxGateway) -> None:
    # Given 20 threads sending the same request with the same key at the same moment
    start = threading.Barrier(20)
    ids: list[str] = []

    def send() -> None:
        start.wait()
        ids.append(str(authorize(gateway, key="one").body["id"]))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then they all see one authorization
    assert len(ids) == 20
    assert len(set(ids)) == 1
    assert gateway.stats().authorizations == 1


def test_an_outage_answers_503_without_effect_then_ends(gateway: SandboxGateway) -> None:
    assert post(gateway, "/_sandbox/outage", {"requests": 2}, None).status == 200
    before = gateway.stats().authorizations
    assert [authorize(gateway, key=f"k-{n}").status for n in range(3)] == [503, 503, 200]
    assert gateway.stats().authorizations == before + 1
    assert post(gateway, "/_sandbox/outage", {"requests": -1}, None).status == 400
    assert post(gateway, "/_sandbox/outage", {"requests": True}, None).status == 400


# -- faults at a rate (chaos campaigns) and the search by reference ----------------------------------


def set_faults(gateway: SandboxGateway, **body: Any) -> SandboxResponse:
    return gateway.handle("POST", "/_sandbox/faults", json.dumps(body).encode())


def test_faults_at_a_rate_come_in_every_kind_and_never_move_money_twice(gateway: SandboxGateway) -> None:
    assert set_faults(gateway, rate=0.3, seed=11).status == 200
    answers = []
    for number in range(300):  # each payment retried with its key until it has a final answer
        for _attempt in range(20):
            response = authorize(gateway, key=f"pi_{number}:authorize")
            if response.status < 500:
                answers.append(response.body["id"])
                break
    stats = gateway.stats()
    assert len(answers) == len(set(answers)) == 300
    assert stats.authorizations == 300  # a lost answer was kept: the retry got it, not a second one
    assert min(stats.faults_refused, stats.faults_timed_out, stats.faults_lost) > 0
    faults = stats.faults_refused + stats.faults_timed_out + stats.faults_lost
    assert 0.2 < faults / stats.requests < 0.4


def test_a_lost_answer_is_done_and_a_timeout_or_refusal_is_not(gateway: SandboxGateway) -> None:
    set_faults(gateway, rate=1.0, seed=3)
    kinds = {502: "lost", 503: "refused", 504: "timed_out"}
    seen: dict[str, int] = {}
    for number in range(60):
        before = gateway.stats().authorizations
        response = authorize(gateway, key=f"k-{number}")
        kind = kinds[response.status]
        seen[kind] = seen.get(kind, 0) + 1
        made = gateway.stats().authorizations - before
        assert made == (1 if kind == "lost" else 0), kind
        assert (response.delay_seconds > 0) == (kind == "timed_out")
    assert set(seen) == set(kinds.values())


def test_the_same_seed_draws_the_same_faults() -> None:
    def statuses(seed: int) -> list[int]:
        gateway = SandboxGateway(stall_seconds=0)
        set_faults(gateway, rate=0.5, seed=seed)
        return [authorize(gateway, key=f"k-{n}").status for n in range(40)]

    assert statuses(5) == statuses(5)
    assert statuses(5) != statuses(6)


def test_a_rate_of_zero_turns_faults_off(gateway: SandboxGateway) -> None:
    set_faults(gateway, rate=1.0, seed=1)
    set_faults(gateway, rate=0)
    assert authorize(gateway).status == 200


@pytest.mark.parametrize(
    "body", [{}, {"rate": 1.5}, {"rate": -0.1}, {"rate": True}, {"rate": 0.1, "seed": "x"}]
)
def test_fault_settings_are_checked(gateway: SandboxGateway, body: dict[str, Any]) -> None:
    assert set_faults(gateway, **body).status == 400


def test_authorizations_are_found_by_reference(gateway: SandboxGateway) -> None:
    first = approved_authorization(gateway)
    void(gateway, first)
    second = authorize(gateway, key="k-other", reference="pi_other").body["id"]
    found = gateway.handle("GET", "/v1/authorizations?reference=pi_ref")
    assert found.status == 200
    assert [(a["id"], a["voided"]) for a in found.body["data"]] == [(first, True)]
    other = gateway.handle("GET", "/v1/authorizations?reference=pi_other").body["data"]
    assert [a["id"] for a in other] == [second]
    assert gateway.handle("GET", "/v1/authorizations?reference=nobody").body["data"] == []
    assert gateway.handle("GET", "/v1/authorizations").status == 400


def test_an_outage_of_lost_answers_does_the_work_and_loses_only_the_answer(gateway: SandboxGateway) -> None:
    assert post(gateway, "/_sandbox/outage", {"requests": 2, "kind": "lost"}, None).status == 200
    assert gateway.handle("GET", "/v1/authorizations?reference=pi_ref").status == 200  # reads not counted
    assert authorize(gateway).status == 502
    assert authorize(gateway).status == 502
    replayed = authorize(gateway)
    assert replayed.status == 200
    assert gateway.stats().authorizations == 1
    found = gateway.handle("GET", "/v1/authorizations?reference=pi_ref").body["data"]
    assert [authorization["id"] for authorization in found] == [replayed.body["id"]]
    assert post(gateway, "/_sandbox/outage", {"requests": 1, "kind": "slow"}, None).status == 400
