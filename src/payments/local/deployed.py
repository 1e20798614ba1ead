"""What standing the template up produced, for the runtime to wire: functions, routes, event sources,
custom resources still to create, and every resource's physical id."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from payments.local.event_sources import QueueSource, StreamSource
from payments.local.invoker import FunctionSpec


@dataclass(frozen=True, slots=True)
class Authorizer:
    """An HTTP API Lambda authorizer (payload 2.0, simple responses), as the front door applies it."""

    function_name: str
    identity_headers: tuple[str, ...]  # lower case; a request missing one is refused with 401
    cache_seconds: int  # answers are kept per identity value this long (ReauthorizeEvery)


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    function_name: str
    auth: str | None = None  # the event's Auth.Authorizer ("NONE": open); None: the API's default
    authorizer: Authorizer | None = None  # resolved once the API is built

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class CustomResource:
    """A `Custom::*` resource: its function is asked to create it once the functions exist."""

    logical_id: str
    resource_type: str
    service_token: str  # the function's ARN
    properties: dict[str, Any]


@dataclass
class Deployed:
    """Each function keeps its own environment (`FunctionSpec.environment`): nothing here is shared
    between functions, as nothing is in AWS."""

    functions: list[FunctionSpec] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    resources: dict[str, str] = field(default_factory=dict)  # logical id -> physical id
    stream_sources: list[StreamSource] = field(default_factory=list)
    queue_sources: list[QueueSource] = field(default_factory=list)
    custom_resources: list[CustomResource] = field(default_factory=list)
    schedules: dict[str, str] = field(default_factory=dict)  # function name -> schedule expression
