"""docs/api/openapi.yaml: a valid OpenAPI 3.1 document that says what the code does.

Routes come from `template.yaml` (never listed here), each operation's success status, request media
type and body model from its handler's source, error codes from `payments.domain.errors`, request
bodies from the pydantic models, the intent's shape from `intent_body`, the checkout's from
`checkout_view`, the refund's from `refund_body`, the event's from `event_body`, the ledger's from
`ledger_entry_body` and `balance_body`, the refund batch's from `refund_batch_body` (its CSV file
from `parse_refund_file`), and the settlement report's from `REPORT_FIELDS` of
`list_settlement_reports` (over what `reconcile_settlement_file` keeps), so a change on either side
that the other does not follow fails here.
"""

from __future__ import annotations

import ast
import copy
import importlib
import json
import re
from collections.abc import Iterator
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from pydantic import BaseModel

from payments.adapters import page_tokens
from payments.adapters.dynamodb_refund_batches import DynamoDBRefundBatches, resume_after
from payments.adapters.dynamodb_settlements import DynamoDBSettlementReports
from payments.adapters.event_topic import DynamoDBEventLog, event_body
from payments.domain import errors
from payments.domain.cards import contains_card_number
from payments.domain.checkout import AmountTier, CheckoutStatus, tracking_id_for
from payments.domain.events import EventType, event_for
from payments.domain.ids import new_id
from payments.domain.intents import (
    CaptureMethod,
    LineItem,
    PaymentIntent,
    Status,
    TransactionKind,
    refund_id_for,
    transaction_id_for,
)
from payments.domain.ledger import (
    Account,
    Balance,
    LedgerEntry,
    authorization_hold,
    postings_for,
    reversal_of,
)
from payments.domain.merchants import Caller
from payments.domain.money import Money
from payments.domain.refund_batches import (
    HEADER,
    MAX_ROWS,
    RowError,
    RowFailure,
    RowState,
    parse_refund_file,
)
from payments.functions import (
    create_refund_batch,
    http,
    list_customer_intents,
    list_settlement_reports,
    schemas,
)
from payments.functions.schemas import (
    AuthorizeBody,
    CaptureBody,
    ChallengeBody,
    CreateIntentBody,
    LineItemBody,
    RefundBody,
    StartCheckoutBody,
    balance_body,
    intent_body,
    ledger_entry_body,
    refund_batch_body,
    refund_body,
    row_failure_body,
)
from payments.local.cfn_yaml import load_template
from payments.service.checkout import FAILURE_CODES, checkout_view
from payments.service.ports import CheckoutRecord, ExecutionStatus, Page, RefundBatch
from payments.service.refund_batches import KEPT_ERRORS, import_refund_file
from payments.service.settlements import reconcile_settlement_file
from payments.settlement import parquet
from payments.settlement.reconcile import Booked
from payments.settlement.rows import MovementType, SettlementRow, report_keys
from tests.unit.fakes import FakeIntentRepository
from tests.unit.inventory import functions, handler_module, http_routes, module_path

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "docs" / "api" / "openapi.yaml"
TEMPLATE_PATH = ROOT / "template.yaml"
STATE_MACHINE_PATH = ROOT / "statemachines" / "checkout.asl.json"

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Keywords of a field's constraints that the spec must copy from the pydantic model.
CONSTRAINTS = ("pattern", "minLength", "maxLength", "minimum", "maximum", "enum")


@cache
def _spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


@pytest.fixture
def spec() -> dict[str, Any]:
    return copy.deepcopy(_spec())


def resolve(spec: dict[str, Any], node: Any) -> Any:
    """Follow local `$ref`s until a node that is not one."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local references are expected, got {ref}"
        node = spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield method.upper(), path, item[method]


@cache
def _template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


def template_handlers() -> dict[tuple[str, str], str]:
    """Each HttpApi route of the template and the handler of its function."""
    template = _template()
    return {
        route: functions(template)[logical_id]["Handler"]
        for route, logical_id in http_routes(template).items()
    }


def template_routes() -> set[tuple[str, str]]:
    return set(template_handlers())


def handler_source(handler: str) -> ast.Module:
    """The handler's module, read (not imported) from the source tree."""
    return ast.parse(module_path(handler_module(handler)).read_text(encoding="utf-8"))


def answered_successes(handler: str) -> set[str]:
    """The 2xx statuses the handler's module answers with (`http.respond(201, ...)`)."""
    return {
        str(node.args[0].value)
        for node in ast.walk(handler_source(handler))
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", getattr(node.func, "id", None)) == "respond"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and str(node.args[0].value).startswith("2")
    }


def named_media_types(handler: str) -> set[str]:
    """Media types the handler's module names as string literals (`"text/csv"`)."""
    return {
        node.value
        for node in ast.walk(handler_source(handler))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"(application|text)/[a-z0-9.+-]+", node.value)
    }


def request_models(handler: str) -> set[type[BaseModel]]:
    """The request body models (pydantic, from `payments.functions.schemas`) the handler's module uses."""
    names = {
        alias.asname or alias.name
        for node in ast.walk(handler_source(handler))
        if isinstance(node, ast.ImportFrom) and node.module == "payments.functions.schemas"
        for alias in node.names
    }
    found = {getattr(schemas, name, None) for name in names}
    return {model for model in found if isinstance(model, type) and issubclass(model, BaseModel)}


def honours_idempotency_key(handler: str) -> bool:
    """Whether the route's function runs its work through `Idempotency-Key` handling."""
    module_name, _, name = handler.rpartition(".")
    function = getattr(importlib.import_module(module_name), name)
    assert isinstance(function, http.Route), handler  # declared with `http.route`
    return function.idempotent


def workflow_decline_codes() -> set[str]:
    """The `code`s the state machine hands to its decline tasks (written as the checkout's error)."""
    found: set[str] = set()
    pending = list(json.loads(STATE_MACHINE_PATH.read_text(encoding="utf-8"))["States"].values())
    while pending:
        state = pending.pop()
        pending.extend(inner for branch in state.get("Branches", []) for inner in branch["States"].values())
        code = state.get("Parameters", {}).get("code")
        if isinstance(code, str):
            found.add(code)
    return found


