"""BatchGetItem and BatchWriteItem as DynamoDB wants them used: full batches (100 keys to read, 25
items to write), and what DynamoDB leaves unprocessed (throttling, the 16 MB answer limit) asked for
again with exponential backoff and jitter, never dropped."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

READ_BATCH: Final = 100
WRITE_BATCH: Final = 25
MAX_ATTEMPTS: Final = 10
BASE_DELAY_SECONDS: Final = 0.05
MAX_DELAY_SECONDS: Final = 5.0


class Unprocessed(RuntimeError):
    """DynamoDB still left items unprocessed after every attempt."""


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _backoff(attempt: int, sleep: Callable[[float], None]) -> None:
    sleep(random.uniform(0, min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2**attempt)))


def batch_get(
    client: Any,
    table: str,
    keys: Sequence[dict[str, Any]],
    *,
    projection: str | None = None,
    names: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Every item found under `keys` (missing ones are simply absent), 100 keys a call."""
    found: list[dict[str, Any]] = []
    for chunk in _chunks(keys, READ_BATCH):
        request: dict[str, Any] = {"Keys": list(chunk), "ConsistentRead": True}
        if projection:
            request["ProjectionExpression"] = projection
        if names:
            request["ExpressionAttributeNames"] = names
        pending: dict[str, Any] = {table: request}
        for attempt in range(MAX_ATTEMPTS):
            response = client.batch_get_item(RequestItems=pending)
            found.extend(response.get("Responses", {}).get(table, []))
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            _backoff(attempt, sleep)
        else:
            raise Unprocessed(f"{table}: keys still unprocessed after {MAX_ATTEMPTS} attempts")
    return found


def batch_put(
    client: Any, table: str, items: Sequence[dict[str, Any]], *, sleep: Callable[[float], None] = time.sleep
) -> None:
    for chunk in _chunks(items, WRITE_BATCH):
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
        for attempt in range(MAX_ATTEMPTS):
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
            _backoff(attempt, sleep)
        else:
            raise Unprocessed(f"{table}: items still unprocessed after {MAX_ATTEMPTS} attempts")
