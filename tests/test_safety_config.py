"""obsnb.toml moves credentials, so it is read only from the working folder or when named, and never when
other users can write or replace it."""

from __future__ import annotations

import os

import pytest
from _support import need

import obsnb as ob
from obsnb import config
from obsnb.errors import UsageError

TOML = '[sources.prod]\nurl = "loki://127.0.0.1:9"\nheaders_env = { "X-Api-Key" = "HOME" }\n'


@pytest.fixture()
def tree(tmp_path, monkeypatch):
    """parent/obsnb.toml above an empty working folder parent/work; no $OBSNB_CONFIG, no option."""
    monkeypatch.delenv("OBSNB_CONFIG", raising=False)
    ob.set_option("config", None)
    parent = tmp_path / "parent"
    work = parent / "work"
    work.mkdir(parents=True)
    (parent / "obsnb.toml").write_text(TOML)
    monkeypatch.chdir(work)
    return parent, work


def test_parent_folder_config_is_not_read(tree):
    """An obsnb.toml above the working folder names no source; the error says where it is and how to use it."""
    parent, _ = tree
    assert config.find_config() is None and config.sources() == {}
    with pytest.raises(UsageError) as info:
        config.get_source("prod")
    msg = str(info.value)
    assert f"{parent / 'obsnb.toml'} is in a parent folder and is not read" in msg
    assert f"export OBSNB_CONFIG={parent / 'obsnb.toml'}" in msg


def test_working_folder_and_explicit_config_are_read(tree, monkeypatch):
    """./obsnb.toml of the working folder is used; so is a file named by $OBSNB_CONFIG or set_option."""
    parent, work = tree
    (work / "obsnb.toml").write_text(TOML.replace("prod", "local"))
    assert config.find_config() == work / "obsnb.toml" and list(config.sources()) == ["local"]
    monkeypatch.setenv("OBSNB_CONFIG", str(parent / "obsnb.toml"))
    assert list(config.sources()) == ["prod"]
    monkeypatch.delenv("OBSNB_CONFIG")
    ob.set_option("config", str(parent / "obsnb.toml"))
    try:
        assert list(config.sources()) == ["prod"]
    finally:
        ob.set_option("config", None)


@pytest.mark.parametrize("explicit", [False, True])
@pytest.mark.parametrize("how, why", [
    ("group-writable", "other users can write it (mode -rw-rw-r--)"),
    ("other-writable", "other users can write it (mode -rw-r--rw-)"),
    ("other-owner", "it belongs to another user (uid 65534)"),
    ("open-folder", "other users can replace it: its folder is writable by them (mode drwxrwxrwx)"),
    ("other-folder", "its folder belongs to another user (uid 65534), who can replace it"),
])
def test_config_writable_by_others_is_refused(tree, monkeypatch, how, why, explicit):
    """A config another user can write or replace is refused with the reason, found or named explicitly."""
    _, work = tree
    cfg = work / "obsnb.toml"
    cfg.write_text(TOML)
    os.chmod(cfg, 0o644)
    if how == "group-writable":
        os.chmod(cfg, 0o664)
    elif how == "other-writable":
        os.chmod(cfg, 0o646)
    elif how == "other-owner":
        need_root()
        os.chown(cfg, 65534, -1)
    elif how == "open-folder":
        os.chmod(work, 0o777)
    else:
        need_root()
        os.chown(work, 65534, -1)
    if explicit:
        monkeypatch.setenv("OBSNB_CONFIG", str(cfg))
    with pytest.raises(UsageError) as info:
        config.sources()
    assert str(info.value).startswith(f"not reading {cfg}: {why}, and it names the environment variables")
    assert f"chmod go-w {cfg}" in str(info.value)


def test_sticky_shared_folder_of_mine_is_fine(tree):
    """In a folder others may write but with the sticky bit (like /tmp), my own private file is trusted."""
    _, work = tree
    os.chmod(work, 0o1777)
    (work / "obsnb.toml").write_text(TOML)
    os.chmod(work / "obsnb.toml", 0o600)
    assert list(config.sources()) == ["prod"]


def need_root():
    need(os.geteuid() == 0, "changing a file's owner needs root (CI runs as root)")
