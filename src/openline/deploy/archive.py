"""Agent directories as tar.gz archives: packing one (the CLI) and unpacking an upload
(the server) so that nothing lands outside the directory it is unpacked into.

An upload is checked whole before anything is written: only regular files and
directories, relative paths without ``..``, bounded count and size. Files are then
written by this code (never ``tarfile.extract``), with no owner, no special bits and
no links, so a crafted archive cannot touch anything but its own directory.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path, PurePosixPath

# Never uploaded: local environments, caches, VCS data, and secrets meant for `openline env`.
EXCLUDED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".venv",
        "venv",
        "__pycache__",
        ".openline",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
    }
)
EXCLUDED_FILES = frozenset({".env"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


class UnsafeArchive(Exception):
    """The upload cannot be unpacked; ``str()`` says why."""


def pack(directory: Path, max_bytes: int | None = None) -> bytes:
    """The directory as a gzipped tar, without the excluded files; refuses symlinks."""
    directory = directory.resolve()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in _walk(directory):
            relative = path.relative_to(directory).as_posix()
            info = archive.gettarinfo(str(path), arcname=relative)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isreg():
                with path.open("rb") as handle:
                    archive.addfile(info, handle)
            else:
                archive.addfile(info)
            if max_bytes is not None and buffer.tell() > max_bytes:
                raise ValueError(f"{directory} packs to more than {max_bytes} bytes")
    return buffer.getvalue()


def _walk(directory: Path):
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_DIRS)
        base = Path(root)
        for name in dirs:
            if (base / name).is_symlink():
                raise ValueError(f"{base / name} is a symbolic link; deployments cannot hold links")
            yield base / name
        for name in sorted(files):
            path = base / name
            if name in EXCLUDED_FILES or name.endswith(EXCLUDED_SUFFIXES):
                continue
            if path.is_symlink():
                raise ValueError(f"{path} is a symbolic link; deployments cannot hold links")
            if path.is_file():
                yield path


def unpack(archive_path: Path, destination: Path, max_bytes: int, max_files: int) -> int:
    """Unpack into ``destination`` (created, must not exist); returns the file count."""
    try:
        archive = tarfile.open(archive_path, mode="r:*")  # noqa: SIM115 (closed by `with` below)
    except (tarfile.TarError, OSError, EOFError):
        raise UnsafeArchive("the upload is not a tar or tar.gz archive") from None
    with archive:
        try:
            members = archive.getmembers()
        except (tarfile.TarError, OSError, EOFError) as error:
            raise UnsafeArchive(f"the archive is damaged ({error})") from None
        plan = _check(members, max_bytes, max_files)
        destination.mkdir(parents=True)
        root = destination.resolve()
        files = 0
        for member, relative in plan:
            target = root.joinpath(*relative.parts)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.resolve().parent != target.parent:  # belt and braces: no links on the way
                raise UnsafeArchive(f"{member.name}: resolves outside the deployment directory")
            source = archive.extractfile(member)
            assert source is not None
            try:
                with source, target.open("xb") as out:  # "x": a duplicate never overwrites
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
            except FileExistsError:
                raise UnsafeArchive(f"{member.name}: appears twice in the archive") from None
            target.chmod(0o755 if member.mode & stat.S_IXUSR else 0o644)
            files += 1
    return files


def _check(
    members: list[tarfile.TarInfo], max_bytes: int, max_files: int
) -> list[tuple[tarfile.TarInfo, PurePosixPath]]:
    if len(members) > max_files:
        raise UnsafeArchive(f"the archive has {len(members)} entries; at most {max_files}")
    total = 0
    plan = []
    for member in members:
        name = member.name
        if member.issym() or member.islnk():
            raise UnsafeArchive(f"{name}: links are not allowed in a deployment archive")
        if not (member.isreg() or member.isdir()):
            raise UnsafeArchive(f"{name}: only regular files and directories are allowed")
        if "\x00" in name or "\\" in name:
            raise UnsafeArchive(f"{name!r}: invalid characters in the path")
        path = PurePosixPath(name)
        if path.is_absolute() or name.startswith("/"):
            raise UnsafeArchive(f"{name}: absolute paths are not allowed")
        if ".." in path.parts:
            raise UnsafeArchive(f"{name}: '..' would escape the deployment directory")
        relative = PurePosixPath(*[part for part in path.parts if part not in ("", ".")])
        if not relative.parts:
            continue  # "." itself
        total += member.size
        if total > max_bytes:
            raise UnsafeArchive(f"the archive unpacks to more than {max_bytes} bytes")
        plan.append((member, relative))
    return plan
