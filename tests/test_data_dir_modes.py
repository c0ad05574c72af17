"""The data directory is the owner's alone: 0700, its database and secrets 0600."""

from __future__ import annotations

import stat

from openline.config import Settings
from tests.conftest import TEST_KEY
from tests.support.servers import openline_server


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_is_0700_and_its_files_0600(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)  # as an earlier openline (or `openline up`'s URL file) left it
    data_dir.chmod(0o755)
    settings = Settings(data_dir=data_dir, api_key=TEST_KEY, start_example_agent=False)
    with openline_server(settings) as server:
        server.create_agent("a")  # the database has been written to: its WAL exists
        with server.client() as http:
            http.get("/console/sign-in")  # the console makes its secret
        assert mode(data_dir) == 0o700
        files = ["openline.db", "openline.db-wal", "openline.db-shm", "credentials"]
        files += ["console_secret", "secrets_key"]
        for name in files:
            assert mode(data_dir / name) == 0o600, name


def test_a_world_readable_database_is_taken_back(tmp_path):
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, api_key=TEST_KEY, start_example_agent=False)
    with openline_server(settings):
        pass
    (data_dir / "openline.db").chmod(0o644)
    with openline_server(settings):
        assert mode(data_dir / "openline.db") == 0o600
