"""`python -m edge_agent`: a bad configuration exits with status 2 and the reason, before any model loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.__main__ import main


def test_a_bad_config_exits_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown key gives exit status 2 and a message naming the file and the key."""
    path = tmp_path / "edge.toml"
    path.write_text('device_id = "edge-01"\ncolour = "red"\n', encoding="utf-8")
    assert main(["-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "key 'colour'" in err
