"""Integration fixtures: the stack stood up in this process from template.yaml, on the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from payments.adapters.dynamodb_intents import DynamoDBIntentRepository
from payments.local.runtime import LocalStack


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, gateway_stall_seconds=0.3) as stack:
        yield stack


@pytest.fixture(scope="session")
def dynamodb(local_stack: LocalStack) -> Any:
    return boto3.client("dynamodb", endpoint_url=local_stack.emulator.endpoint)


@pytest.fixture(scope="session")
def table_names(local_stack: LocalStack) -> dict[str, str]:
    return local_stack.deployed.resources


@pytest.fixture
def repo(dynamodb: Any, table_names: dict[str, str]) -> DynamoDBIntentRepository:
    return DynamoDBIntentRepository(
        dynamodb,
        intents_table=table_names["PaymentIntentsTable"],
        transactions_table=table_names["TransactionsTable"],
    )
