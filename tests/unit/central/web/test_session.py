"""CSRF tokens: bound to the session, compared in constant time, refused when missing or wrong."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.web.session import CsrfRejected, check_csrf, csrf_for, new_login_csrf

KEY = b"k" * 32


@given(st.text(min_size=1, max_size=64), st.text(min_size=1, max_size=64))
def test_csrf_tokens_differ_per_session_and_key(a: str, b: str) -> None:
    """Two sessions never share a token; the token is not the session token itself."""
    assert (csrf_for(KEY, a) == csrf_for(KEY, b)) == (a == b)
    assert csrf_for(KEY, a) != csrf_for(b"j" * 32, a)
    assert a not in csrf_for(KEY, a) or len(a) < 3


@pytest.mark.parametrize("given_token", [None, "", "0" * 64, "x"])
def test_missing_or_wrong_tokens_are_rejected(given_token: str | None) -> None:
    """Only the exact expected value passes."""
    expected = csrf_for(KEY, "session-token")
    check_csrf(expected, expected)
    with pytest.raises(CsrfRejected):
        check_csrf(expected, given_token)
    with pytest.raises(CsrfRejected):
        check_csrf(None, expected)


def test_login_csrf_values_are_random() -> None:
    """The login form's double-submit value is fresh each time."""
    assert len({new_login_csrf() for _ in range(50)}) == 50
