"""Where a study lives: SQLite under its folder (default), Optuna's journal file, or a database URL.

Opening a storage checks its options (one-line errors), creates Optuna's schema once under the
storage's setup lock (:mod:`hardsearch.study.locks`), turns on heartbeats for database storages
and write-ahead logging for SQLite, and never lets a password reach a line it prints.

Storage faults become one line, never a traceback (:func:`storage_faults`): a full disk, a
permission denied, a damaged database or journal file, a database server that went away, a
database user without write rights. A damaged SQLite file (``PRAGMA quick_check``) or journal
(a torn or foreign line) is refused when it is opened, before anything is written to it.
Reading a study (:func:`load_study`, for the report and the export) opens its storage read-only:
no folder, schema or lock file is created, so an archived or read-only study can be read.
"""

from __future__ import annotations

import contextlib
import errno
import json
import sqlite3
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import quote, unquote

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial

from hardsearch.core.errors import UserError, first_line
from hardsearch.core.options import check_int
from hardsearch.core.paths import RESULTS_DIR
from hardsearch.core.secrets import redact
from hardsearch.study.locks import setup_lock

__all__ = ["STORAGES", "SCHEMES", "STORAGE_KEYS", "create_storage", "redact", "load_study", "StorageError",
           "storage_faults", "storage_fault", "read_trials", "check_journal", "check_sqlite", "OPENING",
           "STORING", "READING"]

STORAGES = ("sqlite", "journal", "url")

SCHEMES = ("sqlite", "postgresql", "mysql")


_DATABASE_KEYS = ("kind", "url", "heartbeat_interval", "grace_period", "max_retry", "connect_timeout")


STORAGE_KEYS = {"sqlite": _DATABASE_KEYS, "url": _DATABASE_KEYS, "journal": ("kind", "path")}


