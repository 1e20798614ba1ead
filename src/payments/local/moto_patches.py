"""Every change the local runtime makes to moto, applied here and nowhere else, for one moto version.

The patches reach into moto's internals (backends, response handlers, private helpers), which any
release may change without notice. They were written against `MOTO_VERSION`, the version
requirements.lock pins; on any other version the emulator refuses to start, naming both, rather
than run with patches that may silently no longer apply. To move to another moto: check each patch
below against it, then change `MOTO_VERSION` together with the pin.

Before the emulator serves (`apply`):
- `dynamodb_shim`: atomic conditional writes, TransactWriteItems without copying tables,
  TransactGetItems as a snapshot; Query and Scan that read what they return, not the table;
- `streams_shim`: stream iterators that keep nothing, records kept compact and trimmed after 24 hours;
- `sqs_shim`: sends, receives and deletes that do not slow down with a queue's depth, FIFO
  deduplication by an index;
- `ses_shim`: the mailbox simulator's bounce, complaint and delivery events;
- `lambda_shim`: a function's dead-letter queue kept and answered;
- the dispatcher's list of moto's services, read once; state machines executed, not only recorded;
- moto's per-request bookkeeping: the list of a response class's methods, which it rebuilt with
  `inspect.getmembers` on every call (about 1.7 ms per authorization), read once per class; its
  conversion of names to snake case (every action's, and every queue attribute's each time an SQS send
  is checked: a fifth of the stack's CPU while a refund file was queued) remembered; its Flask
  applications out of debug mode, in which Flask builds a new class for every form-encoded request
  (about 0.8 ms per authorization) and lets a failing request's exception escape instead of answering 500;
- SNS topics keep the last 100 messages published to them, not every one (a topic in AWS keeps none;
  the emulator kept each for its inspection API, 1.6 MB per 1,000 refunds);
- the workflow engine's clients (it built a new boto3 client, about 2.6 ms, for every task) made once
  per service and region, and reused as Step Functions reuses its connections.

Once the invoker exists (`route_emulator_invocations`):
- `lambda_routing`: Lambda invocations run the real handlers in-process; SNS and S3 invoke
  asynchronously, as AWS does.

Each patch is applied once per process (moto's backends are per process).
"""

from __future__ import annotations

import collections
import functools
import sys
import threading
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from payments.local.invoker import LocalLambda

MOTO_VERSION: Final = "5.2.5"
# The workflow engine's modules that make clients (`boto_client_for`), under its `state.exec` package.
_WORKFLOW_CLIENT_USERS: Final = (
    "state_task.lambda_eval_utils",
    *(
        f"state_task.service.state_task_service_{name}"
        for name in (
            "aws_sdk",
            "batch",
            "dynamodb",
            "ecs",
            "events",
            "glue",
            "sfn",
            "sns",
            "sqs",
            "unsupported",
        )
    ),
    "state_map.result_writer.resource_eval.resource_eval_s3",
    "state_map.item_reader.eval.resource_eval_s3",
)


class UnsupportedMoto(RuntimeError):
    """The installed moto is not the version the patches were written for."""


def check_moto_version(installed: str | None = None) -> None:
    """Refuse any moto but `MOTO_VERSION` (`installed` is the one imported, unless given)."""
    if installed is None:
        import moto  # noqa: PLC0415 (moto is heavy; local only)

        installed = str(moto.__version__)
    if installed != MOTO_VERSION:
        raise UnsupportedMoto(
            f"the local runtime's patches of moto were written for moto {MOTO_VERSION}, "
            f"but moto {installed} is installed: install moto=={MOTO_VERSION} (requirements.lock), "
            f"or check each patch in payments.local.moto_patches against {installed} and update MOTO_VERSION"
        )


def apply() -> None:
    """Everything the emulator needs patched before it serves a request."""
    check_moto_version()
    from moto.core.config import default_user_config  # noqa: PLC0415

    from payments.local import dynamodb_shim, lambda_shim, ses_shim, sqs_shim, streams_shim  # noqa: PLC0415

    dynamodb_shim.install()
    streams_shim.install()
    sqs_shim.install()
    ses_shim.install()
    lambda_shim.install()
    _list_backends_once()
    _request_bookkeeping_once()
    _published_messages_not_kept()
    _workflow_clients_reused()
    # State machines run their ASL (moto only records them otherwise).
    default_user_config["stepfunctions"]["execute_state_machine"] = True


