"""The dashboard pane: calls in progress, calls dialed per minute, lines up, each campaign's abandon
rate against its cap, the last hour's outcomes — calls and SMS counted apart; and with inbound
campaigns their queue (SPEC C14): callers waiting with their wait and the contact their number
matches, calls ringing in, missed calls open — `m` lists the missed calls to call back."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Label, Sparkline, Static

from tui.base import Pane, css_beside, fill, pct
from tui.screens.missed import MissedCalls
from tui.screens.recordings import Recordings
from tui.text import cell

# An SMS attempt ends Connected when the network took it, ErrorOccurred when it did not.
SMS_WORDS = {"Connected": "sent", "ErrorOccurred": "failed"}
# E-mail attempts (#26) by their outcomes.
EMAIL_WORDS = {"EmailSent": "sent", "EmailFailed": "failed", "EmailBounced": "bounced",
               "EmailSkipped": "skipped"}  # fmt: skip
QUEUE_COLUMNS = ("queue", "for", "caller", "contact", "campaign", "line")
CALLER_WIDTH, CONTACT_WIDTH, CAMPAIGN_WIDTH, LINE_WIDTH = 16, 20, 12, 8


def counted(outcomes: dict[str, int], words: dict[str, str] | None = None) -> str:
    """Outcomes by count, most first: `Connected 228  NoAnswer 40`."""
    ranked = sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0]))
    return "  ".join(f"{(words or {}).get(k, k)} {v}" for k, v in ranked if v)


def last_hour(status: dict[str, Any]) -> str:
    """The last hour's ended attempts, calls apart from SMS (an SMS sent is no connected call)."""
    split = status.get("outcomes_last_hour_by_channel")
    if split is None:  # a daemon from before the split
        return f"last hour: {counted(status['outcomes_last_hour']) or 'nothing ended'}"
    calls = counted(split.get("voice", {})) or "none ended"
    text = f"calls, last hour: {calls}"
    if sms := counted(split.get("sms", {}), SMS_WORDS):
        text += f"\nSMS, last hour: {sms}"
    if mail := counted(split.get("email", {}), EMAIL_WORDS):
        text += f"\ne-mail, last hour: {mail}"
    return text


def duration(seconds: Any) -> str:
    """A wait as m:ss (h:mm:ss from an hour on); "" when unknown."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        return ""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def inbound_line(inbound: dict[str, Any] | None) -> str:
    """The inbound campaigns' figures in one line of at most 80 columns ("" without any)."""
    if not inbound or not inbound.get("campaigns"):
        return ""
    missed = f"{inbound.get('missed_open', 0)} missed open (m)"
    if not inbound.get("live"):
        return f"inbound: queue not known (no engine) · {missed}"
    campaigns = inbound["campaigns"]
    waiting = sum(c["waiting"] for c in campaigns)
    longest = max((c["longest_wait_seconds"] for c in campaigns), default=0)
    ringing = len(inbound.get("ringing", []))
    text = f"inbound: [b]{waiting}[/b] waiting"
    if waiting:
        text += f", longest {duration(longest)}"
    return text + f" · {ringing} ringing · {missed}"


def matched_text(matched: list[dict[str, Any]]) -> str:
    """The first known contact of a caller's number by name (#id without one), +N for more."""
    if not matched:
        return ""
    first = matched[0]
    name = first.get("name") or f"#{first.get('contact_id')}"
    return name + (f" +{len(matched) - 1}" if len(matched) > 1 else "")


def queue_rows(inbound: dict[str, Any]) -> list[tuple[Text, ...]]:
    """Waiting callers, longest first, then the calls ringing in — each cut to its column."""
    rows: list[tuple[Text, ...]] = []
    for w in inbound.get("waiting", []):
        rows.append((cell("waiting"), cell(duration(w.get("waited_seconds"))),
                     cell(w.get("caller") or "withheld", CALLER_WIDTH),
                     cell(matched_text(w.get("matched") or []), CONTACT_WIDTH),
                     cell(w.get("campaign"), CAMPAIGN_WIDTH), cell(w.get("line"), LINE_WIDTH)))  # fmt: skip
    for r in inbound.get("ringing", []):
        why = f"not answered: {r['unanswered']}" if r.get("unanswered") else ""
        rows.append((cell("ringing"), cell(duration(r.get("ringing_seconds"))),
                     cell(r.get("caller") or "withheld", CALLER_WIDTH), cell(why, CONTACT_WIDTH),
                     cell(r.get("campaign") or "(none)", CAMPAIGN_WIDTH),
                     cell(r.get("line"), LINE_WIDTH)))  # fmt: skip
    return rows


class Dashboard(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "missed", "Missed calls", tooltip="Missed calls: call back or dismiss"),
        Binding(
            "v", "recordings", "Recordings", tooltip="Recordings: play, save, details, failures"
        ),
    ]
    DEFAULT_CSS = css_beside(__file__)

    def compose(self) -> ComposeResult:
        yield Static("", id="summary")
        yield Label("calls dialed per minute, last 30 minutes")
        yield Sparkline([0], id="dials")
        table: DataTable[Any] = DataTable(id="dash-campaigns", cursor_type="row")
        table.add_columns("campaign", "status", "in call", "pending", "abandon 24h", "30d", "cap")
        yield table
        queue: DataTable[Any] = DataTable(id="dash-queue", cursor_type="row")
        queue.add_columns(*QUEUE_COLUMNS)
        queue.display = False  # shown when the box has an inbound campaign and knows its queue
        yield queue
        yield Static("", id="outcomes", markup=False)

    async def reload(self) -> None:
        status = await self.client.get("/status")
        lines = status["lines"]
        up = sum(1 for line in lines if line["state"] in ("up", "busy"))
        agents = ", ".join(f"{k} {v}" for k, v in status["agents"].items()) or "none logged in"
        summary = (
            f"[b]{status['calls_in_flight']}[/b] calls in progress · "
            f"[b]{status['dials_last_minute']}[/b] dialed in the last 2 min · "
            f"lines up [b]{up}/{len(lines)}[/b]\nagents: {agents}"
        )
        inbound = status.get("inbound")
        if text := inbound_line(inbound):
            summary += "\n" + text
        self.query_one("#summary", Static).update(summary)
        self.query_one("#dials", Sparkline).data = status["dials_per_minute"]
        rows = []
        for c in status["campaigns"]:
            cap = c["abandon_cap"]
            over = cap is not None and c["abandon"]["24h"] * 100 >= cap
            rows.append((c["name"], c["status"], c["calls_in_flight"], c["by_state"].get("Pending", 0),
                         ("⚠ " if over else "") + pct(c["abandon"]["24h"]), pct(c["abandon"]["30d"]),
                         "none" if cap is None else f"{cap:g}%"))  # fmt: skip
        fill(self.query_one("#dash-campaigns", DataTable), rows)
        queue = self.query_one("#dash-queue", DataTable)
        queue.display = bool(text) and bool((inbound or {}).get("live"))
        fill(queue, queue_rows(inbound or {}))
        self.query_one("#outcomes", Static).update(last_hour(status))

    def action_missed(self) -> None:
        self.app.push_screen(MissedCalls())

    def action_recordings(self) -> None:
        self.app.push_screen(Recordings())
