"""A real local HTTP(S) server standing in for central's device API in the gallery-sync tests.

It speaks the contract central's `/device-api/v1/` does: HTTP Basic auth (device id, device
secret) or 401; `GET /device-api/v1/gallery/<version>` → the sealed file as
application/octet-stream, or 404 when that version is no longer served; `GET
/device-api/v1/gallery` → JSON {version, sha256, url}. Tests can also make it slow, stall, lie
about the size, or redirect. TLS uses a CA and a server certificate made for the test.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PREFIX = "/device-api/v1"


def make_tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1 signed by it: (ca.pem, server.pem, server.key)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "corr test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
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
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


@dataclass
class Behaviour:
    """How the server answers a gallery download (set by the test between requests)."""

    delay_s: float = 0.0  # before the headers
    stall_after_bytes: int | None = None  # send this many body bytes, then go silent for stall_s
    stall_s: float = 0.0
    content_length: int | None = None  # announce this instead of the true length
    chunked: bool = False  # no Content-Length at all
    status: int | None = None  # answer this status instead
    redirect_to: str | None = None


@dataclass
class GalleryServer:
    """Serves sealed gallery files by version for one device; `current` is the version /gallery names."""

    device_id: str
    secret: str
    tls: tuple[Path, Path] | None = None  # (server.pem, server.key)
    files: dict[int, bytes] = field(default_factory=dict)
    current: int | None = None
    behaviour: Behaviour = field(default_factory=Behaviour)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization header)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._closing = threading.Event()

    @property
    def base(self) -> str:
        """https://127.0.0.1:<port> (or http)."""
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def url(self, version: int) -> str:
        """Where version `version` is served."""
        return f"{self.base}{PREFIX}/gallery/{version}"

    def publish(self, version: int, blob: bytes, *, current: bool = True) -> str:
        """Serve `blob` as `version`; returns its sha256."""
        self.files[version] = blob
        if current:
            self.current = version
        return hashlib.sha256(blob).hexdigest()

    def start(self) -> GalleryServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (stalled responses end at once)."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Authorization")))
                expected = "Basic " + base64.b64encode(f"{server.device_id}:{server.secret}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self._send(401, b'{"detail": "device authentication failed"}', "application/json")
                    return
                if self.path == PREFIX + "/gallery":
                    if server.current is None:
                        self._send(404, b'{"detail": "no gallery"}', "application/json")
                        return
                    blob = server.files[server.current]
                    body = {
                        "version": server.current,
                        "sha256": hashlib.sha256(blob).hexdigest(),
                        "url": f"{PREFIX}/gallery/{server.current}",  # relative, as a server may answer
                    }
                    self._send(200, json.dumps(body).encode(), "application/json")
                    return
                if not self.path.startswith(PREFIX + "/gallery/"):
                    self._send(404, b"{}", "application/json")
                    return
                b = server.behaviour
                if b.delay_s and server._closing.wait(b.delay_s):
                    return
                if b.redirect_to is not None:
                    self.send_response(302)
                    self.send_header("Location", b.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if b.status is not None:
                    self._send(b.status, b"{}", "application/json")
                    return
                version = self.path.rsplit("/", 1)[1]
                served = server.files.get(int(version)) if version.isdigit() else None
                if served is None or (server.current is not None and int(version) != server.current):
                    self._send(404, b'{"detail": "gallery version no longer served"}', "application/json")
                    return
                self._send_file(served, b)

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _send_file(self, blob: bytes, b: Behaviour) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if b.chunked:
                    self.send_header("Connection", "close")
                else:
                    self.send_header("Content-Length", str(b.content_length or len(blob)))
                self.end_headers()
                try:
                    if b.stall_after_bytes is not None:
                        self.wfile.write(blob[: b.stall_after_bytes])
                        self.wfile.flush()
                        server._closing.wait(b.stall_s)
                        self.wfile.write(blob[b.stall_after_bytes :])
                    else:
                        self.wfile.write(blob)
                except OSError:
                    return
                if b.chunked:
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    """Poll until `predicate()` holds or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
