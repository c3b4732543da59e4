"""A database password is never printed or written (issue 12 D), whichever way it is given.

How passwords are found, hidden from Hydra and restored for the task (hardsearch.core.secrets); then

Real ``python -m hardsearch`` processes against the real test server, with a distinctive password
given in the URL on the command line, ``user:PASSWORD@host`` or ``?password=PASSWORD``: it is in
no byte of their output and no file under the test's folder (the study, Hydra's files, W&B's run),
for a search, a crash, ``--cfg``, a parse error and ``--multirun``. A URL without one names where
the password is read from.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hardsearch.core.errors import UserError
from hardsearch.core.paths import ROOT
from hardsearch.core.secrets import ENV, hide_passwords, redact, restore_passwords

PASSWORD = "Kv7-nU1que-Qz4w"  # in no other text, so any byte of it found is a leak
ROLE, DATABASE = "keeper", "secrets"
SEARCH = ["+space=harmonic", "proxy=params", "budget.n_trials=2"]
# how each form is typed on the command line (a URL with '=' in it needs quotes or \= for Hydra)
FORMS = {
    "userinfo": "storage.url=postgresql://{role}:{password}@{where}",
    "query": "storage.url='postgresql://{role}@{where}?sslmode=disable&password={password}'",
    "escaped": r"storage.url=postgresql://{role}@{where}?password\={password}",
}
PLACEHOLDERS = {"userinfo": f"{ROLE}:***@", "query": "&password=***", "escaped": "?password=***"}


@pytest.mark.parametrize("text, redacted", [
    ("postgresql://me:s3cret@db:5432/hs", "postgresql://me:***@db:5432/hs"),
    ("postgresql://:s3cret@db/hs", "postgresql://:***@db/hs"),
    ("mysql+pymysql://me:s3cret@db/hs", "mysql+pymysql://me:***@db/hs"),
    ("postgresql://me@db/hs?password=s3cret", "postgresql://me@db/hs?password=***"),
    ("postgresql://me@db/hs?sslmode=require&password=s3cret&connect_timeout=3",
     "postgresql://me@db/hs?sslmode=require&password=***&connect_timeout=3"),
    ("postgresql://me@db/hs?sslpassword=s3cret", "postgresql://me@db/hs?sslpassword=***"),
    ("['storage.url=postgresql://me:s3cret@db/hs', 'study=x']",
     "['storage.url=postgresql://me:***@db/hs', 'study=x']"),
    ("storage.url: 'postgresql://me@db/hs?password=s3cret': cannot open the storage: refused",
     "storage.url: 'postgresql://me@db/hs?password=***': cannot open the storage: refused"),
    ("postgresql://me@db:5432/hs", "postgresql://me@db:5432/hs"),
    ("sqlite:////tmp/study.db", "sqlite:////tmp/study.db"),
    ("see https://hydra.cc/docs/advanced/override_grammar/basic/", "see https://hydra.cc/docs/advanced/override_grammar/basic/"),
])
def test_redact_hides_every_form_of_password(text, redacted):
    assert redact(text) == redacted


@pytest.mark.parametrize("arg, value, password", [
    ("storage.url=postgresql://me:s3cret@db/hs", "postgresql://me:{}@db/hs", "s3cret"),
    ("storage.url='postgresql://me@db/hs?sslmode=disable&password=s3cret'",
     "postgresql://me@db/hs?sslmode=disable&password={}", "s3cret"),
    (r"storage.url=postgresql://me@db/hs?password\=s3cret", "postgresql://me@db/hs?password={}", "s3cret"),
    (r"storage.url=postgresql://me:s3\,cret@db/hs", "postgresql://me:{}@db/hs", "s3,cret"),  # Hydra's escape
    ("storage.url='postgresql://me:s3 c,ret@db/hs'", "postgresql://me:{}@db/hs", "s3 c,ret"),
])
def test_hide_passwords_swaps_them_for_a_placeholder_that_restore_undoes(monkeypatch, arg, value, password):
    monkeypatch.setenv(ENV, "{}")
    hidden = hide_passwords(["--cfg", "job", arg, "study=x"])
    assert hidden[:2] == ["--cfg", "job"] and hidden[3:] == ["study=x"]
    assert password not in hidden[2] and "***" in hidden[2]
    assert restore_passwords(value.format("***")) == value.format(password)  # as Hydra hands it over
    options = {"storage": {"url": value.format("***")}, "list": [value.format("***")], "n": 3}
    assert restore_passwords(options) == {"storage": {"url": value.format(password)},
                                          "list": [value.format(password)], "n": 3}


def test_each_password_of_a_sweep_has_its_own_placeholder(monkeypatch):
    monkeypatch.setenv(ENV, "{}")
    hidden = hide_passwords(["storage.url=postgresql://me:first1@db/a,postgresql://me:second2@db/b"])
    assert hidden == ["storage.url=postgresql://me:***@db/a,postgresql://me:***2@db/b"]
    assert restore_passwords("postgresql://me:***2@db/b") == "postgresql://me:second2@db/b"
    assert redact("first1 and second2") == "*** and ***"  # known passwords, wherever they appear
    hide_passwords(["study=x"])  # a command line without one forgets them
    assert restore_passwords("postgresql://me:***@db/a") == "postgresql://me:***@db/a"


@pytest.mark.parametrize("arg", [
    "storage.url=\"postgresql://me:it's@db/hs\"",  # a quote in the password: Hydra reads it otherwise
    "storage.url=postgresql://me:s3cret@db/hs'",  # Hydra cannot parse it
])
def test_a_password_that_cannot_be_hidden_is_a_user_error_without_it(monkeypatch, arg):
    monkeypatch.setenv(ENV, "{}")
    with pytest.raises(UserError) as caught:
        hide_passwords([arg])
    message = str(caught.value)
    assert message.startswith("command line: ") and "s3cret" not in message and "it's" not in message
    assert "\n" not in message and "allowed: " in message


@pytest.fixture(scope="module")
def server(postgres):
    """The test server with a role and a database of this module's own, the password distinctive."""
    postgres.sql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
    postgres.sql(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
    return postgres


def where(server) -> str:
    return f"127.0.0.1:{server.port}/{DATABASE}"


def url_override(form: str, host: str) -> str:
    return FORMS[form].format(role=ROLE, password=PASSWORD, where=host)


def run(*args: str, env: dict | None = None, timeout: float = 300,
        command: list[str] | None = None) -> subprocess.CompletedProcess:
    """The command (``python -m hardsearch`` unless given) from the repository root, output as bytes."""
    return subprocess.run([*(command or [sys.executable, "-m", "hardsearch"]), *args], cwd=ROOT,
                          capture_output=True, timeout=timeout, env={**os.environ, **(env or {})})


def assert_kept(result: subprocess.CompletedProcess, *folders: Path) -> list[Path]:
    """No byte of the password in the output or in any file under ``folders``; those files."""
    assert PASSWORD.encode() not in result.stdout, result.stdout.decode()[-3000:]
    assert PASSWORD.encode() not in result.stderr, result.stderr.decode()[-3000:]
    files = [p for folder in folders for p in folder.rglob("*") if p.is_file()]
    leaks = [p for p in files if PASSWORD.encode() in p.read_bytes()]
    assert not leaks
    return files


def load(server, study: str) -> optuna.Study:
    return optuna.load_study(study_name=study, storage=f"postgresql://{ROLE}:{PASSWORD}@{where(server)}")


@pytest.mark.slow
@pytest.mark.parametrize("form", list(FORMS))
def test_a_search_keeps_the_password_out_of_every_line_and_file(tmp_path, server, isolated_wandb, form):
    """The search connects with the password, yet the output, the study's files, the W&B run and
    the files Hydra writes (asked for with hydra.output_subdir) hold only the placeholder."""
    study = f"secret_{form}"
    result = run(*SEARCH, "logger=wandb", "storage=url", url_override(form, where(server)),
                 f"study={study}", f"dir={tmp_path / 'study'}", f"hydra.run.dir={tmp_path / 'hydra'}",
                 "hydra.output_subdir=.hydra")
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    files = assert_kept(result, tmp_path, Path(isolated_wandb))
    out = result.stdout.decode()
    assert f"study {study} (postgresql://{ROLE}" in out and PLACEHOLDERS[form] in out
    assert any(p.suffix == ".wandb" for p in files) and any(p.name == "report.html" for p in files)
    saved = {p.name: p.read_text() for p in (tmp_path / "hydra" / ".hydra").glob("*.yaml")}
    assert sorted(saved) == ["config.yaml", "hydra.yaml", "overrides.yaml"]
    assert all("***" in text for text in saved.values()) and PLACEHOLDERS[form] in saved["config.yaml"]
    trials = load(server, study).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2  # it did connect with the password
    assert PASSWORD not in repr([load(server, study).user_attrs] + [t.user_attrs for t in trials])


CRASHING_TASK = """\
from hardsearch.core.cli import hydra_main


def task(options):
    url = options["storage"]["url"]
    print("the task got a URL of", len(url), "characters")
    raise RuntimeError(f"cannot use {url}")


hydra_main("crashing", "search", task)
"""


@pytest.mark.slow
@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_a_crash_prints_no_password(tmp_path, form):
    """A bug in the task (here an exception that quotes the URL) prints a traceback and one line,
    without the password; Hydra's 'Error executing job with overrides: [...]' never comes."""
    script = tmp_path / "crashing.py"
    script.write_text(CRASHING_TASK)
    override = url_override(form, "db.invalid:5432/db")
    result = run("+space=harmonic", "storage=url", override, command=[sys.executable, str(script)])
    assert result.returncode == 1
    assert_kept(result, tmp_path)
    err = result.stderr.decode()
    real = override.split("=", 1)[1].strip("'").replace("\\=", "=")
    assert f"a URL of {len(real)} characters" in result.stdout.decode()  # the task had the real URL
    assert "RuntimeError: cannot use postgresql://" in err and "Error executing job" not in err
    assert err.splitlines()[-1].startswith("crashing: error: crashed with RuntimeError: cannot use ")


@pytest.mark.slow
def test_a_search_that_crashes_prints_no_password(tmp_path, server):
    """A real search whose folder cannot be made (under a regular file) fails after its trials."""
    (tmp_path / "file").write_text("not a folder")
    result = run(*SEARCH, "logger=none", "storage=url", url_override("userinfo", where(server)),
                 "study=crash", f"dir={tmp_path / 'file' / 'study'}")
    assert result.returncode != 0
    assert_kept(result, tmp_path)
    assert result.stderr.decode().splitlines()[-1].startswith("hardsearch: error: ")


@pytest.mark.slow
@pytest.mark.parametrize("form", list(FORMS))
def test_cfg_shows_no_password(form):
    result = run("--cfg", "all", "+space=harmonic", "storage=url", url_override(form, "db.example:5432/db"))
    assert result.returncode == 0, result.stderr.decode()
    assert_kept(result)
    out = result.stdout.decode()
    assert f"url: postgresql://{ROLE}" in out and PLACEHOLDERS[form] in out
    assert out.count("***") == 3  # the config, the overrides, the job's override_dirname


@pytest.mark.slow
@pytest.mark.parametrize("flags", [[], ["--cfg", "job"]], ids=["checked", "hydra"])
@pytest.mark.parametrize("bad", [
    f"storage.url=postgresql://{ROLE}:{PASSWORD}@db.example/db'",  # a stray quote
    f"storage.url=postgresql://{ROLE}@db.example/db?password={PASSWORD}",  # '=' unquoted
], ids=["quote", "unquoted"])
def test_a_parse_error_shows_no_password(flags, bad):
    result = run(*flags, "+space=harmonic", "storage=url", bad)
    assert result.returncode == 2
    assert_kept(result)
    err = result.stderr.decode()
    assert err.startswith("hardsearch: error: command line: ") and err.count("\n") == 1, err


@pytest.mark.slow
@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=submitit_local"]], ids=["basic", "submitit"])
def test_multirun_writes_no_password(tmp_path, server, launcher):
    """--multirun writes multirun.yaml, and each job's .hydra/*.yaml when asked: the placeholder
    only, while each job (in this process, or its own with submitit) connects with the password."""
    study = f"multirun_{len(launcher)}"
    result = run("--multirun", *launcher, *SEARCH, "logger=none", "storage=url",
                 url_override("query", where(server)), f"study={study}", f"dir={tmp_path / 'study'}",
                 "worker=w1,w2", f"hydra.sweep.dir={tmp_path / 'multirun'}", "hydra.output_subdir=.hydra",
                 timeout=600)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    files = assert_kept(result, tmp_path)
    multirun = (tmp_path / "multirun" / "multirun.yaml").read_text()
    assert multirun.count(PLACEHOLDERS["query"]) == 3  # the URL, the task's override, the job's override
    names = {p.relative_to(tmp_path / "multirun").as_posix() for p in files if "multirun" in p.parts}
    saved = {f"{job}/.hydra/{name}.yaml" for job in (0, 1) for name in ("config", "hydra", "overrides")}
    assert saved <= names
    trials = load(server, study).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2


@pytest.mark.slow
def test_a_missing_password_says_where_it_is_read_from(tmp_path, server):
    """No password in the URL, no PGPASSWORD, no ~/.pgpass: one line that names them."""
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "PGPASSFILE")}
    result = subprocess.run([sys.executable, "-m", "hardsearch", *SEARCH, "logger=none", "storage=url",
                             f"storage.url=postgresql://{ROLE}@{where(server)}", f"dir={tmp_path / 'study'}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**env, "HOME": str(tmp_path / "home")})
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "fe_sendauth: no password supplied" in result.stderr
    assert "PGPASSWORD" in result.stderr and "~/.pgpass" in result.stderr
