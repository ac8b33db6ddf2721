/* The supervisor's page: every agent live (GET /supervisor/events, pushed), force ready / pause /
   log out, a login code for an agent, pop-up messages to one agent or all, listen / whisper /
   barge-in with the supervisor's seat, and each campaign's figures (abandon rates against the
   cap, dialable contacts, why it does not dial). */
"use strict";

(function () {
  const D = window.Dialbox;
  const $ = (id) => document.getElementById(id);
  const KEY_TOKEN = "dialbox.supervisor.token";
  const KEY_SEAT = "dialbox.supervisor.seat";
  const STATE_WORDS = {
    logged_out: "logged out",
    ready: "ready",
    reserved: "reserved",
    talking: "talking",
    wrap_up: "wrap-up",
    paused: "paused",
  };
  const ON_CALL = ["reserved", "talking", "wrap_up"];
  const MODES = [
    ["listen", "Listen"],
    ["whisper", "Whisper"],
    ["barge", "Barge in"],
  ];

  const sup = {
    token: null,
    stream: null,
    agents: [],
    lines: null, // name -> what the line can conference (GET /lines), when this token may read it
    monitoring: {}, // agent -> mode, as this page started it
    figuresTimer: null,
  };

  function call(method, path, body) {
    return D.api(sup.token, method, path, body);
  }

  // ------------------------------------------------------------------ logging in
  function logIn(event) {
    event.preventDefault();
    const token = $("login-token").value.trim();
    if (!token) return D.say($("login-error"), "Type a token of scope supervisor or admin.", "error");
    D.say($("login-error"), "");
    sup.token = token;
    $("seat").value = $("login-seat").value.trim();
    open();
  }

  function open() {
    sessionStorage.setItem(KEY_TOKEN, sup.token);
    sessionStorage.setItem(KEY_SEAT, $("seat").value);
    if (sup.stream) sup.stream.stop();
    sup.stream = new D.EventStream("/supervisor/events", sup.token, onEvent, onLink);
    sup.stream.start();
  }

  function show() {
    if (!$("floor").hidden) return;
    $("login-view").hidden = true;
    $("floor").hidden = false;
    for (const id of ["signout", "seat", "seat-label"]) $(id).hidden = false;
    $("login-token").value = "";
    refreshFigures();
    clearInterval(sup.figuresTimer);
    sup.figuresTimer = setInterval(refreshFigures, 30000); // reports, not agents: read now and then
  }

  function leave(message) {
    if (sup.stream) sup.stream.stop();
    sup.stream = null;
    clearInterval(sup.figuresTimer);
    sessionStorage.removeItem(KEY_TOKEN);
    sup.token = null;
    $("floor").hidden = true;
    $("login-view").hidden = false;
    for (const id of ["signout", "seat", "seat-label", "link"]) $(id).hidden = true;
    $("counts").textContent = "";
    D.say($("login-error"), message || "", message ? "error" : "");
    $("login-token").focus();
  }

  // ------------------------------------------------------------------ the stream
  function onLink(state, detail) {
    const link = $("link");
    link.hidden = false;
    link.className = "link " + state;
    if (state === "live") {
      link.textContent = "● live";
      show();
    } else if (state === "connecting") link.textContent = "connecting…";
    else if (state === "reconnecting") link.textContent = "reconnecting… (next try in " + detail + " s)";
    else if (state === "refused") leave("The box refused this token: " + detail);
  }

  function onEvent(name, data) {
    if (name === "agents" && Array.isArray(data)) {
      sup.agents = data;
      renderAgents();
    } else if (name === "message" && data && typeof data === "object") {
      const to = Array.isArray(data.to) ? data.to.join(", ") : data.to || "everyone";
      const feed = $("feed");
      feed.prepend(D.el("li", {}, D.when(data.at) + " → " + to + ": " + data.text));
      while (feed.children.length > 50) feed.lastElementChild.remove(); // the audit log has all
    }
  }

  // ------------------------------------------------------------------ agents
  function renderAgents() {
    const body = $("agents").tBodies[0];
    const focused = document.activeElement && document.activeElement.id;
    body.replaceChildren();
    const counts = {};
    for (const a of sup.agents) counts[a.state] = (counts[a.state] || 0) + 1;
    $("counts").textContent = Object.entries(counts)
      .filter(([s]) => s !== "logged_out")
      .map(([s, n]) => n + " " + (STATE_WORDS[s] || s))
      .join(" · ") || "nobody logged in";
    if (!sup.agents.length) {
      body.append(D.el("tr", {}, D.el("td", { colspan: "5", class: "muted" }, "No agents. Create them with PUT /agents/{name}.")));
    }
    for (const a of sup.agents) {
      const c = ON_CALL.includes(a.state) ? a.call : null; // the last call stays in the document
      const callCell = D.el("td", {});
      if (c) {
        callCell.append(
          D.el("span", {}, (c.number || "") + " · " + c.campaign),
          " ",
          c.ended_at ? D.el("span", { class: "muted" }, "ended") : D.el("span", { class: "timer", dataset: { from: c.connected_at || c.started_at || "" } }, ""),
        );
        if (c.line) callCell.append(D.el("div", { class: "why" }, "line " + c.line + conferenceNote(c.line)));
      } else if (a.preview) {
        callCell.append(D.el("span", { class: "muted" }, "previewing #" + a.preview.contact_id));
      }
      const actions = D.el("div", { class: "actions" });
      const id = (what) => "a-" + a.name + "-" + what;
      const loggedIn = a.state !== "logged_out";
      actions.append(
        button(id("ready"), "Ready", !["paused", "wrap_up"].includes(a.state), () => force(a.name, "ready")),
        button(id("pause"), "Pause", !loggedIn || a.state === "paused", () => force(a.name, "pause", { reason: "supervisor" })),
        button(id("logout"), "Log out", !loggedIn, () => force(a.name, "logout")),
      );
      if (a.state === "talking" && c) {
        for (const [mode, label] of MODES) {
          actions.append(button(id(mode), label, false, () => monitor(a.name, mode), sup.monitoring[a.name] === mode ? "on" : ""));
        }
        if (sup.monitoring[a.name]) actions.append(button(id("unmonitor"), "Stop", false, () => unmonitor(a.name)));
      }
      body.append(
        D.el(
          "tr",
          { dataset: { agent: a.name, state: a.state } },
          D.el("td", {}, D.el("strong", {}, a.name), a.group ? D.el("div", { class: "why" }, a.group) : null),
          D.el(
            "td",
            {},
            D.el("span", { class: "tag " + a.state }, STATE_WORDS[a.state] || a.state),
            a.reason ? D.el("div", { class: "why" }, a.reason) : null,
            loggedIn ? D.el("span", { class: "timer small", dataset: { from: a.since || "" } }, "") : null,
          ),
          D.el("td", {}, a.seat || "", a.seat && a.seat_up === false ? D.el("div", { class: "why" }, "seat down") : null),
          callCell,
          D.el("td", {}, actions),
        ),
      );
      if (!loggedIn && sup.monitoring[a.name]) delete sup.monitoring[a.name];
    }
    if (focused && $(focused)) $(focused).focus();
    fillAgentSelects();
    tick();
  }

  function button(id, label, disabled, onclick, extra) {
    return D.el("button", { id: id, type: "button", class: "small " + (extra || ""), disabled: disabled, onclick: onclick, "aria-pressed": extra === "on" ? "true" : null }, label);
  }

  function conferenceNote(line) {
    if (!sup.lines || !(line in sup.lines)) return "";
    const can = sup.lines[line];
    return can.length ? " (can " + can.join(", ") + ")" : " (cannot conference)";
  }

  function fillAgentSelects() {
    const names = sup.agents.map((a) => a.name);
    for (const [id, first] of [["send-to", true], ["code-agent", false]]) {
      const select = $(id);
      const chosen = select.value;
      const options = names.map((n) => D.el("option", { value: n }, n));
      if (first) options.unshift(D.el("option", { value: "" }, "every logged-in agent"));
      select.replaceChildren(...options);
      if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
    }
  }

  async function force(name, action, body) {
    const note = $("agent-note");
    try {
      await call("POST", "/agents/" + encodeURIComponent(name) + "/" + action, body);
      D.say(note, name + ": " + action + " done.", "ok");
    } catch (e) {
      D.say(note, name + ": " + e.message, "error");
    }
  }

  async function monitor(name, mode) {
    const note = $("monitor-note");
    const seat = $("seat").value.trim();
    sessionStorage.setItem(KEY_SEAT, seat);
    if (!seat) {
      D.say(note, "Type your seat (top right) first: its handset is where you hear the call.", "error");
      $("seat").focus();
      return;
    }
    D.say(note, "Asking the box to join seat " + seat + " to " + name + "'s call (" + mode + ")…");
    try {
      const got = await call("POST", "/agents/" + encodeURIComponent(name) + "/monitor", { seat: seat, mode: mode });
      sup.monitoring[name] = mode;
      const where = " on line " + got.line + " from seat " + got.seat;
      const said = {
        listen: "You listen to " + name + "'s call" + where + " (nobody hears you).",
        whisper: "You whisper to " + name + where + " (the other party does not hear you).",
        barge: "You are in " + name + "'s call" + where + " (a three-way call).",
      };
      D.say(note, said[mode] || mode + where, "ok");
    } catch (e) {
      D.say(note, "Cannot " + mode + " on " + name + "'s call: " + e.message, "error");
    }
    renderAgents();
  }

  async function unmonitor(name) {
    const note = $("monitor-note");
    D.say(note, "Asking the box to take your seat off " + name + "'s call…");
    try {
      await call("DELETE", "/agents/" + encodeURIComponent(name) + "/monitor");
      D.say(note, "Stopped listening to " + name + ".", "ok");
    } catch (e) {
      D.say(note, e.message, "error");
    }
    delete sup.monitoring[name];
    renderAgents();
  }

  // ------------------------------------------------------------------ messages, login codes
  async function send(event) {
    event.preventDefault();
    const note = $("send-note");
    const to = $("send-to").value;
    const text = $("send-text").value.trim();
    if (!text) return D.say(note, "Type the message first.", "error");
    try {
      const path = to ? "/agents/" + encodeURIComponent(to) + "/messages" : "/agents/messages";
      const got = await call("POST", path, { text: text });
      const who = got && Array.isArray(got.to) ? got.to.join(", ") : to || "everyone";
      D.say(note, "Sent to " + (who || "nobody (no agent is logged in)") + ".", "ok");
      $("send-text").value = "";
    } catch (e) {
      D.say(note, "Not sent: " + e.message, "error");
    }
  }

  async function issueCode() {
    const out = $("code-out");
    const name = $("code-agent").value;
    if (!name) return D.say(out, "Choose an agent.", "error");
    try {
      const got = await call("POST", "/agents/" + encodeURIComponent(name) + "/login-code");
      out.replaceChildren(
        "Code for " + name + ": ",
        D.el("span", { class: "code", id: "code-value" }, got.code),
        D.el("div", { class: "why" }, "single use, valid until " + D.when(got.expires_at) + "; the agent types it on the desk with their name"),
      );
      out.className = "note ok";
      out.hidden = false;
    } catch (e) {
      D.say(out, "No code: " + e.message, "error");
    }
  }

  // ------------------------------------------------------------------ figures
  /** A rate (a fraction, as /status gives it) as a percentage. */
  function percent(x) {
    return typeof x === "number" ? (x * 100).toFixed(1) + " %" : "—";
  }

  async function refreshFigures() {
    const note = $("figures-note");
    const body = $("figures").tBodies[0];
    let status;
    try {
      status = await call("GET", "/status");
    } catch (e) {
      D.say(note, "Campaign figures cannot be read with this token: " + e.message, "error");
      return;
    }
    try {
      const lines = await call("GET", "/lines");
      sup.lines = {};
      for (const l of lines) if (Array.isArray(l.conference)) sup.lines[l.name] = l.conference;
    } catch (_) {
      sup.lines = null; // this token may not read the lines: the API's answer to a listen says why
    }
    D.say(note, "");
    $("figures-at").textContent = "as of " + D.when(status.time);
    body.replaceChildren();
    for (const c of status.campaigns || []) {
      const row = D.el("tr", { dataset: { campaign: c.name } });
      const cap = typeof c.abandon_cap === "number" ? c.abandon_cap / 100 : null; // a percentage
      const a24 = (c.abandon || {})["24h"];
      const a30 = (c.abandon || {})["30d"];
      const dialable = D.el("td", { class: "num" }, "…");
      row.append(
        D.el("td", {}, D.el("strong", {}, c.name), D.el("div", { class: "why", id: "why-" + c.name }, "")),
        D.el("td", {}, c.status + (c.pacing ? " · " + c.pacing : "")),
        D.el("td", { class: "num" + (cap !== null && a24 > cap ? " over" : "") }, percent(a24)),
        D.el("td", { class: "num" + (cap !== null && a30 > cap ? " over" : "") }, percent(a30)),
        D.el("td", { class: "num" }, cap === null ? "none" : percent(cap)),
        dialable,
      );
      body.append(row);
      why(c.name, dialable);
    }
    if (!(status.campaigns || []).length) {
      body.append(D.el("tr", {}, D.el("td", { colspan: "6", class: "muted" }, "No campaigns.")));
    }
    renderAgents();
  }

  async function why(name, cell) {
    try {
      const w = await call("GET", "/campaigns/" + encodeURIComponent(name) + "/why");
      cell.textContent = String((w.counts || {}).ready ?? "—");
      const line = document.getElementById("why-" + name);
      if (line) line.textContent = w.dialing ? "dialing" : w.headline;
    } catch (e) {
      cell.textContent = "?";
      cell.title = e.message;
      const line = document.getElementById("why-" + name);
      if (line) line.textContent = "why it does not dial: " + e.message;
    }
  }

  function tick() {
    const now = D.serverNow();
    for (const t of document.querySelectorAll("#agents .timer")) {
      const from = t.dataset.from;
      t.textContent = from ? D.duration((now - Date.parse(from)) / 1000) : "";
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", logIn);
    $("signout").addEventListener("click", () => leave(""));
    $("send").addEventListener("submit", send);
    $("code-button").addEventListener("click", issueCode);
    $("figures-refresh").addEventListener("click", refreshFigures);
    $("seat").addEventListener("change", () => sessionStorage.setItem(KEY_SEAT, $("seat").value.trim()));
    D.shortcuts(document);
    setInterval(tick, 1000);
    const token = sessionStorage.getItem(KEY_TOKEN);
    $("seat").value = sessionStorage.getItem(KEY_SEAT) || "";
    $("login-seat").value = $("seat").value;
    if (token) {
      sup.token = token;
      open();
    }
  });
})();
