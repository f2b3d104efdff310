"""kiosk/central_client.py against a real HTTP server on localhost: answers, refusals and outages told apart.

The full device API is exercised against the real central in tests/integration/kiosk/test_kiosk_e2e.py;
here a small server answers with the statuses central uses, so each mapping is checked on its own.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kiosk.central_client import CentralClient, CentralRefused, CentralUnreachable

DEVICE, SECRET = "kiosk-haicang", "device-secret-123456"
ANSWERS: dict[tuple[str, str], tuple[int, Any]] = {}
SEEN: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        SEEN.append(
            {"method": self.command, "path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        status, payload = ANSWERS.get((self.command, self.path), (404, {"detail": "no route"}))
        if status == 0:  # hang up without an answer
            self.close_connection = True
            return
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        if status in (301, 302):
            self.send_header("Location", "https://elsewhere.example/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    ANSWERS.clear()
    SEEN.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def client(url: str) -> CentralClient:
    return CentralClient(url, DEVICE, SECRET, connect_timeout_s=1.0, read_timeout_s=1.0, upload_timeout_s=1.0)


LOOKUP = {
    "subject_id": "S-350205-0001",
    "name": "张伟",
    "status": "active",
    "supervision_level": "normal",
    "category": "probation",
    "requires_fingerprint": False,
    "term_ends": "2027-06-30",
    "enrolled": ["face"],
}


def test_lookup_sends_basic_auth_and_parses_the_subject(server: str) -> None:
    """POST /subjects/lookup with the device's Basic credentials; the answer becomes a Lookup."""
    ANSWERS[("POST", "/device-api/v1/subjects/lookup")] = (200, LOOKUP)
    found = client(server).lookup("350205198805120010")
    assert found is not None and (found.subject_id, found.name, found.enrolled) == ("S-350205-0001", "张伟", ("face",))
    assert SEEN[0]["auth"] == "Basic " + base64.b64encode(f"{DEVICE}:{SECRET}".encode()).decode()
    assert json.loads(SEEN[0]["body"]) == {"id_number": "350205198805120010"}


def test_not_at_this_centre_is_none_not_an_error(server: str) -> None:
    """404 from the lookup: nobody holds this card here."""
    ANSWERS[("POST", "/device-api/v1/subjects/lookup")] = (
        404,
        {"detail": "ID number 3502…0: not enrolled at this centre"},
    )
    assert client(server).lookup("350205198805120010") is None


@pytest.mark.parametrize(
    ("status", "payload", "kind", "message"),
    [
        (401, {"detail": "bad credentials"}, CentralRefused, "refused the kiosk's credentials"),
        (
            422,
            {"detail": "ID number 3502…: bad check digit"},
            CentralRefused,
            "HTTP 422: ID number 3502…: bad check digit",
        ),
        (302, {}, CentralRefused, "redirects are not followed"),
        (500, {"detail": "database down"}, CentralUnreachable, "HTTP 500: database down"),
        (429, {"detail": "locked"}, CentralUnreachable, "HTTP 429"),
        (200, b"<html>proxy</html>", CentralUnreachable, "not JSON"),
        (200, {"subject_id": "S-1"}, CentralUnreachable, "missing field 'name'"),
    ],
)
def test_refusals_and_outages_are_told_apart(server: str, status: int, payload: Any, kind: type, message: str) -> None:
    """A refusal a retry will not change vs. a central that may answer later (the kiosk goes offline)."""
    ANSWERS[("POST", "/device-api/v1/subjects/lookup")] = (status, payload)
    with pytest.raises(kind, match=message):
        client(server).lookup("350205198805120010")


def test_nobody_listening_or_no_answer_is_unreachable() -> None:
    """Connection refused, and a server that accepts but never answers, both become CentralUnreachable."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(CentralUnreachable, match="cannot reach"):
        client(f"http://127.0.0.1:{port}").lookup("350205198805120010")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        with pytest.raises(CentralUnreachable, match="did not answer in time"):
            client(f"http://127.0.0.1:{silent.getsockname()[1]}").lookup("350205198805120010")
    finally:
        silent.close()
    assert not client(f"http://127.0.0.1:{port}").healthy()


def test_uploads_and_fingerprints(server: str) -> None:
    """Audio PUT (201 new, 200 already there), template POST (201), fingerprint templates decoded."""
    sha = "ab" * 32
    ANSWERS[("PUT", f"/device-api/v1/audio/{sha}")] = (201, {"sha256": sha, "size": 4, "created": True})
    ANSWERS[("POST", "/device-api/v1/subjects/S-1/templates")] = (201, {"template_id": 7})
    ANSWERS[("GET", "/device-api/v1/subjects/S-1/fingerprints")] = (
        200,
        {
            "subject_id": "S-1",
            "templates": [{"id": 1, "model": "as608", "template": base64.b64encode(b"tpl").decode()}],
        },
    )
    ANSWERS[("GET", "/healthz")] = (200, {"status": "ok"})
    c = client(server)
    assert c.upload_audio(sha, b"RIFF") is True
    assert c.upload_template("S-1", "fingerprint", "as608", b"tpl", "haicang.town") == {"template_id": 7}
    assert c.fingerprints("S-1") == [b"tpl"]
    assert c.healthy()
    put = next(s for s in SEEN if s["method"] == "PUT")
    assert put["body"] == b"RIFF"
    post = json.loads(next(s for s in SEEN if s["path"].endswith("/templates"))["body"])
    assert post == {"kind": "fingerprint", "model": "as608", "template": "dHBs", "enrolled_by": "haicang.town"}
    health = next(s for s in SEEN if s["path"] == "/healthz")
    assert health["auth"] is None, "the health check carries no credentials"
