"""Call tags: how a deployment's output lines say which call printed them.

``calltag_hook`` runs inside the agent process and starts each line written by a call's
code with ``MARK_START + call id + MARK_END``. ``install_hook`` puts it into a
deployment's venv before each start, so the hook always matches the openline reading
its marks (a venv built by an older openline gets the current one). ``untag`` splits a
captured line into the call id it names and the line as the agent wrote it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from openline.deploy import calltag_hook
from openline.deploy.calltag_hook import ENV, MARK_END, MARK_START, MAX_ID_CHARS

__all__ = ["ENV", "install_hook", "untag"]

_MODULE = "_openline_calltag_hook"
# A .pth line starting with "import" is run by the interpreter's site module at startup.
_PTH = f"import {_MODULE}; {_MODULE}.install()\n"


def install_hook(venv: Path) -> None:
    """Write the hook and its ``.pth`` file into the venv's site-packages."""
    for site_packages in (venv / "lib").glob("python*/site-packages"):
        shutil.copyfile(calltag_hook.__file__, site_packages / f"{_MODULE}.py")
        (site_packages / f"{_MODULE}.pth").write_text(_PTH, encoding="utf-8")


def untag(line: str) -> tuple[str | None, str]:
    """(the call id the line is marked with, or None; the line without its mark)."""
    if line.startswith(MARK_START):
        end = line.find(MARK_END, 1, MAX_ID_CHARS + 2)
        if end > 1:
            return line[1:end], line[end + 1 :]
    return None, line
