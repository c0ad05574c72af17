"""The data directory is private to the user running openline: the directory 0700 (so
recordings, logs and builds inside it are out of other users' reach whatever their
own modes) and the SQLite database files 0600."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
_SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def prepare(data_dir: Path, database_url: str) -> None:
    """Create the data directory, or take back one an earlier openline left open, and
    make the SQLite database (when ``database_url`` names one) owner-only."""
    data_dir.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    data_dir.chmod(DIRECTORY_MODE)
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    database = Path(url.database)
    database.parent.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    # SQLite gives the -wal and -shm files it makes the database file's mode: creating
    # the database file 0600 first keeps them all owner-only.
    os.close(os.open(database, os.O_CREAT | os.O_RDWR, FILE_MODE))
    for suffix in _SQLITE_COMPANIONS:
        companion = database.with_name(database.name + suffix)
        if companion.exists():
            companion.chmod(FILE_MODE)
