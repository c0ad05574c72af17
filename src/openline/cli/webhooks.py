"""``openline webhooks``: webhook endpoints, their delivery log, redelivery and test sends."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from openline.cli._client import Api, named, segment, target
from openline.cli._errors import CliError, cli_errors
from openline.cli._output import (
    Cell,
    JsonFlag,
    console,
    err_console,
    parse_since,
    print_fields,
    print_json,
    print_list,
    when,
)

app = typer.Typer(
    name="webhooks",
    help="Webhook endpoints that receive call events: create, list, change, remove; "
    "their delivery log, redelivery and test sends.",
    no_args_is_help=True,
)

PAGE_MAX = 100  # the API's largest page

WebhookRef = Annotated[
    str,
    typer.Argument(help="Webhook id (agent_webhook_…) or exact name.", show_default=False),
]
Secret = Annotated[
    str | None,
    typer.Option(
        help="Shared secret sent as x-webhook-secret and used to sign (8+ characters; "
        "generated when not given).",
        show_default=False,
    ),
]
Name = Annotated[
    str | None, typer.Option("--name", help="A name to tell it by.", show_default=False)
]

_DELIVERY_STYLES = {"delivered": "green", "pending": "yellow", "failed": "bold red"}


def webhook_id(api: Api, ref: str) -> str:
    """A webhook's id, given its id or its exact name."""
    if ref.startswith("agent_webhook_"):
        return ref
    return named("webhook", api.get("/agents/webhooks")["data"], "display_name", ref)["id"]


def _path(webhook: str, *rest: str) -> str:
    return "/".join(["/agents/webhooks", segment(webhook), *(segment(part) for part in rest)])


@app.command("create")
@cli_errors
def create(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Argument(
            help="Where to POST events: https://…, or http:// on loopback.", show_default=False
        ),
    ],
    secret: Secret = None,
    name: Name = None,
    format: Annotated[
        str,
        typer.Option(
            help="json (signed JSON events), slack (a Slack incoming webhook's URL: readable "
            "messages) or email (URL mailto:ADDRESS; alert events only).",
        ),
    ] = "json",
    as_json: JsonFlag = False,
) -> None:
    """Add a webhook endpoint. Its secret is shown now, and never again."""
    body: dict[str, Any] = {"url": url, "format": format}
    if secret is not None:
        body["secret"] = secret
    if name is not None:
        body["display_name"] = name
    with Api(target(ctx)) as api:
        webhook = api.post("/agents/webhooks", body)
    if as_json:
        print_json(webhook)
        return
    console.print(f"Created webhook [bold]{webhook['id']}[/] → {escape(webhook['url'])}")
    console.print(f"Secret: [bold]{escape(webhook['secret'])}[/]")
    err_console.print(
        "[dim]The secret is shown only now: store it where your receiver can read it.[/]"
    )
    console.print(
        f"Send an agent's call events to it: openline agents update AGENT --webhook {webhook['id']}"
    )