def create_storage(options: Mapping[str, Any], study_dir: Path, *,
                   read_only: bool = False) -> optuna.storages.BaseStorage:
    """SQLite under ``study_dir`` by default, Optuna's journal file, or a PostgreSQL/MySQL URL.

    Database storages record a heartbeat of every running trial; a trial whose heartbeat is
    older than ``grace_period`` seconds is failed and queued again (at most ``max_retry`` times).
    A damaged SQLite or journal file is refused (:class:`StorageError`) before anything is written.
    ``read_only``: an existing storage, opened to be read only: nothing is created or written
    (SQLite ``mode=ro``, PostgreSQL read-only transactions; no folder, schema or lock file).
    """
    options = dict(options)
    kind = options.get("kind")
    if kind not in STORAGES:
        raise UserError(f"storage.kind: got {kind!r}; allowed: {', '.join(STORAGES)}")
    for key in options:
        if key not in STORAGE_KEYS[kind]:
            raise UserError(f"conf/storage/{kind}.yaml: storage.{key}: unknown key; allowed keys: "
                            + ", ".join(STORAGE_KEYS[kind]))
    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend

        path = Path(options.get("path") or study_dir / "journal.log")
        label = f"storage.path: {str(path)!r}"
        with storage_faults(label, OPENING):
            if read_only and not path.is_file():
                raise StorageError(f"{label}: {OPENING}: {path} not found; allowed: the journal file of a "
                                   "study (storage.path=PATH, or dir=DIR holding journal.log)")
            if not read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_file():
                check_journal(path, label, OPENING)  # never append to a torn line
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    def number(key: str, minimum: int) -> int | None:
        return check_int(options.get(key), f"storage.{key}", minimum=minimum, nullable=True,
                         source=f"conf/storage/{kind}.yaml")

    interval, grace = number("heartbeat_interval", 1), number("grace_period", 1)
    retries, timeout = number("max_retry", 0), number("connect_timeout", 1)
    url = options.get("url")
    if kind == "url" and not url:
        raise UserError("storage.url: missing; allowed: an SQLAlchemy URL such as "
                        "postgresql://user@host:5432/db (storage=url storage.url=...; the password from "
                        "PGPASSWORD or ~/.pgpass)")
    if url and (not isinstance(url, str) or url.split(":", 1)[0].split("+", 1)[0] not in SCHEMES
                or "://" not in url):
        scheme = url.split("://", 1)[0] if isinstance(url, str) and "://" in url else url
        raise UserError(f"storage.url: {redact(str(url))!r}: unknown scheme {scheme!r}; allowed: "
                        f"{', '.join(SCHEMES)} (SQLAlchemy URLs, e.g. postgresql://user@host:5432/db)")
    if not url:
        url = f"sqlite:///{study_dir / 'study.db'}"
        if not read_only:
            with storage_faults(f"storage.url: {url!r}", OPENING):
                study_dir.mkdir(parents=True, exist_ok=True)
    heartbeat: dict[str, Any] = {}
    if interval is not None:
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = RetryHeartbeatStaleTrialCallback(max_retry=retries)
            heartbeat = {"heartbeat_interval": interval, "grace_period": grace or 3 * interval,
                         "heartbeat_stale_trial_callback": retry}
    engine_kwargs = _engine_kwargs(url, timeout)
    label, opened = f"storage.url: {redact(url)!r}", url
    database = _sqlite_file(url)
    if database is not None:
        if read_only and not database.is_file():
            raise StorageError(f"{label}: {OPENING}: {database} not found; allowed: the database file of a "
                               "study (storage.url=sqlite:///PATH, or dir=DIR holding study.db)")
        with storage_faults(label, OPENING):
            check_sqlite(database, label, OPENING)  # refuse a damaged file before anything is written
            if read_only:  # the path quoted twice: SQLAlchemy unquotes the database part once
                opened = f"sqlite:///file:{quote(quote(str(database)))}?{_sqlite_read_mode(database)}&uri=true"
    if read_only:
        heartbeat = {}
        if url.startswith("postgresql"):
            engine_kwargs["connect_args"]["options"] = "-c default_transaction_read_only=on"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            with contextlib.nullcontext() if read_only else setup_lock(url, engine_kwargs):
                storage = optuna.storages.RDBStorage(opened, engine_kwargs=engine_kwargs,
                                                     skip_table_creation=read_only, **heartbeat)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many types; the user needs the line
        fault = storage_fault(exc, label, OPENING)
        raise fault or UserError(f"storage.url: {redact(url)!r}: cannot open the storage: "
                                 f"{redact(first_line(exc))}") from None
    if url.startswith("sqlite") and not read_only:
        from sqlalchemy import event

        event.listen(storage.engine, "connect", _sqlite_pragmas)
        storage.engine.dispose()  # reconnect with the pragmas
    return storage


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    """Write-ahead logging: each of Optuna's many small commits costs a third as much, and readers
    (a dashboard, a report) never block the search. ``synchronous=NORMAL`` is safe with WAL: a
    power cut may lose the last commits but never corrupts the file."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _engine_kwargs(url: str, connect_timeout: int | None = None) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}  # wait for another writer instead of failing
    # An unreachable server fails within connect_timeout seconds instead of hanging.
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": connect_timeout or 10}}


def load_study(options: Mapping[str, Any]) -> tuple[optuna.Study, Path]:
    """The study named by ``options`` (``study``, ``dir``, ``storage``), with its folder."""
    name = options.get("study")
    if not isinstance(name, str) or not name:
        raise UserError("study: missing; allowed: the name of a study (study=NAME), e.g. harmonic")
    folder = Path(options["dir"]) if options.get("dir") else RESULTS_DIR / name
    storage_options = dict(options.get("storage") or {"kind": "sqlite", "url": None})
    if storage_options.get("kind") == "sqlite" and not storage_options.get("url") \
            and not (folder / "study.db").is_file():
        raise UserError(f"study {name}: {folder / 'study.db'} not found; allowed: a study that a search "
                        "wrote there, or storage.url=URL / dir=DIR")
    storage = create_storage(storage_options, folder, read_only=True)  # reading needs no write access
    with storage_faults(storage, READING):
        names = optuna.get_all_study_names(storage)
        if name not in names:
            raise UserError(f"study: got {name!r}; allowed: {', '.join(names) or '(none in this storage)'}")
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        return optuna.load_study(study_name=name, storage=storage), folder


# Storage faults: one line naming the storage, what could not be done, the cause and what to do.

OPENING, STORING, READING = "cannot open the storage", "cannot store the trials", "cannot read the study"


class StorageError(UserError):
    """A storage that cannot be used as it is: a full disk, no permission, a damaged file, a server
    that went away. The command stops with one line (exit status 2) and writes nothing further."""


_ADVICE = {
    "full": "free space on that disk (or give dir=DIR on another one), then run the same command again: "
            "finished trials are kept",
    "damaged": "an intact file: restore it from a backup, or start a new study (dir=DIR); hardsearch "
               "leaves the damaged file as it is",
    "denied": "files and folders this user may write (or dir=DIR elsewhere); hardsearch.report and "
              "hardsearch.export only read a study and need no write access to it",
    "denied_db": "a database user with SELECT, INSERT, UPDATE and DELETE on Optuna's tables (a user "
                 "who may only read can run hardsearch.report and hardsearch.export)",
    "server": "a running database server that this machine can reach: start it (or mend the network), "
              "then run the same command again to resume",
    "other": "a storage that this user can open, read and write",
    "password": "the database password in PGPASSWORD or ~/.pgpass (PGPASSFILE names another file; "
                "hostname:port:database:username:password, mode 0600), not on the command line",
}

# Words of a database's message (lower case) that tell what kind of fault it is; the first kind wins.
_KINDS = (
    ("password", ("no password supplied", "password authentication failed")),
    ("full", ("disk is full", "no space left", "could not extend file", "quota exceeded", "disk full")),
    ("damaged", ("malformed", "file is not a database")),
    ("denied", ("permission denied", "readonly database", "read-only", "access denied",
                "unable to open database file", "must be owner")),
    ("server", ("server closed the connection", "connection refused", "could not connect",
                "terminating connection", "timeout expired", "timed out", "no route to host", "unreachable",
                "could not translate host name", "name or service not known", "connection reset",
                "broken pipe", "lost connection", "gone away", "can't connect", "connection is closed",
                "connection is lost", "is the server running", "eof detected", "ssl syscall",
                "database system is shutting down", "database system is starting up")),
)
_ERRNO_KINDS = {errno.ENOSPC: "full", errno.EDQUOT: "full", errno.EACCES: "denied", errno.EPERM: "denied",
                errno.EROFS: "denied"}
_SERVER_DRIVERS = ("psycopg", "psycopg2", "pg8000", "asyncpg", "pymysql", "MySQLdb", "mysql")


@contextlib.contextmanager
def storage_faults(storage: Any, doing: str) -> Iterator[None]:
    """Run the block; a storage fault raised in it becomes one :class:`StorageError` line.

    ``storage``: an Optuna storage, a study, or the label to print (``storage.url: '…'``);
    ``doing``: :data:`OPENING`, :data:`STORING`, :data:`READING` or the like. Exceptions that
    are not storage faults (and user errors) pass through unchanged.
    """
    try:
        yield
    except UserError:
        raise
    except Exception as exc:
        fault = storage_fault(exc, storage, doing)
        if fault is None:
            raise
        raise fault from None


def storage_fault(exc: BaseException, storage: Any, doing: str) -> StorageError | None:
    """The one-line error for ``exc`` if it is a storage fault (else None).

    Optuna wraps every database error in a ``StorageInternalError`` whose message blames "invalid
    data in the commit"; the cause is the database driver's error (or the ``OSError``) at the
    bottom of the chain, whose first line is kept, its kind telling what to do.
    """
    label = storage_label(storage)
    chain = _chain(exc)
    journal = _journal_path(storage)
    if journal is not None and any(isinstance(e, ValueError) and _raised_in(e, "journal") for e in chain):
        try:  # Optuna could not parse its journal: name the damaged line
            check_journal(journal, label, doing)
        except StorageError as damaged:
            return damaged
        except OSError:
            pass
    cause = next((e for e in reversed(chain) if _is_fault(e)), None)
    if cause is None:
        return None
    kind, text = _describe(cause)
    if kind == "denied" and not isinstance(cause, OSError) and _driver(cause) in _SERVER_DRIVERS:
        kind = "denied_db"
    if kind == "server":
        text = f"the database server closed the connection or is unreachable ({text})"
    advice = _ADVICE[kind]
    torn = _torn_line(journal) if journal is not None and isinstance(cause, OSError) else None
    if torn is not None:  # e.g. a full disk cut the record being appended: say how to mend the journal
        text += f", which cut off the journal's last record (line {torn})"
        advice = f"remove that torn line (sed -i '$d' {journal}) and {advice}"
    return StorageError(f"{label}: {doing}: {redact(text)}; allowed: {advice}")


def storage_label(storage: Any) -> str:
    """``storage.url: 'URL'`` (no password) or ``storage.path: 'PATH'`` (a journal file), for messages."""
    if isinstance(storage, str):
        return storage
    storage = getattr(storage, "_storage", storage)  # a study
    journal = _journal_path(storage)
    if journal is not None:
        return f"storage.path: {str(journal)!r}"
    url = getattr(storage, "url", None) or getattr(getattr(storage, "_backend", None), "url", None)
    if url is None:
        return f"storage {type(storage).__name__}"
    database = sqlalchemy.engine.make_url(url).database or ""
    if url.startswith("sqlite") and database.startswith("file:"):  # opened read-only: the file's URL
        url = f"sqlite:///{unquote(database.removeprefix('file:'))}"
    return f"storage.url: {redact(url)!r}"


def read_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Every trial of ``study``, read whole, or a one-line :class:`StorageError`.

    A report must never show part of a study as if it were all of it: Optuna silently leaves out
    the torn last record of a journal file, so the journal is checked line by line first.
    """
    with storage_faults(study, READING):
        journal = _journal_path(getattr(study, "_storage", None))
        if journal is not None:
            check_journal(journal, storage_label(study), READING)
        return study.get_trials(deepcopy=False)


