"""POST /v1/refund-batches: a merchant's refund file (text/csv). Every row is checked now; the good ones
are queued once the file is stored (its S3 event), so the answer does not wait for 50,000 messages.
The batch belongs to the key's merchant (a platform key's to none); a merchant key's rows of another
merchant are row errors."""

from __future__ import annotations

from typing import Any, Final

from payments import bootstrap
from payments.domain.errors import InvalidRequest, PaymentsError
from payments.functions import http
from payments.functions.observability import observed
from payments.functions.schemas import refund_batch_body
from payments.service.refund_batches import import_refund_file

# Under Lambda's 6 MB request payload once API Gateway has wrapped the body; about 60,000 rows.
MAX_FILE_BYTES: Final = 4 * 1024 * 1024


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    """With an Idempotency-Key, a retried upload answers the first batch instead of starting another
    (which would refund its rows again, as far as anything is left to refund). A body refused before
    any work (wrong type, too large) is answered without touching the key, as on every route."""
    try:
        content_type = (http.header(event, "content-type") or "").split(";")[0].strip().lower()
        if content_type != "text/csv":
            raise InvalidRequest("send the file as text/csv")
        body = http.raw_body(event, limit=MAX_FILE_BYTES)
    except PaymentsError as error:
        return http.error_response(error)

    def work() -> http.Response:
        batch, errors = import_refund_file(
            body,
            caller=http.caller(event),
            batches=bootstrap.refund_batches(),
            files=bootstrap.refund_files(),
        )
        return http.respond(202, refund_batch_body(batch, errors=errors))

    return bootstrap.idempotent_requests()(event, context, work)
