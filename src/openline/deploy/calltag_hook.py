"""Runs inside a deployment's agent process: marks each line that a call's code prints
or logs with that call's id, so openline can put the line on the call's log.

openline copies this file into the deployment's venv with a ``.pth`` file that calls
``install()`` at every interpreter start (``deploy/calltags.py``). It does nothing unless
openline started the process (``OPENLINE_CALL_TAGS=1``). Standard library only: the
agent's venv may hold nothing else openline knows.

- Every Starlette app (FastAPI, so cartesia-line's ``VoiceAgentApp``; openline's
  ``AgentApp``) is patched, when ``starlette.applications`` is first imported, to give
  each websocket connection, and each ``POST …/chats``, a holder in a context variable.
  The tasks the connection creates inherit it. The holder learns the call id from the
  websocket URL's ``call_id`` (so the SDK's "client connected" lines count), then from
  the agent protocol's ``start`` message; for ``POST /chats``, from the JSON body.
- ``sys.stdout`` and ``sys.stderr`` are wrapped: each line written while the holder
  knows an id starts with ``MARK_START + call id + MARK_END``. stdlib logging handlers,
  loguru's sinks and ``print`` all write through them.

It must never break an agent: whatever it meets that it does not expect, it leaves as
it is.
"""

from __future__ import annotations

import json
import os
import re
import sys
from contextvars import ContextVar

ENV = "OPENLINE_CALL_TAGS"
# ASCII "start of heading" and "start of text": never in ordinary output, and unlike the
# separators \x1c-\x1e not line breaks to str.splitlines().
MARK_START = "\x01"
MARK_END = "\x02"
MAX_ID_CHARS = 128
_PLAUSIBLE_ID = re.compile(rf"[A-Za-z0-9_.:-]{{1,{MAX_ID_CHARS}}}")
_MAX_BODY_BYTES = 1 << 20  # a /chats body this big is not read for its id


class _Call:
    """What one connection knows of its call; filled in as its messages arrive."""

    __slots__ = ("id",)

    def __init__(self) -> None:
        self.id: str | None = None

    def learn(self, value: object) -> None:
        if isinstance(value, str) and _PLAUSIBLE_ID.fullmatch(value):
            self.id = value

    def learn_from_json(self, document: object) -> None:
        if not document or not isinstance(document, str | bytes):
            return
        try:
            data = json.loads(document)
            if isinstance(data, dict):
                self.learn(data.get("call_id"))
        except Exception:  # noqa: BLE001, S110 - not JSON, or not the start message
            pass


_call: ContextVar[_Call | None] = ContextVar("openline_call_tag", default=None)


def install() -> None:
    """Called by the ``.pth`` file at interpreter start."""
    if os.environ.get(ENV) != "1":
        return
    try:
        sys.meta_path.insert(0, _PatchStarletteOnImport())
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is not None and not isinstance(stream, TaggingStream):
                setattr(sys, name, TaggingStream(stream))
    except Exception:  # noqa: BLE001, S110 - an agent must start whatever happens here
        pass


class TaggingStream:
    """A text stream that starts each line written during a call with the call's mark.
    Everything but ``write`` and ``writelines`` is the wrapped stream's own."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self._at_line_start = True

    def write(self, text):
        holder = _call.get()
        call_id = holder.id if holder is not None else None
        if call_id is None or not isinstance(text, str) or not text:
            if isinstance(text, str) and text:
                self._at_line_start = text.endswith("\n")
            return self._stream.write(text)
        mark = f"{MARK_START}{call_id}{MARK_END}"
        parts = text.split("\n")
        last = len(parts) - 1
        marked = "\n".join(
            mark + part if (i or self._at_line_start) and (part or i < last) else part
            for i, part in enumerate(parts)
        )
        self._at_line_start = text.endswith("\n")
        self._stream.write(marked)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class _PatchStarletteOnImport:
    """A meta path finder that finds nothing itself: it lets the others find
    ``starlette.applications`` and patches the module once it has run."""

    def find_spec(self, name, path=None, target=None):
        if name != "starlette.applications":
            return None
        try:
            sys.meta_path.remove(self)  # once, and not for the lookup below
            from importlib.util import find_spec

            spec = find_spec(name)
            loader = spec.loader if spec is not None else None
            if loader is None:
                return spec
            run = loader.exec_module

            def exec_module(module) -> None:
                run(module)
                try:
                    _patch(module.Starlette)
                except Exception:  # noqa: BLE001, S110 - starlette as it is, untagged
                    pass

            # This one loader instance runs the module and then patches it.
            loader.exec_module = exec_module  # type: ignore[method-assign]
        except Exception:  # noqa: BLE001 - not patched: let the import go on as usual
            return None
        return spec


def _patch(starlette) -> None:
    original = starlette.__call__

    async def __call__(self, scope, receive, send):
        holder = None
        try:
            if _call.get() is None:  # a mounted app inside a call keeps the outer holder
                holder, receive = _watch(scope, receive)
        except Exception:  # noqa: BLE001 - untagged, not broken
            holder = None
        if holder is None:
            return await original(self, scope, receive, send)
        token = _call.set(holder)
        try:
            return await original(self, scope, receive, send)
        finally:
            _call.reset(token)

    starlette.__call__ = __call__


def _watch(scope, receive):
    """(holder, receive) for a connection that belongs to a call, else (None, receive)."""
    kind = scope.get("type")
    if kind == "websocket":
        holder = _Call()
        from urllib.parse import parse_qs

        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        holder.learn((query.get("call_id") or [None])[0])
        return holder, _first_frame_read(receive, holder)
    if (
        kind == "http"
        and scope.get("method") == "POST"
        and scope.get("path", "").endswith("/chats")
    ):
        holder = _Call()
        return holder, _body_read(receive, holder)
    return None, receive


def _first_frame_read(receive, holder: _Call):
    """``receive`` that reads the call id of the first frame, the ``start`` message."""
    waiting = True

    async def read():
        nonlocal waiting
        message = await receive()
        try:
            if waiting and message.get("type") == "websocket.receive":
                waiting = False
                holder.learn_from_json(message.get("text"))
        except Exception:  # noqa: BLE001, S110 - not an ASGI message: the app will say so
            pass
        return message

    return read


def _body_read(receive, holder: _Call):
    """``receive`` that reads the call id of the request's JSON body once it is whole."""
    body: bytes | None = b""  # None once read, or too long to read

    async def read():
        nonlocal body
        message = await receive()
        try:
            if body is not None and message.get("type") == "http.request":
                body += message.get("body", b"")
                if not message.get("more_body"):
                    holder.learn_from_json(body)
                    body = None
                elif len(body) > _MAX_BODY_BYTES:
                    body = None
        except Exception:  # noqa: BLE001 - not an ASGI message: stop reading
            body = None
        return message

    return read
