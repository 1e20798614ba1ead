"""DynamoDB Streams in the emulator at a memory cost that follows what AWS keeps, not every call made.

1. **A shard iterator carries its position.** The emulator stores every iterator it hands out (about
   1.4 KB each, never released), and GetRecords hands out a new one on every call: the local stack's
   three stream pollers, each reading every 50 ms when idle, added 57 a second, about 290 MB an hour
   (8,400 over a 3,000-row refund file of two and a half minutes). Here an iterator is the stream's
   ARN, the shard and the sequence number to read from, so nothing is kept; reading with one gives
   what the emulator's iterator at that position gives.
2. **Stream records kept compact.** The emulator keeps each record as the nested dictionaries of its
   keys and images: about 1.7 KB a record beyond the strings it shares with the item, 6.6 MB per 1,000
   refunds over the transactions' and the refund batches' streams (four records a refund). Here a
   record is kept serialised and compressed (about 530 bytes), and read back into the same record (the
   same values, of the same types) when a reader asks for it: 10 us to keep, 10 us to read back.
3. **Records older than 24 hours trimmed**, as DynamoDB Streams trims them: a stream holds at most a
   day's records however long the stack runs. The trim is made on the next write or read (in batches,
   so a record may stay up to a minute longer); an iterator at a trimmed position gets
   TrimmedDataAccessException, as from AWS, and TRIM_HORIZON starts at the oldest record left. Records
   every reader has read are not dropped before that: a reader that comes later (a new mapping, the AWS
   CLI at TRIM_HORIZON) sees what AWS would show it.

The emulator's list of the model objects it makes (see `dynamodb_shim`) holds no record or iterator.
"""

from __future__ import annotations

import pickle
import zlib
from datetime import datetime, timedelta
from typing import Any, Final

from payments.local.dynamodb_shim import WRITES

RETENTION: Final = timedelta(hours=24)
_TRIM_AFTER: Final = RETENTION + timedelta(minutes=1)  # the oldest record's age that starts a trim
_EVENT_NAMES: Final = {
    (True, False): "INSERT",
    (True, True): "INSERT",
    (False, True): "REMOVE",
    (False, False): "MODIFY",
}


def install() -> None:
    """Patch the emulator's stream shards and its Streams API (once per process)."""
    from moto.dynamodb.models.table import StreamShard  # noqa: PLC0415 (local only)
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend  # noqa: PLC0415

    if getattr(StreamShard, "_payments_shimmed", False):
        return
    StreamShard.add = _add  # type: ignore[method-assign]
    StreamShard.get = _get  # type: ignore[method-assign]
    backend = DynamoDBStreamsBackend
    backend.get_shard_iterator = _get_shard_iterator(backend.get_shard_iterator)  # type: ignore[method-assign]
    backend.get_records = _get_records(backend.get_records)  # type: ignore[method-assign]
    StreamShard._payments_shimmed = True  # type: ignore[attr-defined]


# -- 2. compact records ----------------------------------------------------------------------------


class _Record:
    """A stream record kept as compressed bytes; `to_json` gives back the record the emulator made."""

    __slots__ = ("created", "data")

    def __init__(self, created: datetime, data: bytes) -> None:
        self.created = created
        self.data = data

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = pickle.loads(zlib.decompress(self.data))  # noqa: S301 (made by _compact)
        return record


def _compact(record: Any) -> _Record:
    made = record.record
    return _Record(made["dynamodb"]["ApproximateCreationDateTime"], zlib.compress(pickle.dumps(made, 5), 1))


def _add(self: Any, old: Any, new: Any) -> None:
    """The emulator's `StreamShard.add`, keeping the record compact and the stream trimmed."""
    from moto.awslambda.utils import get_backend  # noqa: PLC0415
    from moto.dynamodb.models.table import StreamRecord  # noqa: PLC0415

    view_type = self.table.stream_specification["StreamViewType"]
    event_name = _EVENT_NAMES[(old is None, new is None)]
    record = StreamRecord(self.table, view_type, event_name, old, new, _end(self))
    self.items.append(_compact(record))
    _trim(self, record.record["dynamodb"]["ApproximateCreationDateTime"])
    result = None
    for arn, mapping in self.table.lambda_event_source_mappings.items():
        region = arn.split(":")[3]
        result = get_backend(self.account_id, region).send_dynamodb_items(
            arn, self.items, mapping.event_source_arn
        )
    if result:  # delivered to the emulator's own mapping: the emulator lets the records go
        self._payments_trimmed = _trimmed(self) + len(self.items)
        self.items = []


