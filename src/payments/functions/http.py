"""The HTTP edge shared by the API functions (API Gateway HTTP API, payload format 2.0).

One table maps domain errors to statuses; bodies are parsed strictly (no floats for amounts, no
unknown fields); `Idempotency-Key` is honoured with Powertools' idempotency utility.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from payments import bootstrap
from payments.domain.errors import (
    AuthenticationRequired,
    CardDeclined,
    ConcurrentUpdate,
    FraudSuspected,
    IdempotencyConflict,
    IdempotencyInProgress,
    InvalidRequest,
    InvalidSignature,
    InvalidState,
    NotFound,
    PayloadTooLarge,
    PaymentsError,
    ProcessorUnreachable,
    UnsupportedMediaType,
    UpstreamUnavailable,
)
from payments.domain.merchants import PLATFORM, Caller

Response = dict[str, Any]
Event = Mapping[str, Any]
Model = TypeVar("Model", bound=BaseModel)
D = TypeVar("D")
C = TypeVar("C")

MAX_BODY_BYTES: Final = 64 * 1024
IDEMPOTENCY_KEY_MAX_LENGTH: Final = 255

# The one place where a domain error becomes an HTTP status.
STATUS_BY_ERROR: Final[Mapping[type[PaymentsError], int]] = MappingProxyType(
    {
        InvalidRequest: 400,
        InvalidSignature: 401,
        CardDeclined: 402,
        AuthenticationRequired: 402,
        FraudSuspected: 402,
        NotFound: 404,
        InvalidState: 409,
        IdempotencyConflict: 409,
        IdempotencyInProgress: 409,
        ConcurrentUpdate: 409,
        PayloadTooLarge: 413,
        UnsupportedMediaType: 415,
        UpstreamUnavailable: 503,
        ProcessorUnreachable: 503,  # to the caller the same failure: nothing was done, try again
    }
)


def status_for(error: PaymentsError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def respond(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
    }


def error_response(error: PaymentsError) -> Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if isinstance(error, CardDeclined):
        body["declineCode"] = error.decline_code
    headers = {"retry-after": "1"} if error.retryable else None
    return respond(status_for(error), {"error": body}, headers)


def _reject_constant(name: str) -> Any:
    raise InvalidRequest(f"{name} is not valid JSON")


def raw_body(event: Event, *, limit: int = MAX_BODY_BYTES) -> bytes:
    body = event.get("body") or ""
    try:
        raw = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode()
    except binascii.Error:
        raise InvalidRequest("the body is not valid base64") from None
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    return raw


def json_body(event: Event, *, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object. A body of another declared type is refused before it is read: a
    form post or a text body is not JSON that happens to parse (a POST with no body needs no type)."""
    raw = raw_body(event)
    if not raw.strip():
        if required:
            raise InvalidRequest("a JSON object body is required")
        return {}
    if not is_json_media_type(header(event, "content-type")):
        raise UnsupportedMediaType("send the body as application/json")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidRequest("the body is not valid JSON (or is nested too deeply)") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object")
    return data


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json` or a `+json` type (`application/merge-patch+json`), any parameters aside."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def parse(model: type[Model], data: Mapping[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'body'}: {issue['msg']}"
            for issue in error.errors(include_url=False)
        )
        raise InvalidRequest(problems) from None


def path_parameter(event: Event, name: str) -> str:
    value = (event.get("pathParameters") or {}).get(name)
    if not value:
        raise NotFound(f"missing {name}")
    return str(value)


def query_parameter(event: Event, name: str) -> str | None:
    value = (event.get("queryStringParameters") or {}).get(name)
    return None if value is None else str(value)


def caller(event: Event) -> Caller:
    """Who the request acts for, from the API authorizer's context (`requestContext.authorizer.lambda`).

    Fails closed: a route reached without the authorizer's context (a template that forgot it) is an
    error, never a platform key."""
    context = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}
    if context.get("scope") == PLATFORM:
        return Caller.platform()
    merchant_id = context.get("merchantId")
    if context.get("scope") != "merchant" or not isinstance(merchant_id, str) or not merchant_id:
        raise RuntimeError("no API key context on this request: is the route's authorizer set?")
    return Caller(merchant_id)


def header(event: Event, name: str) -> str | None:
    # HTTP API (payload 2.0) lower-cases header names.
    value = (event.get("headers") or {}).get(name.lower())
    return None if value is None else str(value)


def handle(work: Callable[[], Response]) -> Response:
    """Run one request: a domain error becomes its response; anything else propagates (500)."""
    try:
        return work()
    except PaymentsError as error:
        return error_response(error)


@dataclass(frozen=True, slots=True)
class Request(Generic[C]):
    """One API request: the event, and what the route's `parse` made of it before any work."""

    event: Event
    context: Any
    input: C

    @property
    def caller(self) -> Caller:
        return caller(self.event)

    def path(self, name: str) -> str:
        return path_parameter(self.event, name)

    def query(self, name: str) -> str | None:
        return query_parameter(self.event, name)

    def header(self, name: str) -> str | None:
        return header(self.event, name)


@dataclass(frozen=True, slots=True)
class Routed(Generic[D]):
    """A route's dependencies and, for an idempotent route, its `Idempotency-Key` store."""

    dependencies: D
    requests: IdempotentRequests | None = None


def no_body(event: Event) -> None:
    """The input of a route that reads nothing before its work (path and query are read inside it)."""
    del event


def body(model: type[Model], *, required: bool = True) -> Callable[[Event], Model]:
    """`parse` for a JSON body validated by `model` (an absent body is `{}` unless required)."""
    return lambda event: parse(model, json_body(event, required=required))


class Route(bootstrap.LambdaFunction[Routed[D], Response]):
    """An API function as `route` declares it; `idempotent`: its work runs under `Idempotency-Key`."""

    def __init__(
        self,
        wire: Callable[[bootstrap.Environment], Routed[D]],
        run: Callable[[Any, Any, Routed[D]], Response],
        *,
        idempotent: bool,
    ) -> None:
        super().__init__(wire, run)
        self.idempotent = idempotent


def route(
    wire: Callable[[bootstrap.Environment], D],
    *,
    parse: Callable[[Event], C],
    idempotent: bool = False,
) -> Callable[[Callable[[Request[C], D], Response]], Route[D]]:
    """An API function, declared once: `parse` runs first (a request it refuses is answered and
    nothing is written, not even an idempotency record); then the work, whose domain errors become
    their statuses; with `idempotent`, a repeated `Idempotency-Key` replays the first answer."""

    def wired(env: bootstrap.Environment) -> Routed[D]:
        return Routed(wire(env), bootstrap.idempotent_requests(env) if idempotent else None)

    def declare(work: Callable[[Request[C], D], Response]) -> Route[D]:
        def run(event: Any, context: Any, routed: Routed[D]) -> Response:
            try:
                request = Request(event, context, parse(event))
            except PaymentsError as error:
                return error_response(error)

            def answer() -> Response:
                return work(request, routed.dependencies)

            if routed.requests is None:
                return handle(answer)
            return routed.requests(event, context, answer)

        run.__module__ = work.__module__
        run.__name__ = run.__qualname__ = work.__name__
        run.__doc__ = work.__doc__
        return Route(wired, run, idempotent=idempotent)

    return declare


class IdempotentRequests:
    """`Idempotency-Key` semantics: a replay gets the first response (status and body); the same key
    with another request is 409 idempotency_conflict; a concurrent duplicate is 409
    idempotency_in_progress (retryable). Records expire after `expires_after_seconds` (checked by
    the code on every use; the table's TTL only cleans up)."""

    def __init__(self, *, table_name: str, client: Any, expires_after_seconds: int) -> None:
        from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415 (cold start)
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self._config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="request",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_seconds,
            hash_function="sha256",
            response_hook=_mark_replayed,
        )
        store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
        self._run = idempotent_function(
            _run_once,
            data_keyword_argument="envelope",
            persistence_store=store,
            config=self._config,
            key_prefix="api",
        )

    def __call__(self, event: Event, context: Any, work: Callable[[], Response]) -> Response:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (  # noqa: PLC0415
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        key = header(event, "idempotency-key")
        if key is None:
            return handle(work)
        if not 0 < len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH or not key.isprintable():
            return error_response(InvalidRequest("Idempotency-Key must be 1 to 255 printable characters"))
        envelope = {
            # Scoped to the caller, as a processor scopes keys to an account: another merchant's use
            # of the same key neither replays this answer nor conflicts with it.
            "key": f"{caller(event).scope}#{key}",
            "request": {
                "route": event.get("routeKey", ""),
                "path": event.get("rawPath", ""),
                "body": _body_fingerprint(event),
            },
        }
        self._config.register_lambda_context(context)
        try:
            response: Response = self._run(envelope=envelope, work=work)
        except IdempotencyValidationError:
            return error_response(
                IdempotencyConflict("this Idempotency-Key was used with a different request")
            )
        except IdempotencyAlreadyInProgressError:
            return error_response(
                IdempotencyInProgress("a request with this Idempotency-Key is in progress; retry")
            )
        except PaymentsError as error:  # retryable errors are raised through, never stored
            return error_response(error)
        return response


def _body_fingerprint(event: Event) -> str:
    """What makes two bodies "the same request": equal JSON values (key order and white space aside),
    else equal bytes."""
    try:
        raw = raw_body(event, limit=sys.maxsize)  # a file route takes more than a JSON one
    except PaymentsError:
        return ""
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):
        canonical = raw
    return hashlib.sha256(canonical).hexdigest()


def _run_once(envelope: dict[str, Any], work: Callable[[], Response]) -> Response:
    """Stored as the key's answer unless it raises. Retryable errors and invalid requests are raised
    (the record is then deleted): a request that was refused before it ran leaves nothing behind."""
    del envelope  # hashed by the decorator
    try:
        return work()
    except PaymentsError as error:
        if error.retryable or isinstance(error, InvalidRequest):
            raise
        return error_response(error)


def _mark_replayed(response: Any, idempotent_data: Any) -> Any:
    del idempotent_data
    if isinstance(response, dict):
        response = {**response, "headers": {**response.get("headers", {}), "idempotent-replayed": "true"}}
    return response