def check_journal(path: Path, label: str, doing: str) -> None:
    """Every line of Optuna's journal file must be one whole JSON record.

    Optuna skips a torn last line (a record cut off by a crash or a full disk) when it reads the
    file, and appends the next record to it when it writes (which leaves the journal unreadable);
    a line that is not JSON stops it with a decoding error. Either is refused here, naming the line.
    """
    lines = _read_journal(path).split(b"\n")
    if lines[-1]:
        number = len(lines)
        raise StorageError(
            f"{label}: {doing}: line {number} is torn (its last record was cut off, e.g. by a crash "
            f"or a full disk); allowed: a journal of whole lines: remove the torn last line (sed -i '$d' "
            f"{path}; the trials before it are kept) or restore the file from a backup")
    for number, line in enumerate(lines[:-1], start=1):
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "op_code" not in record:
                raise ValueError("not an Optuna journal record")
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise StorageError(
                f"{label}: {doing}: line {number} is not a journal record ({type(exc).__name__}: "
                f"{first_line(exc)[:80]}); allowed: a journal of whole records: remove that line if it does "
                "not belong there, or restore the file from a backup") from None


def _read_journal(path: Path) -> bytes:
    data = path.read_bytes()
    for _ in range(10):  # another worker may be appending a record right now: let it finish
        if not data or data.endswith(b"\n"):
            break
        time.sleep(0.1)
        data = path.read_bytes()
    return data


