"""A lock per study, shared by every worker process on every machine that uses the same storage.

Workers take it for the few steps that must happen once or in turn: enqueueing the seeds,
calibrating the proxy ensemble, and claiming the next trial of the budget (so a study of
``n_trials`` ends with exactly that many, however many workers run it). The lock lives where
the study lives:

- PostgreSQL: a session-level advisory lock (``pg_advisory_lock``) on a connection of its own;
  a worker that dies releases it with its connection.
- MySQL: ``GET_LOCK``/``RELEASE_LOCK``, likewise tied to the connection.
- SQLite and the journal file: ``fcntl.flock`` on a ``.hardsearch-lock`` file beside the database file;
  the kernel releases it when the process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import threading
from pathlib import Path
from typing import Any, Iterator

__all__ = ["study_lock", "setup_lock"]

_MEMORY_LOCKS: dict[str, threading.Lock] = {}


def _key(study_name: str) -> int:
    """A stable signed 64-bit key for the study (PostgreSQL advisory locks take a bigint)."""
    digest = hashlib.sha256(f"hardsearch:{study_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _database_lock(engine: Any, study_name: str) -> Iterator[None]:
    from sqlalchemy import text

    dialect = engine.dialect.name
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if dialect == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _key(study_name)})
            unlock = text("SELECT pg_advisory_unlock(:key)"), {"key": _key(study_name)}
        else:  # mysql: lock names are at most 64 characters
            name = f"hardsearch:{hashlib.sha256(study_name.encode()).hexdigest()[:40]}"
            connection.execute(text("SELECT GET_LOCK(:name, -1)"), {"name": name})
            unlock = text("SELECT RELEASE_LOCK(:name)"), {"name": name}
        try:
            yield
        finally:
            connection.execute(*unlock)


@contextlib.contextmanager
def setup_lock(url: str, engine_kwargs: dict[str, Any]) -> Iterator[None]:
    """Serialise opening a storage: workers that start together on an empty database would
    otherwise race to create Optuna's tables (and fail on duplicate keys)."""
    import sqlalchemy

    if url.startswith("sqlite"):
        database = sqlalchemy.engine.make_url(url).database
        with _file_lock(Path(f"{database}.hardsearch-lock")) if database and database != ":memory:" \
                else contextlib.nullcontext():
            yield
        return
    engine = sqlalchemy.create_engine(url, **engine_kwargs)
    try:
        with _database_lock(engine, "<optuna schema>"):
            yield
    finally:
        engine.dispose()


def study_lock(storage: Any, study_name: str) -> contextlib.AbstractContextManager[None]:
    """The study's cross-process lock for ``storage`` (an Optuna RDB or journal-file storage)."""
    engine = getattr(storage, "engine", None)
    if engine is not None:
        if engine.dialect.name in ("postgresql", "mysql"):
            return _database_lock(engine, study_name)
        database = engine.url.database
        if database and database != ":memory:":
            return _file_lock(Path(f"{database}.hardsearch-lock"))
        return _MEMORY_LOCKS.setdefault(study_name, threading.Lock())
    path = getattr(getattr(storage, "_backend", None), "_file_path", None)
    if path is not None:  # Optuna's JournalFileBackend
        return _file_lock(Path(f"{path}.hardsearch-lock"))  # (Optuna locks {path}.lock)
    return _MEMORY_LOCKS.setdefault(study_name, threading.Lock())
