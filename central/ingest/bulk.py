"""Bulk statements of the ingest path, one per batch rather than one per row, on SQLite and PostgreSQL.

SQLAlchemy's per-row parameter handling and its expanding `IN (…)` lists cost more than the
statements themselves at ingest rates (a batch is hundreds of rows), and on PostgreSQL a query text
that changes with the row count is parsed again by the driver every time. So:

- `any_of(session, column, values)`: `column = ANY(:array)` on PostgreSQL, `column IN (SELECT value
  FROM json_each(:json))` on SQLite: one parameter, one cached statement whatever the count;
- `insert_rows(…)`: INSERT … ON CONFLICT DO NOTHING of many rows straight to the driver: on
  PostgreSQL one statement over `unnest` of one array per column (sent in binary: psycopg's text
  form escapes every element in Python, ten times slower for JSON texts), on SQLite multi-row VALUES in
  chunks; with `returning`, the values of that column for the rows actually inserted (a conflict,
  e.g. another worker storing the same event, yields nothing);
- `update_rows(…)`: many single-row UPDATEs by key as one statement on PostgreSQL
  (`UPDATE … FROM unnest(…)`), one executemany on SQLite (no round trips there).

Values are given as Python values; time columns are converted as their column type would (UTC),
JSON columns are given as JSON text. The SQL is put together from the table's own table and column
names (looked up in its definition, so nothing else gets in); every value is a bound parameter.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, DateTime, Float, Integer, String, Table, any_, bindparam, func, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import Boolean, TypeDecorator

from central.db.models import Base

SQLITE_MAX_VARIABLES = 30_000  # SQLite allows 32 766 parameters in one statement (3.32 and later)


def dialect_of(session: Session) -> str:
    """`postgresql` or `sqlite`."""
    return session.get_bind().dialect.name


def any_of(session: Session, column: Any, values: Collection[Any]) -> ColumnElement[bool]:
    """`column` is one of `values`, as one parameter whatever their number (see the module docstring)."""
    items = sorted(set(values))
    if dialect_of(session) == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return cast(ColumnElement[bool], column == any_(bindparam(None, items, type_=ARRAY(column.type))))
    listed = func.json_each(bindparam(None, json.dumps(items), type_=String()))
    return cast(ColumnElement[bool], column.in_(select(listed.table_valued("value").c.value)))


def _pg_type(column: Any) -> str:
    kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    if isinstance(kind, DateTime):
        return "timestamptz"
    if isinstance(kind, Float):
        return "float8"
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, Integer):
        return "int8"
    if isinstance(kind, JSON):
        return "json"
    return "text"


class _Times:
    """Time values converted for the driver as the column type does it, each distinct value once per batch."""

    def __init__(self, table: Table, columns: Sequence[str], dialect: Dialect) -> None:
        self.processors: dict[int, Any] = {}
        for i, name in enumerate(columns):
            column = table.c[name]
            kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
            if isinstance(kind, DateTime):
                # The dialect's own type: on SQLite the text form SQLAlchemy stores and compares.
                self.processors[i] = column.type.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
        self.seen: dict[datetime, Any] = {}

    def row(self, row: Sequence[Any]) -> Sequence[Any]:
        if not self.processors:
            return row
        out = list(row)
        for i, process in self.processors.items():
            value = out[i]
            if value is not None:
                converted = self.seen.get(value)
                if converted is None:
                    converted = self.seen[value] = process(value)
                out[i] = converted
        return out


def insert_rows(
    session: Session,
    model: type[Base],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    returning: str | None = None,
) -> list[Any]:
    """INSERT … ON CONFLICT DO NOTHING of `rows` (tuples in `columns` order); with `returning`, what was inserted."""
    if not rows:
        return []
    table = cast(Table, model.__table__)
    connection = session.connection()
    dialect = connection.dialect
    names = ", ".join(table.c[name].name for name in columns)
    tail = " ON CONFLICT DO NOTHING" + (f" RETURNING {returning}" if returning else "")
    if dialect.name == "postgresql":
        kinds = [_pg_type(table.c[name]) for name in columns]
        # JSON travels as text and is cast in the select list (an array of json needs no detour otherwise).
        arrays = ", ".join(f"%b::{'text' if k == 'json' else k}[]" for k in kinds)
        picks = ", ".join(f"u.c{i}::json" if k == "json" else f"u.c{i}" for i, k in enumerate(kinds))
        aliases = ", ".join(f"c{i}" for i in range(len(columns)))
        sql = f"INSERT INTO {table.name} ({names}) SELECT {picks} FROM unnest({arrays}) AS u({aliases}){tail}"  # noqa: S608
        times = _Times(table, columns, dialect)
        converted = [times.row(r) for r in rows]
        params = tuple(list(col) for col in zip(*converted, strict=True))
        result = connection.exec_driver_sql(sql, params)
        return list(result.scalars()) if returning else []
    times = _Times(table, columns, dialect)
    group = "(" + ", ".join("?" * len(columns)) + ")"
    chunk = max(1, SQLITE_MAX_VARIABLES // len(columns))
    out: list[Any] = []
    if returning is None:
        sql = f"INSERT INTO {table.name} ({names}) VALUES {group}{tail}"  # noqa: S608
        connection.exec_driver_sql(sql, [tuple(times.row(r)) for r in rows])
        return out
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        sql = f"INSERT INTO {table.name} ({names}) VALUES {', '.join([group] * len(part))}{tail}"  # noqa: S608
        flat = tuple(v for r in part for v in times.row(r))
        out.extend(connection.exec_driver_sql(sql, flat).scalars())
    return out


def update_rows(
    connection: Connection,
    model: type[Base],
    keys: Sequence[str],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """UPDATE each row found by `keys` to `columns` (each tuple: key values, then column values)."""
    if not rows:
        return
    table = cast(Table, model.__table__)
    dialect = connection.dialect
    names = [*keys, *columns]
    times = _Times(table, names, dialect)
    if dialect.name == "postgresql":
        arrays = ", ".join(f"%b::{_pg_type(table.c[n])}[]" for n in names)
        aliases = ", ".join(f"c{i}" for i in range(len(names)))
        sets = ", ".join(f"{c} = u.c{len(keys) + i}" for i, c in enumerate(columns))
        where = " AND ".join(f"t.{k} = u.c{i}" for i, k in enumerate(keys))
        sql = f"UPDATE {table.name} AS t SET {sets} FROM unnest({arrays}) AS u({aliases}) WHERE {where}"  # noqa: S608
        params = tuple(list(col) for col in zip(*(times.row(r) for r in rows), strict=True))
        connection.exec_driver_sql(sql, params)
        return
    sets = ", ".join(f"{c} = ?" for c in columns)
    where = " AND ".join(f"{k} = ?" for k in keys)
    sql = f"UPDATE {table.name} SET {sets} WHERE {where}"  # noqa: S608
    n = len(keys)
    connection.exec_driver_sql(sql, [(*r[n:], *r[:n]) for r in (times.row(r) for r in rows)])
