"""The webhook endpoint routes' bodies, their answers, whom they act for, and how a secret is shown.

A merchant key acts for its own merchant; a platform key names one (`merchantId` in the create body,
`?merchantId=` on the other routes), as the payment routes do.

A signing secret is shown in two answers only (the create's and the rotation's), and never kept
anywhere but Secrets Manager: the answer `Idempotency-Key` keeps and replays (in the idempotency
table) is the endpoint without its secret, and `revealing_secret` adds the endpoint's current secret
to the answer as it leaves, read from the secrets store (the adapter's cache, just after the create
or the rotation). A replay therefore answers the secret that signs now.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Final, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from payments import bootstrap
from payments.adapters.dynamodb_items import format_time
from payments.domain.errors import InvalidRequest, PaymentsError
from payments.domain.merchant_webhooks import MAX_URL_LENGTH
from payments.domain.merchants import MERCHANT_ID
from payments.domain.webhook_endpoints import WebhookEndpoint
from payments.functions import http
from payments.service.webhook_endpoints import UNCHANGED, CreateEndpoint, UpdateEndpoint
from payments.service.webhook_ports import WebhookSecrets

MAX_EVENTS_LISTED: Final = 50  # a filter names each type once; duplicates are dropped, not refused

Url = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH)]
EventTypeName = Annotated[str, Field(min_length=1, max_length=64)]
MerchantId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class CreateWebhookEndpointBody(_Body):
    url: Url
    # Leave it out (or null) for every type; the types are checked by `event_types`.
    events: list[EventTypeName] | None = Field(default=None, max_length=MAX_EVENTS_LISTED)
    merchantId: MerchantId | None = None  # noqa: N815 (a merchant key's own when absent)


class UpdateWebhookEndpointBody(_Body):
    """PATCH: a field left out is unchanged; `events: null` is every type; `url` and `enabled` may be
    left out but not null."""

    url: Url | None = None
    events: list[EventTypeName] | None = Field(default=None, max_length=MAX_EVENTS_LISTED)
    enabled: bool | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateWebhookEndpointBody:
        if not self.model_fields_set:
            raise ValueError("give at least one of url, events, enabled")
        for name in ("url", "enabled"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may be left out, but not null")
        return self


def endpoint_body(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """An endpoint as the API shows it: never its secret, nor the delivery bookkeeping."""
    body: dict[str, Any] = {
        "webhookEndpointId": endpoint.webhook_endpoint_id,
        "url": endpoint.url,
        "events": None if endpoint.events is None else list(endpoint.events),
        "enabled": endpoint.enabled,
    }
    if endpoint.disabled_reason is not None:
        body["disabledReason"] = endpoint.disabled_reason.value
    body["createdAt"] = format_time(endpoint.created_at)
    body["updatedAt"] = format_time(endpoint.updated_at)
    return body


# -- what each route's `parse` makes of a request: refused here, nothing is written ----------------


def merchant(event: http.Event) -> str:
    """The merchant a body-less route acts for: the key's own, or the platform key's `?merchantId=`."""
    named = http.query_parameter(event, "merchantId")
    if named and not MERCHANT_ID.fullmatch(named):
        raise InvalidRequest("merchantId must be 1 to 128 letters, digits or _.:-")
    return http.caller(event).acting_for(named)


def create_command(event: http.Event) -> CreateEndpoint:
    body = http.parse(CreateWebhookEndpointBody, http.json_body(event))
    return CreateEndpoint(http.caller(event).acting_for(body.merchantId), body.url, body.events)


def update_command(event: http.Event) -> UpdateEndpoint:
    body = http.parse(UpdateWebhookEndpointBody, http.json_body(event))
    given = body.model_fields_set
    return UpdateEndpoint(
        merchant_id=merchant(event),
        webhook_endpoint_id=http.path_parameter(event, "webhookEndpointId"),
        url=body.url if body.url is not None else UNCHANGED,
        events=body.events if "events" in given else UNCHANGED,
        enabled=body.enabled if body.enabled is not None else UNCHANGED,
    )


def allow_loopback(env: bootstrap.Environment) -> bool:
    """`WEBHOOK_ALLOW_LOOPBACK` (the local stack's receivers on http://127.0.0.1; never in AWS)."""
    return env.settings.webhook_allow_loopback == "true"


# -- the secret in an answer ------------------------------------------------------------------------


class HoldsSecrets(Protocol):
    @property
    def secrets(self) -> WebhookSecrets: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...


D = TypeVar("D", bound=HoldsSecrets)


def revealing_secret(route: http.Route[D]) -> http.Route[D]:
    """The route, its successful answer (kept and replayed without a secret) given the endpoint's
    current signing secret as `secret` on the way out."""

    def run(event: Any, context: Any, routed: http.Routed[D]) -> http.Response:
        response = route.run(event, context, routed)
        if not 200 <= int(response["statusCode"]) < 300:
            return response
        body = json.loads(response["body"])
        deps = routed.dependencies
        try:
            secret = deps.secrets.signing(str(body["webhookEndpointId"]), deps.clock())[0]
        except PaymentsError as error:  # a replay after the endpoint was deleted
            return http.error_response(error)
        return {**response, "body": json.dumps({**body, "secret": secret}, separators=(",", ":"))}

    run.__module__ = route.__module__
    run.__name__ = run.__qualname__ = route.__name__
    run.__doc__ = route.__doc__
    return http.Route(route.wire, run, idempotent=route.idempotent)
