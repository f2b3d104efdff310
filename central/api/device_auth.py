"""Device authentication on the device API: HTTP Basic, device id and the device secret.

The secret is the one `corr-central devices add` printed (also the device's MQTT password);
central keeps only its argon2 hash (`device.token_hash`). argon2 is deliberately slow, so a
verified (device id, sha256 of the secret, stored hash) triple is cached in-process for
`[device_api] auth_cache_s`: a device's later requests cost one primary-key read (is it still
enabled, is the hash unchanged, is it locked?) instead of one argon2 hash each. Rotating the
secret changes the stored hash, which invalidates the cache entry at once; disabling the device
takes effect on its next request.

Failures are throttled like officer logins: `[security] max_failed_logins` wrong secrets in a row
lock the device's HTTPS access for `lockout_s` (429 with Retry-After), and every failure is
audited. Refusals commit in their own transaction, so the request's rollback does not undo them.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy.orm import Session

from central import audit
from central.api.deps import get_central
from central.context import Central
from central.db.models import Device
from central.security import verify_password

_basic = HTTPBasic(auto_error=False, description="device id and device secret")
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="corr-device"'}


@dataclass(frozen=True)
class AuthenticatedDevice:
    """The device a request comes from (a plain value: the auth session is closed by then)."""

    id: str
    kind: str
    node_id: int
    node_path: str


class DeviceAuthError(HTTPException):
    """A refused device request; `detail` is what the device (and its operator) is told."""


def _refuse(status: int, detail: str, headers: dict[str, str] | None = None) -> DeviceAuthError:
    return DeviceAuthError(status_code=status, detail=detail, headers={**_CHALLENGE, **(headers or {})})


class DeviceAuthenticator:
    """Checks device credentials against the database, with the in-process verification cache."""

    def __init__(self, central: Central) -> None:
        self.central = central
        self.ttl_s = central.config.device_api.auth_cache_s
        self._cache: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.argon2_checks = 0  # how many secrets were verified with argon2 (the cache's effect, for tests)

    def _cached(self, device_id: str, digest: str, token_hash: str) -> bool:
        with self._lock:
            hit = self._cache.get((device_id, digest))
            if hit is None:
                return False
            cached_hash, expires = hit
            if cached_hash != token_hash or expires <= time.monotonic():
                del self._cache[(device_id, digest)]
                return False
            return True

    def _remember(self, device_id: str, digest: str, token_hash: str) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            now = time.monotonic()
            if len(self._cache) > 10_000:  # bounded: drop what has expired, then anything
                self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
                if len(self._cache) > 10_000:
                    self._cache.clear()
            self._cache[(device_id, digest)] = (token_hash, now + self.ttl_s)

    def authenticate(self, device_id: str, secret: str, now: datetime | None = None) -> AuthenticatedDevice:
        """The device these credentials belong to, or a DeviceAuthError (401 or 429) with the reason."""
        now = now or datetime.now(UTC)
        policy = self.central.config.security
        digest = hashlib.sha256(secret.encode()).hexdigest()
        with self.central.sessions() as session, session.begin():
            device = session.get(Device, device_id)
            if device is None:
                self._audit(session, device_id, None, "unknown device")
                refusal = _refuse(401, f"unknown device {device_id!r}: check the device id in its configuration")
            elif not device.enabled:
                self._audit(session, device_id, device.node_path, "disabled")
                refusal = _refuse(401, f"device {device_id} is disabled; ask an administrator to enable it")
            elif device.auth_locked_until is not None and device.auth_locked_until > now:
                self._audit(session, device_id, device.node_path, "locked")
                wait = max(1, math.ceil((device.auth_locked_until - now).total_seconds()))
                refusal = _refuse(
                    429,
                    f"device {device_id}: HTTPS access locked after {policy.max_failed_logins} wrong secrets; "
                    f"retry after {device.auth_locked_until.strftime('%Y-%m-%d %H:%M:%S')} UTC",
                    {"Retry-After": str(wait)},
                )
            elif self._cached(device_id, digest, device.token_hash):
                return _value(device)
            else:
                self.argon2_checks += 1
                if verify_password(device.token_hash, secret):
                    if device.failed_auths or device.auth_locked_until is not None:
                        device.failed_auths = 0
                        device.auth_locked_until = None
                    self._remember(device_id, digest, device.token_hash)
                    return _value(device)
                refusal = self._count_failure(session, device, now)
        raise refusal

    def _count_failure(self, session: Session, device: Device, now: datetime) -> DeviceAuthError:
        policy = self.central.config.security
        device.failed_auths += 1
        detail: dict[str, object] = {"why": "wrong secret", "failures": device.failed_auths}
        if device.failed_auths >= policy.max_failed_logins:
            device.auth_locked_until = now + timedelta(seconds=policy.lockout_s)
            device.failed_auths = 0
            detail["locked_until"] = device.auth_locked_until.isoformat()
        self._audit(session, device.id, device.node_path, detail)
        return _refuse(401, f"wrong secret for device {device.id} (use the secret `corr-central devices add` printed)")

    def _audit(self, session: Session, device_id: str, node_path: str | None, why: str | dict[str, object]) -> None:
        detail = why if isinstance(why, dict) else {"why": why}
        audit.record(
            session,
            self.central.audit_key,
            actor=f"device:{device_id}"[:100],
            action="device.auth_failed",
            node_path=node_path,
            detail=detail,
        )


def _value(device: Device) -> AuthenticatedDevice:
    return AuthenticatedDevice(device.id, device.kind, device.node_id, device.node_path)


def get_authenticator(request: Request) -> DeviceAuthenticator:
    """The app's authenticator (made on first use, so the cache lives as long as the app)."""
    state = request.app.state
    authenticator: DeviceAuthenticator | None = getattr(state, "device_authenticator", None)
    if authenticator is None:
        authenticator = DeviceAuthenticator(get_central(request))
        state.device_authenticator = authenticator
    return authenticator


def current_device(
    creds: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    authenticator: Annotated[DeviceAuthenticator, Depends(get_authenticator)],
) -> AuthenticatedDevice:
    """The authenticated device behind a request, or 401/429."""
    if creds is None:
        raise _refuse(401, "device credentials missing: send HTTP Basic auth with the device id and its secret")
    if not creds.username or not creds.password:
        raise _refuse(401, "device credentials incomplete: both the device id and the secret are needed")
    return authenticator.authenticate(creds.username, creds.password)


def require_device_kind(*kinds: str):  # type: ignore[no-untyped-def]
    """Dependency factory: the calling device must be one of `kinds` (403 otherwise)."""

    def check(device: Annotated[AuthenticatedDevice, Depends(current_device)]) -> AuthenticatedDevice:
        if device.kind not in kinds:
            raise HTTPException(
                status_code=403,
                detail=f"this endpoint is for {' or '.join(kinds)} devices; {device.id} is a {device.kind}",
            )
        return device

    return check


DeviceDep = Annotated[AuthenticatedDevice, Depends(current_device)]