def _get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
    assert start >= self.starting_sequence_number  # as the emulator's own `get`
    at = start - _first(self)
    if at < 0:
        raise _trimmed_data_access()
    return [record.to_json() for record in self.items[at : at + quantity]]


# -- 3. the 24 hours ---------------------------------------------------------------------------------


def _trimmed(shard: Any) -> int:
    """How many records of the shard have been trimmed so far."""
    return int(getattr(shard, "_payments_trimmed", 0))


def _first(shard: Any) -> int:
    """The sequence number of the shard's oldest record left."""
    return int(shard.starting_sequence_number) + _trimmed(shard)


def _end(shard: Any) -> int:
    """The sequence number the shard's next record gets."""
    return _first(shard) + len(shard.items)


def _created(record: Any) -> datetime:
    if isinstance(record, _Record):
        return record.created
    created: datetime = record.record["dynamodb"]["ApproximateCreationDateTime"]  # one made before the shim
    return created


def _trim(shard: Any, now: datetime) -> None:
    records = shard.items
    if not records or now - _created(records[0]) < _TRIM_AFTER:
        return
    count = 0
    while count < len(records) and now - _created(records[count]) >= RETENTION:
        count += 1
    del records[:count]
    shard._payments_trimmed = _trimmed(shard) + count


def _now() -> datetime:
    from moto.dynamodb.models import table  # noqa: PLC0415 (the clock the records are stamped with)

    now: datetime = table.utcnow()  # type: ignore[attr-defined]
    return now


def _trimmed_data_access() -> Exception:
    from moto.core.exceptions import JsonRESTError  # noqa: PLC0415

    return JsonRESTError(
        "TrimmedDataAccessException",
        "The operation attempted to read past the oldest stream record in a shard.",
    )


# -- 1. iterators that carry their position --------------------------------------------------------


class _Iterator:
    """What the emulator's GetShardIterator answers with: its `arn` is the iterator."""

    def __init__(self, table: Any, position: int) -> None:
        self.arn = _token(table, position)


def _stream_arn(table: Any) -> str:
    return f"{table.table_arn}/stream/{table.latest_stream_label}"


def _token(table: Any, position: int) -> str:
    return f"{_stream_arn(table)}|1|{table.stream_shard.id}|{position}"


def _get_shard_iterator(moto_get_shard_iterator: Any) -> Any:
    def get_shard_iterator(
        self: Any, arn: str, shard_id: str, shard_iterator_type: str, sequence_number: int | None = None
    ) -> Any:
        table = self._get_table_from_arn(arn)
        shard = table.stream_shard
        assert shard.id == shard_id  # as the emulator's own
        positions = {
            "TRIM_HORIZON": lambda: _first(shard),
            "LATEST": lambda: _end(shard),
            "AT_SEQUENCE_NUMBER": lambda: int(sequence_number),  # type: ignore[arg-type]
            "AFTER_SEQUENCE_NUMBER": lambda: int(sequence_number) + 1,  # type: ignore[arg-type]
        }
        if shard_iterator_type not in positions:
            return moto_get_shard_iterator(self, arn, shard_id, shard_iterator_type, sequence_number)
        with WRITES:  # the writes' lock: a stream is trimmed, and appended to, under it
            _trim(shard, _now())
            return _Iterator(table, positions[shard_iterator_type]())

    get_shard_iterator.__wrapped__ = moto_get_shard_iterator  # type: ignore[attr-defined]
    return get_shard_iterator


def _table_of(backend: Any, stream_arn: str) -> Any:
    try:
        return backend.dynamodb.tables.get(stream_arn.split(":", 6)[5].split("/")[1])
    except IndexError:
        return None


def _get_records(moto_get_records: Any) -> Any:
    def get_records(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
        stream_arn, one, shard_id, position = ([""] * 3 + str(iterator_arn).rsplit("|", 3))[-4:]
        table = _table_of(self, stream_arn) if one == "1" and position.isdigit() else None
        shard = None if table is None else table.stream_shard
        if shard is None or shard.id != shard_id or _stream_arn(table) != stream_arn:
            answer: dict[str, Any] = moto_get_records(self, iterator_arn, limit)  # not ours: its own lookup
            return answer
        with WRITES:
            _trim(shard, _now())
            records = shard.get(int(position), limit)
        after = int(records[-1]["dynamodb"]["SequenceNumber"]) + 1 if records else int(position)
        return {"NextShardIterator": _token(table, after), "Records": records}

    get_records.__wrapped__ = moto_get_records  # type: ignore[attr-defined]
    return get_records
