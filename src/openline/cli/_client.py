"""Talking to an openline server: where it is, which key to use, and what its errors mean.

Resolution, in order:

- server URL: ``openline --url URL …``, else ``$OPENLINE_URL``, else the URL the last
  ``openline up`` saved in ``<data dir>/url``, else ``http://127.0.0.1:8700``;
- API key: ``openline --api-key KEY …``, else ``$OPENLINE_API_KEY``, else the admin key
  ``openline up`` saved in ``<data dir>/credentials`` (``$OPENLINE_DATA_DIR``, default
  ``.openline``).

Every failure a user can cause or fix (server down, bad key, unknown id, bad input)
becomes a :class:`CliError` with one clear line; ``cli_errors`` prints it and exits 1.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Self
from urllib.parse import quote

import httpx
import typer

from openline.cli._errors import CliError
from openline.cli._sse import ServerEvent, SseDecoder

DEFAULT_URL = "http://127.0.0.1:8700"
DEFAULT_DATA_DIR = ".openline"
URL_FILE = "url"  # beside `credentials`: where `openline up` says it listens
TIMEOUT = httpx.Timeout(30.0, connect=5.0)

# The argument of the commands about one agent (`Api.agent` resolves it).
AgentRef = Annotated[
    str, typer.Argument(help="Agent id (agent_…) or exact name.", show_default=False)
]


@dataclass(frozen=True)
class Target:
    """Which server to talk to, and with which key."""

    url: str
    api_key: str | None

    @property
    def ws_url(self) -> str:
        scheme, rest = self.url.split("://", 1)
        return ("wss" if scheme == "https" else "ws") + "://" + rest

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def segment(value: str) -> str:
    """An id as one URL path segment, whatever the user typed."""
    return quote(value, safe="")


def data_dir() -> Path:
    return Path(os.environ.get("OPENLINE_DATA_DIR") or DEFAULT_DATA_DIR)


def save_url(directory: Path, host: str, port: int) -> None:
    """Record where ``openline up`` listens, as this machine's CLI reaches it."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in host and not host.startswith("["):  # an IPv6 address
        host = f"[{host}]"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / URL_FILE).write_text(f"http://{host}:{port}\n")


def _saved_url() -> str | None:
    try:
        return (data_dir() / URL_FILE).read_text().strip() or None
    except OSError:
        return None


def resolve(url: str | None = None, api_key: str | None = None) -> Target:
    url = (url or os.environ.get("OPENLINE_URL") or _saved_url() or DEFAULT_URL).strip()
    url = url.rstrip("/")
    if "://" not in url:
        url = "http://" + url
    if not url.startswith(("http://", "https://")):
        raise CliError(f"the server URL must start with http:// or https://, not {url!r}")
    key = api_key or os.environ.get("OPENLINE_API_KEY") or _saved_key()
    return Target(url, key or None)


def _saved_key() -> str | None:
    from openline.platform import saved_key  # heavy (the whole server): import only if needed

    try:
        return saved_key(data_dir())
    except OSError:
        return None


# -- the root options (`openline --url … --api-key … COMMAND`) ---------------------------------


@dataclass(frozen=True)
class _Options:
    url: str | None
    api_key: str | None


def global_options(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="OPENLINE_URL",
            show_envvar=True,
            help="openline server to talk to (default: the URL `openline up` saved in "
            f"$OPENLINE_DATA_DIR/{URL_FILE}, else {DEFAULT_URL}).",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="OPENLINE_API_KEY",
            show_envvar=True,
            help="API key (default: the key `openline up` saved in "
            "$OPENLINE_DATA_DIR/credentials, .openline/credentials).",
        ),
    ] = None,
) -> None:
    """Run voice agents and monitor every deployment and every call."""
    ctx.obj = _Options(url, api_key)


def target(ctx: typer.Context | None = None) -> Target:
    """The server and key for this invocation (root options, environment, saved key)."""
    options = ctx.find_root().obj if ctx is not None else None
    if isinstance(options, _Options):
        return resolve(options.url, options.api_key)
    return resolve()


# -- errors -----------------------------------------------------------------------------------


def unreachable(url: str, error: Exception) -> CliError:
    return CliError(
        f"cannot reach openline at {url} ({_reason(error)}). Start a server with "
        "`openline up`, or point --url / OPENLINE_URL at a running one."
    )


