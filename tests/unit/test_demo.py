"""`payments demo` against an API that answers as the stack does: the 3-D Secure payment walked to its
end through the checkout, and a refused key in one line. Over real HTTP against the local stack:
tests/integration/test_operator_commands.py."""

from __future__ import annotations

from typing import Any

import pytest

from payments.demo import KeyRefused, error_answer, run_demo


class SandboxApi:
    """The answers of the routes the demo calls, for the sandbox's test payment methods."""

    def __init__(self) -> None:
        self.intents: dict[str, dict[str, Any]] = {}
        self.checkout_polls = 0
        self.challenged = False

    def __call__(  # noqa: PLR0911 (an answer per route)
        self, api: str, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        if path == "/healthz":
            return 200, {"status": "ok"}
        if (method, path) == ("POST", "/v1/payment-intents"):
            assert body is not None
            intent_id = f"pi_{len(self.intents) + 1}"
            self.intents[intent_id] = {"paymentIntentId": intent_id, "status": "PENDING", **body}
            return 201, self.intents[intent_id]
        if method == "POST" and path.endswith("/authorize"):
            return self._authorize(self.intents[path.split("/")[3]])
        if (method, path) == ("POST", "/v1/checkouts"):
            return 202, {"trackingId": "chk_1", "status": "RUNNING"}
        if (method, path) == ("GET", "/v1/checkouts/chk_1"):
            return 200, self._checkout()
        if (method, path) == ("POST", "/v1/checkouts/chk_1/challenge"):
            assert body == {"outcome": "passed"}
            self.challenged = True
            self.intents["pi_5"]["status"] = "AUTHORIZED"
            return 202, None
        if method == "GET" and path.startswith("/v1/payment-intents/"):
            return 200, self.intents[path.rsplit("/", 1)[-1]]
        if method == "GET" and path.startswith("/v1/customers/"):
            return 200, {"data": list(self.intents.values())}
        raise AssertionError(f"unexpected {method} {path}")

    def _authorize(self, intent: dict[str, Any]) -> tuple[int, Any]:
        method = intent["paymentMethod"]
        if method == "pm_card_3ds_required":
            return 402, {"error": {"code": "authentication_required", "message": "3-D Secure is required"}}
        if method in ("pm_card_declined", "pm_card_insufficient_funds", "pm_card_risk_highest"):
            intent["status"] = "DECLINED"
            return 402, {"error": {"code": "card_declined", "message": "declined", "declineCode": "x"}}
        intent["status"] = "AUTHORIZED"
        return 200, {"status": "AUTHORIZED", "transactionId": "txn_1"}

    def _checkout(self) -> dict[str, Any]:
        self.checkout_polls += 1
        if self.challenged:
            return {"status": "SUCCEEDED", "paymentStatus": "AUTHORIZED"}
        if self.checkout_polls < 2:
            return {"status": "RUNNING", "paymentStatus": "PENDING"}
        return {
            "status": "ACTION_REQUIRED",
            "paymentStatus": "PENDING",
            "nextAction": {"type": "three_d_secure"},
        }


def test_the_3d_secure_payment_is_walked_to_its_end(capsys: pytest.CaptureFixture[str]) -> None:
    api = SandboxApi()

    assert run_demo("http://api", call=api, poll_seconds=0) == 0

    out = capsys.readouterr().out
    step_up = out.split("== an issuer that demands 3-D Secure (pm_card_3ds_required)")[1].split("==")[0]
    assert [line.split("->")[0].strip() for line in step_up.strip().splitlines()] == [
        "create",
        "authorize",
        "checkout",
        "checkout",
        "challenge",
        "checkout",
        "now",
    ]
    assert "authorize -> 402 authentication_required" in step_up
    assert "checkout  -> ACTION_REQUIRED (three_d_secure)" in step_up
    assert "challenge -> 202 passed" in step_up
    assert "checkout  -> SUCCEEDED, payment AUTHORIZED" in step_up
    assert step_up.strip().endswith("now       -> AUTHORIZED")


def test_a_refused_key_is_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    def refused(api: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        if path == "/healthz":
            return 200, {"status": "ok"}
        raise KeyRefused("401")

    assert run_demo("http://api", call=refused) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("the stack refused the API key (401): set PAYMENTS_API_KEY")


@pytest.mark.parametrize(
    ("status", "raw"), [(401, b'{"message":"Unauthorized"}'), (403, b'{"message":"Forbidden"}')]
)
def test_api_gateways_own_refusal_is_a_refused_key(status: int, raw: bytes) -> None:
    with pytest.raises(KeyRefused):
        error_answer(status, raw)


@pytest.mark.parametrize(
    ("status", "raw", "answer"),
    [
        (
            403,
            b'{"error": {"code": "forbidden", "message": "m"}}',
            {"error": {"code": "forbidden", "message": "m"}},
        ),
        (402, b'{"error": {"code": "card_declined"}}', {"error": {"code": "card_declined"}}),
        (502, b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
    ],
)
def test_any_other_error_is_the_answer_to_show(status: int, raw: bytes, answer: Any) -> None:
    assert error_answer(status, raw) == answer
