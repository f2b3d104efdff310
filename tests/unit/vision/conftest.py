"""Vision unit-test setup."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Keep insightface's scikit-image deprecation quiet here too.

    vision.align installs this filter at import, but pytest restores the warning filters after
    collection, which drops a filter added while a test module was being imported.
    """
    config.addinivalue_line("filterwarnings", "ignore:`estimate` is deprecated:FutureWarning")