def _torn_line(path: Path) -> int | None:
    """The number of the journal's last line if it is torn (cut off before its end), else None."""
    try:
        data = _read_journal(path)
    except OSError:
        return None
    return data.count(b"\n") + 1 if data and not data.endswith(b"\n") else None


def check_sqlite(path: Path, label: str, doing: str) -> None:
    """``PRAGMA quick_check`` on a read-only connection: a damaged database is refused as it is."""
    if not path.is_file() or path.stat().st_size == 0:
        return  # a new study
    uri = f"file:{quote(str(path))}?{_sqlite_read_mode(path)}"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=60)) as db:
        problems = [str(row[0]) for row in db.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        problem = " ".join(problems[0].replace("*** in database main ***", "").split())[:100]
        raise StorageError(f"{label}: {doing}: database disk image is malformed (PRAGMA quick_check: "
                           f"{problem}); allowed: {_ADVICE['damaged']}")


def _sqlite_file(url: str) -> Path | None:
    """The database file of an ``sqlite:///PATH`` URL (None for other URLs, memory, ``file:`` URIs)."""
    if not url.startswith("sqlite"):
        return None
    database = sqlalchemy.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).absolute()


def _sqlite_read_mode(path: Path) -> str:
    """``mode=ro``, the query of a ``file:`` URI with which SQLite opens the file read-only.

    A database in write-ahead-log mode whose ``-wal`` file is absent is not being written (a
    writer keeps that file while it is connected): it is read as ``immutable``, which creates no
    ``-wal``/``-shm`` files beside it and works in a folder this user may not write.
    """
    with path.open("rb") as handle:
        header = handle.read(20)
    wal_mode = len(header) == 20 and header[18] == 2  # the file format's write version: 2 = WAL
    immutable = wal_mode and not Path(f"{path}-wal").exists()
    return "mode=ro&immutable=1" if immutable else "mode=ro"


