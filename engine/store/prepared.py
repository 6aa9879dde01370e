"""Statements of the write path compiled once per database and run on the driver's connection.

SQLAlchemy's Core costs about 0.15 ms of Python per statement before the database sees it
(parameter processing, execution context, result set-up), several times what SQLite itself
needs for a one-row UPDATE. The few statements every act runs (the case row, its task rows,
its audit events, the business-key counter) are built as ordinary Core statements, compiled once
per dialect by SQLAlchemy, and executed here on the DBAPI connection of the same transaction,
with the bind processors of their own column types (UTC datetimes, JSON). Everything else keeps
going through SQLAlchemy.

What SQLAlchemy would still do for them is kept: `before_cursor_execute` listeners see each
statement (the tests count statements with them), driver errors become SQLAlchemy's exception
classes (an `IntegrityError` is still an `IntegrityError`), and a connection the server dropped
is invalidated so the pool does not hand it out again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Positional dialects (SQLite's `?`): the parameter names in order; None for named ones.
    order: tuple[str, ...] | None
    processors: dict[str, Callable[[Any], Any]]


class Prepared:
    """One Core statement, compiled once per dialect, run on the act's own driver connection."""

    def __init__(self, statement: ClauseElement):
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            # As for an executemany: no RETURNING of generated keys that nobody reads.
            built = cast(SQLCompiler, self.statement.compile(dialect=dialect, for_executemany=True))
            processors: dict[str, Callable[[Any], Any]] = {}
            for name, bind in built.binds.items():
                processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors[name] = processor
            order = tuple(built.positiontup or ()) if dialect.positional else None
            compiled = _Compiled(built.string, order, processors)
            self._compiled[dialect.name] = compiled
        return compiled

    def execute(self, connection: Connection, params: dict[str, Any] | Sequence[dict[str, Any]]) -> int:
        """Run with one parameter set, or many (executemany); returns the rows it touched."""
        compiled = self._for(connection.dialect)
        many = not isinstance(params, dict)
        sets = params if not isinstance(params, dict) else [params]
        driver_params = [_driver_params(compiled, values) for values in sets]
        sql = compiled.sql
        driver = connection.connection.driver_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            dispatch = connection.dispatch.before_cursor_execute
            for listener in dispatch:
                sql, _ = listener(
                    connection, cursor, sql, driver_params if many else driver_params[0], None, many
                )
            if many:
                cursor.executemany(sql, driver_params)
            else:
                cursor.execute(sql, driver_params[0])
            return cursor.rowcount
        except connection.dialect.loaded_dbapi.Error as error:
            if connection.dialect.is_disconnect(error, driver, cursor):
                connection.invalidate(error)
            raise exc.DBAPIError.instance(
                sql, driver_params, error, connection.dialect.loaded_dbapi.Error
            ) from error
        finally:
            cursor.close()


def _driver_params(compiled: _Compiled, values: dict[str, Any]) -> Any:
    """`values` with each bound through its column type, in the driver's parameter style."""
    processors = compiled.processors
    processed = {
        name: processors[name](value) if name in processors else value for name, value in values.items()
    }
    if compiled.order is None:
        return processed
    return tuple(processed[name] for name in compiled.order)
