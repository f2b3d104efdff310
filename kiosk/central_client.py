"""The kiosk's HTTPS client for central's device API (/device-api/v1/, HTTP Basic: device id + device secret).

A thin adapter over `requests`: every call has connect and read timeouts, TLS is verified against
the configured CA file (or the system's), redirects are never followed (the Basic credentials must
reach only the host configured) and no proxy or netrc from the environment is used. Failures come
in two kinds, because the runtime treats them differently:

- `CentralUnreachable`: no answer, a timeout, a 5xx or 429: central may be fine later, so the
  runtime goes offline (cache, spool, outbox) and tries again;
- `CentralRefused`: central answered and said no (401, 403, 409, 413, 415, 422 …): retrying the
  same request will not help; the message carries central's own `detail` text.

A lookup of a card central does not know at this centre is not an error: `lookup` returns None.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import requests

log = logging.getLogger(__name__)

API = "/device-api/v1"
_MAX_JSON = 4 * 1024 * 1024


class CentralError(Exception):
    """A device-API call that did not succeed; the message says which call and why."""


class CentralUnreachable(CentralError):
    """No usable answer (network, timeout, 5xx, 429): the kiosk works offline and tries later."""


class CentralRefused(CentralError):
    """Central answered with a refusal that a retry will not change; `status` is the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Lookup:
    """The subject holding a card, as central's lookup returns it."""

    subject_id: str
    name: str
    status: str
    supervision_level: str
    category: str
    requires_fingerprint: bool
    term_ends: date | None
    enrolled: tuple[str, ...]

    @classmethod
    def from_json(cls, body: Any) -> Lookup:
        """Parse central's LookupOut; ValueError naming the field that is missing or wrong."""
        if not isinstance(body, dict):
            raise ValueError(f"expected a JSON object, got {type(body).__name__}")
        try:
            ends = body.get("term_ends")
            enrolled = body.get("enrolled") or []
            if not isinstance(enrolled, list) or not all(isinstance(k, str) for k in enrolled):
                raise ValueError("'enrolled' must be a list of strings")
            out = cls(
                subject_id=str(body["subject_id"]),
                name=str(body["name"]),
                status=str(body["status"]),
                supervision_level=str(body["supervision_level"]),
                category=str(body.get("category", "")),
                requires_fingerprint=bool(body.get("requires_fingerprint", False)),
                term_ends=date.fromisoformat(ends) if isinstance(ends, str) else None,
                enrolled=tuple(enrolled),
            )
        except KeyError as exc:
            raise ValueError(f"missing field {exc.args[0]!r}") from None
        if not out.subject_id:
            raise ValueError("'subject_id' is empty")
        return out


