"""Gaps between the emulator's DynamoDB and DynamoDB that money depends on, closed locally, and the
emulator's costs that grow with a table where DynamoDB's grow with what a request reads.

1. **Atomic conditional writes.** DynamoDB checks a write's condition and applies the write as one step.
   The emulator serves requests on threads and checks, then writes, with nothing in between to stop a
   second writer: two conditional writes of one item could both pass. Here every mutation holds one lock,
   and so does reading the old or new item a write returns (`ReturnValues`), which the emulator does
   apart from the write itself.
2. **TransactWriteItems.** The emulator deep-copies every table a transaction touches (to roll back on
   failure), so each transaction costs time in proportion to the data: authorize slowed from 64 to
   101 ms over its first 400 payments. Here every condition is checked first, under the lock, and
   nothing is written unless all hold; then the writes are applied, with no copy.
3. **TransactGetItems** reads its items one by one; here it holds the same lock, so it reads a
   snapshot no transaction is half-way through, as DynamoDB's does.
4. **Query and Scan read what they return.** The emulator answers every Query by sorting all the items
   of the table and then keeping the partition's (or the index key's), and every Scan page by sorting
   the table and walking to the page's start key. Measured before (one call through boto3, in-process,
   with 0 / 10,000 / 100,000 items in the table): a Query of a 3-item index partition 1.1 / 28 / 244 ms,
   of a 3-item table partition 1.1 / 37 / 368 ms; a 10-item Scan page from the middle of the table
   1.1 / 38 / 317 ms; a 10-item page of an index partition holding half the table 1.1 / 66 / 601 ms
   (settlement's `by-kind` pages and each chargeback's `by-payment` query paid this on the ledger).
   Now 2.5, 1.9, 5.4 and 6.2 ms at 10,000 items and at 100,000 alike: what is left is the emulator's
   cost per item returned (about 0.45 ms). A table keeps sorted views (its partitions by sort key, each
   global index by its keys, the whole table in Scan's order; about 200 bytes an item each), each built
   on its first use and kept by every write; a request bisects to its key condition and start key and
   reads on from there. The
   answers are the emulator's own, request for request: the items, their order, pages,
   `LastEvaluatedKey` (also where the emulator sets it past the key condition's last item), `Limit`,
   the 1 MB page, filters and projections; the emulator's own code still answers what the views do not
   cover (the legacy `KeyConditions`, `QueryFilter` and `ScanFilter`, parallel and index scans, local
   and multi-attribute indexes) and refuses what it refuses. Reads take the lock too, so none sees a
   view half-way through a write; a view that ever disagrees with the table is dropped and built again.
5. **A read of a missing item leaves nothing behind.** In a table with a sort key, a GetItem or
   DeleteItem of an absent key left an empty partition in the emulator for good (about 250 bytes each;
   settlement's look-ups of movements not yet settled are all such reads); here none is made, and a
   partition whose last item is deleted goes.
6. **Attribute names kept once.** Every stored item held its own copy of each attribute name, as the
   request's JSON decoder made it: a ledger entry took 2,960 bytes, now 2,550. Items share one copy of
   each name (a bounded pool: names past the first 10,000 are kept as they come).
7. **Copies not kept for good.** The emulator appends every model object it makes to a list on its
   class, for its debug listing (`/moto-api/data.json`), and never lets go: each stored item, but also
   each copy it makes (two per UpdateItem, one per item a Query returns) and each item a write replaced,
   every stream record and every shard iterator: about 7 MB per 1,000 refunds in copies alone. DynamoDB's
   and DynamoDB Streams' objects are made without that record here (the listing shows none of them).

With these and `streams_shim`, a 3,000-row refund file grew the local stack's memory by 25 MB per 1,000
refunds, down from 53; most of what is left is the items AWS keeps too (about 15 MB per 1,000 refunds:
five items each, at about 3 KB an item as the emulator holds them).

A transaction that passes its conditions but carries a malformed update expression could still be
applied in part; requests our code sends are well-formed, and a malformed one fails its tests first.
"""