def _reason(error: Exception) -> str:
    text = str(error).strip()
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    if "refused" in text.lower() or "Errno 111" in text or "Connect call failed" in text:
        return "connection refused"
    return text or type(error).__name__


def api_message(response: httpx.Response) -> str:
    """The ``error.message`` of an API error reply, or what there is instead."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if body.get("detail"):
            return str(body["detail"])
    text = response.text.strip()
    return text[:300] if text else response.reason_phrase


def error_for(response: httpx.Response, target: Target) -> CliError:
    message = api_message(response)
    status = response.status_code
    if status == 401:
        if target.api_key:
            hint = "check --api-key / OPENLINE_API_KEY"
        else:
            hint = (
                "pass --api-key or set OPENLINE_API_KEY (`openline up` saves its admin key "
                f"in {data_dir() / 'credentials'})"
            )
        return CliError(f"the server refused the request: {message}; {hint}")
    if status == 404:
        return CliError(message)
    if status == 422:
        return CliError(f"invalid request: {message}")
    if status >= 500:
        return CliError(f"the server failed ({status}): {message}")
    return CliError(f"{message} (HTTP {status})")


# -- the HTTP client ----------------------------------------------------------------------------


class Api:
    """A small synchronous client for the REST API; raises :class:`CliError`."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._http = httpx.Client(base_url=target.url, headers=target.headers, timeout=TIMEOUT)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise unreachable(self.target.url, error) from None
        if response.is_error:
            raise error_for(response, self.target)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"{self.target.url} did not answer like an openline server "
                f"({method} {path} returned non-JSON)"
            ) from None

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean)

    @contextlib.contextmanager
    def download(self, path: str) -> Iterator[httpx.Response]:
        """A GET whose body is read as it arrives (``iter_bytes``), for files too big to
        hold; an error reply or a dropped connection, even mid-body, is a CliError."""
        try:
            with self._http.stream("GET", path) as response:
                if response.is_error:
                    response.read()
                    raise error_for(response, self.target)
                try:
                    yield response
                except httpx.TransportError as error:  # the server was there: it broke off
                    raise CliError(f"the download broke off ({_reason(error)})") from None
        except httpx.TransportError as error:
            raise unreachable(self.target.url, error) from None

    def post(self, path: str, body: dict) -> Any:
        return self.request("POST", path, json=body)

    def patch(self, path: str, body: dict) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    # -- lookups used by several commands --------------------------------------------------

    def agent(self, ref: str) -> dict:
        """An agent by id, or by its exact name when ``ref`` is not an id."""
        if ref.startswith("agent_"):
            return self.get(f"/agents/{segment(ref)}")
        return named("agent", self.get("/agents")["summaries"], "name", ref)

    def agent_id(self, ref: str) -> str:
        return ref if ref.startswith("agent_") else self.agent(ref)["id"]


def named(noun: str, items: list[dict], key: str, ref: str) -> dict:
    """The one of ``items`` (``noun``s, listed by `openline <noun>s ls`) whose ``key`` is
    ``ref`` exactly: a user gave its name instead of its id."""
    matches = [item for item in items if item.get(key) == ref]
    if not matches:
        raise CliError(f"no {noun} with id or name {ref!r} (see `openline {noun}s ls`)")
    if len(matches) > 1:
        ids = ", ".join(item["id"] for item in matches)
        raise CliError(f"several {noun}s are named {ref!r} ({ids}): use the id")
    return matches[0]


async def tail_events(
    target: Target, call_id: str, kinds: tuple[str, ...] = ()
) -> AsyncIterator[ServerEvent]:
    """The live tail of a call (server-sent events): its facts (of ``kinds``, if given),
    then ``end``."""
    timeout = httpx.Timeout(10.0, read=None)  # a quiet call is not a dead server
    try:
        async with (
            httpx.AsyncClient(base_url=target.url, headers=target.headers, timeout=timeout) as http,
            http.stream(
                "GET", f"/agents/calls/{segment(call_id)}/stream", params={"kinds": list(kinds)}
            ) as response,
        ):
            if response.is_error:
                await response.aread()
                raise error_for(response, target)
            async for event in SseDecoder().aevents(response.aiter_lines()):
                yield event
    except httpx.TransportError as error:
        raise unreachable(target.url, error) from None