def _journal_path(storage: Any) -> Path | None:
    path = getattr(getattr(storage, "_backend", None), "_file_path", None)  # Optuna's JournalFileBackend
    return Path(path) if isinstance(path, str) else None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, what caused it, what caused that, …, including SQLAlchemy's wrapped driver errors."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not e for e in chain):
        chain.append(current)
        original = getattr(current, "orig", None)  # sqlalchemy.exc.DBAPIError: the driver's error
        if isinstance(original, BaseException) and all(original is not e for e in chain):
            chain.append(original)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return chain


def _driver(exc: BaseException) -> str:
    return type(exc).__module__.split(".")[0]


def _is_fault(exc: BaseException) -> bool:
    return isinstance(exc, (OSError, sqlite3.Error, sqlalchemy.exc.SQLAlchemyError,
                            optuna.exceptions.StorageInternalError)) or (
        isinstance(exc, Exception) and _driver(exc) in _SERVER_DRIVERS)


def _describe(exc: BaseException) -> tuple[str, str]:
    """The kind of fault (a key of ``_ADVICE``) and its one-line cause."""
    if isinstance(exc, OSError) and _driver(exc) not in _SERVER_DRIVERS and exc.errno is not None:
        text = (exc.strerror or first_line(exc)).lower()
        where = "" if exc.filename is None else f": {exc.filename}"
        return _ERRNO_KINDS.get(exc.errno, "other"), text + where
    text = first_line(exc)
    lowered = text.lower()
    for kind, words in _KINDS:
        if any(word in lowered for word in words):
            return kind, text
    return "other", text


def _raised_in(exc: BaseException, module: str) -> bool:
    """Whether ``exc`` passed through Optuna's ``storages/<module>`` code."""
    return any(f"optuna/storages/{module}" in frame.filename.replace("\\", "/")
               for frame in traceback.extract_tb(exc.__traceback__))
