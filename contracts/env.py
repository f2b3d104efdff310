"""The `CORR_*` environment overrides every role's configuration takes (central, edge agent, kiosk, device daemon).

A variable names a key of the role's TOML file under the role's prefix, nested keys joined by two
underscores: `CORR_MQTT__PORT` (central, prefix `CORR_`), `CORR_KIOSK__CENTRAL__URL` (kiosk),
`CORR_DEVICES__IDCARD__PORT`, `CORR_EDGE_UPLINK__HOST`. Names are case-insensitive after the prefix
(keys are lower case). A near miss with one underscore where two belong (`CORR_MQTT_PORT`,
`CORR_KIOSK_CENTRAL__URL`) is refused by name, since it would otherwise be ignored without a word.

Each role keeps its own prefix, its error class and its way of naming a bad value; this module only
turns variables into key paths and tables, so the rules are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any


class EnvError(ValueError):
    """A variable under a role's prefix that cannot be a key; the message names the variable."""


def key_path(name: str, prefix: str) -> tuple[str, ...]:
    """The lower-case key path a variable names under `prefix` (which it starts with); EnvError on an empty part."""
    path = tuple(name[len(prefix) :].lower().split("__"))
    if not all(path):
        raise EnvError(f"environment {name}: empty key part (nested keys take exactly two underscores)")
    return path


def section_near_miss(name: str, prefix: str, first: str, sections: Iterable[str]) -> EnvError | None:
    """The error for `first` (a path's first part that is no key) when it is a table's name plus one underscore."""
    for section in sections:
        if first.startswith(section + "_"):
            rest = first[len(section) + 1 :].upper()
            example = f"{prefix}{section.upper()}__{rest}"
            return EnvError(f"environment {name}: not a key; nested keys take two underscores, e.g. {example}")
    return None


def set_key(tables: dict[str, Any], name: str, path: tuple[str, ...], value: Any) -> None:
    """Set `value` at `path` in nested `tables`, making the tables on the way; EnvError where a value is in the way."""
    node = tables
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise EnvError(f"environment {name}: {part!r} is a value, not a table")
        node = child
    node[path[-1]] = value


def env_tables(
    environ: Mapping[str, str],
    prefix: str,
    *,
    skip: Collection[str] = (),
    near_miss_hint: str | None = None,
    keys: Collection[str] | None = None,
    sections: Collection[str] = (),
) -> dict[str, Any]:
    """The variables under `prefix` as nested tables of strings (pydantic converts them), ready to merge.

    - `skip`: names under the prefix that are not keys (`CORR_KIOSK_CONFIG` names the file).
    - `near_miss_hint`: for a prefix ending in two underscores (`CORR_KIOSK__`), a name with only one
      (`CORR_KIOSK_…`) is refused with this hint ("nested keys take two underscores, e.g. …").
    - `keys`: when the prefix is shared with other roles (central's `CORR_`), only variables whose first
      part is one of these keys are taken; the others belong to someone else, unless they are a near
      miss of one of `sections` (`CORR_MQTT_PORT`), which is refused.

    EnvError for an empty key part or a path through a value.
    """
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if name in skip:
            continue
        if near_miss_hint is not None and name.startswith(prefix[:-1]) and not name.startswith(prefix):
            raise EnvError(f"environment {name}: not a key; {near_miss_hint}")
        if not name.startswith(prefix):
            continue
        first = name[len(prefix) :].lower().split("__")[0]
        if keys is not None and first not in keys:
            miss = section_near_miss(name, prefix, first, sections)
            if miss is not None:
                raise miss
            continue
        set_key(out, name, key_path(name, prefix), value)
    return out


def merge_tables(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `over` laid on top, table by table (overrides replace values, merge into tables)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge_tables(merged[key], value)
        else:
            merged[key] = value
    return merged
