"""Pure helpers of the UI: post-login destinations, China time, the Content-Security-Policy, form times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from central.web.pages.maps import china_moment
from central.web.render import content_security_policy, local_time, safe_next


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (None, "/ui/dashboard"),
        ("", "/ui/dashboard"),
        ("/ui/subjects?q=1", "/ui/subjects?q=1"),
        ("https://evil.example/ui/x", "/ui/dashboard"),
        ("//evil.example/ui/x", "/ui/dashboard"),
        ("/api/v1/subjects", "/ui/dashboard"),
        ("/ui\\..\\x", "/ui/dashboard"),
        ("javascript:alert(1)", "/ui/dashboard"),
    ],
)
def test_only_ui_paths_are_followed_after_login(target: str | None, expected: str) -> None:
    """No open redirect: another host, a scheme or a path outside /ui/ goes to the dashboard."""
    assert safe_next(target) == expected


def test_times_are_shown_in_china_time() -> None:
    """UTC 00:30 is 08:30 in China; no time is empty text."""
    assert local_time(datetime(2026, 11, 23, 0, 30, tzinfo=UTC)) == "2026-11-23 08:30"
    assert local_time(None) == ""


def test_form_times_without_zone_are_china_time_and_bad_ones_are_named() -> None:
    """datetime-local values carry no zone: they mean China time."""
    assert china_moment("since", "2026-11-23T08:00").astimezone(UTC) == datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    assert china_moment("since", "2026-11-23T08:00Z") == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="until 'yesterday': expected a date and time"):
        china_moment("until", "yesterday")


def test_policy_allows_only_central_and_the_configured_tile_server() -> None:
    """No tiles: images from central only; with a tile URL, its host (all {s} sub-domains) too; never inline script."""
    bare = content_security_policy("")
    assert "img-src 'self' data:;" in bare and "script-src 'self';" in bare and "unsafe" not in bare
    assert "img-src 'self' data: https://tiles.example;" in content_security_policy(
        "https://tiles.example/{z}/{x}/{y}.png"
    )
    assert "https://*.tile.example" in content_security_policy("https://{s}.tile.example/{z}/{x}/{y}.png")
