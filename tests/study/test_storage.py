"""hardsearch.study.storage: opening storages, one-line errors, passwords redacted, loading a study."""

from __future__ import annotations

import optuna
import pytest

from hardsearch.core.errors import UserError
from hardsearch.study.storage import create_storage, load_study, redact


def test_redact_hides_the_password_only():
    assert redact("postgresql://me:s3cret@db:5432/hs") == "postgresql://me:***@db:5432/hs"
    assert redact("postgresql://me@db/hs") == "postgresql://me@db/hs"
    assert redact("sqlite:////tmp/study.db") == "sqlite:////tmp/study.db"


def test_default_sqlite_lives_in_the_study_folder(tmp_path):
    storage = create_storage({"kind": "sqlite", "url": None}, tmp_path / "s")
    assert storage.url == f"sqlite:///{tmp_path / 's' / 'study.db'}"
    assert (tmp_path / "s" / "study.db").is_file()


def test_journal_file_and_its_folder_are_created(tmp_path):
    storage = create_storage({"kind": "journal", "path": None}, tmp_path / "j")
    optuna.create_study(study_name="x", storage=storage)
    assert (tmp_path / "j" / "journal.log").is_file()


@pytest.mark.parametrize("options,message", [
    ({"kind": "nope"}, "storage.kind: got 'nope'; allowed: sqlite, journal, url"),
    ({"kind": "url", "url": None}, "storage.url: missing; allowed: an SQLAlchemy URL"),
    ({"kind": "url", "url": "redis://me:pw@host/0"}, "storage.url: 'redis://me:***@host/0': unknown scheme"),
    ({"kind": "sqlite", "url": None, "max_retry": -1}, "storage.max_retry: got -1; allowed: null or an int"),
    ({"kind": "journal", "url": "x"}, "storage.url: unknown key; allowed keys: kind, path"),
])
def test_bad_storage_options_are_one_line(tmp_path, options, message):
    with pytest.raises(UserError) as caught:
        create_storage(options, tmp_path)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert "pw" not in str(caught.value)


def test_load_study_names_what_exists(tmp_path):
    with pytest.raises(UserError, match="study.db not found"):
        load_study({"study": "s", "dir": str(tmp_path)})
    storage = create_storage({"kind": "sqlite", "url": None}, tmp_path)
    optuna.create_study(study_name="s", storage=storage)
    study, folder = load_study({"study": "s", "dir": str(tmp_path)})
    assert study.study_name == "s" and folder == tmp_path
    with pytest.raises(UserError, match="study: got 'other'; allowed: s"):
        load_study({"study": "other", "dir": str(tmp_path)})
