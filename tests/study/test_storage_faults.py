"""Storage faults during a run, injected for real: a full disk (a small tmpfs), a folder the user may
not write (the command run as ``nobody``), 4 KiB of garbage in ``study.db``, a torn or foreign line
in a journal file, a PostgreSQL user who may only SELECT, the database server stopped mid-run.

Each ends in one line on stderr that names the storage, the cause and what to do, a non-zero exit,
no traceback, and no further write: where nothing should change, the stored study and its report
are compared byte for byte. Reading a study (the report, the export) needs no write access.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import random
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from hardsearch.core.paths import ROOT
from hardsearch.report.writer import report_study
from hardsearch.study.storage import StorageError, create_storage, load_study, storage_faults

CHEAP = ["+space=harmonic", "proxy=params", "logger=none"]
TRIALS_RUN = "cannot store the trials"
OPENING = "cannot open the storage"


# -- helpers -----------------------------------------------------------------------------------


def command(module: str, *args: str, user: list[str] | None = None, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*(user or []), sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def search(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return command("hardsearch", *CHEAP, *args, **kwargs)


def report(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return command("hardsearch.report", *args, **kwargs)


def one_line(result: subprocess.CompletedProcess, prog: str, *expected: str, code: int = 2) -> str:
    """The command failed with exactly one line on stderr, holding each of ``expected``."""
    line = result.stderr
    print(line)  # shown with -rP (and for a failure)
    assert result.returncode == code, (result.returncode, line[-3000:])
    assert "Traceback" not in line + result.stdout, line[-3000:]
    assert line.endswith("\n") and line.count("\n") == 1, line[-3000:]
    assert line.startswith(f"{prog}: error: ") and "allowed: " in line, line
    for part in expected:
        assert part in line, (part, line)
    return line


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too: lock files, -wal/-shm) with its sha256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def quick_check(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return [row[0] for row in db.execute("PRAGMA quick_check")]


def readable(folder: Path) -> Path:
    for path in [folder, *folder.rglob("*")]:  # readable by everyone, writable by root only
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


def copy_study(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return readable(target)


@contextlib.contextmanager
def tmpfs(folder: Path, size: str):
    """A small RAM file system on ``folder`` (a full disk on demand); unmounted afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def _blocked(path: Path) -> tuple[Path, str] | None:
    """The first folder above ``path`` that others may not enter, with the name of its child on the way."""
    parts = path.resolve().parts
    for depth in range(1, len(parts) - 1):
        folder = Path(*parts[:depth])
        if not folder.stat().st_mode & stat.S_IXOTH:
            return folder, parts[depth]
    return None


