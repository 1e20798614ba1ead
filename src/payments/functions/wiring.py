"""Dependencies several functions share, declared once: a handler names the one it needs. One
module per set, so a handler reaches (and is granted, and bundled with) only the builders it uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from payments import bootstrap
from payments.service.ports import GatewayRouting, IntentRepository


@dataclass(frozen=True, slots=True)
class Movements:
    """What a money movement on a payment needs: the payments, the gateway and the time."""

    intents: IntentRepository
    gateway: GatewayRouting
    clock: Callable[[], datetime] = bootstrap.now


def movements(env: bootstrap.Environment) -> Movements:
    return Movements(intents=bootstrap.intent_repository(env), gateway=bootstrap.gateway(env))
