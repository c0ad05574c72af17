"""The sandbox a deployment's process runs in: Debian's bubblewrap (``bwrap``).

The agent sees a root of its own, made of read-only binds: the system (``/usr``, the
``/bin``-style links, ``/etc``), the Python openline runs on (its venvs' base),
openline's source tree (for SDK agents' editable openline), and its deployment's
``src`` and ``venv``.
``/tmp`` (also ``$HOME``) and ``/dev/shm`` are private and empty at each start; it has
its own ``/proc`` and pid namespace, so no other process is visible. Nothing else is
there: not openline's data dir (keys, database, other deployments) even when a bound
directory holds it, not ``/root`` or ``/home``, not ``/var`` or ``/run`` (PostgreSQL's
socket). The network is the host's: the agent listens on the loopback port openline
calls it on, and reaches the internet.

When openline runs as root, the agent also drops to an unprivileged user (``nobody`` by
default) with no capabilities before its own code runs; otherwise it runs as openline's
user (in a user namespace, which unprivileged bubblewrap needs).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from openline.deploy.build import openline_source
from openline.deploy.process import AgentProcess, HostLauncher, Launch, Launcher, OnLine
from openline.deploy.settings import DeploySettings

_TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")  # dirs or /usr links


class SandboxUnavailable(OSError):
    """The sandbox cannot be set up; ``str()`` says why and what to do. An ``OSError``,
    so the deployment fails with it rather than running unsandboxed."""


def launcher(settings: DeploySettings) -> Launcher:
    """The sandbox, unless the operator turned it off (``OPENLINE_DEPLOY_SANDBOX=false``)."""
    if not settings.sandbox:
        return HostLauncher()
    return Sandbox.find(settings.bwrap, settings.sandbox_user)


@dataclass(frozen=True)
class Sandbox:
    bwrap: str
    env: str  # coreutils env: sets SIGTERM's disposition around bwrap (see ``command``)
    drop_to: tuple[str, int, int] | None  # (setpriv, uid, gid) when openline runs as root
    isolated = True

    @classmethod
    def find(cls, bwrap: str, user: str) -> Sandbox:
        """Found on openline's own PATH, never the agent's (its venv's bin comes first)."""
        found = shutil.which(bwrap)
        if found is None:
            raise SandboxUnavailable(
                f"bubblewrap ({bwrap}) is not installed: install it (Debian: apt-get install "
                "bubblewrap), or set OPENLINE_DEPLOY_SANDBOX=false to run agent code "
                "unsandboxed, as openline's user"
            )
        drop_to = None
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                raise SandboxUnavailable("setpriv (util-linux) is needed to drop root")
            drop_to = (setpriv, *_ids_of(user))
        return cls(found, shutil.which("env") or "/usr/bin/env", drop_to)

    @property
    def where(self) -> str:
        if self.drop_to is None:
            return "in a bubblewrap sandbox"
        return f"in a bubblewrap sandbox as uid {self.drop_to[1]}"

    async def start(self, launch: Launch, on_line: OnLine, max_chars: int) -> AgentProcess:
        if self.drop_to is not None:
            await asyncio.to_thread(_readable_by_all, launch.source, launch.venv)
        env = launch.env | {"HOME": "/tmp", "TMPDIR": "/tmp"}  # the only writable places
        return await AgentProcess.start(
            self.command(launch), launch.source, env, on_line, max_chars, _signal_exits
        )

    def command(self, launch: Launch) -> list[str]:
        # bwrap stays outside as the agent's parent, in its process group: the pid on
        # record. It would die at once of the SIGTERM that stops the group gently (and
        # --die-with-parent would then SIGKILL the agent), so it ignores SIGTERM, and
        # the agent gets the default back. SIGKILL still ends both.
        inside = [self.env, "--default-signal=TERM", *launch.argv]
        if self.drop_to is not None:
            setpriv, uid, gid = self.drop_to
            inside = [
                setpriv,
                f"--reuid={uid}",
                f"--regid={gid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                *inside,
            ]
        return [self.env, "--ignore-signal=TERM", self.bwrap, *self._options(launch), *inside]

    def _options(self, launch: Launch) -> list[str]:
        args = ["--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        args += ["--unshare-cgroup-try", "--ro-bind", "/usr", "/usr"]
        for top in _TOP_LEVEL:
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                args += ["--ro-bind", top, top]
        args += ["--ro-bind", "/etc", "/etc", *_resolver()]
        args += ["--proc", "/proc", "--dev", "/dev"]
        args += ["--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm"]
        for path in _python_and_openline():
            args += _bind(path)
        # Emptied after every bind above, in case one of them holds it; then the
        # deployment's own directories, which live inside it.
        args += ["--tmpfs", str(launch.data_dir)]
        for path in (launch.source, launch.venv):
            args += _bind(path)
        if self.drop_to is not None:  # for setpriv alone; it drops them with root
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        return [*args, "--chdir", str(launch.source), "--"]


def _bind(path: Path) -> list[str]:
    """A read-only bind at the same path. Its missing parents are made first, open to
    all: bwrap would make them owner-only, shutting out the unprivileged user."""
    parents = [str(parent) for parent in reversed(path.parents) if parent != Path("/")]
    return [
        *(arg for parent in parents for arg in ("--dir", parent)),
        "--ro-bind",
        *[str(path)] * 2,
    ]


def _ids_of(user: str) -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(user)
        ids = entry.pw_uid, entry.pw_gid
    except KeyError:
        if not user.isdigit():
            raise SandboxUnavailable(
                f"no user {user!r} to run agents as (OPENLINE_DEPLOY_SANDBOX_USER)"
            ) from None
        ids = int(user), int(user)
    if 0 in ids:
        raise SandboxUnavailable("OPENLINE_DEPLOY_SANDBOX_USER must not be root")
    return ids


def _resolver() -> list[str]:
    """/etc/resolv.conf may link elsewhere (systemd-resolved: /run/systemd/resolve)."""
    target = Path("/etc/resolv.conf").resolve()
    if target.parent == Path("/etc") or target.is_relative_to("/usr") or not target.exists():
        return []
    return ["--ro-bind", str(target.parent), str(target.parent)]


def _python_and_openline() -> list[Path]:
    """The prefix of the Python openline runs on, which every venv is made from (under
    /usr it is bound already), and openline's source, when it runs from one. Taken from
    openline itself, never from the venv, whose files a package may have written."""
    paths = []
    prefix = Path(sys.base_prefix)
    if prefix == Path("/"):
        raise SandboxUnavailable(f"openline's Python lives in / ({sys.executable})")
    if not prefix.resolve().is_relative_to("/usr"):
        paths.append(prefix)
    source = openline_source()
    if source is not None:
        paths.append(source / "src")
    return paths


def _signal_exits(code: int) -> int:
    """bwrap, like a shell, exits 128 + N when the agent was killed by signal N."""
    return -(code - 128) if 128 < code <= 128 + 64 else code


def _readable_by_all(*trees: Path) -> None:
    """The unprivileged user must read what a restrictive umask left owner-only."""
    for tree in trees:
        for directory, _, files in os.walk(tree):
            _add_read(Path(directory), directory=True)
            for name in files:
                _add_read(Path(directory) / name, directory=False)


def _add_read(path: Path, directory: bool) -> None:
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return  # chmod would change the link's target (the venv's python: the base one)
    wanted = stat.S_IRGRP | stat.S_IROTH
    if directory or mode & stat.S_IXUSR:
        wanted |= stat.S_IXGRP | stat.S_IXOTH
    if mode & wanted != wanted:
        path.chmod(stat.S_IMODE(mode) | wanted)
