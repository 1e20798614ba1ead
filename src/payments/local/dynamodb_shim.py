"""Two gaps between the emulator's DynamoDB and DynamoDB that money depends on, closed locally.

1. **Atomic conditional writes.** DynamoDB checks a write's condition and applies the write as one step.
   The emulator serves requests on threads and checks, then writes, with nothing in between to stop a
   second writer: two conditional writes of one item could both pass. Here every mutation holds one lock.
2. **TransactWriteItems.** The emulator deep-copies every table a transaction touches (to roll back on
   failure), so each transaction costs time in proportion to the data: authorize slowed from 64 to
   101 ms over its first 400 payments. Here every condition is checked first, under the lock, and
   nothing is written unless all hold; then the writes are applied, with no copy.

3. **TransactGetItems** reads its items one by one; here it holds the same lock, so it reads a
   snapshot no transaction is half-way through, as DynamoDB's does.

A transaction that passes its conditions but carries a malformed update expression could still be
applied in part; requests our code sends are well-formed, and a malformed one fails its tests first.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_WRITES = threading.RLock()
_OPERATIONS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})
_MAX_ITEMS = 100


def install() -> None:
    """Patch the emulator's DynamoDB backend (once per process, as its backends are per process)."""
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415 (local only)

    if getattr(DynamoDBBackend, "_payments_shimmed", False):
        return
    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415

    DynamoHandler.transact_get_items = _locked(DynamoHandler.transact_get_items)  # type: ignore[method-assign]
    DynamoDBBackend._payments_shimmed = True  # type: ignore[attr-defined]


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _WRITES:
            return method(*args, **kwargs)

    return locked


def _key_of(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        key: dict[str, Any] = op["Key"]
        return key
    table = backend.get_table(op["TableName"])
    attributes = op["Item"]
    key = {table.hash_key_attr: attributes[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attributes[table.range_key_attr]
    return key


def _condition_outcome(backend: Any, op: dict[str, Any], key: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(None, None, None) when the condition holds, else the cancellation reason DynamoDB gives."""
    from moto.dynamodb.comparisons import get_filter_expression  # noqa: PLC0415

    condition = op.get("ConditionExpression")
    if condition is None:
        return (None, None, None)
    current = backend.get_item(op["TableName"], key)
    holds = get_filter_expression(
        condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    ).expr(current)
    if holds:
        return (None, None, None)
    old = None
    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
        old = current.to_json()["Attributes"]
    return ("ConditionalCheckFailed", "The conditional request failed", old)


def _apply(backend: Any, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    names = op.get("ExpressionAttributeNames") or {}
    values = op.get("ExpressionAttributeValues") or {}
    if op_type == "Put":
        backend.put_item(op["TableName"], op["Item"])
    elif op_type == "Delete":
        backend.delete_item(op["TableName"], key)
    elif op_type == "Update":
        backend.update_item(op["TableName"], key, op["UpdateExpression"], names, values)


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.exceptions import (  # noqa: PLC0415
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > _MAX_ITEMS:
        raise TooManyTransactionsException()
    with _WRITES:
        seen: set[tuple[str, str]] = set()
        planned: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        outcomes: list[tuple[Any, Any, Any]] = []
        for entry in transact_items:
            if len(entry) != 1:
                raise TransactWriteSingleOpException()
            op_type, op = next(iter(entry.items()))
            if op_type not in _OPERATIONS:
                raise MockValidationException(f"Unsupported transaction operation {op_type}")
            key = _key_of(self, op_type, op)
            identity = (str(op["TableName"]), str(sorted(key.items())))
            if identity in seen:
                raise MultipleTransactionsException()
            seen.add(identity)
            outcomes.append(_condition_outcome(self, op, key))
            planned.append((op_type, op, key))
        if any(code is not None for code, _, _ in outcomes):
            raise TransactionCanceledException(outcomes)
        for op_type, op, key in planned:
            _apply(self, op_type, op, key)