class CentralClient:
    """Calls of the device API a kiosk makes: lookup, fingerprint templates, template upload, audio upload."""

    def __init__(
        self,
        url: str,
        device_id: str,
        secret: str,
        *,
        ca_file: Path | None = None,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 8.0,
        upload_timeout_s: float = 60.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.device_id = device_id
        self._auth = (device_id, secret)
        self._verify: bool | str = str(ca_file) if ca_file is not None else True
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.upload_timeout_s = upload_timeout_s
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy or netrc from the environment gets the device secret

    def close(self) -> None:
        """Close the connection pool."""
        self._session.close()

    # --- transport ----------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        read_timeout_s: float | None = None,
        auth: bool = True,
        ok: tuple[int, ...] = (200,),
    ) -> requests.Response:
        url = f"{self.url}{path}"
        try:
            response = self._session.request(
                method,
                url,
                auth=self._auth if auth else None,
                json=json_body,
                data=data,
                headers=headers,
                timeout=(self.connect_timeout_s, read_timeout_s or self.read_timeout_s),
                verify=self._verify,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as exc:
            raise CentralUnreachable(f"{what}: TLS verification of {self.url} failed: {_short(exc)}") from None
        except requests.exceptions.Timeout:
            raise CentralUnreachable(f"{what}: {self.url} did not answer in time") from None
        except requests.exceptions.RequestException as exc:
            raise CentralUnreachable(f"{what}: cannot reach {self.url}: {_short(exc)}") from None
        if response.status_code in ok:
            return response
        detail = _detail(response)
        response.close()
        status = response.status_code
        if status >= 500 or status == 429:
            raise CentralUnreachable(f"{what}: central answered HTTP {status}: {detail}")
        if status == 401:
            raise CentralRefused(
                f"{what}: central refused the kiosk's credentials (401): check kiosk.device_id and kiosk.secret", 401
            )
        if 300 <= status < 400:
            raise CentralRefused(f"{what}: central redirected (HTTP {status}); redirects are not followed", status)
        raise CentralRefused(f"{what}: HTTP {status}: {detail}", status)

    @staticmethod
    def _json(response: requests.Response, what: str) -> Any:
        raw = response.content[: _MAX_JSON + 1]
        if len(raw) > _MAX_JSON:
            raise CentralUnreachable(f"{what}: answer larger than {_MAX_JSON} bytes")
        try:
            return response.json()
        except ValueError:
            raise CentralUnreachable(f"{what}: the answer is not JSON") from None

    # --- calls --------------------------------------------------------------------------------------

    def healthy(self) -> bool:
        """Whether central answers its health check (no credentials sent)."""
        try:
            self._call("GET", "/healthz", what="health check", auth=False)
        except CentralError:
            return False
        return True

    def lookup(self, id_number: str) -> Lookup | None:
        """The subject holding this card at the kiosk's centre, or None when central knows none here."""
        what = "subject lookup"
        try:
            response = self._call(
                "POST", f"{API}/subjects/lookup", what=what, json_body={"id_number": id_number}, ok=(200,)
            )
        except CentralRefused as exc:
            if exc.status == 404:
                return None
            raise
        body = self._json(response, what)
        try:
            return Lookup.from_json(body)
        except ValueError as exc:
            raise CentralUnreachable(f"{what}: central's answer is not the expected subject: {exc}") from None

    def fingerprints(self, subject_id: str) -> list[bytes]:
        """The subject's fingerprint templates (the sensor's format) for 1:1 matching on the kiosk's sensor."""
        what = f"fingerprint templates of {subject_id}"
        response = self._call("GET", f"{API}/subjects/{subject_id}/fingerprints", what=what)
        body = self._json(response, what)
        try:
            return [base64.b64decode(t["template"], validate=True) for t in body["templates"]]
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise CentralUnreachable(f"{what}: central's answer is not a template list ({exc!r})") from None

    def upload_template(
        self, subject_id: str, kind: str, model: str, template: bytes, enrolled_by: str
    ) -> dict[str, Any]:
        """Store an enrolled template at central (face: vision Template bytes; fingerprint: the sensor's)."""
        what = f"{kind} template upload for {subject_id}"
        body = {
            "kind": kind,
            "model": model,
            "template": base64.b64encode(template).decode(),
            "enrolled_by": enrolled_by,
        }
        response = self._call(
            "POST",
            f"{API}/subjects/{subject_id}/templates",
            what=what,
            json_body=body,
            read_timeout_s=self.upload_timeout_s,
            ok=(201,),
        )
        answer = self._json(response, what)
        return answer if isinstance(answer, dict) else {}

    def upload_audio(self, sha256: str, wav: bytes) -> bool:
        """PUT a recording addressed by its sha256 (idempotent); True when central stored it just now."""
        response = self._call(
            "PUT",
            f"{API}/audio/{sha256}",
            what=f"audio upload {sha256[:12]}",
            data=wav,
            headers={"Content-Type": "audio/wav"},
            read_timeout_s=self.upload_timeout_s,
            ok=(200, 201),
        )
        created = response.status_code == 201
        response.close()
        return created


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "…"


def _detail(response: requests.Response) -> str:
    """Central's `detail` text, else the start of the body, else the reason phrase."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300] or response.reason or ""
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])[:500]
    return str(body)[:300]
