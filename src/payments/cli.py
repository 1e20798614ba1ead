"""The `payments` command: `local up`, `demo`, `refunds import`, `dlq`, `suppressions`, `api-keys`,
`processors`, `bundle`, `package`.

Every `--help` shows the defaults, `--version` the installed package's version, and an AWS command
run without a region or against an endpoint that does not answer says so in one line (exit code 2;
an AWS refusal such as AccessDenied, 1), not in a traceback.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any


def _local_up(args: argparse.Namespace) -> int:
    from payments.local.log_lines import WholeLines  # noqa: PLC0415

    # Before any function's logger takes its stream: functions print from many threads at once.
    sys.stdout = WholeLines(sys.stdout)
    from payments.local.localstripe import LocalStripeError  # noqa: PLC0415
    from payments.local.runtime import LocalStack  # noqa: PLC0415 (keeps `payments --help` fast)

    def progress(message: str) -> None:
        print(f"  .. {message}", file=sys.stderr, flush=True)

    parameters = dict(item.split("=", 1) for item in args.parameter)
    # `kill -USR1 <pid>` prints every thread's stack: what a stuck local stack is waiting on.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    stack = LocalStack(
        host=args.host,
        port=args.port,
        parameters=parameters,
        progress=progress,
        progress_out=sys.stderr,
        processor=args.processor,
    )
    try:
        stack.start()
    except (OSError, LocalStripeError) as error:
        print(f"payments local up: cannot start: {error}", file=sys.stderr)
        stack.stop()
        return 1
    except BaseException:
        stack.stop()  # what it started already (localstripe is a process of its own) stops with it
        raise
    print("payments local stack is up", flush=True)
    print(f"  API:       {stack.api_url}", flush=True)
    print(f"  API key:   {stack.api_key}   (Authorization: Bearer <key>, on every /v1 route)", flush=True)
    print(f"  Health:    {stack.api_url}/healthz", flush=True)
    print(f"  Console:   {stack.api_url}/console", flush=True)
    print(
        f"  AWS:       {stack.emulator.endpoint}   (aws --endpoint-url {stack.emulator.endpoint} ...)",
        flush=True,
    )
    print(f"  Gateway:   {stack.gateway.url}   (sandbox processor)", flush=True)
    if stack.stripe_url is not None:
        print(f"  Stripe: {stack.stripe_url}", flush=True)  # exactly `Stripe: <url>` (CONTRACT.md)
    print("Ctrl-C stops it.", flush=True)

    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    stopping.wait()
    print("stopping ...", file=sys.stderr, flush=True)
    stack.stop()
    print("stopped", file=sys.stderr, flush=True)
    return 0


def _parameter(text: str) -> str:
    if "=" not in text or not text.split("=", 1)[0]:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return text


def _demo(args: argparse.Namespace) -> int:
    from payments.demo import run_demo  # noqa: PLC0415

    return run_demo(args.api)


def _refunds_import(args: argparse.Namespace) -> int:
    from payments.operators import import_refunds  # noqa: PLC0415

    if not args.file.is_file():
        print(f"payments refunds import: no file {args.file}", file=sys.stderr)
        return 2
    return import_refunds(args.api.rstrip("/"), args.file)


def _dlq(args: argparse.Namespace) -> int:
    from payments.operators import dlq_redrive, dlq_show  # noqa: PLC0415

    return dlq_show(args.queue) if args.action == "show" else dlq_redrive(args.queue)


def _aws_problem(error: Exception) -> tuple[str, int] | None:
    """The one line an operator needs, and the exit code, for an AWS problem: 2 for the set-up (no
    region, no credentials, nothing at the endpoint), 1 for a refusal (AccessDenied, ...); None for
    anything else. botocore is only looked at if a command loaded it."""
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is None:
        return None
    if isinstance(error, botocore.NoRegionError):
        return "no AWS region: set AWS_DEFAULT_REGION, or a region in your AWS profile (AWS_PROFILE)", 2
    if isinstance(error, botocore.NoCredentialsError):
        return "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", 2
    if isinstance(error, botocore.EndpointConnectionError):
        endpoint = error.kwargs.get("endpoint_url", "the AWS endpoint")
        return (
            f"cannot reach {endpoint}: is the stack up? (locally AWS_ENDPOINT_URL is the AWS endpoint"
            " `payments local up` prints)"
        ), 2
    if isinstance(error, botocore.ClientError):
        details = error.response.get("Error", {})
        return f"AWS refused: {details.get('Code', 'error')}: {details.get('Message', '')}".rstrip(": "), 1
    return None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("payments")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class _DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default in its help, but for the empty ones (a flag left off, nothing repeated):
    "(default: False)" or "(default: [])" would say nothing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if _empty(action.default):
            return action.help
        return super()._get_help_string(action)


def _empty(default: object) -> bool:
    """None, False, "" or []: by identity and type, so a default of 0 is still shown."""
    return default is None or default is False or default in ("", [])


class _Parser(argparse.ArgumentParser):
    """Every command's and subcommand's parser shows the defaults (subparsers take their parent's class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsShown)
        super().__init__(*args, **kwargs)


def _suppressions(args: argparse.Namespace) -> int:
    from payments.operators import suppressions  # noqa: PLC0415

    return suppressions(args.action, args.address, table=args.table)


def _bundle(args: argparse.Namespace) -> int:
    from payments.delivery.build import build, report  # noqa: PLC0415
    from payments.local.cfn_yaml import load_template  # noqa: PLC0415

    root = Path(args.root).resolve()
    manifest = build(
        load_template(root / "template.yaml"),
        root=root,
        out=Path(args.out),
        only=set(args.only) or None,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print("\n".join(report(manifest)))
    return 0


def _package(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from payments.delivery.package import PackageError, package  # noqa: PLC0415
    from payments.local.cfn_yaml import load_template  # noqa: PLC0415
    from payments.operators import aws_client  # noqa: PLC0415

    root = Path(args.root).resolve()
    try:
        packaged, counts = package(
            load_template(root / "template.yaml"),
            root=root,
            bundles=Path(args.bundles),
            s3=aws_client("s3"),
            bucket=args.bucket,
            prefix=args.prefix,
        )
    except PackageError as error:
        print(f"payments package: {error}", file=sys.stderr)
        return 2
    Path(args.output_template).write_text(json.dumps(packaged, indent=2) + "\n")
    print(
        f"{args.output_template}: {counts['uploaded']} uploaded, {counts['reused']} already in s3://{args.bucket}"
    )
    return 0


def _api_keys(args: argparse.Namespace) -> int:
    from payments.operators import api_keys  # noqa: PLC0415

    merchant = None if getattr(args, "platform", False) else args.merchant
    return api_keys(args.action, table=args.table, merchant=merchant, stage=args.stage, key=args.key)


def _add_api_keys_commands(commands: argparse._SubParsersAction[Any]) -> None:
    keys = commands.add_parser("api-keys", help="merchants' API keys (AWS_ENDPOINT_URL locally)")
    keys_commands = keys.add_subparsers(dest="api_keys_command", required=True)
    create = keys_commands.add_parser("create", help="make a key and print it once")
    acts_for = create.add_mutually_exclusive_group(required=True)
    acts_for.add_argument("--merchant", help="the one merchant the key acts for (its servers' key)")
    acts_for.add_argument(
        "--platform",
        action="store_true",
        help="a platform key: acts for any merchant a request names (the operator's own servers)",
    )
    create.add_argument("--stage", default="local", help="the stage, in the key's prefix (sk_<stage>_...)")
    revoke = keys_commands.add_parser("revoke", help="stop a key working (by the key or its id)")
    revoke.add_argument("key", help="the key, or its id as `create` printed it (sk_<stage>_…abcd)")
    for command in (create, revoke):
        command.add_argument("--table", default="payments-api-keys-local", help="the API keys' table")
    create.set_defaults(run=_api_keys, action="create", key="")
    revoke.set_defaults(run=_api_keys, action="revoke", merchant="", stage="")


def _processors(args: argparse.Namespace) -> int:
    from payments import processor_commands  # noqa: PLC0415

    if args.action == "show":
        return processor_commands.show(args.merchant, stage=args.stage, as_json=args.json)
    if args.action == "set":
        return processor_commands.set_rules(args.merchant, args.rule, stage=args.stage)
    if args.action == "clear":
        return processor_commands.clear_rules(args.merchant, stage=args.stage)
    return processor_commands.set_key(args.merchant, processor=args.processor, stage=args.stage)


def _add_processors_commands(commands: argparse._SubParsersAction[Any]) -> None:
    processors = commands.add_parser(
        "processors", help="each merchant's processor rules and Stripe key (AWS_ENDPOINT_URL locally)"
    )
    processors_commands = processors.add_subparsers(dest="processors_command", required=True)
    show = processors_commands.add_parser("show", help="a merchant's rules and which key secrets it has")
    show.add_argument("--json", action="store_true", help="one JSON object, for a program")
    rules = processors_commands.add_parser(
        "set", help="replace a merchant's rules: the first that matches a payment chooses its processor"
    )
    rules.add_argument(
        "--rule",
        action="append",
        required=True,
        metavar="PROCESSOR[:CURRENCIES[:MIN[:MAX]]]",
        help="repeatable, in order; CURRENCIES comma-separated ISO codes; MIN and MAX in minor units,"
        " inclusive, and only with CURRENCIES; e.g. stripe:USD,EUR:0:500000, then sandbox",
    )
    clear = processors_commands.add_parser(
        "clear", help="drop a merchant's rules: its payments go to the stack's default processor"
    )
    key = processors_commands.add_parser(
        "set-key", help="the merchant's own processor key, read from stdin (never printed)"
    )
    key.add_argument("--processor", choices=("stripe",), default="stripe", help="whose key it is")
    for name, command in (("show", show), ("set", rules), ("clear", clear), ("set-key", key)):
        command.add_argument("--merchant", required=True, help="the merchant's id")
        command.add_argument(
            "--stage",
            default="local",
            help="the stack's stage: names the rules' table (payment-merchant-processors-<stage>) and the"
            " key secrets (payments/stripe-api-key-<stage>[/<merchant>])",
        )
        command.set_defaults(run=_processors, action=name)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="payments", description="A serverless payments stack for AWS.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="run the stack on this machine")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    up = local_commands.add_parser("up", help="bring the whole stack up and serve until Ctrl-C")
    up.add_argument("--host", default="127.0.0.1", help="the address the API, console and emulator listen on")
    up.add_argument("--port", type=int, default=8080, help="the API's port (0 picks a free one)")
    up.add_argument(
        "--parameter",
        action="append",
        default=[],
        type=_parameter,
        metavar="NAME=VALUE",
        help="override a template parameter (repeatable), e.g. StepUpTimeoutSeconds=30",
    )
    up.add_argument(
        "--processor",
        choices=("sandbox", "stripe"),
        default="sandbox",
        help="the processor of every merchant without one: the sandbox gateway, or Stripe (starts"
        " localstripe, the Stripe emulator, beside the stack and prints its URL)",
    )
    up.set_defaults(run=_local_up)

    demo = commands.add_parser("demo", help="push payments through a running stack, step by step")
    demo.add_argument("--api", default="http://127.0.0.1:8080", help="the API's base URL")
    demo.set_defaults(run=_demo)

    refunds = commands.add_parser("refunds", help="refunds in bulk")
    refunds_commands = refunds.add_subparsers(dest="refunds_command", required=True)
    refunds_import = refunds_commands.add_parser(
        "import", help="send a refund file (merchantId,paymentIntentId,amount,reason) and follow it"
    )
    refunds_import.add_argument("file", type=Path)
    refunds_import.add_argument("--api", default="http://127.0.0.1:8080", help="the API's base URL")
    refunds_import.set_defaults(run=_refunds_import)

    dlq = commands.add_parser(
        "dlq", help="what waits in the dead-letter queues, and its redrive (AWS_ENDPOINT_URL locally)"
    )
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    show = dlq_commands.add_parser("show", help="every dead-letter queue and its depth, or what waits in one")
    show.add_argument("--queue", help="one dead-letter queue's name: also list what waits in it")
    redrive = dlq_commands.add_parser(
        "redrive", help="send a dead-letter queue's messages back: to its queue, or to its function"
    )
    redrive.add_argument(
        "--queue", required=True, help="the dead-letter queue's name (`payments dlq show` lists them)"
    )
    for name, command in (("show", show), ("redrive", redrive)):
        command.set_defaults(run=_dlq, action=name)

    listed = commands.add_parser(
        "suppressions", help="addresses receipts are not sent to (AWS_ENDPOINT_URL locally)"
    )
    listed_commands = listed.add_subparsers(dest="suppressions_command", required=True)
    for name, helped in (("show", "an address's bounces and complaints"), ("lift", "send it receipts again")):
        command = listed_commands.add_parser(name, help=helped)
        command.add_argument("address")
        command.add_argument(
            "--table", default="receipt-suppressions-local", help="the suppression list's table"
        )
        command.set_defaults(run=_suppressions, action=name)

    _add_api_keys_commands(commands)
    _add_processors_commands(commands)

    bundle = commands.add_parser(
        "bundle", help="build every function's and layer's zip for python3.12 / arm64 (reproducibly)"
    )
    bundle.add_argument("--out", default="build/bundles", help="where the zips and manifest.json go")
    bundle.add_argument("--root", default=".", help="the project (template.yaml, src/, requirements.lock)")
    bundle.add_argument("--only", action="append", default=[], metavar="LOGICAL_ID", help="just these")
    bundle.set_defaults(run=_bundle)

    packaging = commands.add_parser(
        "package", help="upload the bundles and write the template that points at them"
    )
    packaging.add_argument("--bucket", required=True, help="the artifact bucket (SSE-KMS)")
    packaging.add_argument("--prefix", default="", help="a key prefix, e.g. payments/")
    packaging.add_argument("--bundles", default="build/bundles", help="what `payments bundle` wrote")
    packaging.add_argument("--output-template", default="build/packaged.json", help="the packaged template")
    packaging.add_argument("--root", default=".", help="the project (template.yaml, statemachines/)")
    packaging.set_defaults(run=_package)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except BrokenPipeError:
        # The reader went away (`payments api-keys create | head -1`): what it wanted it has. Point
        # stdout at nothing, so the interpreter's flush at exit does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        problem = _aws_problem(error)
        if problem is None:
            raise
        line, exit_code = problem
        print(f"payments {args.command}: {line}", file=sys.stderr)
        return exit_code
    return code


if __name__ == "__main__":
    sys.exit(main())
