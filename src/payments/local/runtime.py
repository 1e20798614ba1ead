"""`payments local up`: the whole stack on one machine, stood up from `template.yaml`.

Order matters: the sandbox gateway and the emulator start first, the environment then points boto3 at
the emulator, every resource of the template is created, and only then does the front door accept
requests, so `/healthz` answering 200 means everything exists.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from payments.local.emulator import Emulator
from payments.local.frontdoor import FrontDoor, LocalEndpoint, LocalRequest
from payments.local.invoker import LocalLambda, route_emulator_invocations
from payments.local.stack import Deployed, StackBuilder, Template

STACK_NAME = "payments-local"
STAGE = "local"


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
    progress: Callable[[str], None] = lambda _message: None

    def __post_init__(self) -> None:
        self.invoker = LocalLambda()
        self.emulator = Emulator(host=self.host)
        self.gateway: Any = None
        self.front_door: FrontDoor | None = None
        self.deployed = Deployed()
        self._serving: threading.Thread | None = None
        self._ready = threading.Event()

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        from payments.gateway.server import SandboxGatewayServer  # noqa: PLC0415

        started = time.perf_counter()
        self.progress("starting the sandbox gateway")
        self.gateway = SandboxGatewayServer(self.host, 0, stall_seconds=self.gateway_stall_seconds)
        self.gateway.start()
        self.progress("starting the AWS emulator")
        self.emulator.start()
        os.environ.update(self.emulator.environment())
        route_emulator_invocations(self.invoker)

        self.progress(f"creating the resources of {self.template_path.name}")
        template = Template.load(
            self.template_path,
            stack_name=STACK_NAME,
            parameters={"Stage": STAGE, "GatewayBaseUrl": self.gateway.url},
        )
        self.deployed = StackBuilder(template, self._client).build()
        for spec in self.deployed.functions:
            self.invoker.register(spec)
        os.environ.update(self.deployed.environment)
        self._reset_containers()

        self.front_door = FrontDoor(
            self.invoker,
            self.deployed.routes,
            host=self.host,
            port=self.port,
            local_endpoints=self._local_endpoints(),
        )
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
        if self.front_door is not None:
            self.front_door.shutdown()
        self.emulator.stop()
        if self.gateway is not None:
            self.gateway.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        assert self.front_door is not None, "start() first"
        return self.front_door.url

    # -- internals ---------------------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        import boto3  # noqa: PLC0415

        return boto3.client(service, endpoint_url=self.emulator.endpoint)  # type: ignore[call-overload]

    @staticmethod
    def _reset_containers() -> None:
        """Handlers built clients from an older environment (tests start several stacks): rebuild."""
        from payments import bootstrap  # noqa: PLC0415

        bootstrap.reset()

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
                ]
            }

        return {"/healthz": healthz, "/_local/api-calls": api_calls, "/_local/functions": functions}