def route_emulator_invocations(invoker: LocalLambda) -> None:
    """Make the emulator's Lambda run our handlers instead of a container (or a canned echo)."""
    check_moto_version()
    from payments.local import lambda_routing  # noqa: PLC0415

    lambda_routing.install(invoker)


def _list_backends_once() -> None:
    """The emulator's dispatcher lists its own package directory (a stat per service, about 170) on
    every request to find the service; the directory does not change, so it is listed once."""
    from moto import backends  # noqa: PLC0415

    if getattr(backends, "_payments_listed", False):
        return
    modules = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    backends._payments_listed = True  # type: ignore[attr-defined]


def _request_bookkeeping_once() -> None:
    """What moto works out again for every request although it never changes between requests."""
    from moto.core import responses  # noqa: PLC0415
    from moto.moto_server import werkzeug_app  # noqa: PLC0415

    if getattr(responses, "_payments_once", False):
        return
    from moto.core import utils  # noqa: PLC0415

    # A pure function of a name; modules that imported it by name get the remembered one too.
    snake_case = utils.camelcase_to_underscores
    remembered = functools.lru_cache(maxsize=4096)(snake_case)
    utils.camelcase_to_underscores = remembered
    for module in [m for name, m in sys.modules.items() if name.startswith("moto.")]:
        if getattr(module, "camelcase_to_underscores", None) is snake_case:
            setattr(module, "camelcase_to_underscores", remembered)  # noqa: B010
    names = responses.method_names_from_class  # type: ignore[attr-defined]
    responses.method_names_from_class = functools.cache(  # type: ignore[attr-defined,assignment]
        lambda clazz: frozenset(names(clazz))
    )
    create_backend_app = werkzeug_app.create_backend_app

    def without_debug(service: Any) -> Any:
        app = create_backend_app(service)
        app.debug = False
        return app

    werkzeug_app.create_backend_app = without_debug
    responses._payments_once = True  # type: ignore[attr-defined]


def _published_messages_not_kept() -> None:
    """A topic delivers a message and forgets it; the emulator's list of every message sent grew with
    every event the stack published. The latest few stay for whoever inspects a topic locally."""
    from moto.sns.models import Topic  # noqa: PLC0415

    if getattr(Topic, "_payments_bounded", False):
        return
    init = Topic.__init__

    def bounded(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.sent_notifications = collections.deque(maxlen=100)

    Topic.__init__ = bounded  # type: ignore[method-assign]
    Topic._payments_bounded = True  # type: ignore[attr-defined]


def _workflow_clients_reused() -> None:
    """Each task state of a running workflow asked for a new client; a client is thread-safe, so one per
    (region, service, emulator port, role) serves them all."""
    import importlib  # noqa: PLC0415

    from moto.settings import moto_server_port  # noqa: PLC0415
    from moto.stepfunctions.parser.asl.utils import boto_client  # noqa: PLC0415

    if getattr(boto_client, "_payments_reused", False):
        return
    made = boto_client.boto_client_for
    clients: dict[tuple[str, str, str, str | None], Any] = {}
    lock = threading.Lock()

    def reused(region: str, service: str, state_credentials: Any = None) -> Any:
        # Every task state names the role it runs as; the engine's credentials are the same fixed
        # test keys whatever the role, so one client per role serves them all.
        role = getattr(state_credentials, "role_arn", None)
        key = (region, service, moto_server_port(), role)  # the port its endpoint names
        with lock:
            if key not in clients:
                clients[key] = made(region, service, state_credentials)
            return clients[key]

    boto_client.boto_client_for = reused
    boto_client._payments_reused = True  # type: ignore[attr-defined]
    for name in _WORKFLOW_CLIENT_USERS:  # each imported the function by name
        module = importlib.import_module(f"moto.stepfunctions.parser.asl.component.state.exec.{name}")
        module.boto_client_for = reused  # type: ignore[attr-defined]
