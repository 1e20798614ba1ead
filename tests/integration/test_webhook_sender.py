"""The webhook sender against real receivers on 127.0.0.1: what it sends, what it makes of each answer,
and what it refuses to do (follow a redirect, wait past its timeout, read a whole page, connect
anywhere but the address it checked)."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from payments.adapters.http_webhook_sender import MAX_ANSWER_BYTES, UrllibWebhookSender

HUGE = 10 * 1024 * 1024
HEADERS = {"content-type": "application/json", "webhook-id": "txn_1_capt"}
BODY = b'{"type":"payment.captured"}'


@dataclass
class Seen:
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    huge_written: int = 0
    server_names: list[str | None] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def handler_for(seen: Seen) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            del args

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            seen.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if self.path == "/hang":
                seen.release.wait(10)
                return
            if self.path == "/huge":
                self._huge()
                return
            route = self.path.split("?", 1)[0]
            status = {"/ok": 200, "/other": 200, "/error": 500, "/gone": 410, "/redirect": 302}[route]
            self.send_response(status)
            if status == 302:
                self.send_header("location", "/other")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def _huge(self) -> None:
            self.send_response(200)
            self.send_header("content-length", str(HUGE))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                while seen.huge_written < HUGE:
                    self.wfile.write(chunk)
                    seen.huge_written += len(chunk)
            except OSError:  # the sender hung up: what it read is all it wanted
                return

    return Receiver


@pytest.fixture
def seen() -> Seen:
    return Seen()


def serve(server: ThreadingHTTPServer, seen: Seen) -> Iterator[int]:
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        seen.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def port(seen: Seen) -> Iterator[int]:
    yield from serve(ThreadingHTTPServer(("127.0.0.1", 0), handler_for(seen)), seen)


def local(timeout: float = 5.0) -> UrllibWebhookSender:
    return UrllibWebhookSender(timeout_seconds=timeout, allow_loopback=True)


def test_a_delivery_is_posted_as_given_and_a_2xx_is_its_answer(port: int, seen: Seen) -> None:
    answer = local().send(f"http://127.0.0.1:{port}/ok?attempt=1", HEADERS, BODY)
    assert (answer.status_code, answer.error) == (200, None)
    assert answer.latency_ms >= 0
    ((path, headers, body),) = seen.requests
    assert (path, body) == ("/ok?attempt=1", BODY)
    assert headers["webhook-id"] == "txn_1_capt"
    assert headers["host"] == f"127.0.0.1:{port}"


@pytest.mark.parametrize(("path", "status"), [("/error", 500), ("/gone", 410)])
def test_an_error_status_is_the_answer(port: int, path: str, status: int) -> None:
    assert local().send(f"http://127.0.0.1:{port}{path}", HEADERS, BODY).status_code == status


def test_a_redirect_is_an_answer_and_is_not_followed(port: int, seen: Seen) -> None:
    answer = local().send(f"http://127.0.0.1:{port}/redirect", HEADERS, BODY)
    assert (answer.status_code, answer.error) == (302, "a redirect, not followed")
    assert [path for path, _, _ in seen.requests] == ["/redirect"]


def test_a_receiver_that_never_answers_costs_the_timeout_and_no_more(port: int) -> None:
    started = time.monotonic()
    answer = local(timeout=0.5).send(f"http://127.0.0.1:{port}/hang", HEADERS, BODY)
    elapsed = time.monotonic() - started
    assert answer.status_code is None
    assert answer.error == "no answer within 0.5 s"
    assert 0.4 <= elapsed < 2.0
    assert 400 <= answer.latency_ms < 2000


def test_a_huge_answer_is_read_a_few_kilobytes_at_most(port: int, seen: Seen) -> None:
    started = time.monotonic()
    answer = local().send(f"http://127.0.0.1:{port}/huge", HEADERS, BODY)
    assert answer.status_code == 200
    assert time.monotonic() - started < 3
    deadline = time.monotonic() + 5
    while seen.huge_written < HUGE and time.monotonic() < deadline and not _writer_stopped(seen):
        time.sleep(0.05)
    assert seen.huge_written < HUGE  # the connection was closed long before the page was read
    assert MAX_ANSWER_BYTES == 4096


def _writer_stopped(seen: Seen) -> bool:
    before = seen.huge_written
    time.sleep(0.2)
    return seen.huge_written == before


def test_a_port_with_no_receiver_is_a_refused_connection() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    answer = local().send(f"http://127.0.0.1:{free}/ok", HEADERS, BODY)
    assert (answer.status_code, answer.error) == (None, "the connection was refused or could not be made")


def test_without_loopback_allowed_nothing_is_sent_inside(port: int, seen: Seen) -> None:
    aws = UrllibWebhookSender(timeout_seconds=5, allow_loopback=False)
    literal = aws.send(f"http://127.0.0.1:{port}/ok", HEADERS, BODY)
    # A public-looking name whose DNS answer points inside (rebinding): refused at the address.
    rebound = UrllibWebhookSender(
        timeout_seconds=5, allow_loopback=False, resolver=lambda host, port_: ["127.0.0.1"]
    ).send(f"https://hooks.example:{port}/ok", HEADERS, BODY)
    private = UrllibWebhookSender(
        timeout_seconds=5, allow_loopback=True, resolver=lambda host, port_: ["93.184.215.14", "10.0.0.7"]
    ).send("https://hooks.example/ok", HEADERS, BODY)
    assert literal.status_code is rebound.status_code is private.status_code is None
    assert str(literal.error).startswith("not sent: url must be https")
    assert rebound.error == "not sent: url must be a public address: 127.0.0.1 is loopback"
    assert (
        private.error == "not sent: url must be a public address: 10.0.0.7 is private, link-local or reserved"
    )
    assert seen.requests == []


def test_a_name_that_does_not_resolve_is_an_answer_not_an_exception() -> None:
    def unresolved(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    answer = UrllibWebhookSender(timeout_seconds=1, allow_loopback=False, resolver=unresolved).send(
        "https://nowhere.example/hook", HEADERS, BODY
    )
    assert answer.status_code is None
    assert str(answer.error).startswith("the host does not resolve")


# -- https: to the checked address, the certificate checked for the URL's name ---------------------------


@dataclass
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_pki(directory: Path, name: str) -> Pki:
    """A CA of the test's own and a certificate it signs for `name`."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    pki.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return pki


