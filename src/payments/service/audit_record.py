"""What the checkout's audit record keeps of the workflow's history, for seven years (PCI DSS 10).

The history as Step Functions answers it holds more than an auditor needs, and some of it must not be
kept that long: a failed Lambda's cause is its whole error payload, Python stack trace and the
function's file paths included, and each state's input and output carry the customer's e-mail address
(the receipt's), IP address and device fingerprint, and the step-up's task token. The record keeps
every event, in order, with its id, type, time and state, and each state's data without those: an
error as its type and message, a personal field as `"[redacted]"` (so the reader sees it was there and
was left out on purpose). What it keeps and why: docs/observability.md, "The checkout's audit record".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
MAX_MESSAGE_CHARS = 500

# Fields of the workflow's data that are the customer's (or a credential), by name, lower-cased; any
# field whose name contains "email" too. The payment's own ids, amounts, decisions and outcomes stay.
PERSONAL_FIELDS = frozenset(
    {
        "ipaddress",
        "devicefingerprint",
        "customerfirstname",
        "customerlastname",
        "customername",
        "firstname",
        "lastname",
        "phone",
        "billingaddress",
        "shippingaddress",
        "tasktoken",  # answers the step-up (SendTaskSuccess): a bearer credential, never archived
    }
)
# Event-detail fields that are JSON documents in a string: the state's data, parsed and cleaned.
_DOCUMENT_FIELDS = frozenset({"input", "output", "parameters"})
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# An absolute path (/var/task/payments/x.py, C:\x\y.py); not a URL's path, an ARN or an S3 key.
_PATH = re.compile(r"(?<![\w:/.\\-])(?:/[\w.@+-]+){2,}/?|\b[A-Za-z]:\\[^\s'\",]+")
_TRACEBACK = "Traceback (most recent call last):"


def audit_events(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history's events, each kept whole but for stack traces, paths and personal data."""
    return [_event(event) for event in history]


def _event(event: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, value in event.items():
        if name.endswith("EventDetails") and isinstance(value, Mapping):
            kept[name] = _details(value)
        else:
            kept[name] = value
    return kept


def _details(details: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, value in details.items():
        if name == "cause" and isinstance(value, str):
            kept[name] = error_cause(value)
        elif name in _DOCUMENT_FIELDS and isinstance(value, str):
            kept[name] = _document(value)
        else:
            kept[name] = _data(value)
    return kept


def _document(text: str) -> str:
    """A state's input or output (JSON in a string), cleaned and written back as JSON."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return _without_email(text)
    return json.dumps(_data(parsed), separators=(",", ":"))


def _data(value: Any) -> Any:
    """The workflow's data, recursively: personal fields redacted, Catch causes reduced, traces dropped."""
    if isinstance(value, Mapping):
        kept: dict[str, Any] = {}
        for name, item in value.items():
            key = str(name)
            if key == "stackTrace":
                continue
            if _is_personal(key):
                kept[key] = None if item is None else REDACTED
            elif key == "Cause" and isinstance(item, str):  # a Catch's {"Error", "Cause"}
                kept[key] = error_cause(item)
            elif key == "errorMessage" and isinstance(item, str):
                kept[key] = error_message(item)
            else:
                kept[key] = _data(item)
        return kept
    if isinstance(value, list):
        return [_data(item) for item in value]
    if isinstance(value, str):
        return _without_email(value)
    return value


def _is_personal(field: str) -> bool:
    lowered = field.lower()
    return lowered in PERSONAL_FIELDS or "email" in lowered


def error_cause(cause: str) -> str:
    """A failed state's cause as its error type and message. Lambda's cause is its error payload as
    JSON (`errorMessage`, `errorType`, `requestId`, `stackTrace`); anything else is taken as text."""
    try:
        payload = json.loads(cause)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and ("errorMessage" in payload or "errorType" in payload):
        kept = {
            name: error_message(str(payload[name]))
            for name in ("errorType", "errorMessage")
            if payload.get(name) is not None
        }
        return json.dumps(kept, separators=(",", ":"))
    return error_message(cause)


def error_message(text: str) -> str:
    """An error's message without a traceback (only its last line, `Type: message`, is kept), file
    paths or e-mail addresses, and short enough to read."""
    if _TRACEBACK in text:
        lines = [line for line in text.splitlines() if line.strip()]
        text = lines[-1].strip() if lines else ""
    text = _PATH.sub("<path>", _without_email(text))
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def _without_email(text: str) -> str:
    return _EMAIL.sub(REDACTED, text)