@pytest.fixture(scope="module")
def scratch():
    """A folder under /tmp that the unprivileged user may enter (pytest's own tmp_path is mode 700)."""
    folder = Path(tempfile.mkdtemp(prefix="hardsearch-faults-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def nobody(scratch) -> tuple[list[str], dict]:
    """The command prefix and environment that run a command as the unprivileged user ``nobody``.

    Where the interpreter lives under a folder nobody may not enter (pyenv under /root, mode 700),
    the command runs in a private mount namespace in which that folder is an empty one holding only
    the interpreter's subfolder (bind-mounted): the permission checks on the study's files are the
    kernel's real ones for an unprivileged user.
    """
    assert os.geteuid() == 0, "these tests inject faults as root (tmpfs, another user)"
    user = pwd.getpwnam("nobody")
    home = scratch / "nobody-home"
    home.mkdir()
    os.chown(home, user.pw_uid, user.pw_gid)
    env = {"HOME": str(home), "MPLCONFIGDIR": str(home / "mpl"), "XDG_CACHE_HOME": str(home / "cache"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    setpriv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"]
    needed = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent, ROOT}
    blocked = sorted({b for b in map(_blocked, needed) if b is not None})
    if not blocked:
        return setpriv, env
    script = ["set -e"]
    for index, (folder, child) in enumerate(blocked):
        stage = scratch / f"stage{index}"
        script += [f"mkdir -p {stage}", f"mount --bind {folder / child} {stage}"]
    for folder in sorted({f for f, _ in blocked}):
        script.append(f"mount -t tmpfs -o mode=0755,size=1m tmpfs {folder}")
    for index, (folder, child) in enumerate(blocked):
        script += [f"mkdir -p {folder / child}", f"mount --bind {scratch / f'stage{index}'} {folder / child}"]
    script.append('exec "$@"')
    prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", "; ".join(script), "sh", *setpriv]
    probe = subprocess.run(  # nobody can start the interpreter (one blocked level is handled, not two)
        [*prefix, sys.executable, "-c", "import os, optuna; print(os.getuid())"], capture_output=True,
        text=True, timeout=120)
    assert probe.stdout.strip() == str(user.pw_uid), probe.stderr
    return prefix, env


@pytest.fixture(scope="module")
def precious(scratch) -> Path:
    """A finished SQLite study with its report, owned by root: the user nobody may read it, not write it."""
    folder = scratch / "precious"
    done = search("budget.n_trials=4", "study=precious", f"dir={folder}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (folder / "study.db-wal").exists()  # closed cleanly: the write-ahead log checkpointed
    return readable(folder)


@pytest.fixture(scope="module")
def journal(scratch) -> Path:
    """A finished study in Optuna's journal file, with its report."""
    folder = scratch / "journal"
    done = search("budget.n_trials=6", "study=j", "storage=journal", f"dir={folder}")
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


# -- a full disk ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_disk_that_fills_up_mid_run_stops_the_search_with_one_line(scratch):
    with tmpfs(scratch / "small-disk", "1m") as disk:
        result = search("budget.n_trials=200", "study=full", f"dir={disk / 'study'}")
        line = one_line(result, "hardsearch", f"storage.url: 'sqlite:///{disk}/study/study.db': "
                        f"{TRIALS_RUN}: database or disk is full; allowed: free space on that disk")
        assert "0 of 200 trials done" in result.stdout  # it had opened the study: the disk filled mid-run
        kept = copy_study(disk / "study", scratch / "full-copy")
    assert "finished trials are kept" in line
    assert quick_check(kept / "study.db") == ["ok"]  # the fault left the database whole
    study = optuna.load_study(study_name="full", storage=f"sqlite:///{kept / 'study.db'}")
    assert 0 < len(study.get_trials(states=(TrialState.COMPLETE,))) < 200


@pytest.mark.slow
def test_a_full_disk_before_the_search_is_one_line(scratch):
    with tmpfs(scratch / "full-disk", "64k") as disk:
        result = search("budget.n_trials=3", "study=full", f"dir={disk / 'study'}")
    one_line(result, "hardsearch", f"storage.url: 'sqlite:///{disk}/study/study.db': {OPENING}: ",
             "database or disk is full", "allowed: free space on that disk")


@pytest.mark.slow
def test_a_full_disk_that_tears_the_journal_says_how_to_mend_it(scratch):
    with tmpfs(scratch / "journal-disk", "128k") as disk:
        result = search("budget.n_trials=200", "study=j", "storage=journal", f"dir={disk / 'j'}")
        log = disk / "j" / "journal.log"
        torn = log.read_bytes().count(b"\n") + 1
        one_line(result, "hardsearch", f"storage.path: '{log}': {TRIALS_RUN}: no space left on device, "
                 f"which cut off the journal's last record (line {torn}); allowed: remove that torn line "
                 f"(sed -i '$d' {log}) and free space on that disk")
        folder = copy_study(disk / "j", scratch / "journal-mended")
    # on a disk with space again, the advice mends it: the torn line removed, the search resumes
    subprocess.run(["sed", "-i", "$d", str(folder / "journal.log")], check=True)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    study = optuna.load_study(study_name="j", storage=storage)
    complete = len(study.get_trials(states=(TrialState.COMPLETE,)))
    assert complete > 0
    resumed = search(f"budget.n_trials={complete + 2}", "study=j", "storage=journal", f"dir={folder}")
    assert resumed.returncode == 0 and "Traceback" not in resumed.stderr, resumed.stderr[-3000:]
    assert f"{complete} of {complete + 2} trials done" in resumed.stdout
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    study = optuna.load_study(study_name="j", storage=storage)
    # (the trial whose record was cut off stays running: a journal has no heartbeats to fail it)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) > complete
    assert (folder / "report.md").is_file()


# -- permission denied -------------------------------------------------------------------------


@pytest.mark.slow
def test_a_study_folder_the_user_may_not_write_is_one_line_and_untouched(precious, nobody):
    user, env = nobody
    before = snapshot(precious)
    result = search("budget.n_trials=6", "study=precious", f"dir={precious}", user=user, env=env)
    one_line(result, "hardsearch", f"storage.url: 'sqlite:///{precious}/study.db': {OPENING}: permission "
             f"denied: {precious}/study.db.hardsearch-lock; allowed: files and folders this user may write")
    assert snapshot(precious) == before


@pytest.mark.slow
def test_a_new_study_in_a_read_only_folder_is_one_line(precious, nobody):
    user, env = nobody
    result = search("budget.n_trials=3", "study=new", f"dir={precious}/new", user=user, env=env)
    one_line(result, "hardsearch", f"{OPENING}: permission denied: {precious}/new; allowed:")
    assert not (precious / "new").exists()


@pytest.mark.slow
def test_a_read_only_study_is_reported_and_exported_without_writing_to_it(precious, nobody, scratch):
    user, env = nobody
    out = scratch / "nobody-home" / "report"
    before = snapshot(precious)
    done = report("study=precious", f"storage.url=sqlite:///{precious}/study.db", f"dir={out}", user=user,
                  env=env)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert (out / "pareto.json").read_bytes() == (precious / "pareto.json").read_bytes()
    exported = command("hardsearch.export", "study=precious", "trial=0", f"dir={precious}",
                       f"out={out / 'trial0.yaml'}", user=user, env=env)
    assert exported.returncode == 0 and (out / "trial0.yaml").is_file(), exported.stderr[-3000:]
    # into the read-only folder itself: the study is read, the report cannot be written there
    refused = report("study=precious", f"dir={precious}", user=user, env=env)
    one_line(refused, "hardsearch.report", f"dir: '{precious}': cannot write the report: permission denied: "
             f"{precious}/", "allowed: files and folders this user may write (or dir=DIR elsewhere)")
    assert snapshot(precious) == before  # no lock file, no -wal/-shm, no report file


# -- a damaged SQLite file ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_malformed_database_is_refused_before_anything_is_written(precious, scratch):
    folder = copy_study(precious, scratch / "malformed")
    database = folder / "study.db"
    size = database.stat().st_size
    with database.open("r+b") as handle:  # 4 KiB of garbage over the page in the middle
        handle.seek(size // 2 // 4096 * 4096)
        handle.write(random.Random(0).randbytes(4096))
    assert quick_check(database) != ["ok"]
    before = snapshot(folder)
    result = search("budget.n_trials=6", "study=precious", f"dir={folder}")
    expected = f"storage.url: 'sqlite:///{database}': {OPENING}: database disk image is malformed (PRAGMA " \
               "quick_check: "
    one_line(result, "hardsearch", expected, "allowed: an intact file: restore it from a backup")
    assert snapshot(folder) == before
    one_line(report("study=precious", f"dir={folder}"), "hardsearch.report", expected)
    assert snapshot(folder) == before  # nor the report files


def test_a_malformed_database_is_refused_in_process(tmp_path):
    storage = create_storage({"kind": "sqlite", "url": None}, tmp_path)
    study = optuna.create_study(study_name="s", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + len(t.suggest_categorical("pad", ["x" * 3000])),
                   n_trials=30)
    storage.engine.dispose()  # the last connection closed: the write-ahead log checkpointed
    database = tmp_path / "study.db"
    with database.open("r+b") as handle:
        handle.seek(database.stat().st_size // 2 // 4096 * 4096)
        handle.write(random.Random(0).randbytes(4096))
    before = snapshot(tmp_path)
    for read_only in (False, True):
        with pytest.raises(StorageError, match=r"cannot open the storage: database disk image is malformed"):
            create_storage({"kind": "sqlite", "url": None}, tmp_path, read_only=read_only)
        assert snapshot(tmp_path) == before


# -- a damaged journal file ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_torn_journal_is_neither_appended_to_nor_reported(journal, scratch):
    folder = copy_study(journal, scratch / "torn")
    log = folder / "journal.log"
    lines = log.read_bytes().count(b"\n")
    with log.open("r+b") as handle:  # the last record cut off, as by a crash or a full disk
        handle.truncate(log.stat().st_size - 40)
    before = snapshot(folder)
    expected = f"storage.path: '{log}': {OPENING}: line {lines} is torn (its last record was cut off"
    refused = report("study=j", "storage=journal", f"dir={folder}")
    one_line(refused, "hardsearch.report", expected, f"allowed: a journal of whole lines: remove the torn "
             f"last line (sed -i '$d' {log};")
    assert snapshot(folder) == before  # the good report is not replaced by one of 5 of the 6 trials
    one_line(search("budget.n_trials=8", "study=j", "storage=journal", f"dir={folder}"), "hardsearch",
             expected)
    assert snapshot(folder) == before  # nothing appended to the torn line


@pytest.mark.slow
def test_a_foreign_line_in_a_journal_is_one_line(journal, scratch):
    folder = copy_study(journal, scratch / "foreign")
    log = folder / "journal.log"
    lines = log.read_bytes().split(b"\n")
    lines.insert(100, bytes(b for b in random.Random(1).randbytes(300) if b != 10))
    log.write_bytes(b"\n".join(lines))
    before = snapshot(folder)
    expected = f"storage.path: '{log}': {OPENING}: line 101 is not a journal record (UnicodeDecodeError: "
    one_line(report("study=j", "storage=journal", f"dir={folder}"), "hardsearch.report", expected,
             "allowed: a journal of whole records: remove that line")
    one_line(search("budget.n_trials=8", "study=j", "storage=journal", f"dir={folder}"), "hardsearch",
             expected)
    assert snapshot(folder) == before


def _journal_study(folder: Path, n_trials: int = 6) -> optuna.Study:
    storage = create_storage({"kind": "journal", "path": None}, folder)
    study = optuna.create_study(study_name="j", storage=storage, directions=["minimize", "minimize"])
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=n_trials)
    return study


def test_report_study_refuses_a_journal_it_cannot_read_whole(tmp_path):
    _journal_study(tmp_path)
    log = tmp_path / "journal.log"
    (tmp_path / "pareto.json").write_text("the good report\n")
    with log.open("r+b") as handle:
        handle.truncate(log.stat().st_size - 10)
    before = snapshot(tmp_path)
    # opened directly with Optuna, which leaves the torn record out without a word
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(log)))
    study = optuna.load_study(study_name="j", storage=storage)
    assert len(study.get_trials()) == 6 and study.get_trials()[-1].state == TrialState.RUNNING
    with pytest.raises(StorageError, match=r"cannot read the study: line \d+ is torn"):
        report_study(study, tmp_path)
    assert snapshot(tmp_path) == before
    for read_only in (False, True):
        with pytest.raises(StorageError, match="cannot open the storage: line"):
            create_storage({"kind": "journal", "path": None}, tmp_path, read_only=read_only)
    assert snapshot(tmp_path) == before


# -- reading needs no write access ---------------------------------------------------------------------


def test_reading_a_study_creates_and_writes_nothing(tmp_path):
    storage = create_storage({"kind": "sqlite", "url": None}, tmp_path / "s")
    optuna.create_study(study_name="s", storage=storage).optimize(lambda t: t.suggest_float("x", 0, 1), 3)
    storage.engine.dispose()
    (tmp_path / "s" / "study.db.hardsearch-lock").unlink()
    before = snapshot(tmp_path)
    study, folder = load_study({"study": "s", "dir": str(tmp_path / "s")})
    assert len(study.get_trials()) == 3 and folder == tmp_path / "s"
    denied = "cannot store the trials: attempt to write a readonly database; allowed: files and folders"
    with pytest.raises(StorageError, match=denied), storage_faults(study, "cannot store the trials"):
        study.set_user_attr("x", 1)
    assert snapshot(tmp_path) == before  # no lock file, no -wal/-shm, the database unchanged
    with pytest.raises(StorageError, match="journal.log not found; allowed: the journal file of a study"):
        load_study({"study": "s", "dir": str(tmp_path / "s"), "storage": {"kind": "journal", "path": None}})
    assert not (tmp_path / "s" / "journal.log").exists()


# -- PostgreSQL ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_database_user_who_may_only_select_is_one_line_and_can_report(postgres, scratch):
    env = {"PGPASSWORD": postgres.password}
    owner = ["storage=url", f"storage.url={postgres.url_without_password}", "study=selectonly"]
    done = search("budget.n_trials=3", *owner, f"dir={scratch / 'pg-owner'}", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    postgres.sql("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reader') THEN "
                 "CREATE ROLE reader LOGIN PASSWORD 'reader-pw'; END IF; END $$")
    postgres.sql(f"GRANT CONNECT ON DATABASE {postgres.database} TO reader")
    postgres.sql("GRANT USAGE ON SCHEMA public TO reader")
    postgres.sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    tables = ("studies", "study_user_attributes", "trials", "trial_values", "trial_user_attributes")

    def dump() -> list[str]:
        return [postgres.sql(f"SELECT string_agg(t::text, ';' ORDER BY t::text) FROM {table} t")
                for table in tables]

    stored = dump()
    url = f"postgresql://reader@127.0.0.1:{postgres.port}/{postgres.database}"
    reader = {"PGPASSWORD": "reader-pw"}
    result = search("budget.n_trials=6", "storage=url", f"storage.url={url}", "study=selectonly",
                    f"dir={scratch / 'pg-reader'}", env=reader)
    one_line(result, "hardsearch", f"storage.url: '{url}': {OPENING}: permission denied for table studies; "
             "allowed: a database user with SELECT, INSERT, UPDATE and DELETE on Optuna's tables")
    assert dump() == stored
    read = report("study=selectonly", f"storage.url={url}", f"dir={scratch / 'pg-reader'}", env=reader)
    assert read.returncode == 0 and "Traceback" not in read.stderr, read.stderr[-3000:]
    assert (scratch / "pg-reader" / "pareto.json").read_bytes() == (scratch / "pg-owner" / "pareto.json"
                                                                     ).read_bytes()


@pytest.mark.slow
def test_the_database_server_stopped_mid_run_is_one_line(scratch):
    """A server of its own (the session's is shared by other tests), stopped while trials run."""
    from pgserver import PostgresServer

    with PostgresServer() as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hardsearch", *CHEAP, "budget.n_trials=100000", "storage=url",
             f"storage.url={server.url_without_password}", "study=stopped", f"dir={scratch / 'stopped'}"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PGPASSWORD": server.password})
        try:
            deadline = time.time() + 240
            while time.time() < deadline and proc.poll() is None:
                if server.sql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'trials'"
                              ).strip() == "1" and int(server.sql(
                                  "SELECT count(*) FROM trials WHERE state = 'COMPLETE'").strip() or 0) >= 3:
                    break
                time.sleep(0.5)
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            server.stop()  # pg_ctl stop -m immediate: every connection is cut at once
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    one_line(result, "hardsearch", f"storage.url: '{server.url_without_password}': {TRIALS_RUN}: the "
             "database server closed the connection or is unreachable (",
             "allowed: a running database server")
    assert server.password not in out + err