@pytest.fixture
def https_port(tmp_path: Path, seen: Seen) -> Iterator[tuple[int, Pki]]:
    pki = make_pki(tmp_path, "hooks.example")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert_file, pki.key_file)

    def remember(sock: Any, server_name: str | None, ctx: Any) -> None:
        seen.server_names.append(server_name)

    context.sni_callback = remember
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(seen))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for number in serve(server, seen):
        yield number, pki


def test_https_goes_to_the_checked_address_and_checks_the_certificate_for_the_urls_name(
    https_port: tuple[int, Pki], seen: Seen
) -> None:
    port, pki = https_port
    sender = UrllibWebhookSender(
        timeout_seconds=5,
        allow_loopback=True,
        resolver=lambda host, port_: ["127.0.0.1"] if host == "hooks.example" else [],
        ca_certs=str(pki.ca_file),
    )
    answer = sender.send(f"https://hooks.example:{port}/ok", HEADERS, BODY)
    assert (answer.status_code, answer.error) == (200, None)
    assert seen.server_names == ["hooks.example"]
    ((_, headers, _),) = seen.requests
    assert headers["host"] == f"hooks.example:{port}"


def test_https_to_a_name_the_certificate_is_not_for_fails(https_port: tuple[int, Pki], seen: Seen) -> None:
    port, pki = https_port
    sender = UrllibWebhookSender(
        timeout_seconds=5,
        allow_loopback=True,
        resolver=lambda host, port_: ["127.0.0.1"],
        ca_certs=str(pki.ca_file),
    )
    answer = sender.send(f"https://elsewhere.example:{port}/ok", HEADERS, BODY)
    assert answer.status_code is None
    assert str(answer.error).startswith("TLS failed")
    assert seen.requests == []
