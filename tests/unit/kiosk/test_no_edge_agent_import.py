"""The kiosk depends on shared modules (vision, contracts, uplink), never on the edge agent's package."""

from __future__ import annotations

import ast
from pathlib import Path

KIOSK = Path(__file__).resolve().parents[3] / "kiosk"


def _imports(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"), str(source))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_kiosk_module_imports_edge_agent() -> None:
    """Also imports inside functions (the runtime's lazy ones) are seen: ast walks every node."""
    sources = sorted(KIOSK.rglob("*.py"))
    assert len(sources) > 20
    offending = {
        str(source.relative_to(KIOSK.parent)): sorted(n for n in _imports(source) if n.split(".")[0] == "edge_agent")
        for source in sources
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_the_gallery_sync_the_kiosk_uses_is_the_shared_one() -> None:
    """kiosk.face_gallery builds on vision.gallery_sync, the module the edge agent uses too."""
    import edge_agent.agent
    import kiosk.face_gallery
    import vision.gallery_sync

    shared = vision.gallery_sync.GallerySync
    assert vars(kiosk.face_gallery)["GallerySync"] is shared
    assert vars(edge_agent.agent)["GallerySync"] is shared