def domain_codes() -> dict[str, type[errors.PaymentsError]]:
    """Every error class with a code of its own, by code."""
    found: dict[str, type[errors.PaymentsError]] = {}
    pending = list(errors.PaymentsError.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__ == errors.__name__ and cls.code != errors.PaymentsError.code:
            found[cls.code] = cls
    return found


def schema_validator(spec: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for one schema of the spec, with `#/components/...` resolving inside the spec."""
    root = {"components": spec["components"], "allOf": [schema]}
    return Draft202012Validator(root)


def full_intent() -> PaymentIntent:
    """An intent with every optional attribute set (a combination no real flow produces, on purpose)."""
    intent = PaymentIntent.create(
        amount=Money.of(1250, "USD"),
        customer_id="cus_42",
        merchant_id="mer_acme",
        payment_method="pm_card_visa",
        now=datetime(2025, 1, 15, 10, 30, tzinfo=UTC),
        time_to_live=timedelta(days=1),
        capture_method=CaptureMethod.AUTOMATIC,
        receipt_email="ana@example.com",
        locale="es-MX",
        description="2 coffees",
        order_id="ord_1001",
        customer_first_name="Ana",
        line_items=(
            LineItem("Café de olla", 2, Money.of(1000, "USD")),
            LineItem("Pan dulce", 1, Money.of(250, "USD")),
        ),
    )
    intent.transaction_id = "txn_01JHMR6K20V5R1X5AM5BNPXYCM_auth"
    intent.decline_code = "generic_decline"
    intent.authorization_id = "auth_1"
    # The processor's 3-D Secure authentication is the stack's own (the checkout shows its URL as
    # `nextAction.redirectUrl`), not part of the intent's body.
    intent.authentication_reference = "pi_3PqRsTLkdIwHu7ix0aBcDeFg"
    intent.authentication_url = "https://hooks.stripe.com/3d_secure_2/hosted?payment_intent=pi_3Pq"
    return intent


def bare_intent() -> PaymentIntent:
    return PaymentIntent.create(
        amount=Money.of(1, "JPY"),
        customer_id="cus_1",
        merchant_id="mer_1",
        payment_method="pm_card_visa",
        now=datetime(2025, 1, 15, 10, 30, tzinfo=UTC),
        time_to_live=timedelta(days=1),
    )


def media_examples(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example value) for every example of every request and response body."""
    for method, path, operation in operations(spec):
        bodies = []
        if "requestBody" in operation:
            bodies.append(("request", resolve(spec, operation["requestBody"])))
        bodies.extend(
            (status, resolve(spec, response)) for status, response in operation["responses"].items()
        )
        for where, body in bodies:
            for media in body.get("content", {}).values():
                for name, example in media.get("examples", {}).items():
                    yield f"{method} {path} {where} {name}", media["schema"], resolve(spec, example)["value"]


def narrowed_codes(schema: dict[str, Any]) -> set[str]:
    """The error codes a response schema allows beyond the bare `Error` (its `allOf` narrowing)."""
    found: set[str] = set()
    for branch in schema.get("oneOf", [schema]):
        for part in branch.get("allOf", []):
            code = part.get("properties", {}).get("error", {}).get("properties", {}).get("code", {})
            found.update(code.get("enum", []))
            if "const" in code:
                found.add(code["const"])
    return found


def field_constraints(spec: dict[str, Any], node: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A field's constraints and whether it accepts null, from either pydantic's or the spec's schema."""
    node = resolve(spec, node)
    nullable = False
    branches = node.get("anyOf") or node.get("oneOf")
    if branches:
        resolved = [resolve(spec, branch) for branch in branches]
        nullable = any(branch.get("type") == "null" for branch in resolved)
        (node,) = [branch for branch in resolved if branch.get("type") != "null"]
    if isinstance(node.get("type"), list):
        nullable = nullable or "null" in node["type"]
    constraints = {key: node[key] for key in CONSTRAINTS if key in node}
    if "exclusiveMinimum" in node and node.get("type") == "integer":
        constraints["minimum"] = node["exclusiveMinimum"] + 1
    return constraints, nullable


def assert_body_schema_matches(spec: dict[str, Any], schema_name: str, model: type[BaseModel]) -> None:
    schema = spec["components"]["schemas"][schema_name]
    model_schema = model.model_json_schema()
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(model.model_fields)
    assert sorted(schema.get("required", [])) == sorted(
        name for name, field in model.model_fields.items() if field.is_required()
    )
    for name, field in model.model_fields.items():
        ours, ours_nullable = field_constraints(spec, schema["properties"][name])
        theirs, theirs_nullable = field_constraints(model_schema, model_schema["properties"][name])
        assert ours == theirs, f"{schema_name}.{name}"
        assert ours_nullable == theirs_nullable, f"{schema_name}.{name} accepts null in one only"
        if field.default is not None and not field.is_required():
            assert resolve(spec, schema["properties"][name]).get("default") == field.default, name


# -- the document --------------------------------------------------------------------------------


def test_the_spec_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1.")
    validate(spec)
    validate(spec, cls=OpenAPIV31SpecValidator)


def test_the_validator_rejects_a_broken_spec(spec: dict[str, Any]) -> None:
    del spec["info"]
    with pytest.raises(OpenAPIValidationError):
        validate(spec)


def test_the_local_server_is_listed(spec: dict[str, Any]) -> None:
    assert "http://127.0.0.1:8080" in [server["url"] for server in spec["servers"]]


def test_the_description_covers_money_idempotency_and_lists(spec: dict[str, Any]) -> None:
    description = spec["info"]["description"]
    for words in (
        "minor unit",
        "ISO 4217",
        "exponent",
        "Idempotency-Key",
        "idempotent-replayed",
        "nextToken",
    ):
        assert words in description


# -- routes --------------------------------------------------------------------------------------


def test_the_operations_are_exactly_the_routes_of_the_template(spec: dict[str, Any]) -> None:
    """A route is declared twice, and only twice: its function's HttpApi event in template.yaml, and its
    operation here. Either without the other fails, saying which side lacks what."""
    routes = template_routes()
    documented = {(method, path) for method, path, _ in operations(spec)}
    assert routes
    missing = {
        "in template.yaml, not in the spec": sorted(f"{m} {p}" for m, p in routes - documented),
        "in the spec, not in template.yaml": sorted(f"{m} {p}" for m, p in documented - routes),
    }
    assert missing == {side: [] for side in missing}


def test_only_the_operations_the_spec_leaves_open_skip_the_authorizer(spec: dict[str, Any]) -> None:
    """template.yaml opts a route out of the merchant key's authorizer (`Auth: {Authorizer: NONE}`)
    exactly where the spec's operation does not ask for the merchant key."""
    template = _template()
    for (method, path), logical_id in http_routes(template).items():
        operation = spec["paths"][path][method.lower()]
        wants_key = any("MerchantApiKey" in scheme for scheme in operation.get("security", spec["security"]))
        events = functions(template)[logical_id].get("Events", {}).values()
        (auth,) = [event["Properties"].get("Auth") for event in events if event["Type"] == "HttpApi"]
        assert (auth is None) == wants_key, (
            f"{method} {path}: Auth {auth}, spec security {operation.get('security')}"
        )


def test_every_path_parameter_is_declared(spec: dict[str, Any]) -> None:
    for method, path, operation in operations(spec):
        declared = {
            resolve(spec, parameter)["name"]
            for parameter in operation.get("parameters", [])
            if resolve(spec, parameter)["in"] == "path"
        }
        in_path = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        assert declared == in_path, f"{method} {path}"


def test_the_posts_take_an_idempotency_key_and_the_gets_do_not(spec: dict[str, Any]) -> None:
    handlers = template_handlers()
    for method, path, operation in operations(spec):
        names = {resolve(spec, parameter)["name"] for parameter in operation.get("parameters", [])}
        honoured = honours_idempotency_key(handlers[(method, path)])
        assert ("Idempotency-Key" in names) == honoured, f"{method} {path}"
        assert method == "POST" or not honoured, f"{method} {path}"
        if method == "POST":
            assert {"400", "413"} <= set(operation["responses"]), f"{method} {path}"
        if honoured:  # every operation under the key can answer its two refusals, retry-after and all
            refusals = resolve(spec, operation["responses"]["409"])
            codes = narrowed_codes(refusals["content"]["application/json"]["schema"])
            assert {"idempotency_conflict", "idempotency_in_progress"} <= codes, f"{method} {path}"
            assert "retry-after" in refusals["headers"], f"{method} {path}"
    key = spec["components"]["parameters"]["IdempotencyKey"]
    assert key["in"] == "header"
    assert key["required"] is False
    assert key["schema"]["minLength"] == 1
    assert key["schema"]["maxLength"] == http.IDEMPOTENCY_KEY_MAX_LENGTH


def test_the_list_limit_matches_the_code(spec: dict[str, Any]) -> None:
    """Every operation that pages (takes a `nextToken`) takes a `limit` the code's bounds."""
    paged = 0
    for method, path, operation in operations(spec):
        resolved = [resolve(spec, parameter) for parameter in operation.get("parameters", [])]
        parameters = {parameter["name"]: parameter for parameter in resolved}
        if "nextToken" not in parameters:
            continue
        paged += 1
        assert parameters["nextToken"]["in"] == "query", f"{method} {path}"
        limit = parameters["limit"]["schema"]
        assert (limit["minimum"], limit["maximum"], limit["default"]) == (
            1,
            list_customer_intents.MAX_LIMIT,
            list_customer_intents.DEFAULT_LIMIT,
        ), f"{method} {path}"
    assert paged


def test_the_events_list_requires_a_payment_intent_id(spec: dict[str, Any]) -> None:
    operation = spec["paths"]["/v1/events"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert set(parameters) == {"paymentIntentId", "limit", "nextToken"}
    assert all(parameter["in"] == "query" for parameter in parameters.values())
    assert parameters["paymentIntentId"]["required"] is True
    assert parameters["paymentIntentId"]["schema"]["minLength"] == 1
    assert {"200", "400"} <= set(operation["responses"])


def test_the_success_statuses(spec: dict[str, Any]) -> None:
    """Each operation documents one success, the one its handler answers with."""
    handlers = template_handlers()
    for method, path, operation in operations(spec):
        successes = {status for status in operation["responses"] if status.startswith("2")}
        answered = answered_successes(handlers[(method, path)])
        assert len(answered) == 1, f"{method} {path}: the handler answers {answered}"
        assert successes == answered, f"{method} {path}"


def test_each_request_body_takes_its_media_type(spec: dict[str, Any]) -> None:
    """JSON, unless the handler names another media type it takes (the refund file: text/csv); a GET
    takes no body."""
    handlers = template_handlers()
    taken = 0
    for method, path, operation in operations(spec):
        if "requestBody" not in operation:
            continue
        taken += 1
        assert method != "GET", path
        other = named_media_types(handlers[(method, path)]) - {"application/json"}
        expected = sorted(other) or ["application/json"]
        assert list(resolve(spec, operation["requestBody"])["content"]) == expected, f"{method} {path}"
    assert taken
    csv_body = spec["paths"]["/v1/refund-batches"]["post"]["requestBody"]
    assert csv_body["required"] is True
    assert csv_body["content"]["text/csv"]["schema"] == {"type": "string"}


# -- errors --------------------------------------------------------------------------------------


def test_the_error_codes_are_the_codes_of_the_domain(spec: dict[str, Any]) -> None:
    code = spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
    assert len(code["enum"]) == len(set(code["enum"]))
    assert set(code["enum"]) == set(domain_codes())


def test_every_domain_error_has_a_status_at_the_edge() -> None:
    for code, cls in domain_codes().items():
        assert cls in http.STATUS_BY_ERROR, code


def test_each_error_response_allows_only_codes_of_its_status(spec: dict[str, Any]) -> None:
    classes = domain_codes()
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            for media in resolve(spec, response).get("content", {}).values():
                for code in narrowed_codes(media["schema"]):
                    assert str(http.STATUS_BY_ERROR[classes[code]]) == status, f"{method} {path} {code}"


def test_retryable_errors_document_retry_after(spec: dict[str, Any]) -> None:
    classes = domain_codes()
    for method, path, operation in operations(spec):
        for status, reference in operation["responses"].items():
            response = resolve(spec, reference)
            codes = set().union(
                *(narrowed_codes(media["schema"]) for media in response.get("content", {}).values())
            )
            retryable = any(classes[code].retryable for code in codes)
            assert retryable == ("retry-after" in response.get("headers", {})), f"{method} {path} {status}"


def test_the_authorize_call_documents_its_refusals(spec: dict[str, Any]) -> None:
    responses = spec["paths"]["/v1/payment-intents/{paymentIntentId}/authorize"]["post"]["responses"]
    assert {"200", "400", "402", "404", "409", "413", "503"} <= set(responses)
    codes = {
        status: narrowed_codes(resolve(spec, responses[status])["content"]["application/json"]["schema"])
        for status in ("402", "409", "503")
    }
    assert codes["402"] == {"card_declined", "authentication_required", "fraud_suspected"}
    assert codes["409"] == {
        "invalid_state",
        "idempotency_conflict",
        "idempotency_in_progress",
        "concurrent_update",
    }
    assert codes["503"] == {"upstream_unavailable"}


@pytest.mark.parametrize(
    ("path", "conflicts"),
    [
        ("/v1/payment-intents/{paymentIntentId}/capture", set()),
        ("/v1/payment-intents/{paymentIntentId}/void", set()),
        ("/v1/refunds", {"concurrent_update"}),
    ],
)
def test_the_money_movements_document_their_refusals(
    spec: dict[str, Any], path: str, conflicts: set[str]
) -> None:
    responses = spec["paths"][path]["post"]["responses"]
    assert {"400", "404", "409", "413", "503"} <= set(responses)
    codes = {
        status: narrowed_codes(resolve(spec, responses[status])["content"]["application/json"]["schema"])
        for status in ("400", "404", "409", "503")
    }
    assert codes["400"] == {"invalid_request"}
    assert codes["404"] == {"not_found"}
    assert codes["409"] == {"invalid_state", "idempotency_conflict", "idempotency_in_progress", *conflicts}
    assert codes["503"] == {"upstream_unavailable"}


def _codes(spec: dict[str, Any], responses: dict[str, Any], status: str) -> set[str]:
    return narrowed_codes(resolve(spec, responses[status])["content"]["application/json"]["schema"])


def test_the_refund_batch_calls_document_their_refusals(spec: dict[str, Any]) -> None:
    create = spec["paths"]["/v1/refund-batches"]["post"]["responses"]
    read = spec["paths"]["/v1/refund-batches/{batchId}"]["get"]["responses"]
    assert set(create) == {"202", "400", "401", "403", "409", "413", "500"}
    assert set(read) == {"200", "401", "403", "404", "500"}
    assert _codes(spec, create, "400") == {"invalid_request"}
    assert _codes(spec, create, "409") == {"idempotency_conflict", "idempotency_in_progress"}
    assert _codes(spec, create, "413") == {"payload_too_large"}
    # The size is checked before the key is touched, so a 413 is never kept nor replayed.
    assert "idempotent-replayed" not in resolve(spec, create["413"]).get("headers", {})
    parameters = spec["paths"]["/v1/refund-batches"]["post"]["parameters"]
    assert parameters == [{"$ref": "#/components/parameters/IdempotencyKey"}]
    assert _codes(spec, read, "404") == {"not_found"}
    failures = spec["paths"]["/v1/refund-batches/{batchId}/failures"]["get"]["responses"]
    assert set(failures) == {"200", "400", "401", "403", "404", "500"}
    assert _codes(spec, failures, "400") == {"invalid_request"}
    assert _codes(spec, failures, "404") == {"not_found"}


def test_the_refund_batch_refusal_examples_are_what_the_code_answers(spec: dict[str, Any]) -> None:
    # The real `Idempotency-Key` handling, over a client that fails any AWS call: every answer below
    # is refused before one (without a key, with a key that is not valid, or, for a wrong content type
    # or a body too large, with a valid key that is never touched).
    requests = http.IdempotentRequests(
        table_name="idempotency-test", client=Mock(spec=[]), expires_after_seconds=86_400
    )
    untouched = create_refund_batch.Dependencies(batches=Mock(spec=[]), files=Mock(spec=[]))
    handler = create_refund_batch.handler.with_dependencies(http.Routed(untouched, requests))

    def answer(content_type: str, body: str, key: str | None = None) -> str:
        headers = {"content-type": content_type, **({"idempotency-key": key} if key is not None else {})}
        response = handler({"headers": headers, "body": body}, None)
        return str(json.loads(response["body"])["error"]["message"])

    def refusal(body: bytes) -> str:
        with pytest.raises(errors.InvalidRequest) as refused:
            import_refund_file(body, caller=Caller.platform(), batches=Mock(), files=Mock())
        return refused.value.message

    header = ",".join(HEADER) + "\n"
    too_large = "x" * (create_refund_batch.MAX_FILE_BYTES + 1)
    expected = {
        "400": {
            answer("application/json", "{}"),
            refusal(b"paymentIntentId,amount\n"),
            refusal(header.encode() + b"mer_1,pi_\xff,1,\n"),
            refusal(header.encode()),
            refusal((header + "x\n" * (MAX_ROWS + 1)).encode()),
            answer("text/csv", header, key="\n"),
        },
        "413": {answer("text/csv", too_large)},
    }
    # A charset parameter is no other content type: such a file gets as far as the size check.
    assert answer("text/csv; charset=utf-8", too_large) in expected["413"]
    # Refused before the key: answered alike with one, and nothing is read or kept for it.
    assert answer("application/json", "{}", key="batch-1") in expected["400"]
    assert answer("text/csv", too_large, key="batch-1") in expected["413"]
    responses = spec["paths"]["/v1/refund-batches"]["post"]["responses"]
    for status, messages in expected.items():
        examples = resolve(spec, responses[status])["content"]["application/json"]["examples"]
        assert {example["value"]["error"]["message"] for example in examples.values()} == messages, status

    client = Mock()
    client.get_item.return_value = {}
    batch_id = "rb_01JHQ5EWNSKBNQ19GP2ZRR902N"
    with pytest.raises(errors.NotFound) as unknown:
        DynamoDBRefundBatches(client, table="refund-batches-test").get(batch_id)
    for path in ("/v1/refund-batches/{batchId}", "/v1/refund-batches/{batchId}/failures"):
        examples = spec["paths"][path]["get"]["responses"]["404"]["content"]["application/json"]["examples"]
        found = [example["value"]["error"]["message"] for example in examples.values()]
        assert found == [unknown.value.message], path


def test_replayable_answers_document_idempotent_replayed(spec: dict[str, Any]) -> None:
    handlers = template_handlers()
    for method, path, operation in operations(spec):
        success = next(
            response for status, response in operation["responses"].items() if status.startswith("2")
        )
        documented = "idempotent-replayed" in resolve(spec, success).get("headers", {})
        assert documented == honours_idempotency_key(handlers[(method, path)]), f"{method} {path}"


def test_an_error_body_matches_the_error_schema(spec: dict[str, Any]) -> None:
    validator = schema_validator(spec, {"$ref": "#/components/schemas/Error"})
    declined = http.error_response(errors.CardDeclined("insufficient_funds"))
    validator.validate(yaml.safe_load(declined["body"]))
    busy = http.error_response(errors.IdempotencyInProgress("retry"))
    validator.validate(yaml.safe_load(busy["body"]))
    assert busy["headers"]["retry-after"] == "1"
    assert not validator.is_valid({"error": {"code": "card_declined", "message": "no decline code"}})
    assert not validator.is_valid({"error": {"code": "not_found", "message": "x", "declineCode": "x"}})
    assert not validator.is_valid({"error": {"code": "internal_error", "message": "not a code"}})


# -- bodies --------------------------------------------------------------------------------------


def test_create_payment_intent_is_the_create_body_model(spec: dict[str, Any]) -> None:
    assert_body_schema_matches(spec, "CreatePaymentIntent", CreateIntentBody)
    amount = spec["components"]["schemas"]["CreatePaymentIntent"]["properties"]["amount"]
    assert (amount["type"], amount["minimum"], amount["maximum"]) == ("integer", 1, 99_999_999_999)


def test_a_line_item_is_the_line_item_body_model(spec: dict[str, Any]) -> None:
    assert_body_schema_matches(spec, "LineItem", LineItemBody)
    lines = spec["components"]["schemas"]["CreatePaymentIntent"]["properties"]["lineItems"]
    theirs = CreateIntentBody.model_json_schema()["properties"]["lineItems"]["anyOf"][0]
    assert (lines["minItems"], lines["maxItems"]) == (theirs["minItems"], theirs["maxItems"])
    assert lines["items"] == {"$ref": "#/components/schemas/LineItem"}


def test_authorize_request_is_the_authorize_body_model(spec: dict[str, Any]) -> None:
    assert_body_schema_matches(spec, "AuthorizeRequest", AuthorizeBody)
    operation = spec["paths"]["/v1/payment-intents/{paymentIntentId}/authorize"]["post"]
    assert operation["requestBody"]["required"] is False


def test_start_checkout_is_the_start_checkout_body_model(spec: dict[str, Any]) -> None:
    assert_body_schema_matches(spec, "StartCheckout", StartCheckoutBody)
    assert spec["paths"]["/v1/checkouts"]["post"]["requestBody"]["required"] is True


def test_checkout_challenge_is_the_challenge_body_model(spec: dict[str, Any]) -> None:
    assert_body_schema_matches(spec, "CheckoutChallenge", ChallengeBody)
    operation = spec["paths"]["/v1/checkouts/{trackingId}/challenge"]["post"]
    assert operation["requestBody"]["required"] is True


def test_capture_is_the_capture_body_model(spec: dict[str, Any]) -> None:
    assert_body_schema_matches(spec, "Capture", CaptureBody)
    operation = spec["paths"]["/v1/payment-intents/{paymentIntentId}/capture"]["post"]
    assert operation["requestBody"]["required"] is False
    assert "requestBody" not in spec["paths"]["/v1/payment-intents/{paymentIntentId}/void"]["post"]


def test_refund_is_the_refund_body_model(spec: dict[str, Any]) -> None:
    assert_body_schema_matches(spec, "Refund", RefundBody)
    assert spec["paths"]["/v1/refunds"]["post"]["requestBody"]["required"] is True


def test_the_refund_result_schema_is_what_refund_body_produces(spec: dict[str, Any]) -> None:
    schema = spec["components"]["schemas"]["RefundResult"]
    now = datetime(2025, 1, 15, 11, 0, tzinfo=UTC)
    intent = PaymentIntent.create(
        amount=Money.of(1250, "USD"),
        customer_id="cus_42",
        merchant_id="mer_acme",
        payment_method="pm_card_visa",
        now=now,
        time_to_live=timedelta(days=1),
    )
    intent.authorize(authorization_id="auth_1", now=now)
    intent.capture(amount=Money.of(1000, "USD"), now=now, gateway_reference="cap_1")
    partial = refund_body(intent.refund(amount=Money.of(250, "USD"), now=now, gateway_reference="re_g1"))
    # A refund keeps the reason it was asked for with, and answers with it
    partial_with_reason = refund_body(replace(intent.new_transactions[-1], reason="one coffee was missing"))
    assert intent.status is Status.PARTIALLY_REFUNDED
    rest = refund_body(intent.refund(amount=None, now=now, gateway_reference="re_g2"))
    assert intent.status is Status.REFUNDED
    assert (partial["amount"], rest["amount"]) == (250, 750)
    assert set(schema["properties"]) == set(partial_with_reason)
    assert set(schema["required"]) == set(partial)
    validator = schema_validator(spec, {"$ref": "#/components/schemas/RefundResult"})
    validator.validate(partial)
    validator.validate(partial_with_reason)
    validator.validate(rest)
    assert not validator.is_valid({**partial, "status": "PENDING"})
    assert not validator.is_valid({**partial, "refundId": intent.transaction_id})


def test_the_refund_batch_schema_is_what_refund_batch_body_produces(spec: dict[str, Any]) -> None:
    schema = spec["components"]["schemas"]["RefundBatch"]
    batch_id = new_id("rb")
    refused = parse_refund_file(
        ",".join(HEADER) + "\n"
        "mer_1,pi_01JHMR6K20V5R1X5AM5BNPXYCM,250,\n"
        "mer_1,pi_nope,100,\n"
        "\n"
        "mer_1,pi_01JHMR6K20V5R1X5AM5BNPXYCM,1.50,\n"
    ).errors
    assert [error.line for error in refused] == [3, 4, 5]  # a blank line is a row error too
    imported = refund_batch_body(RefundBatch(batch_id, total=4, failed=3), errors=refused)
    settled = refund_batch_body(
        RefundBatch(batch_id, total=5, succeeded=1, failed=3, dead_lettered=1),
        errors=[RowError(2, "reason must not contain a card number")],
    )
    empty = refund_batch_body(RefundBatch(batch_id, total=0), errors=[])
    assert [(body["pending"], len(body["errors"])) for body in (imported, settled, empty)] == [
        (1, 3),
        (0, 1),
        (0, 0),
    ]
    assert set(schema["properties"]) == set(schema["required"]) == set(imported)
    item = schema["properties"]["errors"]["items"]
    assert set(item["properties"]) == set(item["required"]) == set(imported["errors"][0])
    assert schema["properties"]["total"]["maximum"] == MAX_ROWS
    validator = schema_validator(spec, {"$ref": "#/components/schemas/RefundBatch"})
    for body in (imported, settled, empty):
        validator.validate(body)
    first_error = imported["errors"][0]
    assert not validator.is_valid({**imported, "batchId": "batch_1"})
    assert not validator.is_valid({**imported, "batchId": batch_id.lower()})
    assert not validator.is_valid({**imported, "batchId": new_id("re")})
    assert not validator.is_valid({**imported, "failed": -1})
    assert not validator.is_valid({**imported, "total": "3"})
    assert not validator.is_valid({**imported, "queued": 0})
    assert not validator.is_valid({key: value for key, value in imported.items() if key != "pending"})
    assert not validator.is_valid({**imported, "errors": [{**first_error, "line": 1}]})  # the header
    assert not validator.is_valid({**imported, "errors": [{"line": 3}]})
    assert not validator.is_valid({**imported, "errors": [{**first_error, "column": 2}]})


def test_the_refund_batch_limits_match_the_code(spec: dict[str, Any]) -> None:
    create = spec["paths"]["/v1/refund-batches"]["post"]
    file_description = create["requestBody"]["description"]
    assert f"`{','.join(HEADER)}`" in file_description
    assert f"{create_refund_batch.MAX_FILE_BYTES:,} bytes".replace(",", " ") in file_description
    assert f"{MAX_ROWS:,} rows".replace(",", " ") in file_description
    read = spec["paths"]["/v1/refund-batches/{batchId}"]["get"]
    assert f"only the first {KEPT_ERRORS} rows" in read["description"]
    receives = load_template(TEMPLATE_PATH)["Parameters"]["RefundJobsMaxReceives"]["Default"]
    assert f"after {receives} deliveries" in spec["info"]["description"]
    assert "`RefundJobsMaxReceives`" in create["description"]


def test_the_checkout_schema_is_what_checkout_view_produces(spec: dict[str, Any]) -> None:
    schema = spec["components"]["schemas"]["Checkout"]
    assert schema["properties"]["status"]["enum"] == [member.value for member in CheckoutStatus]
    assert schema["properties"]["paymentStatus"]["enum"] == [member.value for member in Status]
    codes = schema["properties"]["error"]["properties"]["code"]["enum"]
    assert len(codes) == len(set(codes))
    assert set(codes) == {*FAILURE_CODES.values(), "checkout_failed", *workflow_decline_codes()}

    intent = bare_intent()
    intents = FakeIntentRepository()
    intents.add(intent)
    intent_id = intent.payment_intent_id
    tracking_id = tracking_id_for(intent_id)
    arn = f"arn:aws:states:us-east-1:123456789012:execution:payments-checkout-test:{tracking_id}"
    validator = schema_validator(spec, {"$ref": "#/components/schemas/Checkout"})
    cases = [
        (ExecutionStatus.RUNNING, CheckoutRecord(tracking_id, intent_id, arn), "RUNNING"),
        (
            ExecutionStatus.RUNNING,
            CheckoutRecord(tracking_id, intent_id, arn, task_token="t"),
            "ACTION_REQUIRED",
        ),
        (ExecutionStatus.SUCCEEDED, CheckoutRecord(tracking_id, intent_id, arn), "SUCCEEDED"),
        (
            ExecutionStatus.FAILED,
            CheckoutRecord(tracking_id, intent_id, arn, failure_code="card_declined", failure_message="no"),
            "FAILED",
        ),
        (ExecutionStatus.TIMED_OUT, CheckoutRecord(tracking_id, intent_id, arn), "FAILED"),
    ]
    for execution, record, status in cases:
        checkouts, workflow = Mock(), Mock()
        checkouts.get.return_value = record
        workflow.status.return_value = execution
        view = checkout_view(tracking_id, checkouts=checkouts, workflow=workflow, intents=intents)
        assert view["status"] == status
        assert set(view) <= set(schema["properties"])
        validator.validate(view)
    assert not validator.is_valid({**view, "status": "RUNNING"})
    assert not validator.is_valid({**view, "status": "ACTION_REQUIRED"})


def test_the_payment_intent_schema_is_what_intent_body_produces(spec: dict[str, Any]) -> None:
    schema = spec["components"]["schemas"]["PaymentIntent"]
    intent = full_intent()
    unset = [field.name for field in fields(PaymentIntent) if getattr(intent, field.name) is None]
    assert not unset, f"set these in full_intent() too: {unset}"
    full = intent_body(intent)
    bare = intent_body(bare_intent())
    assert set(schema["properties"]) == set(full)
    assert set(schema["required"]) == set(bare)
    validator = schema_validator(spec, {"$ref": "#/components/schemas/PaymentIntent"})
    validator.validate(full)
    validator.validate(bare)
    status = schema["properties"]["status"]["enum"]
    assert status == [member.value for member in Status]


def test_a_list_page_matches_the_list_schema(spec: dict[str, Any]) -> None:
    validator = schema_validator(spec, {"$ref": "#/components/schemas/PaymentIntentList"})
    validator.validate({"data": [intent_body(full_intent()), intent_body(bare_intent())], "nextToken": None})
    validator.validate({"data": [], "nextToken": "eyJjdXN0b21lcklkIjoiY3VzXzEifQ"})
    assert not validator.is_valid({"data": []})


def visa_intent(amount: Money, now: datetime) -> PaymentIntent:
    return PaymentIntent.create(
        amount=amount,
        customer_id="cus_42",
        merchant_id="mer_acme",
        payment_method="pm_card_visa",
        now=now,
        time_to_live=timedelta(days=1),
    )


def test_the_payment_event_schema_is_what_event_body_produces(spec: dict[str, Any]) -> None:
    schema = spec["components"]["schemas"]["PaymentEvent"]
    assert schema["properties"]["eventType"]["enum"] == [member.value for member in EventType]
    assert schema["properties"]["amountTier"]["enum"] == [member.value for member in AmountTier]
    assert schema["properties"]["paymentStatus"]["enum"] == [member.value for member in Status]
    now = datetime(2025, 1, 15, 10, 30, 5, 123000, tzinfo=UTC)

    def intent(amount: Money) -> PaymentIntent:
        return visa_intent(amount, now)

    captured = intent(Money.of(1250, "USD"))
    authorized = event_body(event_for(captured.authorize(authorization_id="auth_1", now=now)))
    capture = captured.capture(amount=Money.of(1000, "USD"), now=now, gateway_reference="cap_1")
    refund = captured.refund(amount=Money.of(250, "USD"), now=now, gateway_reference="re_g1")
    voided = intent(Money.of(150_000, "JPY"))
    voided.authorize(authorization_id="auth_2", now=now)
    void = voided.void(now=now, gateway_reference="void_1")
    declined = intent(Money.of(89_900, "USD"))
    declined.decline(decline_code="generic_decline", now=now)
    bodies = [
        authorized,
        event_body(event_for(capture)),
        event_body(event_for(refund)),
        event_body(event_for(void)),
        event_body(event_for(declined.new_transactions[-1])),
    ]
    assert [(body["eventType"], body["amountTier"], body["paymentStatus"]) for body in bodies] == [
        ("AUTHORIZED", "LOW", "AUTHORIZED"),
        ("CAPTURED", "LOW", "CAPTURED"),
        ("REFUNDED", "LOW", "PARTIALLY_REFUNDED"),
        ("VOIDED", "HIGH", "VOIDED"),
        ("DECLINED", "MEDIUM", "DECLINED"),
    ]
    released = {body["eventType"]: body.get("releasedAmount") for body in bodies}
    assert released == {
        "AUTHORIZED": None,
        "CAPTURED": 1250,  # a partial capture releases the whole hold
        "REFUNDED": None,
        "VOIDED": 150_000,
        "DECLINED": None,
    }
    assert set(schema["properties"]) == set().union(*bodies)
    assert authorized["merchantId"] == "mer_acme"  # every event names its merchant ...
    # ... but ones logged before (and before the version was kept)
    assert set(schema["required"]) == set(authorized) - {"merchantId", "intentVersion"}
    # Each movement here is made on an intent at version 1, never saved in between: its save writes 2.
    assert [body["intentVersion"] for body in bodies] == [2, 2, 2, 2, 2]
    validator = schema_validator(spec, {"$ref": "#/components/schemas/PaymentEvent"})
    for body in bodies:
        validator.validate(body)
    assert not validator.is_valid({**authorized, "amountTier": "EXTREME"})
    assert not validator.is_valid({**authorized, "eventId": "evt_1"})
    assert not validator.is_valid({**authorized, "releasedAmount": 1250})
    assert not validator.is_valid({**bodies[1], "releasedAmount": 0})
    page = schema_validator(spec, {"$ref": "#/components/schemas/PaymentEventList"})
    page.validate({"data": bodies, "nextToken": None})
    assert not page.is_valid({"data": bodies})


def ledger_entries() -> list[LedgerEntry]:
    """Real entries of every kind: each money movement's posting, a hold posted ahead, its reversal."""
    now = datetime(2025, 1, 15, 10, 30, 5, 123000, tzinfo=UTC)

    def intent(amount: Money) -> PaymentIntent:
        return visa_intent(amount, now)

    won = intent(Money.of(1250, "USD"))
    won.authorize(authorization_id="auth_1", now=now)
    won.capture(amount=Money.of(1000, "USD"), now=now, gateway_reference="cap_1")
    won.refund(amount=Money.of(250, "USD"), now=now, gateway_reference="re_g1")
    won.open_dispute(movement_id="whk_evt_1", now=now, gateway_reference="dp_1")
    won.close_dispute(won=True, movement_id="whk_evt_2", now=now, gateway_reference="dp_1")
    lost = intent(Money.of(150_000, "JPY"))
    lost.authorize(authorization_id="auth_2", now=now)
    lost.capture(amount=None, now=now, gateway_reference="cap_2")
    lost.open_dispute(movement_id="whk_evt_3", now=now, gateway_reference="dp_2")
    lost.close_dispute(won=False, movement_id="whk_evt_4", now=now, gateway_reference="dp_2")
    voided = intent(Money.of(4999, "EUR"))
    voided.authorize(authorization_id="auth_3", now=now)
    voided.void(now=now, gateway_reference="void_1")
    declined = intent(Money.of(1, "KWD"))
    declined.decline(decline_code="generic_decline", now=now)
    assert postings_for(event_for(declined.new_transactions[-1])) is None
    entries = [
        postings_for(event_for(transaction))
        for payment in (won, lost, voided)
        for transaction in payment.new_transactions
    ]
    held = intent(Money.of(2599, "EUR"))
    hold = authorization_hold(held.payment_intent_id, held.amount, at=now)
    posted = [entry for entry in entries if entry is not None]
    assert len(posted) == len(entries)
    return [*posted, hold, reversal_of(hold, at=now + timedelta(seconds=30))]


def test_the_ledger_entry_schema_is_what_ledger_entry_body_produces(spec: dict[str, Any]) -> None:
    schema = spec["components"]["schemas"]["LedgerEntry"]
    leg = schema["properties"]["legs"]["items"]
    assert leg["properties"]["account"]["enum"] == [account.value for account in Account]
    assert leg["properties"]["direction"]["enum"] == ["debit", "credit"]
    entries = ledger_entries()
    assert all(entry.balances() for entry in entries)
    bodies = [ledger_entry_body(entry) for entry in entries]
    kinds = schema["properties"]["kind"]["enum"]
    assert len(kinds) == len(set(kinds))
    moving = [member.value for member in EventType if member is not EventType.DECLINED]
    assert set(kinds) == {body["kind"] for body in bodies} == {*moving, "AUTHORIZED_REVERSED"}
    assert bodies[-1]["entryId"] == f"{bodies[-2]['entryId']}:reversal"
    assert set(schema["properties"]) == set(schema["required"]) == set().union(*bodies)
    legs = [leg_body for body in bodies for leg_body in body["legs"]]
    assert set(leg["properties"]) == set(leg["required"]) == set().union(*legs)
    validator = schema_validator(spec, {"$ref": "#/components/schemas/LedgerEntry"})
    for body in bodies:
        validator.validate(body)
    first = bodies[0]
    debit, credit = first["legs"]
    assert not validator.is_valid({**first, "legs": [{**debit, "account": "cash"}, credit]})
    assert not validator.is_valid({**first, "legs": [{**debit, "amount": 0}, credit]})
    assert not validator.is_valid({**first, "legs": [{**debit, "direction": "DEBIT"}, credit]})
    assert not validator.is_valid({**first, "legs": [{**debit, "currency": "usd"}, credit]})
    assert not validator.is_valid({**first, "legs": [debit]})
    assert not validator.is_valid({**first, "kind": "DECLINED"})
    assert not validator.is_valid({**first, "entryId": "evt_1"})
    assert not validator.is_valid({**first, "paymentIntentId": entries[0].payment_intent_id})
    page = schema_validator(spec, {"$ref": "#/components/schemas/LedgerEntryList"})
    page.validate({"data": bodies})
    page.validate({"data": []})
    assert not page.is_valid({"data": bodies, "nextToken": None})
    assert not page.is_valid({})


def test_the_ledger_balance_schema_is_what_balance_body_produces(spec: dict[str, Any]) -> None:
    schema = spec["components"]["schemas"]["LedgerBalance"]
    assert schema["properties"]["account"]["enum"] == [account.value for account in Account]
    totals: dict[tuple[Account, str], int] = {}
    for entry in ledger_entries():
        for key, change in entry.balance_changes().items():
            totals[key] = totals.get(key, 0) + change
    balances = sorted(
        (Balance(account, code, balance) for (account, code), balance in totals.items()),
        key=lambda balance: (balance.currency, balance.account.value),
    )
    assert any(balance.balance < 0 for balance in balances)
    assert any(balance.balance == 0 for balance in balances)
    bodies = [balance_body(balance) for balance in balances]
    for code in {balance.currency for balance in balances}:
        assert sum(body["balance"] for body in bodies if body["currency"] == code) == 0, code
    assert set(schema["properties"]) == set(schema["required"]) == set().union(*bodies)
    validator = schema_validator(spec, {"$ref": "#/components/schemas/LedgerBalance"})
    for body in bodies:
        validator.validate(body)
    first = bodies[0]
    assert not validator.is_valid({**first, "account": "cash"})
    assert not validator.is_valid({**first, "balance": 1.5})
    assert not validator.is_valid({**first, "balance": "0"})
    assert not validator.is_valid({**first, "currency": "usd"})
    page = schema_validator(spec, {"$ref": "#/components/schemas/LedgerBalanceList"})
    page.validate({"data": bodies})
    page.validate({"data": []})
    assert not page.is_valid({"data": bodies, "nextToken": None})
    assert not page.is_valid({})


def test_the_ledger_examples_balance(spec: dict[str, Any]) -> None:
    """Each example entry balances per currency, oldest first; each currency's balances sum to zero."""
    entries = spec["paths"]["/v1/payment-intents/{paymentIntentId}/ledger"]["get"]["responses"]["200"]
    entry_examples = list(entries["content"]["application/json"]["examples"].values())
    assert any(example["value"]["data"] for example in entry_examples)
    for example in entry_examples:
        moments = [entry["createdAt"] for entry in example["value"]["data"]]
        assert moments == sorted(moments)
        for entry in example["value"]["data"]:
            net: dict[str, int] = {}
            for leg in entry["legs"]:
                sign = 1 if leg["direction"] == "debit" else -1
                net[leg["currency"]] = net.get(leg["currency"], 0) + sign * leg["amount"]
            assert set(net.values()) == {0}, entry["entryId"]
    balances = spec["paths"]["/v1/ledger/balances"]["get"]["responses"]["200"]
    balance_examples = list(balances["content"]["application/json"]["examples"].values())
    assert any(example["value"]["data"] for example in balance_examples)
    for example in balance_examples:
        rows = example["value"]["data"]
        keys = [(row["currency"], row["account"]) for row in rows]
        assert keys == sorted(keys)
        sums: dict[str, int] = {}
        for row in rows:
            sums[row["currency"]] = sums.get(row["currency"], 0) + row["balance"]
        assert set(sums.values()) <= {0}, sums


def test_the_event_page_tokens_in_the_examples_are_ones_the_code_accepts(spec: dict[str, Any]) -> None:
    content = spec["paths"]["/v1/events"]["get"]["responses"]["200"]["content"]["application/json"]
    tokens = [
        (example["value"]["data"][-1]["paymentIntentId"], example["value"]["nextToken"])
        for example in content["examples"].values()
        if example["value"]["nextToken"] is not None
    ]
    assert tokens
    for payment_intent_id, token in tokens:
        key = page_tokens.decode(
            token, scope=("paymentIntentId", payment_intent_id), keys=DynamoDBEventLog.PAGE_KEYS
        )
        assert key["paymentIntentId"] == {"S": payment_intent_id}


# -- examples ------------------------------------------------------------------------------------


def test_every_example_matches_its_schema(spec: dict[str, Any]) -> None:
    examples = list(media_examples(spec))
    assert len(examples) >= 10
    for where, schema, value in examples:
        errors_found = [error.message for error in schema_validator(spec, schema).iter_errors(value)]
        assert not errors_found, f"{where}: {errors_found}"


def test_the_request_examples_are_accepted_by_the_code(spec: dict[str, Any]) -> None:
    """Each JSON request example parses with the body model its route's handler uses (the webhook's
    events are parsed by the domain instead: test_webhooks.py)."""
    handlers = template_handlers()
    checked = set()
    for method, path, operation in operations(spec):
        models = request_models(handlers[(method, path)])
        if not models:
            continue
        (model,) = models
        content = resolve(spec, operation["requestBody"])["content"]["application/json"]
        assert content["examples"], path
        for example in content["examples"].values():
            http.parse(model, example["value"])
        checked.add(model)
    assert {
        CreateIntentBody,
        AuthorizeBody,
        StartCheckoutBody,
        ChallengeBody,
        CaptureBody,
        RefundBody,
    } <= checked


def test_the_refund_file_examples_are_imported_as_their_answers_say(spec: dict[str, Any]) -> None:
    """Each CSV example, imported by the code, answers the 202 example of the same name."""
    operation = spec["paths"]["/v1/refund-batches"]["post"]
    files = operation["requestBody"]["content"]["text/csv"]["examples"]
    answers = operation["responses"]["202"]["content"]["application/json"]["examples"]
    assert set(files) == set(answers)
    assert any(answer["value"]["errors"] for answer in answers.values())
    for name, example in files.items():
        batches, stored = Mock(), Mock()
        batch, refused = import_refund_file(
            example["value"].encode(), caller=Caller.platform(), batches=batches, files=stored
        )
        assert stored.put.call_args.kwargs["content_type"] == "text/csv"
        answer = answers[name]["value"]
        assert refund_batch_body(batch, errors=refused) == {**answer, "batchId": batch.batch_id}, name


def test_the_refund_batch_examples_add_up(spec: dict[str, Any]) -> None:
    found = 0
    for where, schema, value in media_examples(spec):
        if schema != {"$ref": "#/components/schemas/RefundBatch"}:
            continue
        found += 1
        settled = value["succeeded"] + value["failed"] + value["deadLettered"]
        assert value["pending"] == value["total"] - settled, where
        lines = [error["line"] for error in value["errors"]]
        assert lines == sorted(set(lines)), where
        assert len(lines) <= min(value["failed"], KEPT_ERRORS), where
    assert found >= 5


def test_the_refund_batch_failure_schema_is_what_row_failure_body_produces(spec: dict[str, Any]) -> None:
    schema = spec["components"]["schemas"]["RefundBatchFailure"]
    refused = row_failure_body(RowFailure(3, RowState.FAILED, "paymentIntentId is not a payment intent id"))
    waiting = row_failure_body(RowFailure(100_001, RowState.DEAD_LETTERED, "the gateway did not answer"))
    assert set(schema["properties"]) == set(schema["required"]) == set(refused)
    assert schema["properties"]["state"]["enum"] == [RowState.FAILED.value, RowState.DEAD_LETTERED.value]
    assert schema["properties"]["line"]["maximum"] == MAX_ROWS + 1
    validator = schema_validator(spec, {"$ref": "#/components/schemas/RefundBatchFailure"})
    for body in (refused, waiting):
        validator.validate(body)
    assert not validator.is_valid({**refused, "state": RowState.SUCCEEDED.value})
    assert not validator.is_valid({**refused, "line": 1})  # the header
    assert not validator.is_valid({key: value for key, value in refused.items() if key != "message"})


def test_the_refund_batch_failure_page_tokens_are_ones_the_code_accepts(spec: dict[str, Any]) -> None:
    operation = spec["paths"]["/v1/refund-batches/{batchId}/failures"]["get"]
    examples = operation["responses"]["200"]["content"]["application/json"]["examples"]
    batch_id = operation["parameters"][0]["example"]
    pages = [example["value"] for example in examples.values()]
    assert any(page["nextToken"] for page in pages)
    for page in pages:
        lines = [row["line"] for row in page["data"]]
        assert lines == sorted(set(lines))
        if page["nextToken"] is not None:  # the token resumes after the page's last line
            assert resume_after(page["nextToken"], batch_id) == lines[-1]
    with pytest.raises(errors.InvalidRequest):
        resume_after(next(page["nextToken"] for page in pages if page["nextToken"]), new_id("rb"))


def test_the_examples_use_payment_method_tokens_only() -> None:
    text = SPEC_PATH.read_text(encoding="utf-8")
    assert "pm_card_visa" in text
    assert not contains_card_number(text)


def test_error_examples_carry_the_code_of_their_status(spec: dict[str, Any]) -> None:
    classes = domain_codes()
    for where, _, value in media_examples(spec):
        status = where.split()[2]
        # A success's `error` (a failed checkout's) is not a refusal: its codes are the checkout's own.
        if isinstance(value, dict) and "error" in value and not status.startswith("2"):
            assert str(http.STATUS_BY_ERROR[classes[value["error"]["code"]]]) == status, where


SETTLED_AT = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


def settlement_row(reference: str, kind: MovementType, amount: int, fee: int) -> SettlementRow:
    return SettlementRow(
        transaction_id=f"gw_{reference}",
        payment_intent_id=reference.split(":", maxsplit=1)[0],
        merchant_reference=reference,
        type=kind,
        amount=amount,
        currency="USD",
        fee=fee,
        settled_at=SETTLED_AT,
        batch_id="stl_1",
    )


def kept_settlement_report(
    name: str, rows: list[SettlementRow], booked: list[Booked], unsettled: list[Booked]
) -> dict[str, object]:
    """The report `reconcile_settlement_file` keeps for a file, over the real rules and Parquet."""
    files, books, reports = Mock(), Mock(), Mock()
    files.get_with_metadata.return_value = (
        parquet.rows_to_parquet(rows),
        {"window-start": "2026-11-24T12:00:00.000+00:00", "window-end": "2026-11-24T13:00:00.000+00:00"},
    )
    books.booked.return_value = {movement.movement_id: movement for movement in booked}
    books.chargebacks.return_value = {}
    books.unsettled.return_value = unsettled
    reports.get.return_value = None
    reports.add.return_value = True
    return reconcile_settlement_file(
        f"enriched/2026/11/24/13/{name}.parquet",
        files=files,
        books=books,
        reports=reports,
        alerts=Mock(),
        clock=lambda: SETTLED_AT + timedelta(minutes=5, seconds=3, milliseconds=214),
    )


def kept_settlement_reports() -> list[dict[str, object]]:
    """A file with every kind of problem, then one that matches."""
    paid, late = "pi_01JHMR6K20V5R1X5AM5BNPXYCM", "pi_01JHMR8DN0JJ4J96YWV28N8CGX"
    capture = transaction_id_for(paid, TransactionKind.CAPTURE)
    refund = refund_id_for(paid, 1)
    at = SETTLED_AT - timedelta(minutes=30)
    mismatched = kept_settlement_report(
        "stl_mismatched",
        [
            settlement_row(f"{paid}:capture", MovementType.CAPTURE, 1_000, 59),
            settlement_row(f"{paid}:refund:1", MovementType.REFUND, 300, 0),
            settlement_row("somebody-else", MovementType.CAPTURE, 500, 45),
        ],
        [
            Booked(capture, paid, "CAPTURED", 1_000, "USD", at),
            Booked(refund, paid, "REFUNDED", 250, "USD", at),
        ],
        [Booked(transaction_id_for(late, TransactionKind.CAPTURE), late, "CAPTURED", 700, "USD", at)],
    )
    matched = kept_settlement_report(
        "stl_matched",
        [settlement_row(f"{paid}:capture", MovementType.CAPTURE, 1_000, 59)],
        [Booked(capture, paid, "CAPTURED", 1_000, "USD", at)],
        [],
    )
    return [mismatched, matched]


PLATFORM_KEY = {"authorizer": {"lambda": {"scope": "platform", "keyId": "sk_test_…0000"}}}


def test_the_settlement_report_schema_is_what_the_list_answers(spec: dict[str, Any]) -> None:
    schema = spec["components"]["schemas"]["SettlementReport"]
    fields_answered = set(list_settlement_reports.REPORT_FIELDS)
    assert set(schema["properties"]) == set(schema["required"]) == fields_answered
    kept = kept_settlement_reports()
    assert all(fields_answered <= set(report) for report in kept)  # the handler reads each of them
    assert {report["status"] for report in kept} == set(schema["properties"]["status"]["enum"])

    store = Mock()
    store.newest.return_value = Page(items=kept, next_token="opaque")
    handler = list_settlement_reports.handler.with_dependencies(
        http.Routed(list_settlement_reports.Dependencies(reports=store))
    )
    response = handler({"queryStringParameters": {"limit": "2"}, "requestContext": PLATFORM_KEY}, None)
    assert response["statusCode"] == 200
    assert store.newest.call_args.kwargs == {"limit": 2, "next_token": None}
    page = json.loads(response["body"])
    assert page["nextToken"] == "opaque"
    bodies = page["data"]
    assert [set(body) for body in bodies] == [fields_answered, fields_answered]
    assert [
        (body["rows"], body["matched"], body["missingInLedger"], body["missingInSettlement"])
        for body in bodies
    ] == [(3, 1, 1, 1), (1, 1, 0, 0)]
    assert [(body["amountMismatches"], body["fees"], body["status"]) for body in bodies] == [
        (1, {"USD": 104}, "MISMATCHED"),
        (0, {"USD": 59}, "MATCHED"),
    ]
    for body in bodies:
        assert body["reportKey"] == report_keys(str(body["settlementKey"]))[0]
    schema_validator(spec, {"$ref": "#/components/schemas/SettlementReportList"}).validate(page)
    validator = schema_validator(spec, {"$ref": "#/components/schemas/SettlementReport"})
    first = bodies[0]
    extra = next(name for name in kept[0] if name not in fields_answered)
    assert not validator.is_valid({**first, extra: kept[0][extra]})  # kept, but not answered
    assert not validator.is_valid({key: value for key, value in first.items() if key != "reportKey"})
    assert not validator.is_valid({**first, "status": "PENDING"})
    assert not validator.is_valid({**first, "rows": -1})
    assert not validator.is_valid({**first, "fees": {"usd": 1}})
    assert not validator.is_valid({**first, "fees": {"USD": 1.5}})
    assert not validator.is_valid({**first, "settlementKey": "enriched/2026/11/24/13/stl_1.parquet"})
    assert not validator.is_valid({**first, "reportKey": "reports/2026/11/24/13/stl_1.json"})
    lists = schema_validator(spec, {"$ref": "#/components/schemas/SettlementReportList"})
    assert not lists.is_valid({"data": bodies})


def test_the_settlement_reports_list_takes_a_page_only(spec: dict[str, Any]) -> None:
    operation = spec["paths"]["/v1/settlements/reports"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert set(parameters) == {"limit", "nextToken"}
    assert all(parameter["in"] == "query" for parameter in parameters.values())
    assert not any(parameter["required"] for parameter in parameters.values())
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "500"}
    assert _codes(spec, operation["responses"], "400") == {"invalid_request"}


def test_the_settlement_report_examples_add_up(spec: dict[str, Any]) -> None:
    found = 0
    for where, schema, value in media_examples(spec):
        if schema != {"$ref": "#/components/schemas/SettlementReportList"}:
            continue
        moments = [report["createdAt"] for report in value["data"]]
        assert moments == sorted(moments, reverse=True), where
        for report in value["data"]:
            found += 1
            assert (
                report["rows"] == report["matched"] + report["missingInLedger"] + report["amountMismatches"]
            )
            problems = report["missingInLedger"] + report["missingInSettlement"] + report["amountMismatches"]
            assert report["status"] == ("MISMATCHED" if problems else "MATCHED"), where
            assert report["reportKey"] == report_keys(report["settlementKey"])[0], where
    assert found >= 3


def test_the_settlement_report_pages_in_the_examples_are_what_the_code_answers(spec: dict[str, Any]) -> None:
    operation = spec["paths"]["/v1/settlements/reports"]["get"]
    pages = operation["responses"]["200"]["content"]["application/json"]["examples"].values()
    tokens = [
        (page["value"]["data"][-1], page["value"]["nextToken"])
        for page in pages
        if page["value"]["nextToken"]
    ]
    assert tokens
    for last, token in tokens:  # a token resumes after the page's last report, newest first
        client = Mock()
        client.query.return_value = {"Items": []}
        DynamoDBSettlementReports(client, table="settlements-test").newest(limit=1, next_token=token)
        request = client.query.call_args.kwargs
        assert request["ScanIndexForward"] is False
        assert request["ExclusiveStartKey"]["sk"] == {"S": f"{last['createdAt']}#{last['settlementKey']}"}

    # A client that fails any AWS call: both refusals come before one.
    reports = DynamoDBSettlementReports(Mock(spec=[]), table="settlements-test")
    handler = list_settlement_reports.handler.with_dependencies(
        http.Routed(list_settlement_reports.Dependencies(reports=reports))
    )
    messages = set()
    for query in (
        {"limit": "0"},
        {"limit": "ten"},
        {"nextToken": "not-a-token"},
        {"nextToken": tokens[0][1][:-4]},
    ):
        response = handler({"queryStringParameters": query, "requestContext": PLATFORM_KEY}, None)
        assert response["statusCode"] == 400, query
        messages.add(json.loads(response["body"])["error"]["message"])
    examples = resolve(spec, operation["responses"]["400"])["content"]["application/json"]["examples"]
    assert {example["value"]["error"]["message"] for example in examples.values()} == messages


def test_every_operation_needs_a_merchant_api_key_but_the_signed_webhook(spec: dict[str, Any]) -> None:
    assert spec["security"] == [{"MerchantApiKey": []}]
    assert spec["components"]["securitySchemes"]["MerchantApiKey"]["scheme"] == "bearer"
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            signed_by = {"/v1/webhooks/gateway": "GatewaySignature", "/v1/webhooks/stripe": "StripeSignature"}
            if path in signed_by:
                assert operation["security"] == [{signed_by[path]: []}]
                assert "401" in operation["responses"]  # its own: a bad signature
                continue
            assert "security" not in operation, (method, path)  # the API-wide key, never overridden
            for status, name in (("401", "Unauthorized"), ("403", "Forbidden")):
                assert operation["responses"][status] == {"$ref": f"#/components/responses/{name}"}, (
                    method,
                    path,
                )
