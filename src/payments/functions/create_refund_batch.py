"""POST /v1/refund-batches: a merchant's refund file (text/csv). Every row is checked now; the good ones
are queued once the file is stored (its S3 event), so the answer does not wait for 50,000 messages.
The batch belongs to the key's merchant (a platform key's to none); a merchant key's rows of another
merchant are row errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from payments import bootstrap
from payments.domain.errors import InvalidRequest
from payments.functions import http
from payments.functions.schemas import refund_batch_body
from payments.service.ports import FileStore, RefundBatchRepository
from payments.service.refund_batches import import_refund_file

# Under Lambda's 6 MB request payload once API Gateway has wrapped the body; about 60,000 rows.
MAX_FILE_BYTES: Final = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Dependencies:
    batches: RefundBatchRepository
    files: FileStore


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(batches=bootstrap.refund_batches(env), files=bootstrap.refund_files(env))


def _file(event: http.Event) -> bytes:
    content_type = (http.header(event, "content-type") or "").split(";")[0].strip().lower()
    if content_type != "text/csv":
        raise InvalidRequest("send the file as text/csv")
    return http.raw_body(event, limit=MAX_FILE_BYTES)


@http.route(wire, parse=_file, idempotent=True)
def handler(request: http.Request[bytes], deps: Dependencies) -> http.Response:
    """With an Idempotency-Key, a retried upload answers the first batch instead of starting another
    (which would refund its rows again, as far as anything is left to refund). A body refused before
    any work (wrong type, too large) is answered without touching the key, as on every route."""
    batch, errors = import_refund_file(
        request.input, caller=request.caller, batches=deps.batches, files=deps.files
    )
    return http.respond(202, refund_batch_body(batch, errors=errors))
