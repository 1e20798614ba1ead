"""`payments local up`: the whole stack on one machine, stood up from `template.yaml`.

Order matters: the sandbox gateway and the emulator start first, the environment then points boto3 at
the emulator, every resource of the template is created, and only then does the front door accept
requests, so `/healthz` answering 200 means everything exists.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from payments.dead_letters import dead_letter_queues, redrive
from payments.local.api_key import local_api_key
from payments.local.chaos import ChaosSettings
from payments.local.console_api import checkout_execution
from payments.local.custom_resources import create_custom_resource
from payments.local.deployed import Deployed
from payments.local.emulator import Emulator
from payments.local.event_sources import QueuePoller, StreamPoller, queue_depths
from payments.local.frontdoor import FrontDoor, LocalEndpoint, LocalRequest
from payments.local.invoker import LocalLambda, UnknownFunction
from payments.local.localstripe import LocalStripe
from payments.local.mailbox import sent_emails
from payments.local.moto_patches import route_emulator_invocations
from payments.local.stack import StackBuilder
from payments.local.template import Template
from payments.progress import Progress

if TYPE_CHECKING:
    from payments.gateway.server import RandomOutages

STACK_NAME = "payments-local"
DEFAULT_WEBHOOK_SECRET = "whsec_local_sandbox"  # noqa: S105 (the contract's documented local default)
STAGE = "local"
# The operator console: static files that call the API (and /_local), served at /console.
CONSOLE_DIRECTORY = Path(__file__).resolve().parents[1] / "console"
SETTLEMENT_REQUEST_FUNCTION = f"payments-request-settlement-{STAGE}"
# The processor of every merchant that has none: the sandbox gateway, or Stripe (localstripe, started
# beside the stack).
PROCESSORS = ("sandbox", "stripe")


def find_template() -> Path:
    """template.yaml of the checkout this code runs from (or of the current directory)."""
    for base in (Path.cwd(), *Path(__file__).resolve().parents):
        candidate = base / "template.yaml"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("template.yaml not found: run from the project's root")


@dataclass
class LocalStack:
    host: str = "127.0.0.1"
    port: int = 8080
    template_path: Path = field(default_factory=find_template)
    gateway_stall_seconds: float = 1.5
    parameters: Mapping[str, str] = field(default_factory=dict)  # template parameter overrides
    progress: Callable[[str], None] = lambda _message: None
    progress_out: TextIO | None = None  # where to draw the resources' progress bar (none if None)
    processor: str = "sandbox"  # one of PROCESSORS

    def __post_init__(self) -> None:
        if self.processor not in PROCESSORS:
            raise ValueError(f"processor must be one of {', '.join(PROCESSORS)}, not {self.processor!r}")
        self.stripe: LocalStripe | None = None  # localstripe, with --processor stripe
        self.invoker = LocalLambda()
        self.emulator = Emulator(host=self.host)
        self.gateway: Any = None
        self.front_door: FrontDoor | None = None
        self.deployed = Deployed()
        self._serving: threading.Thread | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self.notifications: list[Any] = []
        self.pollers: list[StreamPoller] = []
        self.queue_pollers: list[QueuePoller] = []
        self._clients: dict[str, Any] = {}
        self._chaos_lock = threading.Lock()  # one chaos change at a time (the outages thread)
        self._gateway_outages: RandomOutages | None = None

    def _dead_letter(self, queue_arn: str, body: str, attributes: dict[str, str]) -> None:
        sqs = self._client("sqs")
        queue_name = queue_arn.rsplit(":", 1)[-1]
        sqs.send_message(
            QueueUrl=sqs.get_queue_url(QueueName=queue_name)["QueueUrl"],
            MessageBody=body,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value or "-"}
                for name, value in attributes.items()
            },
        )

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        from payments.gateway.sandbox import SandboxGateway  # noqa: PLC0415
        from payments.gateway.server import SandboxGatewayServer  # noqa: PLC0415
        from payments.gateway.settlement_files import s3_settlement_sink  # noqa: PLC0415

        started = time.perf_counter()
        if self.processor == "stripe":
            # First, and waited for once the emulator is up: it starts while the rest does.
            self.progress("starting localstripe (the Stripe emulator)")
            self.stripe = LocalStripe().launch()
        self.progress("starting the sandbox gateway")
        sandbox = SandboxGateway(
            stall_seconds=self.gateway_stall_seconds,
            settlement_sink=s3_settlement_sink(lambda: self._client("s3")),
        )
        self.gateway = SandboxGatewayServer(self.host, 0, sandbox=sandbox)
        self.gateway.start()
        self.progress("starting the AWS emulator")
        self.emulator.start()
        os.environ.update(self.emulator.environment())
        route_emulator_invocations(self.invoker)
        processor_parameters: dict[str, str] = {}
        if self.stripe is not None:  # before the front door binds: a failure here leaves nothing serving
            self.stripe.wait_ready()
            processor_parameters = {
                "DefaultProcessor": "stripe",
                "StripeApiBase": self.stripe.url,
                "StripeSecretKey": self.stripe.secret_key,
                "StripeWebhookSigningSecret": "whsec_local_stripe",  # tests sign Stripe's events with it
            }

        # The front door binds first (answering 503 on /healthz), so its URL can be handed to the
        # stack: the ops chat webhook is its /_local/notifications sink.
        self.front_door = FrontDoor(
            self.invoker,
            [],
            host=self.host,
            port=self.port,
            local_endpoints=self._local_endpoints(),
            static={"/console": CONSOLE_DIRECTORY},
        )
        self.progress(f"creating the resources of {self.template_path.name}")
        template = Template.load(
            self.template_path,
            stack_name=STACK_NAME,
            parameters={
                "Stage": STAGE,
                "GatewayBaseUrl": self.gateway.url,
                "WebhookAllowLoopback": "true",  # merchant webhooks to http://127.0.0.1 receivers
                "OpsWebhookUrl": f"{self.front_door.url}/_local/notifications",
                "CustomerSuccessWebhookUrl": f"{self.front_door.url}/_local/notifications",
                "GatewayWebhookSecret": os.environ.get("GATEWAY_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET),
                **processor_parameters,
                **self.parameters,
            },
        )
        builder = StackBuilder(template, self._client, template_dir=self.template_path.parent)
        if self.progress_out is None:
            self.deployed = builder.build()
        else:
            bar = Progress(
                "  .. resources", len(template.resources), out=self.progress_out, every_seconds=2.0
            )
            self.deployed = builder.build(on_created=lambda done, _total, _id: bar.update(done))
            bar.finish()
        for spec in self.deployed.functions:
            self.invoker.register(spec)
        self.invoker.dead_letter_sink = self._dead_letter
        self._add_api_key()
        for resource in self.deployed.custom_resources:
            self.progress(f"creating {resource.logical_id} ({resource.resource_type})")
            create_custom_resource(resource, invoke=self.invoker.invoke, s3=self._client("s3"))
        self.front_door.set_routes(self.deployed.routes)
        for source in self.deployed.stream_sources:
            poller = StreamPoller(
                source, streams=self._client("dynamodbstreams"), invoke=self.invoker.deliver
            )
            poller.start()
            self.pollers.append(poller)
        for queue_source in self.deployed.queue_sources:
            queue_poller = QueuePoller(queue_source, sqs=self._client("sqs"), invoke=self.invoker.deliver)
            queue_poller.start()
            self.queue_pollers.append(queue_poller)
        self._serving = threading.Thread(target=self.front_door.serve_forever, name="front-door", daemon=True)
        self._serving.start()
        self._ready.set()
        self.progress(
            f"ready in {time.perf_counter() - started:.1f} s: "
            f"{len(self.deployed.resources)} resources, {len(self.deployed.routes)} routes"
        )
        return self

    def stop(self) -> None:
        self._ready.clear()
        for poller in self.pollers:
            poller.stop()
        for queue_poller in self.queue_pollers:
            queue_poller.stop()
        if self.front_door is not None and self._serving is not None:  # shutdown() waits for serving
            self.front_door.shutdown()
        self.emulator.stop()
        self._stop_gateway_outages()
        if self.gateway is not None:
            self.gateway.stop()
        if self.stripe is not None:
            self.stripe.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        assert self.front_door is not None, "start() first"
        return self.front_door.url

    @property
    def stripe_url(self) -> str | None:
        """localstripe's base URL with --processor stripe; None with the sandbox."""
        return None if self.stripe is None else self.stripe.url

    # -- internals ---------------------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        """One client per service (building one takes tens of milliseconds), made on first use."""
        with self._lock:
            if service not in self._clients:
                import boto3  # noqa: PLC0415

                self._clients[service] = boto3.client(  # type: ignore[call-overload]
                    service, endpoint_url=self.emulator.endpoint
                )
            return self._clients[service]

    def _local_endpoints(self) -> Mapping[str, LocalEndpoint]:
        def healthz(_request: LocalRequest) -> tuple[int, Any]:
            if self._ready.is_set():
                return 200, {"status": "ok"}
            return 503, {"status": "starting"}

        def api_calls(_request: LocalRequest) -> tuple[int, Any]:
            return 200, {"total": self.emulator.calls.total(), "byOperation": self.emulator.calls.snapshot()}

        def functions(_request: LocalRequest) -> tuple[int, Any]:
            return 200, {
                "data": [
                    {"logicalId": spec.logical_id, "name": spec.name, "handler": spec.handler}
                    for spec in self.deployed.functions
                ],
                # Asynchronous invocations (SNS deliveries) queued or running, and those dead-lettered
                "async": {"pending": self.invoker.async_pending, "deadLettered": self.invoker.dead_lettered},
            }

        def faults(request: LocalRequest) -> tuple[int, Any]:
            if request.method == "DELETE":
                self.invoker.clear_faults()
                return 200, {"faults": {}}
            if request.method == "POST":
                problem = self._inject(request.body)
                if problem:
                    return 400, {"error": {"code": "invalid_request", "message": problem}}
            return 200, {"faults": self.invoker.faults()}

        def emails(_request: LocalRequest) -> tuple[int, Any]:
            return 200, {"data": sent_emails(self._client("ses"), stage=STAGE)}

        def notifications(request: LocalRequest) -> tuple[int, Any]:
            with self._lock:
                if request.method == "POST":  # the chat webhook sink
                    self.notifications.append(json.loads(request.body or b"{}"))
                    return 200, {"ok": True}
                return 200, {"data": list(self.notifications)}

        def event_sources(_request: LocalRequest) -> tuple[int, Any]:
            return 200, {
                "data": [poller.status() for poller in self.pollers],
                "queues": [poller.status() for poller in self.queue_pollers],
            }

        def queues(_request: LocalRequest) -> tuple[int, Any]:
            # Each dead-letter queue with what its redrive sends messages back to: queues or functions.
            returns = {queue.name: queue.returns_to for queue in dead_letter_queues(self._client)}
            depths = queue_depths(self._client("sqs"))
            return 200, {
                "data": [{**depth, "redrivesTo": returns.get(depth["name"], [])} for depth in depths]
            }

        return {
            "/healthz": healthz,
            "/_local/event-sources": event_sources,
            "/_local/queues": queues,
            "/_local/queues/redrive": self._redrive,
            "/_local/executions/": self._execution,
            "/_local/settlements/emit": self._emit_settlement,
            "/_local/api-calls": api_calls,
            "/_local/functions": functions,
            "/_local/faults": faults,
            "/_local/chaos": self._chaos,
            "/_local/emails": emails,
            "/_local/notifications": notifications,
        }

    def _redrive(self, request: LocalRequest) -> tuple[int, Any]:
        """POST {"queue": "<dead-letter queue>"}: its messages back to the queue they came from, or
        to the function that gave up on them (`payments.dead_letters`)."""
        if request.method != "POST":
            return 405, {"error": {"code": "method_not_allowed", "message": "POST to redrive"}}
        queue = str(json.loads(request.body or b"{}").get("queue", ""))
        try:
            done = redrive(self._client, queue)
        except LookupError as error:
            return 409, {"error": {"code": "invalid_request", "message": str(error)}}
        return 200, {"queue": queue, "movedTo": ", ".join(done.to), "moved": done.moved, "left": done.left}

    def _execution(self, request: LocalRequest) -> tuple[int, Any]:
        """GET /_local/executions/<trackingId>: the checkout's execution drawn on its workflow."""
        tracking_id = request.path.rsplit("/", 1)[-1]
        try:
            return 200, checkout_execution(
                tracking_id,
                dynamodb=self._client("dynamodb"),
                stepfunctions=self._client("stepfunctions"),
                checkouts_table=self.deployed.resources["CheckoutsTable"],
            )
        except LookupError as error:
            return 404, {"error": {"code": "not_found", "message": str(error)}}

    def _emit_settlement(self, request: LocalRequest) -> tuple[int, Any]:
        """What the hourly schedule does, now: the gateway delivers its settlement file."""
        if request.method != "POST":
            return 405, {"error": {"code": "method_not_allowed", "message": "POST to emit a file"}}
        result = self.invoker.invoke(SETTLEMENT_REQUEST_FUNCTION, {"id": str(uuid.uuid4())})
        if result.error:
            return 502, {"error": {"code": "upstream_unavailable", "message": result.payload["errorMessage"]}}
        return 200, {"key": result.payload["key"], "rows": result.payload["rows"]}

    @property
    def api_key(self) -> str:
        return local_api_key()

    def _add_api_key(self) -> None:
        """What an operator does in AWS with `payments api-keys create --platform`: the local stack's key
        acts for any merchant a request names, so every client written before merchant keys works."""
        from payments.adapters.dynamodb_api_keys import DynamoDBApiKeys  # noqa: PLC0415

        keys = DynamoDBApiKeys(self._client("dynamodb"), table=self.deployed.resources["ApiKeysTable"])
        keys.add(self.api_key, merchant_id=None, now=datetime.now(UTC))

    def _chaos(self, request: LocalRequest) -> tuple[int, Any]:
        """POST `{seed, crashRate?, asyncFaults?, gatewayFaultRate?, gatewayOutageRate?}` turns the fault
        campaign's faults on (functions crashing, async messages duplicated or reordered, gateway calls
        failing, the gateway's port refusing connections for a while); DELETE turns them off (the
        gateway up); GET shows the settings and what was injected so far (`gateway` and
        `gatewayOutages` count since the stack started)."""
        if request.method in ("POST", "DELETE"):
            try:
                wanted = json.loads(request.body or b"{}") if request.method == "POST" else {}
                settings = ChaosSettings(
                    seed=int(wanted.get("seed", 0)),
                    crash_rate=float(wanted.get("crashRate", 0)),
                    async_faults=bool(wanted.get("asyncFaults", False)),
                )
                outage_rate = float(wanted.get("gatewayOutageRate", 0))
                if not 0 <= outage_rate <= 1:  # checked before anything changes
                    raise ValueError("the gateway's outage rate is a number from 0 to 1")
                self.gateway.sandbox.set_faults(float(wanted.get("gatewayFaultRate", 0)), settings.seed)
                self.invoker.chaos.configure(settings)
                self._start_gateway_outages(outage_rate, settings.seed)
            except (ValueError, TypeError, AttributeError) as error:
                return 400, {"error": {"code": "invalid_request", "message": f"bad chaos settings: {error}"}}
        outages = self._gateway_outages
        return 200, self.invoker.chaos.status() | {
            "gateway": self.gateway.sandbox.stats().as_dict(),
            "gatewayOutageRate": 0.0 if outages is None else outages.rate,
            "gatewayOutages": self.gateway.outage_stats().as_dict(),
        }

    def _start_gateway_outages(self, rate: float, seed: int) -> None:
        """Replace the outages thread (none at rate 0); the gateway is up in between."""
        from payments.gateway.server import RandomOutages  # noqa: PLC0415

        with self._chaos_lock:
            self._stop_gateway_outages()
            if rate > 0:
                self._gateway_outages = RandomOutages(self.gateway, rate=rate, seed=seed).start()

    def _stop_gateway_outages(self) -> None:
        outages, self._gateway_outages = self._gateway_outages, None
        if outages is not None:
            outages.stop()  # leaves the gateway up

    def _inject(self, body: bytes) -> str | None:
        """`{function, error?, count}`: the next `count` invocations of that function fail."""
        try:
            request = json.loads(body or b"{}")
            count = request.get("count", 1)
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                return "count must be an integer of at least 1"
            self.invoker.inject_fault(
                str(request["function"]), error=str(request.get("error") or "InjectedFault"), count=count
            )
        except (ValueError, KeyError, AttributeError, UnknownFunction) as error:
            return f"expected {{function, error?, count}}: {error}"
        return None
