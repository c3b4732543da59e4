"""Where a study lives: SQLite under its folder (default), Optuna's journal file, or a database URL.

Opening a storage checks its options (one-line errors), creates Optuna's schema once under the
storage's setup lock (:mod:`hardsearch.study.locks`), turns on heartbeats for database storages
and write-ahead logging for SQLite, and never lets a password reach a line it prints.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, Mapping

import optuna

from hardsearch.core.errors import UserError, first_line
from hardsearch.core.options import check_int
from hardsearch.core.paths import RESULTS_DIR
from hardsearch.study.locks import setup_lock

__all__ = ["STORAGES", "SCHEMES", "STORAGE_KEYS", "create_storage", "redact", "load_study"]

STORAGES = ("sqlite", "journal", "url")

SCHEMES = ("sqlite", "postgresql", "mysql")


_DATABASE_KEYS = ("kind", "url", "heartbeat_interval", "grace_period", "max_retry", "connect_timeout")


STORAGE_KEYS = {"sqlite": _DATABASE_KEYS, "url": _DATABASE_KEYS, "journal": ("kind", "path")}


def create_storage(options: Mapping[str, Any], study_dir: Path) -> optuna.storages.BaseStorage:
    """SQLite under ``study_dir`` by default, Optuna's journal file, or a PostgreSQL/MySQL URL.

    Database storages record a heartbeat of every running trial; a trial whose heartbeat is
    older than ``grace_period`` seconds is failed and queued again (at most ``max_retry`` times).
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
        path.parent.mkdir(parents=True, exist_ok=True)
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
        study_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{study_dir / 'study.db'}"
    heartbeat: dict[str, Any] = {}
    if interval is not None:
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = RetryHeartbeatStaleTrialCallback(max_retry=retries)
            heartbeat = {"heartbeat_interval": interval, "grace_period": grace or 3 * interval,
                         "heartbeat_stale_trial_callback": retry}
    engine_kwargs = _engine_kwargs(url, timeout)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            with setup_lock(url, engine_kwargs):
                storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many types; the user needs the line
        raise UserError(f"storage.url: {redact(url)!r}: cannot open the storage: "
                        f"{redact(first_line(exc))}") from None
    if url.startswith("sqlite"):
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


def redact(url: str) -> str:
    """``scheme://user:***@host``: a URL's password never reaches the screen, a log or W&B."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


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
    storage = create_storage(storage_options, folder)
    names = optuna.get_all_study_names(storage)
    if name not in names:
        raise UserError(f"study: got {name!r}; allowed: {', '.join(names) or '(none in this storage)'}")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.load_study(study_name=name, storage=storage), folder
