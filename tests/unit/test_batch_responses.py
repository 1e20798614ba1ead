"""A function's partial batch response, read as Lambda reads it for SQS and DynamoDB Streams sources with
`ReportBatchItemFailures`: full success, the items named, or (anything Lambda cannot act on) the whole
batch."""

from __future__ import annotations

from typing import Any

import pytest

from payments.local.event_sources import BatchResponse, parse_batch_response

BATCH = ("m-1", "m-2", "m-3")


@pytest.mark.parametrize(
    "payload",
    [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}, {"statusCode": 200}],
    ids=["null", "empty object", "empty list", "null list", "no batchItemFailures"],
)
def test_no_failure_named_is_full_success(payload: Any) -> None:
    response = parse_batch_response(payload, BATCH)
    assert response == BatchResponse()
    assert response.succeeded
    assert not any(response.retries(identifier) for identifier in BATCH)


def test_the_items_named_are_the_ones_retried() -> None:
    payload = {
        "batchItemFailures": [{"itemIdentifier": "m-3"}, {"itemIdentifier": "m-1"}, {"itemIdentifier": "m-3"}]
    }
    response = parse_batch_response(payload, BATCH)
    assert (response.failed, response.whole_batch, response.reason) == (
        frozenset({"m-1", "m-3"}),
        False,
        None,
    )
    assert not response.succeeded
    assert [response.retries(identifier) for identifier in BATCH] == [True, False, True]


def test_an_entry_may_carry_other_keys() -> None:
    payload = {"batchItemFailures": [{"itemIdentifier": "m-2", "reason": "gateway timeout"}]}
    assert parse_batch_response(payload, BATCH).failed == {"m-2"}


def test_a_tuple_is_read_as_the_json_array_it_becomes() -> None:
    payload = {"batchItemFailures": ({"itemIdentifier": "m-2"},)}
    assert parse_batch_response(payload, BATCH).failed == {"m-2"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-9"}]},
            "'m-9', which is not",
        ),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, "no itemIdentifier"),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, "no itemIdentifier"),
        ({"batchItemFailures": [{}]}, "no itemIdentifier"),
        ({"batchItemFailures": [{"itemidentifier": "m-1"}]}, "no itemIdentifier"),  # a wrong key name
        ({"batchItemFailures": [{"itemIdentifier": 2}]}, "no itemIdentifier"),
        ({"batchItemFailures": [{"itemIdentifier": ["m-1"]}]}, "no itemIdentifier"),
        ({"batchItemFailures": ["m-1"]}, "entry is a JSON string, not an object"),
        ({"batchItemFailures": [None]}, "entry is a JSON null, not an object"),
        (
            {"batchItemFailures": {"itemIdentifier": "m-1"}},
            "batchItemFailures is a JSON object, not an array",
        ),
        ({"batchItemFailures": "m-1"}, "batchItemFailures is a JSON string, not an array"),
        ([{"itemIdentifier": "m-1"}], "the response is a JSON array, not an object"),
        ('{"batchItemFailures": []}', "the response is a JSON string, not an object"),
        (True, "the response is a JSON boolean, not an object"),
        (0, "the response is a JSON number, not an object"),
        ({"batchItemFailures": [{"itemIdentifier": object()}]}, "the response is not JSON"),
    ],
    ids=[
        "unknown itemIdentifier",
        "empty itemIdentifier",
        "null itemIdentifier",
        "missing itemIdentifier",
        "misspelt itemIdentifier",
        "number itemIdentifier",
        "list itemIdentifier",
        "entry a string",
        "entry null",
        "failures an object",
        "failures a string",
        "response a list",
        "response a string",
        "response a boolean",
        "response a number",
        "response not serialisable",
    ],
)
def test_anything_lambda_cannot_act_on_fails_the_whole_batch(payload: Any, reason: str) -> None:
    response = parse_batch_response(payload, BATCH)
    assert response.whole_batch
    assert not response.succeeded
    assert all(response.retries(identifier) for identifier in BATCH)
    assert response.reason is not None
    assert reason in response.reason


def test_one_unreadable_entry_fails_the_batch_even_after_good_ones() -> None:
    payload = {
        "batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}, {"itemIdentifier": ""}]
    }
    assert parse_batch_response(payload, BATCH).whole_batch


def test_stream_sequence_numbers_are_identifiers_like_any_other() -> None:
    sequence_numbers = ["1100000000017454423009", "1100000000017454423010"]
    payload = {"batchItemFailures": [{"itemIdentifier": "1100000000017454423010"}]}
    assert parse_batch_response(payload, sequence_numbers).failed == {"1100000000017454423010"}
    assert parse_batch_response(
        {"batchItemFailures": [{"itemIdentifier": "11"}]}, sequence_numbers
    ).whole_batch
