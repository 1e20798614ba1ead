"""The front door's pure parts: route matching, the payload 2.0 event, the answer back to HTTP, and
the console's static files."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from payments.local.deployed import Route
from payments.local.emulator import ACCOUNT_ID
from payments.local.frontdoor import CompiledRoute, build_event, http_response, static_response

GET_INTENT = Route("GET", "/v1/payment-intents/{id}", "payments-get-intent")
AUTHORIZE = Route("POST", "/v1/payment-intents/{id}/authorize", "payments-authorize")
CUSTOMER_INTENTS = Route("GET", "/v1/customers/{customerId}/payment-intents", "payments-list")
PROXY = Route("ANY", "/static/{proxy+}", "payments-static")

# -- CompiledRoute -------------------------------------------------------------------------------


def test_a_path_parameter_is_captured() -> None:
    assert CompiledRoute(GET_INTENT).match("GET", "/v1/payment-intents/pi_123") == {"id": "pi_123"}


def test_several_path_parameters_and_literal_segments() -> None:
    route = Route("GET", "/v1/merchants/{merchantId}/refunds/{refundId}", "f")

    assert CompiledRoute(route).match("GET", "/v1/merchants/mer_1/refunds/re_2") == {
        "merchantId": "mer_1",
        "refundId": "re_2",
    }


def test_a_route_without_parameters_matches_with_no_parameters() -> None:
    route = Route("POST", "/v1/payment-intents", "f")

    assert CompiledRoute(route).match("POST", "/v1/payment-intents") == {}


def test_a_parameter_followed_by_a_literal_segment() -> None:
    compiled = CompiledRoute(AUTHORIZE)

    assert compiled.match("POST", "/v1/payment-intents/pi_9/authorize") == {"id": "pi_9"}
    assert compiled.match("POST", "/v1/payment-intents/pi_9/capture") is None


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "get", "HEAD"])
def test_the_method_must_match(method: str) -> None:
    assert CompiledRoute(GET_INTENT).match(method, "/v1/payment-intents/pi_1") is None


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PATCH", "OPTIONS"])
def test_any_matches_every_method(method: str) -> None:
    assert CompiledRoute(PROXY).match(method, "/static/app.js") == {"proxy": "app.js"}


@pytest.mark.parametrize(
    "path",
    [
        "/v1/payment-intents",
        "/v1/payment-intents/",
        "/v1/payment-intents/pi_1/",
        "/v1/payment-intents/pi_1/authorize",
        "/v1/payment-intents/pi_1/extra/segments",
        "/prefix/v1/payment-intents/pi_1",
        "v1/payment-intents/pi_1",
        "/v1/payment-intentsX/pi_1",
        "/v1/payment_intents/pi_1",
    ],
)
def test_there_are_no_partial_matches(path: str) -> None:
    assert CompiledRoute(GET_INTENT).match("GET", path) is None


def test_literal_characters_are_not_regex_syntax() -> None:
    # Given a route with characters that mean something in a regex
    route = Route("GET", "/v1/a.b/{id}", "f")

    # Then "." is only a dot
    assert CompiledRoute(route).match("GET", "/v1/a.b/x") == {"id": "x"}
    assert CompiledRoute(route).match("GET", "/v1/aXb/x") is None


def test_a_greedy_proxy_parameter_spans_segments() -> None:
    compiled = CompiledRoute(PROXY)

    assert compiled.match("GET", "/static/css/site/main.css") == {"proxy": "css/site/main.css"}
    assert compiled.match("GET", "/static/") is None
    assert compiled.match("GET", "/static") is None
    assert compiled.match("GET", "/other/app.js") is None


def test_a_single_segment_parameter_does_not_span_segments() -> None:
    assert CompiledRoute(CUSTOMER_INTENTS).match("GET", "/v1/customers/a/b/payment-intents") is None
    assert CompiledRoute(CUSTOMER_INTENTS).match("GET", "/v1/customers/cus_1/payment-intents") == {
        "customerId": "cus_1"
    }


# -- build_event ---------------------------------------------------------------------------------


def event_for(
    *,
    route: Route = GET_INTENT,
    method: str = "GET",
    raw_path: str = "/v1/payment-intents/pi_1",
    raw_query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    path_parameters: Mapping[str, str] | None = None,
    source_ip: str = "203.0.113.7",
) -> dict[str, Any]:
    return build_event(
        route=route,
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=headers or {},
        body=body,
        path_parameters={"id": "pi_1"} if path_parameters is None else path_parameters,
        source_ip=source_ip,
        api_id="api123",
    )


def test_the_event_is_payload_format_2() -> None:
    event = event_for(raw_query="expand=ledger", headers={"Host": "localhost:8080", "User-Agent": "curl/8"})

    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /v1/payment-intents/{id}"
    assert event["rawPath"] == "/v1/payment-intents/pi_1"
    assert event["rawQueryString"] == "expand=ledger"
    assert event["pathParameters"] == {"id": "pi_1"}
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"]["method"] == "GET"
    assert context["http"]["path"] == "/v1/payment-intents/pi_1"
    assert context["http"]["sourceIp"] == "203.0.113.7"
    assert context["http"]["userAgent"] == "curl/8"
    assert context["routeKey"] == "GET /v1/payment-intents/{id}"
    assert context["stage"] == "$default"
    assert context["apiId"] == "api123"
    assert context["accountId"] == ACCOUNT_ID
    assert context["domainName"] == "localhost:8080"
    assert isinstance(context["requestId"], str)
    assert context["requestId"]
    assert isinstance(context["timeEpoch"], int)


def test_each_event_has_its_own_request_id() -> None:
    assert event_for()["requestContext"]["requestId"] != event_for()["requestContext"]["requestId"]


def test_the_event_is_json_serialisable() -> None:
    event = event_for(headers={"Cookie": "a=1"}, raw_query="a=1", body=b"\x00\x01")

    assert json.loads(json.dumps(event)) == event


def test_any_route_records_the_actual_method() -> None:
    event = event_for(route=PROXY, method="DELETE", raw_path="/static/x", path_parameters={"proxy": "x"})

    assert event["routeKey"] == "ANY /static/{proxy+}"
    assert event["requestContext"]["http"]["method"] == "DELETE"
    assert event["pathParameters"] == {"proxy": "x"}


def test_header_names_are_lower_cased() -> None:
    event = event_for(
        headers={"Content-Type": "application/json", "Idempotency-Key": "k-1", "X-Mixed-CASE": "V"}
    )

    assert event["headers"] == {
        "content-type": "application/json",
        "idempotency-key": "k-1",
        "x-mixed-case": "V",
    }


def test_repeated_headers_are_joined_with_commas() -> None:
    # Given the same header twice (names differing only in case)
    event = event_for(
        headers={"Accept": "text/html", "accept": "application/json", "X-Forwarded-For": "1.1.1.1"}
    )

    # Then
    assert event["headers"]["accept"] == "text/html,application/json"
    assert event["headers"]["x-forwarded-for"] == "1.1.1.1"


def test_cookies_are_split_out_of_the_headers() -> None:
    event = event_for(headers={"Cookie": "session=abc; theme=dark;  ;lang=es", "Accept": "*/*"})

    assert event["cookies"] == ["session=abc", "theme=dark", "lang=es"]
    assert "cookie" not in event["headers"]
    assert event["headers"] == {"accept": "*/*"}


def test_no_cookies_key_without_cookies() -> None:
    assert "cookies" not in event_for(headers={"Accept": "*/*"})


def test_query_string_parameters_with_repeated_keys_joined() -> None:
    event = event_for(raw_query="status=PENDING&status=AUTHORIZED&limit=10&empty=&q=a%20b%2Cc")

    assert event["queryStringParameters"] == {
        "status": "PENDING,AUTHORIZED",
        "limit": "10",
        "empty": "",
        "q": "a b,c",
    }
    assert event["rawQueryString"] == "status=PENDING&status=AUTHORIZED&limit=10&empty=&q=a%20b%2Cc"


def test_no_query_or_path_parameters_keys_when_there_are_none() -> None:
    event = event_for(raw_query="", path_parameters={})

    assert "queryStringParameters" not in event
    assert "pathParameters" not in event
    assert event["rawQueryString"] == ""


def test_no_body_key_without_a_body() -> None:
    event = event_for(headers={"Content-Type": "application/octet-stream"})

    assert "body" not in event
    assert event["isBase64Encoded"] is False


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/csv",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ],
)
def test_text_bodies_are_passed_as_text(content_type: str) -> None:
    raw = '{"description": "café"}'.encode()

    event = event_for(method="POST", route=AUTHORIZE, headers={"Content-Type": content_type}, body=raw)

    assert event["body"] == '{"description": "café"}'
    assert event["isBase64Encoded"] is False


@pytest.mark.parametrize("content_type", ["application/octet-stream", "image/png", "application/pdf", None])
def test_binary_bodies_are_base64_encoded(content_type: str | None) -> None:
    raw = b"\x89PNG\r\n\x1a\n\x00\xff"
    headers = {"Content-Type": content_type} if content_type else {}

    event = event_for(method="POST", route=AUTHORIZE, headers=headers, body=raw)

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


# -- http_response -------------------------------------------------------------------------------


def test_a_full_response_is_used_as_is() -> None:
    status, headers, body = http_response(
        {"statusCode": 201, "headers": {"content-type": "application/json", "x-n": 3}, "body": '{"a":1}'}
    )

    assert status == 201
    assert headers == {"content-type": "application/json", "x-n": "3"}
    assert body == b'{"a":1}'


def test_a_string_status_code_is_an_int() -> None:
    assert http_response({"statusCode": "404", "body": ""})[0] == 404


def test_a_base64_response_body_is_decoded() -> None:
    raw = b"\x00\x01binary\xff"

    _, _, body = http_response(
        {
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "body": base64.b64encode(raw).decode(),
            "isBase64Encoded": True,
        }
    )

    assert body == raw


def test_a_text_response_body_is_utf8() -> None:
    _, _, body = http_response({"statusCode": 200, "body": '{"name":"café"}'})

    assert body == '{"name":"café"}'.encode()


def test_a_response_without_body_or_headers() -> None:
    assert http_response({"statusCode": 204}) == (204, {}, b"")


def test_response_cookies_become_set_cookie() -> None:
    _, headers, _ = http_response({"statusCode": 200, "cookies": ["session=abc; HttpOnly"], "body": ""})

    assert headers["set-cookie"] == "session=abc; HttpOnly"


@pytest.mark.parametrize(
    "result",
    [{"paymentIntentId": "pi_1", "status": "PENDING"}, {}, [1, 2], "ok", None, 42],
    ids=repr,
)
def test_anything_else_is_a_200_json_answer(result: Any) -> None:
    status, headers, body = http_response(result)

    assert status == 200
    assert headers == {"content-type": "application/json"}
    assert json.loads(body) == result


# -- static files (the operator console) ---------------------------------------------------------

CONSOLE = {"/console": Path(__file__).resolve().parents[2] / "src" / "payments" / "console"}


@pytest.mark.parametrize(
    ("query", "location"),
    [("", "/console/"), ("api=https://api.example", "/console/?api=https://api.example")],
)
def test_the_console_as_printed_without_its_slash_redirects_to_it(query: str, location: str) -> None:
    # `payments local up` and the README print /console: the page's relative links need /console/
    answer = static_response(CONSOLE, "/console", query)

    assert answer is not None
    status, headers, body = answer
    assert (status, headers["location"], body) == (301, location, b"")


def test_the_console_page_and_the_files_it_links_are_served_under_its_directory() -> None:
    answer = static_response(CONSOLE, "/console/")
    assert answer is not None
    status, headers, page = answer
    assert (status, headers["content-type"]) == (200, "text/html; charset=utf-8")
    for linked, content_type in (("console.css", "text/css"), ("console.js", "text/javascript")):
        assert f'"{linked}"'.encode() in page  # relative: resolved under /console/
        linked_answer = static_response(CONSOLE, f"/console/{linked}")
        assert linked_answer is not None
        assert (linked_answer[0], linked_answer[1]["content-type"].split(";")[0]) == (200, content_type)


@pytest.mark.parametrize("path", ["/console/../pyproject.toml", "/console/nope.js", "/console/index.py"])
def test_nothing_but_the_consoles_own_files_is_served(path: str) -> None:
    answer = static_response(CONSOLE, path)
    assert answer is not None
    assert answer[0] == 404


@pytest.mark.parametrize("path", ["/consoles", "/v1/payment-intents", "/", "/_local/queues"])
def test_other_paths_are_not_static(path: str) -> None:
    assert static_response(CONSOLE, path) is None
