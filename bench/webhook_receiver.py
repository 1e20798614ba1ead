"""A merchant's webhook receiver on 127.0.0.1 for the fault campaign (bench/campaign.py): every
delivery verified with the official Standard Webhooks library against its endpoint's secret, kept
(the endpoint, `webhook-id`, type, payment, body and what was answered), and a seeded share refused.

A refusal is a 500, drawn per request from (seed, endpoint, webhook-id, how many times that id came
before), and at most `max_refusals` times per event at an endpoint. With a retry schedule of more
attempts than that, every delivery can succeed, so a delivery the stack's log shows failed is the
stack's doing, not the draw's: uncapped, 30 % refusals exhaust eight attempts once in ~15,000
deliveries, and six attempts once in ~1,400 (a campaign of 1,000 payments makes ~3,000).

`receive` is the whole logic and opens no socket (the unit tests call it); `start` serves it.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

HOST: Final = "127.0.0.1"
REFUSED: Final = 500
ACCEPTED: Final = 200
UNSIGNED: Final = 400  # a receiver refuses what it cannot verify (the stack retries it)
UNKNOWN: Final = 404


@dataclass(frozen=True, slots=True)
class Received:
    """One request, as it came and as it was answered."""

    endpoint: str  # the endpoint's name: the path its URL names
    webhook_id: str
    body: bytes
    answered: int
    signed: bool  # verified by the official library (signature and timestamp)
    event_type: str | None = None
    payment_intent_id: str | None = None


@dataclass
class _Endpoint:
    webhook: Webhook
    refusal_rate: float
    came: Counter[str] = field(default_factory=Counter)  # requests by webhook-id
    refused: Counter[str] = field(default_factory=Counter)


class WebhookReceiver:
    """Endpoints by name, each with its secret and its share of refusals; every request received."""

    def __init__(
        self, *, seed: int, max_refusals: int = 3, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seed, self.max_refusals = seed, max_refusals
        self._clock = clock
        self._lock = threading.Lock()
        self._endpoints: dict[str, _Endpoint] = {}
        self._received: list[Received] = []
        self._last = clock()
        self._server: ThreadingHTTPServer | None = None

    # -- the endpoints and what they got -------------------------------------------------------------

    def url(self, endpoint: str) -> str:
        if self._server is None:
            raise RuntimeError("start the receiver before asking for its URLs")
        return f"http://{HOST}:{self._server.server_address[1]}/{endpoint}"

    def expect(self, endpoint: str, secret: str, *, refusal_rate: float = 0.0) -> None:
        """Deliveries to `endpoint` are signed with `secret`; refuse about `refusal_rate` of them."""
        if not 0 <= refusal_rate < 1:
            raise ValueError("a refusal rate is from 0 to below 1")
        with self._lock:
            self._endpoints[endpoint] = _Endpoint(Webhook(secret), refusal_rate)

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def quiet_for(self) -> float:
        """Seconds since the last request (or since the receiver was made)."""
        with self._lock:
            return self._clock() - self._last

    def receive(self, path: str, headers: Mapping[str, str], body: bytes) -> int:
        """Verify, draw, keep; the status to answer."""
        name = path.lstrip("/").split("?", 1)[0]
        lowered = {key.lower(): value for key, value in headers.items()}
        webhook_id = lowered.get("webhook-id", "")
        with self._lock:
            endpoint = self._endpoints.get(name)
        payload: Any = None
        if endpoint is not None:
            try:
                payload = endpoint.webhook.verify(body, lowered)
            except WebhookVerificationError:
                payload = None
        signed = isinstance(payload, dict)
        data = payload.get("data") if signed else None
        with self._lock:
            answered = UNKNOWN if endpoint is None else self._answer(name, endpoint, webhook_id, signed)
            self._received.append(
                Received(
                    endpoint=name,
                    webhook_id=webhook_id,
                    body=body,
                    answered=answered,
                    signed=signed,
                    event_type=str(payload["type"]) if signed and "type" in payload else None,
                    payment_intent_id=(
                        str(data["paymentIntentId"])
                        if isinstance(data, dict) and "paymentIntentId" in data
                        else None
                    ),
                )
            )
            self._last = self._clock()
        return answered

    def _answer(self, name: str, endpoint: _Endpoint, webhook_id: str, signed: bool) -> int:
        came = endpoint.came[webhook_id]
        endpoint.came[webhook_id] += 1
        if not signed:
            return UNSIGNED
        draw = random.Random(f"{self.seed}:{name}:{webhook_id}:{came}").random()
        if endpoint.refused[webhook_id] < self.max_refusals and draw < endpoint.refusal_rate:
            endpoint.refused[webhook_id] += 1
            return REFUSED
        return ACCEPTED

    # -- serving -------------------------------------------------------------------------------------

    def start(self) -> WebhookReceiver:
        server = ThreadingHTTPServer((HOST, 0), _handler_for(self))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def _handler_for(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver offers

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            answered = receiver.receive(self.path, dict(self.headers.items()), body)
            try:
                self.send_response(answered)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:  # the sender gave up waiting (it will try again)
                return

    return Handler