from __future__ import annotations

import copy
import functools
import threading
import weakref
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final

_WRITES = threading.RLock()
WRITES: Final = _WRITES  # held by every write (and by `streams_shim` while it reads or trims a stream)
_OPERATIONS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})
_MAX_ITEMS = 100


def install() -> None:
    """Patch the emulator's DynamoDB backend (once per process, as its backends are per process)."""
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415 (local only)
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    if getattr(DynamoDBBackend, "_payments_shimmed", False):
        return
    for name in ("put_item", "delete_item"):
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.update_item = _locked(_update_keeping_views(DynamoDBBackend.update_item))  # type: ignore[method-assign]
    DynamoDBBackend.update_table = _dropping_views(DynamoDBBackend.update_table)  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415

    DynamoHandler.transact_get_items = _locked(DynamoHandler.transact_get_items)  # type: ignore[method-assign]
    # The emulator reads the item a write's `ReturnValues` describe apart from the write: under the lock,
    # a concurrent write cannot fall in between (DynamoDB returns the values of this very write).
    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoHandler, name, _locked(getattr(DynamoHandler, name)))
    Table.put_item = _put_keeping_views(Table.put_item)  # type: ignore[method-assign]
    Table.delete_item = _delete_keeping_views(Table.delete_item)  # type: ignore[method-assign]
    Table.get_item = _get_leaving_nothing(Table.get_item)  # type: ignore[method-assign]
    Table.query = _query_by_views(Table.query)  # type: ignore[method-assign]
    Table.scan = _scan_by_views(Table.scan)  # type: ignore[method-assign]
    _untrack_models()
    DynamoDBBackend._payments_shimmed = True  # type: ignore[attr-defined]


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _WRITES:
            return method(*args, **kwargs)

    return locked


# -- 2. TransactWriteItems -------------------------------------------------------------------------


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


# -- 4. sorted views of a table --------------------------------------------------------------------

# A view's entry for an item: (group, position, reference). The group is the partition key's value (the
# table's or an index's) as (type, value); the position sorts the group's items as the emulator's
# Query and Scan order them; the reference is the item's table key, to read the live item.
Ref = tuple[Any, Any]
Entry = tuple[Any, tuple[Any, ...], Ref]
_PARTITIONS = ("partitions",)  # the table's items by partition, each by sort key
_TABLE_ORDER = ("table order",)  # every item, in the order of the emulator's Scan
_RESULT_SIZE_LIMIT = 1_000_000  # the emulator's page size limit (DynamoDB's 1 MB)
_MAX_ITEM_SIZE = 405_000  # the largest item the emulator stores
_position = itemgetter(0)


def _head(entry: tuple[tuple[Any, ...], Ref]) -> Any:
    return entry[0][0]


class _Stale(Exception):
    """A view no longer matches the table: it is dropped and built again."""


class _View:
    """A table's items in one order: grouped, and each group sorted by position."""

    __slots__ = ("entry", "groups")

    def __init__(self, entry: Callable[[Any], Entry | None]) -> None:
        self.entry = entry
        self.groups: dict[Any, list[tuple[tuple[Any, ...], Ref]]] = {}

    def add(self, entry: Entry) -> None:
        group, position, ref = entry
        insort(self.groups.setdefault(group, []), (position, ref), key=_position)

    def discard(self, entry: Entry) -> None:
        group, position, _ = entry
        members = self.groups.get(group)
        at = -1 if members is None else bisect_left(members, position, key=_position)
        if members is None or at == len(members) or members[at][0] != position:
            raise _Stale(f"no entry at {position!r}")
        del members[at]
        if not members:
            del self.groups[group]


def _partition_entry(item: Any) -> Entry:
    return (
        (item.hash_key.type, item.hash_key.cast_value),
        (item.range_key.cast_value,),
        (item.hash_key, item.range_key),
    )


