"""A failed checkout voids the holds the gateway approved but whose answers never arrived."""

from __future__ import annotations

from payments.domain.errors import InvalidState
from payments.service.checkout import void_lost_authorizations
from payments.service.ports import GatewayApproved
from tests.unit.fakes import FakeGateway


def test_every_open_hold_for_the_payment_is_voided_under_its_own_key() -> None:
    gateway = FakeGateway()
    gateway.open = {"pi_1": ["auth_a", "auth_b"], "pi_2": ["auth_c"]}
    assert void_lost_authorizations("pi_1", gateway=gateway) is True
    assert gateway.calls == [("search", "pi_1"), ("void", "pi_1:void:auth_a"), ("void", "pi_1:void:auth_b")]


def test_nothing_open_means_nothing_voided() -> None:
    gateway = FakeGateway()
    assert void_lost_authorizations("pi_1", gateway=gateway) is False
    assert gateway.calls == [("search", "pi_1")]


def test_a_hold_released_meanwhile_is_not_an_error() -> None:
    class ReleasedMeanwhile(FakeGateway):
        def void(self, *, idempotency_key: str, authorization_id: str) -> GatewayApproved:
            self.calls.append(("void", idempotency_key))
            raise InvalidState("an authorization that is voided cannot be voided")

    gateway = ReleasedMeanwhile()
    gateway.open = {"pi_1": ["auth_a"]}
    assert void_lost_authorizations("pi_1", gateway=gateway) is False
