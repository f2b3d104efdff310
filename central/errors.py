"""Errors central raises for requests it refuses; the API maps each to an HTTP status."""

from __future__ import annotations


class CentralError(Exception):
    """Base: the message says what was wrong and what was expected."""

    status = 400


class NotFound(CentralError):
    """No such row, or not in the caller's jurisdiction (the two are not told apart)."""

    status = 404


class Conflict(CentralError):
    """The row exists already."""

    status = 409


class Forbidden(CentralError):
    """The caller is authenticated but may not do this."""

    status = 403


class Unauthorized(CentralError):
    """Missing, wrong or expired credentials."""

    status = 401