def _order_entry(table: Any) -> Callable[[Any], Entry]:
    def entry(item: Any) -> Entry:
        position: tuple[Any, ...] = (item.hash_key.cast_value,)
        if table.range_key_attr is not None:
            position += (item.range_key.cast_value,)
        return (None, position, (item.hash_key, item.range_key))

    return entry


def _index_entry(table: Any, hash_name: str, range_name: str) -> Callable[[Any], Entry | None]:
    """An item is in a global index when it has both of the index's key attributes; the emulator orders
    an index partition by the index's sort key, then the table's partition key, then its sort key."""
    table_keys = [name for name in (table.hash_key_attr, table.range_key_attr) if name is not None]

    def entry(item: Any) -> Entry | None:
        value, sort = item.attrs.get(hash_name), item.attrs.get(range_name)
        if value is None or sort is None:
            return None
        position = (sort.cast_value, *(item.attrs[name].cast_value for name in table_keys))
        return ((value.type, value.cast_value), position, (item.hash_key, item.range_key))

    return entry


def _global_index_keys(table: Any, index_name: str) -> tuple[str, str] | None:
    """The (partition, sort) key names of a global index with one of each; None for any other index."""
    from moto.dynamodb.models.table import GlobalSecondaryIndex  # noqa: PLC0415

    index = next((i for i in table.global_indexes if i.name == index_name), None)
    if not isinstance(index, GlobalSecondaryIndex):
        return None
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    if len(hashes) != 1 or len(ranges) != 1 or len(index.schema) != 2:
        return None
    return hashes[0], ranges[0]


def _stored(table: Any) -> Iterator[Any]:
    for member in table.items.values():
        if table.range_key_attr is not None:
            yield from member.values()
        else:
            yield member


def _stored_at(table: Any, ref: Ref) -> Any:
    """The live item at a table key, or None (without adding a partition, as indexing the table does)."""
    hash_key, range_key = ref
    member = table.items.get(hash_key)
    if table.range_key_attr is None or member is None:
        return member
    return member.get(range_key) if range_key is not None else None


class _Views:
    """The views of one table that requests have needed so far, kept by every write once built."""

    def __init__(self, table: Any) -> None:
        self.table = weakref.ref(table)
        self.built: dict[tuple[str, ...], _View] = {}

    def view(self, name: tuple[str, ...], entry: Callable[[Any], Entry | None]) -> _View:
        view = self.built.get(name)
        if view is None:
            view = _View(entry)
            groups: dict[Any, list[tuple[tuple[Any, ...], Ref]]] = {}
            for item in _stored(self.table()):
                found = entry(item)
                if found is not None:
                    groups.setdefault(found[0], []).append((found[1], found[2]))
            for members in groups.values():
                members.sort(key=_position)
            view.groups = groups
            self.built[name] = view
        return view

    def entries_at(self, ref: Ref) -> dict[tuple[str, ...], Entry | None]:
        item = _stored_at(self.table(), ref)
        return {name: None if item is None else view.entry(item) for name, view in self.built.items()}

    def move(
        self, before: dict[tuple[str, ...], Entry | None], after: dict[tuple[str, ...], Entry | None]
    ) -> None:
        for name, view in self.built.items():
            old, new = before.get(name), after.get(name)
            if old == new:
                continue
            if old is not None:
                view.discard(old)
            if new is not None:
                view.add(new)


_views: weakref.WeakKeyDictionary[Any, _Views] = weakref.WeakKeyDictionary()
_nested = threading.local()  # inside an UpdateItem: its own put of a new item is kept with the update


def _depth() -> int:
    return int(getattr(_nested, "depth", 0))


def _views_of(table: Any) -> _Views:
    views = _views.get(table)
    if views is None:
        views = _views[table] = _Views(table)
    return views


@contextmanager
def _keeping_views(table: Any, ref: Callable[[], Ref]) -> Iterator[None]:
    """Around a write of one item: its entries move in every built view. Should anything not add up,
    the table's views are dropped (and built again when next needed), never left wrong."""
    views = _views.get(table)
    if views is None or not views.built or _depth() > 0:
        yield
        return
    try:
        key = ref()
        before = views.entries_at(key)
    except Exception:  # the write itself reports what is wrong with it
        _views.pop(table, None)
        yield
        return
    try:
        yield
    finally:
        try:
            views.move(before, views.entries_at(key))
        except Exception:  # dropped: built again when next needed
            _views.pop(table, None)


