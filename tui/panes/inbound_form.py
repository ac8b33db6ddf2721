"""The form of an inbound campaign's settings (SPEC C14), from the Campaigns pane: the lines that
answer (picked from the configured lines), business hours, the call flow and the closed-hours
one, the agents' skill, the queue's maximum wait and overflow, the callback campaign — and
whether to start it now. What the API refuses (a setting, or the start: no line, a line another
inbound campaign answers on...) brings the form back with the API's words and what was typed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from tui.base import Host
from tui.client import ApiError, Unreachable
from tui.screens.form import Field, Form
from tui.text import printable

OVERFLOWS = (("hang up", "hang_up"), ("callback (callback campaign)", "callback"),
             ("a node of the flow", "node"))  # fmt: skip
TEXT_KEYS = ("windows", "flow", "closed_flow", "skill", "overflow_node")


def values_of(campaign: dict[str, Any], start: bool) -> dict[str, str]:
    """The form's values from a campaign as GET /campaigns/{name} gives it."""
    s = campaign.get("settings", {})
    values = {key: str(s.get(key) or "") for key in TEXT_KEYS}
    values.update(
        answer_lines=",".join(s.get("answer_lines") or []),
        queue_max_wait=str(s.get("queue_max_wait", 120)),
        overflow=str(s.get("overflow") or "hang_up"),
        callback_campaign=str(s.get("callback_campaign") or ""),
        start="yes" if start else "no",
    )
    return values


def settings_of(values: dict[str, str]) -> dict[str, Any]:
    """The PATCH body's settings from the form's values; an empty field restores the default."""
    settings: dict[str, Any] = {key: values.get(key) or None for key in TEXT_KEYS}
    settings["answer_lines"] = [n for n in values.get("answer_lines", "").split(",") if n]
    wait = values.get("queue_max_wait", "").strip()
    settings["queue_max_wait"] = int(wait) if wait.isdigit() else (wait or None)
    settings["overflow"] = values.get("overflow") or None
    settings["callback_campaign"] = values.get("callback_campaign") or None
    return settings


def form(name: str, values: dict[str, str], lines: list[str], calling: list[str],
         note: str = "") -> Form:  # fmt: skip
    """The form, filled with `values`; `note`: what the API said of the last try."""
    picks = [(printable(n), n) for n in lines]
    picks += [(printable(n) + " (not configured)", n)
              for n in values.get("answer_lines", "").split(",") if n and n not in lines]  # fmt: skip
    return Form(f"Inbound campaign {printable(name)}", [
        Field("answer_lines", "Answer lines", values.get("answer_lines", ""), picks, many=True),
        Field("windows", "Business hours", values.get("windows", ""),
              hint="mon-fri 08:00-18:00 (empty: always)"),
        Field("flow", "Flow", values.get("flow", ""),
              hint="e.g. menu (empty: straight to the queue)"),
        Field("closed_flow", "Closed-hours flow", values.get("closed_flow", ""),
              hint="empty: not answered (missed)"),
        Field("skill", "Agents' skill", values.get("skill", ""), hint="empty: any agent"),
        Field("queue_max_wait", "Queue max wait (s)", values.get("queue_max_wait", "120")),
        Field("overflow", "Overflow", values.get("overflow", "hang_up"), OVERFLOWS),
        Field("overflow_node", "Overflow node", values.get("overflow_node", ""),
              hint="with overflow 'a node of the flow'"),
        Field("callback_campaign", "Callback campaign", values.get("callback_campaign", ""),
              [("(none)", ""), *((printable(n), n) for n in calling)]),
        Field("start", "Start now", values.get("start", "no"), (("no", "no"), ("yes", "yes"))),
    ], note=note or "Space ticks a line. Flows are named in the flow files (docs/flows.md).")  # fmt: skip


async def edit(host: Host, name: str, start: bool, done: Callable[[], Awaitable[None]]) -> None:
    """Open the form for campaign `name`; save what is submitted and start it if asked;
    `done` runs after a change (the pane reloads)."""
    try:
        campaign = await host.client.get(f"/campaigns/{quote(name, safe='')}")
        lines = [str(ln["name"]) for ln in await host.client.get("/lines")]
        calling = [str(c["name"]) for c in await host.client.get("/campaigns")
                   if c["type"] in ("agent", "automated")]  # fmt: skip
    except (ApiError, Unreachable) as exc:
        host.notify(str(getattr(exc, "detail", exc)), severity="error", timeout=8)
        return
    show(host, name, values_of(campaign, start), lines, calling, "", done)


def show(host: Host, name: str, values: dict[str, str], lines: list[str], calling: list[str],
         note: str, done: Callable[[], Awaitable[None]]) -> None:  # fmt: skip
    async def submitted(v: dict[str, str] | None) -> None:
        if v is None:
            return
        path = f"/campaigns/{quote(name, safe='')}"
        try:
            await host.client.patch(path, {"settings": settings_of(v)})
        except ApiError as exc:
            host.notify(exc.detail, severity="error", timeout=8)
            show(host, name, v, lines, calling, f"Not saved: {exc.detail}", done)
            return
        except Unreachable as exc:
            host.notify(str(exc), severity="error")
            return
        await done()
        if v.get("start") != "yes":
            host.notify(f"{name}: inbound settings saved")
            return
        try:
            await host.client.post(f"{path}/start")
        except ApiError as exc:
            host.notify(exc.detail, severity="error", timeout=8)
            show(host, name, v, lines, calling, f"Saved, not started: {exc.detail}", done)
            return
        except Unreachable as exc:
            host.notify(str(exc), severity="error")
            return
        host.notify(f"{name}: saved and started: it answers calls")
        await done()

    app: Any = host
    app.push_screen(form(name, values, lines, calling, note), submitted)
