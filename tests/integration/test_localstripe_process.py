"""localstripe as `payments local up --processor stripe` runs it: a process of its own on loopback, that
answers the Stripe API with a test key, starts empty, stops cleanly, and says in one line why it did
not start."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from payments.local.localstripe import SECRET_KEY, LocalStripe, LocalStripeError
from payments.local.runtime import LocalStack


def _call(
    stripe: LocalStripe,
    method: str,
    path: str,
    form: dict[str, str] | None = None,
    *,
    key: str | None = SECRET_KEY,  # None: no Authorization header
) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", stripe.port, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    try:
        connection.request(method, path, body=None if form is None else urlencode(form), headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def _accepts(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        return probe.connect_ex((host, port)) == 0


@pytest.fixture
def stripe() -> Iterator[LocalStripe]:
    with LocalStripe() as started:
        yield started


def test_it_answers_the_stripe_api_with_a_test_key(stripe: LocalStripe) -> None:
    assert stripe.url == f"http://127.0.0.1:{stripe.port}"
    assert stripe.secret_key.startswith("sk_test_")

    status, created = _call(stripe, "POST", "/v1/customers", {"email": "a@example.com"})
    assert (status, created["object"], created["email"]) == (200, "customer", "a@example.com")
    status, listed = _call(stripe, "GET", "/v1/customers", key="sk_test_any_other")
    assert status == 200
    assert [customer["id"] for customer in listed["data"]] == [created["id"]]
    assert _call(stripe, "GET", "/v1/customers", key=None)[0] == 401  # no key, no answer


def test_it_listens_on_loopback_only(stripe: LocalStripe) -> None:
    assert _accepts("127.0.0.1", stripe.port)
    if socket.has_ipv6:  # localstripe's own start listens on `::`, which ::1 would reach
        with contextlib.suppress(OSError):  # no IPv6 socket at all on this machine
            assert not _accepts("::1", stripe.port)


def test_its_output_goes_to_its_log_not_ours(stripe: LocalStripe, capfd: pytest.CaptureFixture[str]) -> None:
    _call(stripe, "GET", "/v1/customers?limit=3")

    assert stripe.log_path.name == "localstripe.log"
    deadline = time.monotonic() + 5
    while "/v1/customers?limit=3" not in stripe.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "GET /v1/customers?limit=3" in stripe.log_path.read_text()  # its access log, as it happens
    printed = capfd.readouterr()
    assert "/v1/customers" not in printed.out + printed.err


def test_each_run_starts_empty() -> None:
    with LocalStripe() as first:
        assert _call(first, "POST", "/v1/customers", {"email": "b@example.com"})[0] == 200
    with LocalStripe() as second:
        status, listed = _call(second, "GET", "/v1/customers")
    assert (status, listed["data"]) == (200, [])


def test_it_stops_cleanly() -> None:
    stripe = LocalStripe().start()
    process, directory = stripe._process, stripe.log_path.parent
    assert process is not None

    stripe.stop()

    assert process.returncode == 0  # it took SIGTERM and shut down, not killed
    assert not stripe.running
    assert not _accepts("127.0.0.1", stripe.port)
    assert not directory.exists()
    stripe.stop()  # twice is fine


def test_a_port_already_taken_is_said_in_one_line() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        stripe = LocalStripe(port=port)

        with pytest.raises(LocalStripeError) as refused:
            stripe.start()

    message = str(refused.value)
    assert message.startswith(f"localstripe cannot listen on 127.0.0.1:{port}: ")
    assert "in use" in message.lower()
    assert "\n" not in message
    assert not stripe.running


def _fake_localstripe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: str) -> None:
    """A `localstripe` package that comes first on the child's path (this process keeps the real one)."""
    package = tmp_path / "fake" / "localstripe"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "server.py").write_text(server)
    monkeypatch.setenv("PYTHONPATH", str(package.parent))


def test_a_process_that_dies_before_answering_is_said_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_localstripe(tmp_path, monkeypatch, "raise RuntimeError('no emulator today')\n")
    stripe = LocalStripe()

    with pytest.raises(LocalStripeError) as died:
        stripe.start()

    message = str(died.value)
    assert message.startswith(f"localstripe exited with code 1 before answering on {stripe.url}: ")
    assert "RuntimeError: no emulator today" in message
    assert f"(its output: {stripe.log_path})" in message
    assert "\n" not in message
    assert "Traceback" in stripe.log_path.read_text()  # kept, for the whole story
    stripe.stop()
    assert stripe.log_path.exists()
    shutil.rmtree(stripe.log_path.parent)


def test_a_process_that_never_answers_is_stopped_and_said_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_localstripe(tmp_path, monkeypatch, "import time\ntime.sleep(600)\n")
    stripe = LocalStripe(ready_timeout=1)
    started = time.monotonic()

    with pytest.raises(LocalStripeError) as silent:
        stripe.start()

    assert time.monotonic() - started < 10
    assert str(silent.value) == (
        f"localstripe did not answer on {stripe.url} within 1 s (its output: {stripe.log_path})"
    )
    assert not stripe.running
    stripe.stop()
    shutil.rmtree(stripe.log_path.parent)


def test_it_exits_when_the_process_that_started_it_dies(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    parent = (
        "import os, sys\n"
        "from payments.local.localstripe import LocalStripe\n"
        "stripe = LocalStripe().start()\n"
        "open(sys.argv[1], 'w').write(f'{stripe._process.pid} {stripe.log_path.parent}')\n"
        "os._exit(0)\n"  # no stop(): as if it were killed
    )
    subprocess.run([sys.executable, "-c", parent, str(pid_file)], check=True, timeout=60)  # noqa: S603
    pid, directory = pid_file.read_text().split(" ", 1)
    child = int(pid)

    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
    shutil.rmtree(directory)


def _alive(pid: int) -> bool:
    """Whether the process still runs (it is not ours to wait for: its parent is gone)."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except ProcessLookupError:
        return False
    except OSError:  # no /proc here: it exists, so it runs
        return True
    return state != "Z"  # exited, not yet reaped


def test_the_local_stack_knows_its_processors() -> None:
    assert LocalStack(port=0).processor == "sandbox"
    assert LocalStack(port=0).stripe_url is None  # nothing started with the sandbox
    with pytest.raises(ValueError, match="processor must be one of sandbox, stripe"):
        LocalStack(port=0, processor="paypal")
