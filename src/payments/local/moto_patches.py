"""Every change the local runtime makes to moto, applied here and nowhere else, for one moto version.

The patches reach into moto's internals (backends, response handlers, private helpers), which any
release may change without notice. They were written against `MOTO_VERSION`, the version
requirements.lock pins; on any other version the emulator refuses to start, naming both, rather
than run with patches that may silently no longer apply. To move to another moto: check each patch
below against it, then change `MOTO_VERSION` together with the pin.

Before the emulator serves (`apply`):
- `dynamodb_shim`: atomic conditional writes, TransactWriteItems without copying tables,
  TransactGetItems as a snapshot;
- `sqs_shim`: sends, receives and deletes that do not slow down with a queue's depth, FIFO
  deduplication by an index;
- `ses_shim`: the mailbox simulator's bounce, complaint and delivery events;
- `lambda_shim`: a function's dead-letter queue kept and answered;
- the dispatcher's list of moto's services, read once; state machines executed, not only recorded.

Once the invoker exists (`route_emulator_invocations`):
- `lambda_routing`: Lambda invocations run the real handlers in-process; SNS and S3 invoke
  asynchronously, as AWS does.

Each patch is applied once per process (moto's backends are per process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from payments.local.invoker import LocalLambda

MOTO_VERSION: Final = "5.2.5"


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

    from payments.local import dynamodb_shim, lambda_shim, ses_shim, sqs_shim  # noqa: PLC0415

    dynamodb_shim.install()
    sqs_shim.install()
    ses_shim.install()
    lambda_shim.install()
    _list_backends_once()
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