def _table_ref(table: Any, attributes: dict[str, Any]) -> Ref:
    from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415

    range_key = None
    if table.range_key_attr is not None:
        range_key = DynamoType(attributes[table.range_key_attr])
    return (DynamoType(attributes[table.hash_key_attr]), range_key)


def _put_keeping_views(put_item: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(put_item)
    def put(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        item_attrs = _pooled(item_attrs)
        with _WRITES, _keeping_views(self, lambda: _table_ref(self, item_attrs)):
            return put_item(self, item_attrs, *args, **kwargs)

    return put


def _delete_keeping_views(delete_item: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(delete_item)
    def delete(self: Any, hash_key: Any, range_key: Any) -> Any:
        with _WRITES, _keeping_views(self, lambda: (hash_key, range_key)):
            try:
                return delete_item(self, hash_key, range_key)
            finally:
                if self.range_key_attr is not None and self.items.get(hash_key) == {}:
                    del self.items[hash_key]  # the partition's last item, or one the emulator made for a miss

    return delete


def _update_keeping_views(update_item: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(update_item)
    def update(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        table = self.get_table(table_name)
        with _keeping_views(table, lambda: _update_ref(table, key)):
            _nested.depth = _depth() + 1
            try:
                item = update_item(self, table_name, key, *args, **kwargs)
            finally:
                _nested.depth -= 1
        _pool_names_of(item)
        return item

    return update


def _update_ref(table: Any, key: dict[str, Any]) -> Ref:
    """The item an UpdateItem writes, found as the emulator finds it."""
    from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415

    if table.hash_key_attr in key and table.range_key_attr in key:
        return (DynamoType(key[table.hash_key_attr]), DynamoType(key[table.range_key_attr]))
    if table.hash_key_attr in key:
        return (DynamoType(key[table.hash_key_attr]), None)
    return (DynamoType(key), None)


def _dropping_views(update_table: Callable[..., Any]) -> Callable[..., Any]:
    """An index added or removed changes what a view holds: the table's views are built again."""

    @functools.wraps(update_table)
    def update(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        with _WRITES:
            try:
                return update_table(self, name, *args, **kwargs)
            finally:
                for table in list(self.tables.values()):
                    _views.pop(table, None)

    return update


def _get_leaving_nothing(get_item: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(get_item)
    def get(self: Any, hash_key: Any, range_key: Any = None, projection_expression: Any = None) -> Any:
        if self.range_key_attr is not None and range_key and hash_key not in self.items:
            return None  # the emulator's own lookup would add an empty partition for the key
        return get_item(self, hash_key, range_key, projection_expression)

    return get


# -- 4. Query and Scan by the views ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Query:
    """What a Query asks, as the emulator's Query is handed it."""

    comparison: str | None  # the key condition on the sort key, if any
    values: list[Any]  # its values (the emulator's)
    limit: int | None
    start_key: dict[str, Any] | None
    forward: bool
    index_name: str | None
    consistent_read: bool
    hash_conditions: list[tuple[str, Any]]
    range_conditions: list[tuple[str, str, list[Any]]]


def _query_by_views(moto_query: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(moto_query)
    def query(  # noqa: PLR0917 (the emulator's signature)
        self: Any,
        hash_key: Any,
        range_comparison: str | None,
        range_objs: list[Any],
        limit: int | None,
        exclusive_start_key: dict[str, Any] | None,
        scan_index_forward: bool,
        projection_expressions: list[list[str]] | None,
        index_name: str | None = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        hash_key_conditions: list[tuple[str, Any]] | None = None,
        range_key_conditions: list[tuple[str, str, list[Any]]] | None = None,
        **filter_kwargs: Any,
    ) -> tuple[list[Any], int, dict[str, Any] | None]:
        request = _Query(
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward,
            index_name,
            consistent_read,
            hash_key_conditions or [],
            range_key_conditions or [],
        )
        with _WRITES:
            page = None if filter_kwargs else _query_page(self, request)
            if page is None:
                return moto_query(  # type: ignore[no-any-return]
                    self,
                    hash_key,
                    range_comparison,
                    range_objs,
                    limit,
                    exclusive_start_key,
                    scan_index_forward,
                    projection_expressions,
                    index_name,
                    consistent_read,
                    filter_expression,
                    hash_key_conditions=hash_key_conditions,
                    range_key_conditions=range_key_conditions,
                    **filter_kwargs,
                )
            # From here as the emulator's own Query goes on from its page of items.
            items, last_evaluated_key = page
            results = copy.deepcopy(items)
            if index_name:
                index = self.get_index(index_name)
                results = [index.project(r) for r in results]
            if filter_expression is not None:
                results = [item for item in results if filter_expression.expr(item)]
            if projection_expressions:
                results = [r.project(projection_expressions) for r in results]
            return results, len(items), last_evaluated_key

    return query


@dataclass(frozen=True, slots=True)
class _Group:
    """The sorted items a Query reads from: a partition of the table, or of a global index."""

    view: _View | None  # None: the one item of a table without a sort key
    members: list[tuple[tuple[Any, ...], Ref]]
    hash_name: str
    position_names: list[str]  # the attributes of a member's position, in order


def _query_page(table: Any, request: _Query) -> tuple[list[Any], dict[str, Any] | None] | None:
    """A Query's page of items and its LastEvaluatedKey; None where the emulator's own Query answers."""
    if request.limit is not None and request.limit < 1:
        return None
    try:
        group = _query_group(table, request)
        if group is None:
            return None
        members = group.members
        low, high = _bounds(members, request.comparison, [value.cast_value for value in request.values])
        start, end = low, high
        if request.start_key is not None:
            from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415

            if DynamoType(request.start_key[group.hash_name]) != request.hash_conditions[0][1]:
                return None
            after = tuple(DynamoType(request.start_key[name]).cast_value for name in group.position_names)
            if request.forward:
                start = max(low, bisect_right(members, after, key=_position))
            else:
                end = min(high, bisect_left(members, after, key=_position))
        run = _Run(start, end, low, high)
        return _read_page(
            table,
            group.view,
            members,
            run,
            limit=request.limit,
            forward=request.forward,
            index_name=request.index_name,
        )
    except _Stale:
        _views.pop(table, None)
        return None
    except Exception:  # a request the views do not answer: the emulator's own code does (or refuses it)
        return None


def _query_group(table: Any, request: _Query) -> _Group | None:
    if len(request.hash_conditions) != 1 or len(request.range_conditions) > 1:
        return None
    ((hash_name, value),) = request.hash_conditions
    table_keys = [name for name in (table.hash_key_attr, table.range_key_attr) if name is not None]
    if request.index_name is None:
        sort_name = table.range_key_attr
        if hash_name != table.hash_key_attr:
            return None
        if sort_name is None:
            item = _stored_at(table, (value, None))
            group = _Group(None, [] if item is None else [((), (item.hash_key, None))], hash_name, [])
        else:
            view = _views_of(table).view(_PARTITIONS, _partition_entry)
            group = _Group(view, view.groups.get((value.type, value.cast_value), []), hash_name, [sort_name])
    else:
        keys = _global_index_keys(table, request.index_name)
        if keys is None or request.consistent_read or hash_name != keys[0]:
            return None
        sort_name = keys[1]
        view = _views_of(table).view(("index", request.index_name), _index_entry(table, *keys))
        members = view.groups.get((value.type, value.cast_value), [])
        group = _Group(view, members, hash_name, [sort_name, *table_keys])
    if request.range_conditions and request.range_conditions[0][0] != sort_name:
        return None
    return group


def _bounds(  # noqa: PLR0911 (one per operator)
    group: list[tuple[tuple[Any, ...], Ref]], comparison: str | None, values: list[Any]
) -> tuple[int, int]:
    """The run of a sorted group that a key condition on its sort key selects."""
    size = len(group)
    match comparison:
        case None:
            return 0, size
        case "=" | "EQ":
            return bisect_left(group, values[0], key=_head), bisect_right(group, values[0], key=_head)
        case "<" | "LT":
            return 0, bisect_left(group, values[0], key=_head)
        case "<=" | "LE":
            return 0, bisect_right(group, values[0], key=_head)
        case ">" | "GT":
            return bisect_right(group, values[0], key=_head), size
        case ">=" | "GE":
            return bisect_left(group, values[0], key=_head), size
        case "BETWEEN":
            low = bisect_left(group, values[0], key=_head)
            return low, max(low, bisect_right(group, values[1], key=_head))
        case "BEGINS_WITH":
            prefix = values[0]
            if not isinstance(prefix, str):
                raise TypeError("begins_with on a value that is not text")
            low = bisect_left(group, prefix, key=_head)
            # From `low` on, the values that begin with the prefix come first, then the rest.
            high = bisect_left(group, True, lo=low, key=lambda entry: not _begins(_head(entry), prefix))
            return low, high
    raise ValueError(f"no key condition {comparison}")


def _begins(value: Any, prefix: str) -> bool:
    return isinstance(value, str) and value.startswith(prefix)


@dataclass(frozen=True, slots=True)
class _Run:
    """Where a page is read in a sorted group: from `start` up to `end` (backwards: from `end` down to
    `start`), within `low` to `high`, the run its key condition selects."""

    start: int
    end: int
    low: int
    high: int


def _read_page(
    table: Any,
    view: _View | None,
    group: list[tuple[tuple[Any, ...], Ref]],
    run: _Run,
    *,
    limit: int | None,
    forward: bool,
    index_name: str | None,
) -> tuple[list[Any], dict[str, Any] | None]:
    """The page as the emulator reads it: it stops at `limit` items or 1 MB, and names the last item read
    as the LastEvaluatedKey when the partition holds another item after it, in the run or not."""
    results: list[Any] = []
    size = 0
    steps = range(run.start, run.end) if forward else range(run.end - 1, run.start - 1, -1)
    for at in steps:
        item = _live(table, view, group[at])
        if len(results) == limit or size + item.size() > _RESULT_SIZE_LIMIT:
            return results, table._get_last_evaluated_key(results[-1], index_name)
        results.append(item)
        size += item.size()
    rest = range(run.high, len(group)) if forward else range(run.low - 1, -1, -1)
    if not results or not rest:
        return results, None
    if len(results) == limit:
        return results, table._get_last_evaluated_key(results[-1], index_name)
    if size + _MAX_ITEM_SIZE > _RESULT_SIZE_LIMIT:
        for at in rest:
            if size + _live(table, view, group[at]).size() > _RESULT_SIZE_LIMIT:
                return results, table._get_last_evaluated_key(results[-1], index_name)
    return results, None


def _live(table: Any, view: _View | None, member: tuple[tuple[Any, ...], Ref]) -> Any:
    """The stored item a view's entry names, checked against the entry."""
    item = _stored_at(table, member[1])
    entry = None if item is None or view is None else view.entry(item)
    if item is None or (view is not None and (entry is None or entry[1] != member[0])):
        raise _Stale(f"the view holds {member[0]!r}, the table does not")
    return item


def _scan_by_views(moto_scan: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(moto_scan)
    def scan(  # noqa: PLR0917 (the emulator's signature)
        self: Any,
        filters: dict[str, Any],
        limit: int | None,
        exclusive_start_key: dict[str, Any] | None,
        filter_expression: Any = None,
        index_name: str | None = None,
        consistent_read: bool = False,
        projection_expression: list[list[str]] | None = None,
        segments: tuple[Any, Any] = (None, None),
    ) -> tuple[list[Any], int, dict[str, Any] | None]:
        with _WRITES:
            page = None
            if not filters and not index_name and tuple(segments) == (None, None):
                page = _scan_page(self, limit, exclusive_start_key)
            if page is None:
                return moto_scan(  # type: ignore[no-any-return]
                    self,
                    filters,
                    limit,
                    exclusive_start_key,
                    filter_expression,
                    index_name,
                    consistent_read,
                    projection_expression,
                    segments=segments,
                )
            items, last_evaluated_key = page
            results = [copy.deepcopy(item) for item in items]
            if filter_expression is not None:
                results = [item for item in results if filter_expression.expr(item)]
            if projection_expression:
                results = [r.project(projection_expression) for r in results]
            return results, len(items), last_evaluated_key

    return scan


def _scan_page(
    table: Any, limit: int | None, start_key: dict[str, Any] | None
) -> tuple[list[Any], dict[str, Any] | None] | None:
    """A Scan's page of items (from the table's first item, or after its start key) and its
    LastEvaluatedKey; None where the emulator's own Scan answers."""
    if limit is not None and limit < 1:
        return None
    try:
        view = _views_of(table).view(_TABLE_ORDER, _order_entry(table))
        everything = view.groups.get(None, [])
        start = 0
        if start_key is not None:
            from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415

            names = [n for n in (table.hash_key_attr, table.range_key_attr) if n is not None]
            after = tuple(DynamoType(start_key[name]).cast_value for name in names)
            start = bisect_right(everything, after, key=_position)
        size = len(everything)
        run = _Run(start, size, size, size)
        return _read_page(table, view, everything, run, limit=limit, forward=True, index_name=None)
    except _Stale:
        _views.pop(table, None)
        return None
    except Exception:  # a request the views do not answer: the emulator's own code does (or refuses it)
        return None


# -- 6. attribute names kept once ------------------------------------------------------------------

_NAMES: dict[str, str] = {}
_MAX_NAMES = 10_000


def _name(name: str) -> str:
    kept = _NAMES.get(name)
    if kept is None:
        if len(_NAMES) >= _MAX_NAMES:
            return name
        kept = _NAMES.setdefault(name, name)
    return kept


def _pooled(attributes: dict[str, Any]) -> dict[str, Any]:
    """An item's attributes with their names, at every depth, from the pool."""
    return {_name(name): _pooled_value(value) for name, value in attributes.items()}


def _pooled_value(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((kind, inner),) = value.items()
        if kind == "M" and isinstance(inner, dict):
            return {"M": _pooled(inner)}
        if kind == "L" and isinstance(inner, list):
            return {"L": [_pooled_value(member) for member in inner]}
    return value


def _pool_names_of(item: Any) -> None:
    """An updated item's top-level names from the pool (an update may have added attributes)."""
    attrs = getattr(item, "attrs", None)
    if not attrs or all(_name(name) is name for name in attrs):
        return
    pooled = dict.__new__(type(attrs))  # the emulator's size-checking dict, filled without checking again
    dict.__init__(pooled)
    for name, value in attrs.items():
        dict.__setitem__(pooled, _name(name), value)
    item.attrs = pooled


# -- 7. copies not kept ----------------------------------------------------------------------------

_UNTRACKED = ("moto.dynamodb.", "moto.dynamodbstreams.")


def _untrack_models() -> None:
    """The emulator appends every model object it makes to a list on its class, for its dashboard,
    and never lets go; DynamoDB's and DynamoDB Streams' are made without."""
    from moto.core.common_models import BaseModel  # noqa: PLC0415

    if getattr(BaseModel, "_payments_untracked", False):
        return
    tracked = BaseModel.__dict__["__new__"]

    def new(cls: type, *args: Any, **kwargs: Any) -> Any:
        if cls.__module__.startswith(_UNTRACKED):
            return object.__new__(cls)
        return tracked.__func__(cls, *args, **kwargs)

    BaseModel.__new__ = staticmethod(new)  # type: ignore[method-assign]
    BaseModel._payments_untracked = True  # type: ignore[attr-defined]
