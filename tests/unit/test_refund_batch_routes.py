"""The refund batch routes as API Gateway calls them, with the authorizer's context: a batch is its
uploader's merchant's, every failure reason is readable, and another merchant's batch is a 404 that
says no more than an unknown id's."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import Mock

import pytest

from payments.domain.refund_batches import OTHER_MERCHANT, UNTERMINATED_QUOTE, RowState
from payments.functions import create_refund_batch, get_refund_batch, http, list_refund_batch_failures
from tests.unit.test_refund_jobs import Batches, Files

PI = "pi_01JD8K6Q4Z3W1V0T9S8R7Q6P5N"
FILE = (
    "merchantId,paymentIntentId,amount,reason\n"
    f"mer_1,{PI},5,\n"
    f'mer_1,{PI},6,"never closed\n'
    f"mer_2,{PI},7,\n"
    f"mer_1,{PI},8,\n"
)


def merchant(merchant_id: str) -> dict[str, Any]:
    return {
        "authorizer": {"lambda": {"scope": "merchant", "merchantId": merchant_id, "keyId": "sk_test_…0001"}}
    }


PLATFORM = {"authorizer": {"lambda": {"scope": "platform", "keyId": "sk_test_…0000"}}}


def call(handler: Any, context: dict[str, Any], **event: Any) -> tuple[int, Any]:
    response = handler({"requestContext": context, **event}, None)
    return response["statusCode"], json.loads(response["body"])


class Routes:
    """The three refund batch functions over one in-memory store, called as API Gateway calls them."""

    def __init__(self) -> None:
        self.batches, files = Batches(), Files()
        # The real `Idempotency-Key` handling, over a client that fails any AWS call: these requests
        # carry no key, so it is never touched.
        requests = http.IdempotentRequests(
            table_name="idempotency-test", client=Mock(spec=[]), expires_after_seconds=86_400
        )
        self.create = create_refund_batch.handler.with_dependencies(
            http.Routed(create_refund_batch.Dependencies(batches=self.batches, files=files), requests)
        )
        self.get = get_refund_batch.handler.with_dependencies(
            http.Routed(get_refund_batch.Dependencies(batches=self.batches))
        )
        self.list_failures = list_refund_batch_failures.handler.with_dependencies(
            http.Routed(list_refund_batch_failures.Dependencies(batches=self.batches))
        )

    def upload(self, context: dict[str, Any], text: str = FILE) -> tuple[int, Any]:
        return call(self.create, context, headers={"content-type": "text/csv"}, body=text)

    def read(self, context: dict[str, Any], batch_id: str) -> tuple[int, Any]:
        return call(self.get, context, pathParameters={"batchId": batch_id})

    def failures(self, context: dict[str, Any], batch_id: str, **query: str) -> tuple[int, Any]:
        return call(
            self.list_failures,
            context,
            pathParameters={"batchId": batch_id},
            queryStringParameters=query,
        )


@pytest.fixture
def routes() -> Routes:
    return Routes()


def test_a_merchant_keys_batch_is_its_own_and_lists_every_failure(routes: Routes) -> None:
    status, batch = routes.upload(merchant("mer_1"))
    assert status == 202, batch
    assert (batch["total"], batch["failed"], batch["pending"]) == (4, 2, 2)
    assert [(error["line"], error["message"]) for error in batch["errors"]] == [
        (3, UNTERMINATED_QUOTE),
        (4, OTHER_MERCHANT),
    ]
    # Later the worker refuses one of the good rows
    routes.batches.settle_row(batch["batchId"], 5, RowState.FAILED, f"no payment intent {PI}")
    status, page = routes.failures(merchant("mer_1"), batch["batchId"])
    assert status == 200, page
    assert page == {
        "data": [
            {"line": 3, "state": "FAILED", "message": batch["errors"][0]["message"]},
            {"line": 4, "state": "FAILED", "message": OTHER_MERCHANT},
            {"line": 5, "state": "FAILED", "message": f"no payment intent {PI}"},
        ],
        "nextToken": None,
    }
    assert routes.read(merchant("mer_1"), batch["batchId"])[0] == 200
    assert routes.read(PLATFORM, batch["batchId"])[0] == 200  # a platform key acts for any merchant


def test_another_merchants_batch_is_a_404_like_an_unknown_one(routes: Routes) -> None:
    _, mine = routes.upload(merchant("mer_1"))
    _, platforms = routes.upload(PLATFORM)
    unknown = "rb_01JHQ5EWNSKBNQ19GP2ZRR902N"
    for route in (routes.read, routes.failures):
        status, answer = route(merchant("mer_2"), unknown)
        assert status == 404
        for context, batch_id in (
            (merchant("mer_2"), mine["batchId"]),
            (merchant("mer_1"), platforms["batchId"]),
        ):
            hidden = route(context, batch_id)
            assert hidden == (404, json.loads(json.dumps(answer).replace(unknown, batch_id)))


def test_a_platform_keys_file_names_any_merchant(routes: Routes) -> None:
    status, batch = routes.upload(PLATFORM)
    assert (status, batch["failed"]) == (202, 1)
    assert routes.batches.get(batch["batchId"]).merchant_id is None


def test_a_bad_page_size_is_refused(routes: Routes) -> None:
    _, batch = routes.upload(PLATFORM)
    status, answer = routes.failures(PLATFORM, batch["batchId"], limit="0")
    assert (status, answer["error"]["code"]) == (400, "invalid_request")


def test_a_route_reached_without_the_authorizers_context_fails_closed(routes: Routes) -> None:
    with pytest.raises(RuntimeError, match="no API key context"):
        routes.get({"pathParameters": {"batchId": "rb_1"}}, None)