@app.command("ls")
@cli_errors
def list_webhooks(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List webhook endpoints."""
    with Api(target(ctx)) as api:
        webhooks = api.get("/agents/webhooks")["data"]
    print_list(
        webhooks,
        ("ID", "NAME", "URL", "ENABLED", "STATE", "PENDING", "CREATED (UTC)"),
        lambda webhook: (
            webhook["id"],
            webhook.get("display_name"),
            webhook["url"],
            _enabled(webhook),
            _state(webhook),
            str(webhook["backlog"]["pending"]),
            when(webhook.get("created_at")),
        ),
        empty="No webhooks yet. Create one: openline webhooks create URL",
        as_json=as_json,
    )


@app.command("get")
@cli_errors
def get(ctx: typer.Context, webhook: WebhookRef, as_json: JsonFlag = False) -> None:
    """Show one webhook endpoint: its state, backlog and settings (not its secret)."""
    with Api(target(ctx)) as api:
        found = api.get(_path(webhook_id(api, webhook)))
    print_fields(found, _details, as_json=as_json)


@app.command("update")
@cli_errors
def update(
    ctx: typer.Context,
    webhook: WebhookRef,
    url: Annotated[str | None, typer.Option(help="A new URL.", show_default=False)] = None,
    secret: Annotated[
        str | None, typer.Option(help="A new secret (8+ characters).", show_default=False)
    ] = None,
    name: Name = None,
    enabled: Annotated[
        bool | None,
        typer.Option(
            "--enable/--disable",
            help="Turn deliveries back on (what was held is sent, in order) or off.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a webhook endpoint: only the options given change."""
    body: dict[str, Any] = {}
    if url is not None:
        body["url"] = url
    if secret is not None:
        body["secret"] = secret
    if name is not None:
        body["display_name"] = name
    if enabled is not None:
        body["enabled"] = enabled
    if not body:
        raise CliError("nothing to change: give at least one option (see --help)")
    with Api(target(ctx)) as api:
        updated = api.patch(_path(webhook_id(api, webhook)), body)
    if as_json:
        print_json(updated)
        return
    line = Text(f"Updated webhook {updated['id']} (enabled: ")
    line.append_text(_enabled(updated))
    console.print(line.append(")"))


@app.command("rm")
@cli_errors
def remove(ctx: typer.Context, webhook: WebhookRef) -> None:
    """Delete a webhook endpoint; its pending deliveries are dropped (marked failed)."""
    with Api(target(ctx)) as api:
        found = webhook_id(api, webhook)
        api.delete(_path(found))
    console.print(f"Deleted webhook {found}")


@app.command("deliveries")
@cli_errors
def deliveries(
    ctx: typer.Context,
    webhook: WebhookRef,
    call: Annotated[
        str | None, typer.Option("--call", help="Only this call's events.", show_default=False)
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed deliveries.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The delivery log: each event sent to the endpoint and how its attempts went."""
    with Api(target(ctx)) as api:
        found_id = webhook_id(api, webhook)
        rows, more = _pages(api, found_id, call, failed, limit)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No deliveries match." if call or failed else "No deliveries yet.")
        return
    console.print(deliveries_table(rows))
    if more:
        err_console.print(f"[dim]Showing the {limit} newest; --limit shows more.[/]")


def _pages(
    api: Api, webhook: str, call: str | None, failed: bool, limit: int
) -> tuple[list[dict], bool]:
    rows: list[dict] = []
    cursor = None
    while len(rows) <= limit:
        page = api.get(
            _path(webhook, "deliveries"),
            call_id=call,
            failed="true" if failed else None,
            limit=min(PAGE_MAX, limit + 1 - len(rows)),
            starting_after=cursor,
        )
        rows += page["data"]
        cursor = page.get("next_page")
        if not page.get("has_more") or not cursor or not page["data"]:
            break
    return rows[:limit], len(rows) > limit


def deliveries_table(rows: list[dict]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("TIME (UTC)", "EVENT", "CALL", "STATUS", "ATTEMPTS", "LAST RESULT", "TOOK"):
        table.add_column(column, overflow="fold")
    table.add_column("DELIVERY", overflow="fold", style="dim")
    for row in rows:
        last = row["attempts"][-1] if row["attempts"] else None
        table.add_row(
            when(row.get("created_at")),
            row["event_type"],
            row["call_id"],
            Text(row["status"], style=_DELIVERY_STYLES.get(row["status"], "")),
            str(len(row["attempts"])),
            escape(attempt_result(last)) if last else "-",
            f"{last['duration_ms']:.0f} ms" if last else "-",
            row["id"],
        )
    return table


def attempt_result(attempt: dict) -> str:
    """``200``, ``500 (HTTP 500)``, or the error when there was no answer."""
    code, error = attempt.get("status_code"), attempt.get("error")
    if code is None:
        return error or "no answer"
    if error and error != f"HTTP {code}":
        return f"{code} ({error})"
    return str(code)


@app.command("redeliver")
@cli_errors
def redeliver(
    ctx: typer.Context,
    webhook: WebhookRef,
    delivery: Annotated[
        str | None,
        typer.Argument(help="One delivery (whd_…) to send again.", show_default=False),
    ] = None,
    failed_since: Annotated[
        str | None,
        typer.Option(
            "--failed-since",
            help="Every failed delivery created since: ISO 8601 (UTC unless it has a zone) "
            "or an age like 30m, 2h, 7d.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Queue one delivery, or every failed one (since a time), for another attempt now."""
    if delivery and failed_since:
        raise CliError("give either a DELIVERY or --failed-since, not both")
    with Api(target(ctx)) as api:
        found = webhook_id(api, webhook)
        if delivery:
            api.post(_path(found, "deliveries", delivery, "redeliver"), {})
            console.print(f"Queued {delivery} again.")
            return
        since = parse_since(failed_since) if failed_since else None
        queued = api.post(_path(found, "redeliver"), {"since": since})["queued"]
    noun = "delivery" if queued == 1 else "deliveries"
    console.print(f"Queued {queued} failed {noun} again.")


@app.command("test")
@cli_errors
def test(ctx: typer.Context, webhook: WebhookRef, as_json: JsonFlag = False) -> None:
    """Send a sample call_completed event now and show the endpoint's status and timing."""
    with Api(target(ctx)) as api:
        found = webhook_id(api, webhook)
        sent = api.post(_path(found, "test"), {})
    if as_json:
        print_json(sent)
    attempt = sent["attempts"][-1] if sent["attempts"] else {}
    if not as_json:
        line = Text("Sent a sample call_completed: ")
        line.append(
            attempt_result(attempt), style="green" if sent["status"] == "delivered" else "red"
        )
        line.append(f" in {attempt.get('duration_ms', 0):.0f} ms (delivery {sent['id']})")
        console.print(line)
    if sent["status"] != "delivered":
        raise CliError(f"the endpoint did not accept it ({attempt_result(attempt)})")


def _enabled(webhook: dict) -> Text:
    if webhook.get("enabled"):
        return Text("yes", style="green")
    return Text(f"no: {webhook.get('disabled_reason') or 'disabled'}", style="bold red")


_STATE_STYLES = {"healthy": "green", "failing": "yellow", "paused": "bold yellow"}


def _state(webhook: dict) -> Text:
    """``healthy``, ``failing (3 in a row)``, ``paused (40 in a row)`` or ``disabled``."""
    state, streak = webhook["state"], webhook.get("failure_streak", 0)
    shown = f"{state} ({streak} failed in a row)" if streak else state
    return Text(shown, style=_STATE_STYLES.get(state, "bold red"))


def _details(webhook: dict) -> list[tuple[str, Cell]]:
    backlog = webhook["backlog"]
    return [
        ("id", webhook["id"]),
        ("name", webhook.get("display_name")),
        ("url", webhook["url"]),
        ("format", webhook["format"]),
        ("enabled", _enabled(webhook)),
        ("disabled (UTC)", when(webhook.get("disabled_at"))),
        ("state", _state(webhook)),
        ("failing since (UTC)", when(webhook.get("failing_since"))),
        ("next probe (UTC)", when(webhook.get("next_probe_at"))),
        ("pending deliveries", str(backlog["pending"])),
        ("oldest pending (UTC)", when(backlog.get("oldest_pending_at"))),
        ("created (UTC)", when(webhook.get("created_at"))),
        ("updated (UTC)", when(webhook.get("updated_at"))),
    ]
