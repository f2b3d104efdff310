"""The officer web UI: server-rendered pages served by central under /ui/ (see docs/web.md)."""

from central.web.app import mount_ui

__all__ = ["mount_ui"]
