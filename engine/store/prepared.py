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
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from .pg_transactions import needs_begin

T = TypeVar("T")
# libpq's PGRES_TUPLES_OK (psycopg's ExecStatus.TUPLES_OK), without importing psycopg on SQLite.
PGRES_TUPLES_OK = 2


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Positional dialects (SQLite's `?`): the parameter names in order; None for named ones.
    order: tuple[str, ...] | None
    processors: dict[str, Callable[[Any], Any]]
    # Values the statement carries itself (`status == "open"` binds "open"), by parameter name.
    fixed: dict[str, Any]
    # A SELECT's columns: their names and the processor of each (None: the driver's value as is).
    columns: tuple[str, ...] = ()
    results: tuple[Callable[[Any], Any] | None, ...] = ()


class Prepared:
    """One Core statement, compiled once per dialect, run on the act's own driver connection."""

    def __init__(self, statement: ClauseElement):
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            # What the statement returns: a SELECT's columns, or those of INSERT ... RETURNING.
            selected = tuple(getattr(self.statement, "exported_columns", ()))
            # A statement that returns nothing is compiled as for an executemany: without the
            # RETURNING of generated keys that SQLAlchemy would otherwise add and nobody reads.
            built = cast(SQLCompiler, self.statement.compile(dialect=dialect, for_executemany=not selected))
            processors: dict[str, Callable[[Any], Any]] = {}
            for name, bind in built.binds.items():
                processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors[name] = processor
            order = tuple(built.positiontup or ()) if dialect.positional else None
            columns = tuple(column.key for column in selected)
            results = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None) for column in selected
            )
            fixed = {name: bind.value for name, bind in built.binds.items() if not bind.required}
            compiled = _Compiled(built.string, order, processors, fixed, columns, results)
            self._compiled[dialect.name] = compiled
        return compiled

    def execute(self, connection: Connection, params: dict[str, Any] | Sequence[dict[str, Any]]) -> int:
        """Run with one parameter set, or many (executemany); returns the rows it touched."""
        return self._run(connection, params, fetch=False)[0]

    def rows(self, connection: Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run a SELECT (or a statement with RETURNING); each row as {column key: value}, values as
        the column types load them."""
        return self._processed(connection, self._run(connection, params, fetch=True)[1])

    def _processed(self, connection: Connection, fetched: list[Any]) -> list[dict[str, Any]]:
        """Fetched driver rows as {column key: value}, through the columns' result processors."""
        compiled = self._for(connection.dialect)
        keys, results = compiled.columns, compiled.results
        return [
            {
                key: (process(value) if process is not None and value is not None else value)
                for key, process, value in zip(keys, results, row, strict=True)
            }
            for row in fetched
        ]

    def _run(
        self, connection: Connection, params: dict[str, Any] | Sequence[dict[str, Any]], fetch: bool
    ) -> tuple[int, list[Any]]:
        if needs_begin(connection):  # the transaction's first statement: BEGIN in the same round trip
            answered = _pipelined(connection, [(self, params)])[0]
            return answered.rowcount, answered.rows
        driver = connection.connection.driver_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        sql = self._for(connection.dialect).sql
        try:
            sql = self._send(connection, cursor, params)
            return cursor.rowcount, cursor.fetchall() if fetch else []
        except connection.dialect.loaded_dbapi.Error as error:
            raise _translated(connection, error, cursor, sql, params) from error
        finally:
            cursor.close()

    def _send(
        self, connection: Connection, cursor: Any, params: dict[str, Any] | Sequence[dict[str, Any]]
    ) -> str:
        """Bind `params` and send the statement on `cursor`; returns the SQL sent."""
        compiled = self._for(connection.dialect)
        many = not isinstance(params, dict)
        sets = params if not isinstance(params, dict) else [params]
        driver_params = [_driver_params(compiled, values) for values in sets]
        sql = compiled.sql
        for listener in connection.dispatch.before_cursor_execute:
            sql, _ = listener(
                connection, cursor, sql, driver_params if many else driver_params[0], None, many
            )
        if many:
            cursor.executemany(sql, driver_params)
        else:
            cursor.execute(sql, driver_params[0])
        return sql


Step = tuple[Prepared, "dict[str, Any] | Sequence[dict[str, Any]]"]


def execute_all(connection: Connection, steps: Sequence[Step], commit: bool = False) -> list[int]:
    """Run several statements in order; returns the rows each touched.

    On PostgreSQL they go in one round trip (libpq's pipeline mode: sent together, answered
    together, the first error stops the rest), ended by `COMMIT` if `commit` (see
    `pg_transactions.commit_may_ride`); on SQLite, which has no round trips, one by one, and
    `commit` is for PostgreSQL only.
    """
    if connection.dialect.name != "postgresql":
        if commit:
            raise ValueError("a COMMIT rides with the writes on PostgreSQL only")
        return [prepared.execute(connection, params) for prepared, params in steps]
    return [cursor.rowcount for cursor in _pipelined(connection, steps, commit)]


def fetch_all(connection: Connection, steps: Sequence[Step]) -> list[list[dict[str, Any]]]:
    """Run several SELECTs in order and return the rows of each (as `Prepared.rows`).

    On PostgreSQL they go in one round trip; the server still runs them one after the other, so
    a statement after a `SELECT ... FOR UPDATE` reads what was committed before the lock was
    granted, exactly as if it had been sent on its own afterwards.
    """
    if connection.dialect.name != "postgresql":
        return [prepared.rows(connection, cast(dict, params)) for prepared, params in steps]
    answered = _pipelined(connection, steps)
    return [
        prepared._processed(connection, answer.rows)
        for (prepared, _params), answer in zip(steps, answered, strict=True)
    ]


class _Answered:
    """What one statement of a pipeline answered, read before its cursor is closed."""

    def __init__(self, cursor: Any):
        self.rowcount: int = cursor.rowcount
        # Whether the statement returned rows, asked of the result itself: `cursor.description`
        # would build a column object for each of the row's columns only to be compared with None.
        result = cursor.pgresult
        self.rows: list[Any] = (
            cursor.fetchall() if result is not None and result.status == PGRES_TUPLES_OK else []
        )


def _pipelined(connection: Connection, steps: Sequence[Step], commit: bool = False) -> list[_Answered]:
    """The steps sent in one libpq pipeline on the act's PostgreSQL connection, and their answers;
    `BEGIN` first when the write transaction is not open yet, `COMMIT` last if `commit`."""
    driver: Any = connection.connection.driver_connection
    begin = needs_begin(connection)
    cursors: list[Any] = []
    ends: list[Any] = []
    sql = ""
    try:
        with driver.pipeline():
            if begin:
                ends.append(driver.execute(b"BEGIN"))
            for prepared, params in steps:
                cursor = driver.cursor()
                cursors.append(cursor)
                sql = prepared._send(connection, cursor, params)
            if commit:
                ends.append(driver.execute(b"COMMIT"))
        return [_Answered(cursor) for cursor in cursors]
    except connection.dialect.loaded_dbapi.Error as error:
        raise _translated(connection, error, cursors[-1] if cursors else None, sql, None) from error
    finally:
        for cursor in cursors + ends:
            cursor.close()


def _translated(connection: Connection, error: Any, cursor: Any, sql: str, params: Any) -> exc.StatementError:
    """A driver error as SQLAlchemy's exception class (IntegrityError ...); a connection the server
    dropped is invalidated so the pool does not hand it out again."""
    if connection.dialect.is_disconnect(error, connection.connection.driver_connection, cursor):
        connection.invalidate(error)
    return exc.DBAPIError.instance(sql, params, error, connection.dialect.loaded_dbapi.Error)


def _driver_params(compiled: _Compiled, values: dict[str, Any]) -> Any:
    """`values` with each bound through its column type, in the driver's parameter style."""
    processors = compiled.processors
    processed = {
        name: processors[name](value) if name in processors else value
        for name, value in ({**compiled.fixed, **values} if compiled.fixed else values).items()
    }
    if compiled.order is None:
        return processed
    return tuple(processed[name] for name in compiled.order)


def loaded(cls: type[T], values: dict[str, Any]) -> T:
    """An instance of the mapped class `cls` holding `values` as if the ORM had loaded them.

    The values go straight into the instance's dictionary, as the ORM's own loading puts them:
    no attribute events, no history. The instance belongs to no session (`attach` adds it to one).
    """
    instance = manager_of_class(cls).new_instance()
    instance.__dict__.update(values)
    return instance


def new_row(cls: type[T], **values: Any) -> T:
    """A new instance of the mapped class `cls` holding `values`, for the act's writer to insert
    (`engine.store.row_writes`): as `cls(**values)`, without an attribute event per value."""
    return loaded(cls, values)


def attach(session: Session, instance: Any) -> Any:
    """A `loaded` instance made persistent in `session`, so what an act changes on it is written."""
    make_transient_to_detached(instance)
    session.add(instance)
    return instance
