/* The agent desktop: log in (token or a supervisor's login code), ready/pause, the screen pop,
   preview, manual dial from the agent's list (due callbacks in red at their time, by this
   page's clock), hang-up, the disposition, and the supervisor's pop-up messages. The agent's
   state is pushed (GET /agents/{name}/events), never polled. */
"use strict";

(function () {
  const D = window.Dialbox;
  const $ = (id) => document.getElementById(id);
  const KEY_TOKEN = "dialbox.desk.token";
  const KEY_AGENT = "dialbox.desk.agent";
  const STATE_WORDS = {
    logged_out: "Logged out",
    ready: "Ready",
    reserved: "Reserved",
    talking: "Talking",
    wrap_up: "Wrap-up",
    paused: "Paused",
  };


  /** The call the agent is on or wrapping up now; null between calls (the document keeps the
   *  last call after it, and a preview is no call yet). */
  function currentCall(doc) {
    const c = doc.call;
    if (!c || doc.preview) return null;
    if (doc.state === "talking" || doc.state === "wrap_up") return c;
    return doc.state === "reserved" && !c.ended_at ? c : null;
  }

  const desk = {
    token: null,
    agent: null,
    doc: null,
    stream: null,
    campaigns: {}, // name -> GET /campaigns/{name}/desk (or an error text)
    list: [], // the agent's list of the campaign shown
    messages: [], // waiting to be shown
    showing: null, // the message in the dialog
    seen: new Set(), // message ids shown already
    pushed: 0, // agent documents the stream brought: an action's answer older than one is not shown
  };

  function call(method, path, body) {
    return D.api(desk.token, method, path, body);
  }

  function agentPath(rest) {
    return "/agents/" + encodeURIComponent(desk.agent) + (rest || "");
  }

  // ------------------------------------------------------------------ logging in
  async function logIn(event) {
    event.preventDefault();
    const err = $("login-error");
    D.say(err, "");
    const agent = $("login-agent").value.trim();
    let token = $("login-token").value.trim();
    const code = $("login-code").value.trim();
    const seat = $("login-seat").value.trim();
    const campaigns = $("login-campaigns").value.split(",").map((c) => c.trim()).filter(Boolean);
    if (!agent) return D.say(err, "Type your agent name.", "error");
    if (!token && !code) return D.say(err, "Type your token, or the login code your supervisor gave you.", "error");
    $("login-submit").disabled = true;
    try {
      if (!token) {
        const session = await D.api(null, "POST", "/desk/session", { agent: agent, code: code });
        token = session.token;
      }
      desk.token = token;
      desk.agent = agent;
      let doc = await call("GET", agentPath());
      if (doc.state === "logged_out") {
        if (!campaigns.length) throw new D.ApiError(422, "Name the campaigns you work on (comma-separated).");
        const body = { campaigns: campaigns };
        if (seat) body.seat = seat;
        doc = await call("POST", agentPath("/login"), body);
      }
      sessionStorage.setItem(KEY_TOKEN, token);
      sessionStorage.setItem(KEY_AGENT, agent);
      localStorage.setItem("dialbox.desk.campaigns", campaigns.join(", "));
      localStorage.setItem("dialbox.desk.lastAgent", agent);
      $("login-token").value = "";
      $("login-code").value = "";
      enter(doc);
    } catch (e) {
      desk.token = null;
      D.say(err, e.message, "error");
    } finally {
      $("login-submit").disabled = false;
    }
  }

  function enter(doc) {
    $("login-view").hidden = true;
    $("desk-view").hidden = false;
    $("signout").hidden = false;
    $("who").textContent = desk.agent;
    render(doc);
    fillCampaigns(doc.campaigns || []);
    refreshList();
    if (desk.stream) desk.stream.stop();
    desk.stream = new D.EventStream(agentPath("/events"), desk.token, onEvent, onLink);
    desk.stream.start();
    $("ready").focus();
  }

  function leave(message, keepToken) {
    if (desk.stream) desk.stream.stop();
    desk.stream = null;
    if (keepToken && desk.token) $("login-token").value = desk.token;
    sessionStorage.removeItem(KEY_TOKEN);
    desk.token = null;
    desk.doc = null;
    $("desk-view").hidden = true;
    $("login-view").hidden = false;
    $("signout").hidden = true;
    for (const id of ["state", "timer", "link", "due-count"]) $(id).hidden = true;
    $("who").textContent = "";
    D.say($("login-error"), message || "", message ? "error" : "");
    $("login-agent").focus();
  }

  async function signOut() {
    try {
      const doc = await call("POST", agentPath("/logout"));
      if (doc.state === "logged_out") {
        leave("");
        $("login-token").value = "";
      } else {
        D.say($("action-error"), "You will be logged out when this call is over.", "ok");
      }
    } catch (e) {
      D.say($("action-error"), e.message, "error");
    }
  }

  // ------------------------------------------------------------------ the stream
  function onEvent(name, data) {
    if (name === "agent" && data && typeof data === "object") {
      desk.pushed += 1;
      const before = desk.doc;
      if (data.state === "logged_out" && before && before.state !== "logged_out") {
        // Logged out elsewhere (by a supervisor, another tab): back to the form, token kept.
        return leave("You were logged out" + (data.reason ? " (" + data.reason + ")" : "") + ". Log in again to go on.", true);
      }
      render(data);
      if (!before || before.state !== data.state || (before.call && !data.call)) refreshList();
    } else if (name === "message" && data && typeof data === "object") {
      queueMessage(data);
    }
  }

  function onLink(state, detail) {
    const link = $("link");
    link.hidden = false;
    link.className = "link " + state;
    if (state === "live") link.textContent = "● live";
    else if (state === "connecting") link.textContent = "connecting…";
    else if (state === "reconnecting") link.textContent = "reconnecting… (next try in " + detail + " s)";
    else if (state === "refused") {
      link.textContent = "not connected";
      leave("The box refused this desk: " + detail + ". Log in again.");
    }
  }

  // ------------------------------------------------------------------ showing the agent
  function render(doc) {
    desk.doc = doc;
    const state = $("state");
    state.hidden = false;
    state.className = "state " + doc.state;
    state.textContent = (STATE_WORDS[doc.state] || doc.state) + (doc.reason ? " — " + doc.reason : "");
    $("who").textContent = desk.agent + (doc.seat ? " @ " + doc.seat + (doc.seat_up === false ? " (seat down)" : "") : "");
    const talking = doc.state === "talking";
    $("ready").disabled = !["paused", "wrap_up"].includes(doc.state);
    $("pause").disabled = doc.state === "paused" || doc.state === "logged_out";
    const now = currentCall(doc);
    $("hangup").disabled = !(now && !now.ended_at) && !talking;
    renderPreview(doc.preview);
    renderPop(doc);
    renderDispo(doc);
    tick();
  }

  function renderPreview(preview) {
    $("preview").hidden = !preview;
    if (!preview) return;
    const c = preview.contact || {};
    $("preview-who").textContent = [contactName(c), c.e164_1 || c.phone1].filter(Boolean).join(" · ");
  }

  function contactName(c) {
    return c.bp1 || c.external_id || (c.contact_id ? "contact " + c.contact_id : "");
  }

  const FIELD_NAMES = {
    external_id: "Reference",
    state: "State",
    last_outcome: "Last outcome",
    last_attempt_at: "Last attempt",
    callback_at: "Callback at",
    owner_agent: "Callback for",
    timezone: "Time zone",
  };

  function renderPop(doc) {
    const source = doc.preview || doc.call; // a preview is on screen instead of the last call
    const fields = $("pop-fields");
    const body = $("pop-attempts").tBodies[0];
    fields.replaceChildren();
    body.replaceChildren();
    $("pop-empty").hidden = !!source;
    $("pop-title").textContent = source && source === doc.call && !currentCall(doc) ? "Last call" : "Contact";
    $("pop-number").textContent = source ? (source.number || (source.contact || {}).e164_1 || "") : "";
    if (!source) {
      $("script").textContent = "—";
      return;
    }
    const c = source.contact || {};
    const labels = (campaignDesk(source.campaign) || {}).labels || {};
    const shown = [];
    for (let i = 1; i <= 12; i++) {
      const v = c["bp" + i];
      if (v !== null && v !== undefined && v !== "") shown.push([labels["bp" + i] || "Field " + i, v]);
    }
    for (let i = 1; i <= 5; i++) {
      const v = c["e164_" + i] || c["phone" + i];
      if (v) shown.push([labels["phone" + i] || "Phone " + i, v]);
    }
    for (const [key, label] of Object.entries(FIELD_NAMES)) {
      const v = c[key];
      if (v === null || v === undefined || v === "") continue;
      shown.push([label, key.endsWith("_at") ? D.when(v) : v]);
    }
    if (Array.isArray(c.attempts)) shown.push(["Attempts", c.attempts.length]);
    shown.push(["Campaign", source.campaign]);
    for (const [k, v] of shown) fields.append(D.el("dt", {}, k), D.el("dd", {}, v));
    const current = source === doc.call ? doc.call.attempt_id : null;
    const earlier = (c.attempts || []).filter((a) => a.attempt_id !== current);
    if (!earlier.length) {
      body.append(D.el("tr", {}, D.el("td", { colspan: "5", class: "muted" }, "None: the first call to this contact.")));
    }
    for (const a of earlier.slice().reverse()) {
      body.append(
        D.el(
          "tr",
          {},
          D.el("td", {}, D.when(a.ended_at || a.dialed_at || a.queued_at)),
          D.el("td", {}, a.number || ""),
          D.el("td", {}, a.outcome || a.status || ""),
          D.el("td", {}, a.disposition || ""),
          D.el("td", {}, a.agent || ""),
        ),
      );
    }
    loadCampaign(source.campaign);
    const info = campaignDesk(source.campaign);
    $("script").textContent = (info && info.script) || "No script for this campaign.";
  }

  // ------------------------------------------------------------------ campaigns: codes, script
  function campaignDesk(name) {
    const found = desk.campaigns[name];
    return found && typeof found === "object" ? found : null;
  }

  async function loadCampaign(name) {
    if (!name || name in desk.campaigns) return;
    desk.campaigns[name] = "loading";
    try {
      desk.campaigns[name] = await call("GET", "/campaigns/" + encodeURIComponent(name) + "/desk");
    } catch (e) {
      desk.campaigns[name] = "unavailable: " + e.message;
    }
    if (desk.doc) {
      renderPop(desk.doc);
      renderDispo(desk.doc, true);
    }
  }

  let dispoFor = null; // the attempt the form was filled for

  function renderDispo(doc, force) {
    const form = $("dispo");
    const c = currentCall(doc);
    form.hidden = !c;
    if (!c) {
      dispoFor = null;
      return;
    }
    if (dispoFor === c.attempt_id && !force) return;
    const sameCall = dispoFor === c.attempt_id;
    dispoFor = c.attempt_id;
    if (!sameCall) {
      // A new call: an empty form.
      for (const id of ["dispo-at", "dispo-note", "dispo-text"]) $(id).value = "";
      $("dispo-pause").checked = false;
      D.say($("dispo-error"), "");
    }
    const info = campaignDesk(c.campaign);
    const select = $("dispo-code");
    const previous = sameCall ? select.value : "";
    select.replaceChildren();
    const codes = (info && info.dispositions) || [];
    select.hidden = !codes.length;
    $("dispo-text").hidden = !!codes.length;
    select.append(D.el("option", { value: "" }, "— choose —"));
    for (const d of codes) {
      select.append(D.el("option", { value: d.code, dataset: { needsDate: d.needs_date ? "1" : "", callbackFor: d.callback_for || "" } }, d.label || d.code));
    }
    if (previous && codes.some((d) => d.code === previous)) select.value = previous;
    codeChanged();
  }

  function codeChanged() {
    const free = !$("dispo-text").hidden; // no codes from the campaign: free text, a callback optional
    const option = $("dispo-code").selectedOptions[0];
    const needsDate = !free && !!(option && option.dataset.needsDate);
    $("dispo-when").hidden = !(free || needsDate);
    if (needsDate && option.dataset.callbackFor) $("dispo-for").value = option.dataset.callbackFor;
    if (needsDate && !$("dispo-at").value) {
      const soon = new Date(Date.now() + 3600 * 1000);
      soon.setMinutes(0, 0, 0);
      $("dispo-at").value = localInput(soon);
    }
  }

  function localInput(d) {
    const p = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" + p(d.getMinutes());
  }

  async function saveDispo(event) {
    event.preventDefault();
    const err = $("dispo-error");
    D.say(err, "");
    const doc = desk.doc;
    const now = doc && currentCall(doc);
    if (!now) return;
    const free = !$("dispo-text").hidden;
    const code = free ? $("dispo-text").value.trim() : $("dispo-code").value;
    const label = free ? code : ($("dispo-code").selectedOptions[0] || {}).textContent || code;
    const body = { disposition: code, callback_for: $("dispo-for").value, pause: $("dispo-pause").checked, attempt_id: now.attempt_id };
    const note = $("dispo-note").value.trim();
    if (note) body.note = note;
    if (!$("dispo-when").hidden && $("dispo-at").value) {
      const at = new Date($("dispo-at").value); // the picker's local time
      body.callback_at = isNaN(at) ? $("dispo-at").value : at.toISOString();
    }
    $("dispo-save").disabled = true;
    const pushed = desk.pushed;
    try {
      const after = await call("POST", agentPath("/disposition"), body);
      D.say(err, "");
      $("dispo-note").value = "";
      $("dispo-at").value = "";
      $("dispo-pause").checked = false;
      if (desk.pushed === pushed) render(after);
      refreshList();
      D.say($("list-note"), "Saved: " + label + (body.callback_at ? ", call back " + D.when(body.callback_at) : "") + ".", "ok");
    } catch (e) {
      D.say(err, "Not saved: " + e.message, "error");
    } finally {
      $("dispo-save").disabled = false;
    }
  }

  // ------------------------------------------------------------------ actions
  async function act(rest, body) {
    const err = $("action-error");
    D.say(err, "");
    const pushed = desk.pushed;
    try {
      const doc = await call("POST", agentPath(rest), body);
      // The stream pushes every change; a document it brought while this request was on its
      // way is as new as the answer or newer (a hang-up's answer may still say "talking").
      if (desk.pushed === pushed) render(doc);
    } catch (e) {
      D.say(err, e.message, "error");
    }
  }

  // ------------------------------------------------------------------ the agent's list
  function fillCampaigns(names) {
    const select = $("list-campaign");
    const chosen = select.value;
    select.replaceChildren(...names.map((n) => D.el("option", { value: n }, n)));
    if (names.includes(chosen)) select.value = chosen;
  }

  async function refreshList() {
    if (!desk.doc) return;
    fillCampaigns(desk.doc.campaigns || []);
    const campaign = $("list-campaign").value;
    const body = $("list").tBodies[0];
    if (!campaign) {
      body.replaceChildren(D.el("tr", {}, D.el("td", { colspan: "4", class: "muted" }, "Log in to a campaign to see its list.")));
      return;
    }
    try {
      desk.list = await call("GET", agentPath("/list?campaign=" + encodeURIComponent(campaign) + "&limit=100"));
    } catch (e) {
      D.say($("list-note"), "The list cannot be read: " + e.message, "error");
      return;
    }
    body.replaceChildren();
    if (!desk.list.length) {
      body.append(D.el("tr", {}, D.el("td", { colspan: "4", class: "muted" }, "Nobody to call in " + campaign + ".")));
    }
    for (const item of desk.list) {
      const row = D.el(
        "tr",
        { dataset: { contact: item.contact_id, callbackAt: item.callback_at || "" } },
        D.el("td", {}, item.external_id || "#" + item.contact_id),
        D.el("td", {}, item.number || item.phone1 || ""),
        D.el("td", { class: "when" }, item.callback_at ? D.when(item.callback_at) : ""),
        D.el("td", {}, D.el("button", { type: "button", class: "small", "aria-label": "Dial " + (item.number || item.phone1 || "#" + item.contact_id), onclick: () => dial(campaign, item) }, "Dial")),
      );
      body.append(row);
    }
    tick();
  }

  async function dial(campaign, item) {
    const note = $("list-note");
    try {
      const answer = await call("POST", agentPath("/dial"), { campaign: campaign, contact_id: item.contact_id });
      D.say(note, "Dialing " + (item.number || item.phone1 || "#" + item.contact_id) + " (attempt " + answer.attempt_id + ")…", "ok");
    } catch (e) {
      D.say(note, "Cannot dial: " + e.message, "error");
    }
  }

  /** Every second: the timers, the preview's countdown, and which callbacks are due by now. */
  function tick() {
    const now = D.serverNow(); // timers of the box's times count on the box's clock
    const doc = desk.doc;
    if (!doc) return;
    const timer = $("timer");
    const c = doc.call;
    let from = doc.since;
    let what = STATE_WORDS[doc.state] || doc.state;
    if (c && c.connected_at && !c.ended_at) {
      from = c.connected_at;
      what = "Call";
    }
    timer.hidden = !from;
    if (from) timer.textContent = what + " " + D.duration((now - Date.parse(from)) / 1000);
    const preview = doc.preview;
    if (preview) {
      const cd = $("preview-countdown");
      if (preview.dials_at) {
        const whole = (Date.parse(preview.dials_at) - Date.parse(preview.offered_at)) / 1000;
        const left = Math.max(0, Math.min(whole, Math.ceil((Date.parse(preview.dials_at) - now) / 1000)));
        cd.textContent = left ? "Dials by itself in " + left + " s" : "Dialing…";
      } else {
        cd.textContent = "Dial or skip when ready.";
      }
    }
    let due = 0;
    const here = Date.now(); // a callback is due by this page's clock, as the agent sees the time
    for (const row of $("list").tBodies[0].rows) {
      const at = row.dataset.callbackAt;
      const isDue = !!at && Date.parse(at) <= here;
      row.classList.toggle("due", isDue);
      if (isDue) due += 1;
      const cell = row.querySelector(".when");
      if (cell && at) cell.textContent = D.when(at) + (isDue ? " — due" : "");
    }
    const count = $("due-count");
    count.hidden = !due;
    count.textContent = due === 1 ? "1 callback due" : due + " callbacks due";
  }

  // ------------------------------------------------------------------ messages
  function queueMessage(m) {
    // A message comes again on a reconnect until acknowledged; its id with its time names it
    // (a restarted box may count ids afresh).
    const key = m.id + "|" + m.at;
    if (!m.id || desk.seen.has(key)) return;
    desk.seen.add(key);
    desk.messages.push(m);
    showMessage();
  }

  function showMessage() {
    const dialog = $("message");
    if (desk.showing || !desk.messages.length) return;
    const m = desk.messages.shift();
    desk.showing = m;
    $("message-from").textContent = String(m.from || "your supervisor").replace(/^api:/, "");
    $("message-at").textContent = D.when(m.at);
    $("message-text").textContent = m.text;
    D.say($("message-error"), "");
    dialog.showModal();
    $("message-ack").focus();
  }

  async function acknowledge() {
    const m = desk.showing;
    if (!m) return;
    try {
      await call("POST", agentPath("/messages/" + encodeURIComponent(m.id) + "/ack"));
    } catch (e) {
      if (e.status !== 404 || !/message/i.test(e.message)) {
        D.say($("message-error"), "Not acknowledged: " + e.message, "error");
        return;
      }
    }
    $("message").close();
    desk.showing = null;
    showMessage();
  }

  // ------------------------------------------------------------------ start
  async function resume() {
    const token = sessionStorage.getItem(KEY_TOKEN);
    const agent = sessionStorage.getItem(KEY_AGENT) || localStorage.getItem("dialbox.desk.lastAgent");
    if (agent) $("login-agent").value = agent;
    $("login-campaigns").value = localStorage.getItem("dialbox.desk.campaigns") || "";
    if (!token || !agent) return;
    desk.token = token;
    desk.agent = agent;
    try {
      const doc = await call("GET", agentPath());
      if (doc.state !== "logged_out") return enter(doc);
      $("login-token").value = token;
    } catch (e) {
      sessionStorage.removeItem(KEY_TOKEN);
      D.say($("login-error"), e.message, "error");
    }
    desk.token = null;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", logIn);
    $("signout").addEventListener("click", signOut);
    $("ready").addEventListener("click", () => act("/ready"));
    $("pause").addEventListener("click", () => act("/pause", { reason: $("pause-reason").value }));
    $("hangup").addEventListener("click", () => act("/hangup"));
    $("accept").addEventListener("click", () => act("/preview/accept"));
    $("skip").addEventListener("click", () => act("/preview/skip"));
    $("dispo").addEventListener("submit", saveDispo);
    $("dispo-code").addEventListener("change", codeChanged);
    $("list-refresh").addEventListener("click", refreshList);
    $("list-campaign").addEventListener("change", refreshList);
    $("message-ack").addEventListener("click", acknowledge);
    $("message").addEventListener("cancel", (e) => e.preventDefault()); // acknowledge it, not Esc
    D.shortcuts(document);
    setInterval(tick, 1000);
    resume();
  });
})();
