"""Agent environment variable values are sealed at rest, on both databases."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from openline.config import Settings
from openline.store.deployments import EnvVarRepo
from openline.store.sealing import KEY_FILE, SealedWithAnotherKey, Sealer
from tests.support.env_vars import insert_plain, stored_values

SECRET = "sk-live-0123456789abcdef"


def test_values_are_stored_sealed_and_read_back_plain(engine, tmp_path):
    repo = EnvVarRepo(engine, Sealer.load(tmp_path))
    repo.change("agent_a", {"TOKEN": SECRET, "MODE": "test"})
    repo.change("agent_a", {"MODE": "live"})  # an update is sealed too
    stored = stored_values(engine)
    assert set(stored) == {("agent_a", "TOKEN"), ("agent_a", "MODE")}
    for value in stored.values():
        assert value.startswith("fernet:")
        assert SECRET not in value and "live" not in value
    assert repo.values("agent_a") == {"TOKEN": SECRET, "MODE": "live"}
    # The same value sealed twice looks different: equal secrets cannot be spotted.
    repo.change("agent_b", {"TOKEN": SECRET})
    assert stored_values(engine)[("agent_b", "TOKEN")] != stored[("agent_a", "TOKEN")]


def test_legacy_plain_rows_are_read_as_they_are_then_sealed_once(engine, tmp_path):
    repo = EnvVarRepo(engine, Sealer.load(tmp_path))
    insert_plain(engine, "agent_old", "TOKEN", SECRET)
    insert_plain(engine, "agent_old", "EMPTY", "")
    insert_plain(engine, "agent_old", "SHOUTY", "FERNET:not sealed")  # the prefix is exact
    repo.change("agent_new", {"TOKEN": "already sealed"})
    before = stored_values(engine)
    legacy = {"TOKEN": SECRET, "EMPTY": "", "SHOUTY": "FERNET:not sealed"}
    assert repo.values("agent_old") == legacy  # before sealing

    assert repo.seal_plain() == 3
    after = stored_values(engine)
    assert after[("agent_old", "TOKEN")].startswith("fernet:")
    assert SECRET not in after[("agent_old", "TOKEN")]
    assert after[("agent_old", "EMPTY")].startswith("fernet:")
    assert after[("agent_old", "SHOUTY")].startswith("fernet:")
    assert after[("agent_new", "TOKEN")] == before[("agent_new", "TOKEN")]  # left alone
    assert repo.values("agent_old") == legacy
    assert repo.seal_plain() == 0  # nothing left to seal
    assert stored_values(engine) == after


def test_a_value_sealed_with_another_key_is_refused_by_name(engine, tmp_path):
    EnvVarRepo(engine, Sealer.load(tmp_path / "one")).change("agent_a", {"TOKEN": SECRET})
    other = EnvVarRepo(engine, Sealer.load(tmp_path / "two"))
    with pytest.raises(SealedWithAnotherKey) as refused:
        other.values("agent_a")
    assert str(refused.value) == (
        "agent agent_a's variable TOKEN was sealed with another key: "
        "give every openline worker the same OPENLINE_SECRETS_KEY"
    )
    assert SECRET not in str(refused.value)
    assert other.values("agent_b") == {}  # other agents are unaffected


def test_the_key_file_is_made_once_owner_only_and_reused(tmp_path):
    data_dir = tmp_path / "data"
    sealed = Sealer.load(data_dir).seal(SECRET)
    path = data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text()
    Fernet(key.strip())  # a real Fernet key
    assert Sealer.load(data_dir).open(sealed, "TOKEN") == SECRET  # read back, not remade
    assert path.read_text() == key
    assert [p.name for p in data_dir.iterdir()] == [KEY_FILE]  # no draft left behind


def test_the_setting_is_used_instead_of_a_key_file(tmp_path, monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("OPENLINE_SECRETS_KEY", key)
    settings = Settings(data_dir=tmp_path)
    sealed = Sealer.load(tmp_path, settings.secrets_key).seal(SECRET)
    assert not (tmp_path / KEY_FILE).exists()
    assert Fernet(key).decrypt(sealed.removeprefix("fernet:")).decode() == SECRET


@pytest.mark.parametrize(
    "bad", ["", "not-a-key", "A" * 40], ids=["empty", "not base64", "30 bytes"]
)
def test_a_malformed_key_setting_is_refused_at_start_up(tmp_path, monkeypatch, bad):
    monkeypatch.setenv("OPENLINE_SECRETS_KEY", bad)
    with pytest.raises(ValidationError) as refused:
        Settings(data_dir=tmp_path)
    message = str(refused.value)
    assert "OPENLINE_SECRETS_KEY is not a Fernet key" in message
    assert (
        'python -c "from cryptography.fernet import Fernet; '
        'print(Fernet.generate_key().decode())"' in message
    )
    assert not bad or bad not in message  # a refused secret is not echoed


def test_a_damaged_key_file_is_refused_by_its_path(tmp_path):
    (tmp_path / KEY_FILE).write_text("truncated\n")
    with pytest.raises(ValueError, match=f"{tmp_path / KEY_FILE} is not a Fernet key"):
        Sealer.load(tmp_path)
