"""The agent desktop and the supervisor's page in a real headless browser (Debian's chromium by
Playwright) against the real daemon (a subprocess) dialing over an emulated line card whose FXS
port is the agent's handset (as tests/api/test_agent_flow.py).

The agent logs in with the keyboard, goes ready, gets the answered call's screen pop pushed to the
page, receives the supervisor's pop-up and acknowledges it, hangs up, has a disposition refused by
the API (shown with its reason) and then saves one with a callback, which turns red in the list
at its time by the page's clock (Playwright's clock moves it). Hostile: a wrong token, another
agent's token and a wrong login code show the API's words; the daemon killed under the page
shows "reconnecting…" and the page comes back live when the daemon is back."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.client import Api, make_token
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess
from tests.web.browser import LAPTOP, Console, launch, shot

# The callee answers and talks long (time_scale: 100 s); the agent hangs up.
SCRIPT = """time_scale = 0.05
""" + "".join(
    f'[[numbers]]\nnumber = "+1212555010{i}"\noutcome = "answer"\nring = 4\ntalk = 2000\n'
    for i in range(4)
)
SCRIPT_TEXT = "Good morning, this is dialbox calling about your order."


@dataclass
class Floor:
    base: str
    admin: Api
    tokens: dict[str, str]
    daemon: DaemonProcess
    browser: Any


@pytest.fixture(scope="module")
def floor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Floor]:
    driver, browser = launch()
    tmp = tmp_path_factory.mktemp("desk")
    link = tmp / "can0"
    (tmp / "card.toml").write_text(SCRIPT)
    emulator = subprocess.Popen(
        [sys.executable, "-m", "appliance", "emulate", "can-card", "--slots", "3:fxo,fxo,fxs,fxs,fxs",
         "--bus", f"slcan:{link}", "--script", str(tmp / "card.toml"),
         "--handsets", "lift=0.3", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    config = (
        "lines:\n"
        + "".join(f"  - {{name: card3-{p}, kind: can, device: 'slcan:{link}/3/{p}'}}\n" for p in (1, 2))
        + "seats:\n"
        + f"  - {{name: desk1, kind: can, device: 'slcan:{link}/3/3'}}\n"
        + f"  - {{name: desk2, kind: can, device: 'slcan:{link}/3/4'}}\n"
        + f"  - {{name: sup1, kind: can, device: 'slcan:{link}/3/5'}}\n"  # the supervisor's
        + "agents:\n  wrap_up: 300\n"
        + ALWAYS_CALLABLE
        + "engine:\n  tick: 0.1\n"
    )  # fmt: skip
    daemon = DaemonProcess(tmp, config)
    db = tmp / "state" / "dialbox.db"
    tokens = {
        "admin": make_token(db, "admin", "admin"),
        "anna": make_token(db, "anna", "agent"),
        "ben": make_token(db, "ben", "agent"),
        "sup": make_token(db, "sup", "supervisor"),
    }
    try:
        assert emulator.stdout is not None
        assert json.loads(emulator.stdout.readline())["cards"][0]["slot"] == 3
        daemon.start()
        daemon.expect("READY")
        base = f"http://127.0.0.1:{daemon.port}"
        admin = Api(base, tokens["admin"])
        made = admin.post("/campaigns", {"name": "sales", "type": "agent", "region": "US",
                                         "settings": {"pacing": "progressive", "script": SCRIPT_TEXT}})  # fmt: skip
        assert made.status == 201, made
        csv = b"(212) 555-0100,,,,,Ann Smith,AC-1\n"
        up = admin.post("/campaigns/sales/contacts/upload", raw=csv, content_type="text/csv")
        assert up.status == 200, up
        # A timed preview campaign for ben: each contact shown 300 s before the box dials it.
        made = admin.post("/campaigns", {"name": "leads", "type": "agent", "region": "US",
                                         "settings": {"pacing": "timed_preview", "preview_seconds": 300}})  # fmt: skip
        assert made.status == 201, made
        csv = b"(212) 555-0101,,,,,Bob Lee,L-1\n(212) 555-0102,,,,,Cy Young,L-2\n(212) 555-0103,,,,,Di Ross,L-3\n"
        up = admin.post("/campaigns/leads/contacts/upload", raw=csv, content_type="text/csv")
        assert up.status == 200, up
        assert admin.post("/campaigns/leads/start").status == 200
        for name, seat in (("anna", "desk1"), ("ben", "desk2")):
            put = admin.request("PUT", f"/agents/{name}", {"extension": seat, "group": "sales"})
            assert put.status == 201, put
        yield Floor(base, admin, tokens, daemon, browser)
    finally:
        browser.close()
        driver.stop()
        daemon.stop()
        emulator.terminate()
        emulator.wait(10)


def _page(floor: Floor, *, clock: bool = False) -> tuple[Any, Console]:
    context = floor.browser.new_context(viewport=LAPTOP, timezone_id="UTC", locale="en-GB")
    if clock:
        context.clock.install()  # runs from now at its own pace until the test moves it
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page, Console(page)


def _agent_login(page: Any, floor: Floor, agent: str, *, token: str | None = None,
                 code: str | None = None, campaigns: str = "sales") -> None:  # fmt: skip
    page.goto(floor.base + "/desk/")
    page.fill("#login-agent", agent)
    if token is not None:
        page.fill("#login-token", token)
    if code is not None:
        page.fill("#login-code", code)
    page.fill("#login-campaigns", campaigns)
    page.press("#login-campaigns", "Enter")  # the form submits from the keyboard


def _expect_text(page: Any, selector: str, pattern: str, timeout: float = 20_000) -> str:
    from playwright.sync_api import expect

    expect(page.locator(selector)).to_contain_text(re.compile(pattern), timeout=timeout)
    return str(page.locator(selector).inner_text())


def test_agent_day_screen_pop_message_disposition_and_callback_turning_red(floor: Floor) -> None:
    from playwright.sync_api import expect

    agent, agent_console = _page(floor, clock=True)
    boss, boss_console = _page(floor)

    _agent_login(agent, floor, "anna", token=floor.tokens["anna"])
    _expect_text(agent, "#state", "Paused")
    _expect_text(agent, "#link", "live")
    _expect_text(agent, "#who", r"^anna @ desk1$")  # the seat up (not "seat down"): pushed
    # Ready from the keyboard: the shortcut shown on the button.
    assert "Alt+R" in agent.locator("#ready").inner_text()
    agent.keyboard.press("Alt+r")
    _expect_text(agent, "#state", "^Ready")

    boss.goto(floor.base + "/supervisor/")
    boss.fill("#login-token", floor.tokens["sup"])
    boss.fill("#login-seat", "desk2")
    boss.press("#login-seat", "Enter")
    _expect_text(boss, "#link", "live")
    _expect_text(boss, "#agents tr[data-agent=anna]", "ready")
    # The campaign figures with a supervisor's token (abandon against the cap from /status);
    # where this token may not read a figure (/campaigns/{name}/why is crm's) the page says so.
    _expect_text(boss, "#figures tr[data-campaign=sales]", r"0\.0 %\s*0\.0 %\s*3\.0 %")
    _expect_text(boss, "#why-sales", r"Campaign sales dials nothing|may not do this")

    assert floor.admin.post("/campaigns/sales/start").status == 200
    # The screen pop, pushed: the contact's fields, the script, the call's timer.
    _expect_text(agent, "#state", "Talking", timeout=60_000)
    _expect_text(agent, "#pop-fields", "Ann Smith")
    assert "AC-1" in agent.locator("#pop-fields").inner_text()
    assert "+12125550100" in agent.locator("#pop-number").inner_text()
    _expect_text(agent, "#script", "about your order")
    _expect_text(agent, "#pop-attempts", "first call")
    _expect_text(agent, "#timer", r"Call \d+:\d\d")
    _expect_text(boss, "#agents tr[data-agent=anna]", "talking")
    _expect_text(boss, "#agents tr[data-agent=anna]", r"\+12125550100 · sales")
    shot(agent, "desk-agent-talking")
    for page in (agent, boss):  # the whole page on a 1366×768 laptop screen, nothing sideways
        width, height = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
        )
        assert width <= LAPTOP["width"] and height <= LAPTOP["height"], (page.url, width, height)

    # Listening in: a seat the box does not have is refused with the API's reason; with the
    # supervisor's seat the emulated card bridges it (or the page says why the line cannot).
    boss.fill("#seat", "nowhere")
    boss.click("#a-anna-listen")
    _expect_text(boss, "#monitor-note", "Cannot listen on anna's call: no seat named 'nowhere'")
    boss.fill("#seat", "desk2")
    _expect_text(
        boss, "#agents tr[data-agent=anna]", r"line card3-1 \(can listen, whisper, barge\)"
    )
    boss.click("#a-anna-listen")
    _expect_text(boss, "#monitor-note", "You listen to anna's call on line card3-1 from seat desk2")
    expect(boss.locator("#a-anna-listen")).to_have_attribute("aria-pressed", "true")
    monitor = floor.admin.get("/agents/anna/monitor").json()
    assert monitor["seat"] == "desk2" and monitor["mode"] == "listen", monitor
    boss.click("#a-anna-barge")  # the same seat again: a three-way call now
    _expect_text(boss, "#monitor-note", "You are in anna's call on line card3-1")
    assert floor.admin.get("/agents/anna/monitor").json()["mode"] == "barge"
    shot(boss, "desk-supervisor")

    # A pop-up from the supervisor shows on the agent's page at once, to be acknowledged.
    boss.select_option("#send-to", "anna")
    boss.fill("#send-text", "Team meeting at 3 — finish your call first")
    boss.keyboard.press("Alt+m")
    _expect_text(boss, "#send-note", "Sent to anna")
    dialog = agent.locator("#message")
    expect(dialog).to_be_visible()
    assert "Team meeting at 3" in agent.locator("#message-text").inner_text()
    agent.keyboard.press("Escape")  # it must be acknowledged, not dismissed
    expect(dialog).to_be_visible()
    shot(agent, "desk-agent-message")
    agent.click("#message-ack")
    expect(dialog).to_be_hidden()
    _expect_text(boss, "#feed", "Team meeting at 3")

    # The agent hangs up; wrap-up with the disposition form and the campaign's codes.
    boss.click("#a-anna-unmonitor")
    _expect_text(boss, "#monitor-note", "Stopped listening to anna")
    assert floor.admin.get("/agents/anna/monitor").json()["mode"] is None
    agent.keyboard.press("Alt+h")
    _expect_text(agent, "#state", "Wrap-up", timeout=30_000)
    expect(agent.locator("#dispo")).to_be_visible()
    codes = agent.locator("#dispo-code option").all_inner_texts()
    assert "Wrong number" in codes and "No answer" in codes, codes
    agent.select_option("#dispo-code", "new_contact")
    expect(agent.locator("#dispo-at")).to_be_visible()

    # Refused by the API (a callback in the past): the page shows why and keeps the form.
    agent.fill("#dispo-at", "2020-01-01T09:00")
    agent.keyboard.press("Alt+w")
    _expect_text(agent, "#dispo-error", "Not saved: .*past")
    _expect_text(agent, "#state", "Wrap-up")

    # A callback for anna in ten minutes; not due yet.
    at = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=11)
    agent.fill("#dispo-at", at.strftime("%Y-%m-%dT%H:%M"))
    agent.select_option("#dispo-for", "self")
    agent.keyboard.press("Alt+w")
    _expect_text(agent, "#state", "^Ready")
    row = agent.locator("#list tbody tr", has_text="+12125550100")
    expect(row).to_have_count(1)
    expect(row).not_to_have_class(re.compile(r"\bdue\b"))
    contact = floor.admin.get("/results?campaign=sales&after=0&limit=5").json()["items"][0]
    stored = floor.admin.get(f"/contacts/{contact['contact_id']}").json()
    assert stored["owner_agent"] == "anna"
    assert dt.datetime.fromisoformat(stored["callback_at"]) == at
    assert stored["attempts"][-1]["disposition"] == "new_contact"

    # The page's clock passes the callback's time: the row turns red, the bar counts it.
    agent.clock.fast_forward("12:00")
    expect(row).to_have_class(re.compile(r"\bdue\b"), timeout=5_000)
    assert row.evaluate("r => getComputedStyle(r.cells[0]).color") == "rgb(179, 20, 28)"
    _expect_text(agent, "#due-count", "1 callback due")
    _expect_text(agent, "#link", "live", timeout=30_000)  # the jump made the page reconnect
    shot(agent, "desk-agent-callback-due")

    # Manual dial from the list (A5): the red callback is called now; "No answer" retries in 2 h.
    row.get_by_role("button", name="Dial +12125550100").click()
    _expect_text(agent, "#list-note", "Dialing \\+12125550100")
    _expect_text(agent, "#state", "Talking", timeout=60_000)
    # The screen pop of a callback: the earlier attempt with its disposition, the script.
    _expect_text(agent, "#pop-attempts", "new_contact")
    shot(agent, "desk-agent-callback-call")
    agent.keyboard.press("Alt+h")
    _expect_text(agent, "#state", "Wrap-up", timeout=30_000)
    agent.select_option("#dispo-code", "no_answer")
    expect(agent.locator("#dispo-at")).to_be_hidden()  # no date for this one
    agent.keyboard.press("Alt+w")
    _expect_text(agent, "#list-note", "Saved: No answer")
    _expect_text(agent, "#state", "^Ready")
    stored = floor.admin.get(f"/contacts/{contact['contact_id']}").json()
    assert stored["attempts"][-1]["disposition"] == "no_answer"
    retry = dt.datetime.fromisoformat(stored["next_at"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=1, minutes=58) < retry <= dt.timedelta(hours=2), stored

    # What the supervisor did from the page is in the audit log, under the supervisor's token.
    done = {(e["actor"], e["action"]) for e in floor.admin.get("/audit?limit=1000").json()}
    sent = {a for actor, a in done if actor == "api:sup"}
    assert {"agent.monitor", "agent.unmonitor"} <= sent, sent
    assert any("message" in a for a in sent), sent

    assert agent_console.errors == [] and boss_console.errors == []
    agent.context.close()
    boss.context.close()


def test_login_code_from_the_supervisor_and_a_wrong_code(floor: Floor) -> None:
    boss, boss_console = _page(floor)
    boss.goto(floor.base + "/supervisor/")
    boss.fill("#login-token", floor.tokens["admin"])  # admin may do what a supervisor does
    boss.press("#login-token", "Enter")
    _expect_text(boss, "#agents", "ben")
    # An admin token reads the campaign figures: abandon rates against the cap, dialable contacts.
    # (the one contact waits for its redial: none dialable now, and the headline says why)
    _expect_text(boss, "#figures tr[data-campaign=sales]", r"0\.0 %\s*0\.0 %\s*3\.0 %\s*0$")
    _expect_text(boss, "#why-sales", "waiting for their redial or callback time")
    boss.select_option("#code-agent", "ben")
    boss.keyboard.press("Alt+c")
    code = _expect_text(boss, "#code-value", r"^\d{6}$")

    desk, desk_console = _page(floor)
    _agent_login(desk, floor, "ben", code="000000" if code != "000000" else "999999")
    _expect_text(desk, "#login-error", r"code")  # the API's refusal, in its words
    desk.fill("#login-code", code)
    desk.press("#login-code", "Enter")
    _expect_text(desk, "#state", "Paused")
    assert desk.locator("#who").inner_text().startswith("ben @ desk2")
    # Single use: the same code again is refused.
    again = Api(floor.base).post("/desk/session", {"agent": "ben", "code": code})
    assert again.status == 401, again
    # A message to every logged-in agent reaches ben's desk too.
    boss.select_option("#send-to", "")
    boss.fill("#send-text", "Systems restart at 18:00 <img src=x onerror=alert(1)><b>now</b>")
    boss.click("#send-button")
    _expect_text(boss, "#send-note", r"Sent to .*ben")
    # Shown as the text it is: markup in a message is not the page's.
    _expect_text(desk, "#message-text", re.escape("18:00 <img src=x onerror=alert(1)><b>now</b>"))
    assert desk.locator("#message-text *").count() == 0
    desk.keyboard.press("Enter")  # the focus is on Acknowledge
    desk.locator("#message").wait_for(state="hidden")
    # The supervisor forces ben ready, paused, logged out: each shows on ben's desk, pushed.
    boss.click("#a-ben-ready")
    _expect_text(desk, "#state", "^Ready")
    boss.click("#a-ben-pause")
    _expect_text(desk, "#state", "Paused — supervisor")
    boss.click("#a-ben-logout")
    _expect_text(desk, "#login-error", "You were logged out")
    assert desk.locator("#desk-view").is_hidden()
    assert floor.admin.get("/agents/ben").json()["state"] == "logged_out"
    assert desk_console.errors == [] and boss_console.errors == []
    desk.context.close()
    boss.context.close()


def test_timed_preview_countdown_skip_and_dial_now(floor: Floor) -> None:
    from playwright.sync_api import expect

    page, console = _page(floor)
    _agent_login(page, floor, "ben", token=floor.tokens["ben"], campaigns="leads")
    _expect_text(page, "#who", r"^ben @ desk2$")
    page.keyboard.press("Alt+r")
    # The first contact on screen before it is dialed, with the timed preview's countdown.
    preview = page.locator("#preview")
    expect(preview).to_be_visible()
    first = _expect_text(page, "#preview-who", r"Bob Lee|Cy Young|Di Ross")
    countdown = _expect_text(page, "#preview-countdown", r"Dials by itself in \d+ s")
    assert 290 <= int(re.findall(r"\d+", countdown)[0]) <= 300, countdown
    _expect_text(page, "#pop-fields", first.split(" · ")[0])
    page.keyboard.press("Alt+s")  # skip: the other contact comes next
    expect(page.locator("#preview-who")).not_to_contain_text(first.split(" · ")[0])
    other = _expect_text(page, "#preview-who", r"Bob Lee|Cy Young|Di Ross").split(" · ")[0]
    page.keyboard.press("Alt+a")  # dial now
    _expect_text(page, "#state", "Talking", timeout=60_000)
    expect(preview).to_be_hidden()
    _expect_text(page, "#pop-fields", other)
    # The floor as an admin's supervisor page shows it: ben talking, both campaigns' figures.
    boss, boss_console = _page(floor)
    boss.goto(floor.base + "/supervisor/")
    boss.fill("#login-token", floor.tokens["admin"])
    boss.fill("#login-seat", "sup1")
    boss.press("#login-seat", "Enter")
    _expect_text(boss, "#agents tr[data-agent=ben]", "talking")
    boss.click("#a-ben-whisper")
    _expect_text(
        boss,
        "#monitor-note",
        r"You whisper to ben on line card3-\d from seat sup1 \(the other party does not hear you\)",
    )
    _expect_text(boss, "#figures tr[data-campaign=leads]", r"%\s*\d+$")
    _expect_text(boss, "#figures tr[data-campaign=sales]", r"%\s*\d+$")
    _expect_text(boss, "#agents tr[data-agent=ben]", "can listen, whisper, barge")
    shot(boss, "desk-supervisor-admin")
    boss.click("#a-ben-unmonitor")
    _expect_text(boss, "#monitor-note", "Stopped listening to ben")
    assert boss_console.errors == []
    boss.context.close()
    page.keyboard.press("Alt+h")
    _expect_text(page, "#state", "Wrap-up", timeout=30_000)
    page.select_option("#dispo-code", "wrong_number")
    page.keyboard.press("Alt+w")
    _expect_text(page, "#list-note", "Saved: Wrong number")
    # "Wrong number" puts the number on the permanent block list.
    number = {"Bob Lee": "+12125550101", "Cy Young": "+12125550102", "Di Ross": "+12125550103"}[
        other
    ]
    listed = floor.admin.get(f"/dnc/numbers/{number}").json()
    assert listed["listed"] and [e["kind"] for e in listed["lists"]] == ["block"], listed
    assert listed["lists"][0]["expires_at"] is None, listed  # for good
    # The next contact in preview: on screen instead of the last call, and no disposition form.
    third = ({"Bob Lee", "Cy Young", "Di Ross"} - {first.split(" · ")[0], other}).pop()
    _expect_text(page, "#preview-who", third)
    _expect_text(page, "#pop-fields", third)
    assert page.locator("#pop-title").text_content() == "Contact"  # not "Last call"
    expect(page.locator("#dispo")).to_be_hidden()
    page.keyboard.press("Alt+p")
    _expect_text(page, "#state", "Paused")
    page.keyboard.press("Alt+o")
    page.locator("#login-form").wait_for(state="visible")
    assert console.errors == []
    page.context.close()


def test_wrong_token_and_another_agents_token_show_the_apis_words(floor: Floor) -> None:
    page, console = _page(floor)
    # The form in reading order from the keyboard.
    page.goto(floor.base + "/desk/")
    order = []
    for _ in range(6):
        order.append(page.evaluate("document.activeElement.id"))
        page.keyboard.press("Tab")
    assert order == ["login-agent", "login-token", "login-code", "login-seat", "login-campaigns",
                     "login-submit"], order  # fmt: skip
    _agent_login(page, floor, "anna", token="dbx_not-a-real-token")
    message = _expect_text(page, "#login-error", ".")
    assert "token" in message.lower(), message
    assert page.locator("#desk-view").is_hidden()

    page.fill("#login-token", floor.tokens["ben"])
    page.press("#login-token", "Enter")
    _expect_text(page, "#login-error", "acts only on the agent of its own name")
    assert page.locator("#desk-view").is_hidden()

    boss, _ = _page(floor)
    boss.goto(floor.base + "/supervisor/")
    boss.fill("#login-token", floor.tokens["anna"])  # an agent's token on the supervisor's page
    boss.press("#login-token", "Enter")
    _expect_text(boss, "#login-error", "refused this token")
    assert console.errors == []
    page.context.close()
    boss.context.close()


def test_the_stream_drops_and_the_page_reconnects(floor: Floor) -> None:
    from playwright.sync_api import expect

    page, console = _page(floor)
    page.goto(floor.base + "/desk/")
    # Already logged in (the first test): the page attaches to the agent as it is.
    _agent_login(page, floor, "anna", token=floor.tokens["anna"])
    _expect_text(page, "#link", "live")
    state_before = page.locator("#state").inner_text()

    daemon = floor.daemon
    assert daemon.proc is not None
    daemon.proc.kill()  # the box goes away under the page
    daemon.proc.wait(10)
    _expect_text(page, "#link", "reconnecting…")
    daemon.start()
    daemon.expect("READY")
    _expect_text(page, "#link", "live", timeout=40_000)
    expect(page.locator("#state")).to_be_visible()
    # A reload keeps the tab's session: the desk again, no form.
    page.reload()
    _expect_text(page, "#link", "live")
    assert page.locator("#login-view").is_hidden()
    after = floor.admin.get("/agents/anna").json()["state"]
    words = {"logged_out": "Logged out", "ready": "Ready", "paused": "Paused"}
    _expect_text(page, "#state", words.get(after, after))
    assert state_before  # the page showed a state before the drop, and shows the box's after
    assert console.errors == []
    page.context.close()
