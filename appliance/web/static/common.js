/* dialbox pages: what the agent desktop and the supervisor's page share — calling the API with
   the bearer token, reading a server-sent event stream with fetch() (a browser's EventSource
   cannot send the Authorization header) with reconnect and back-off, keyboard shortcuts, and
   small formatting helpers. Plain script, no modules, no build step: window.Dialbox. */
"use strict";

(function () {
  /** An error the API answered (problem+json), or the box could not be reached. */
  class ApiError extends Error {
    constructor(status, detail, body) {
      super(detail);
      this.status = status;
      this.body = body;
    }
  }

  // How far the box's clock is ahead of this computer's, from the Date header of its answers
  // (whole seconds: half a second added on average): the timers of calls and states count on
  // the box's time, whatever this computer's clock says.
  let skew = 0;

  function heard(response) {
    const date = Date.parse(response.headers.get("Date") || "");
    if (!isNaN(date)) skew = date + 500 - Date.now();
  }

  /** Now by the box's clock (ms), for timers of times the box gave. */
  function serverNow() {
    return Date.now() + skew;
  }

  /** Calls the API: JSON in and out; a refusal raises ApiError with the API's own words. */
  async function api(token, method, path, body) {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    const init = { method: method, headers: headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, "the box cannot be reached (" + err.message + "); check the network and try again", null);
    }
    heard(response);
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = text;
      }
    }
    if (!response.ok) {
      let detail = (data && typeof data === "object" && data.detail) || (typeof data === "string" && data) || response.statusText;
      if (response.status === 429) {
        const after = response.headers.get("Retry-After");
        if (after) detail += " (try again in " + after + " s)";
      }
      throw new ApiError(response.status, detail, data);
    }
    return data;
  }

  /**
   * A server-sent event stream read with fetch(): `onEvent(name, data, id)` for each event
   * (data parsed as JSON), `onState(state, detail)` with "connecting", "live", "reconnecting"
   * (detail: seconds until the next try) or "refused" (detail: the API's message; it does not
   * try again — the token is wrong or lost its right). Reconnects with back-off 1, 2, 4 … 30 s,
   * and when nothing (not even the ": ping" comment) came for 40 s.
   */
  class EventStream {
    constructor(path, token, onEvent, onState) {
      this.path = path;
      this.token = token;
      this.onEvent = onEvent;
      this.onState = onState;
      this.delay = 1;
      this.lastId = null;
      this.stopped = false;
      this.controller = null;
      this.timer = null;
      this.watchdog = null;
    }

    start() {
      this.stopped = false;
      this._connect();
    }

    stop() {
      this.stopped = true;
      clearTimeout(this.timer);
      clearTimeout(this.watchdog);
      if (this.controller) this.controller.abort();
    }

    /** Drop the connection now and connect again (after the back-off). */
    drop() {
      if (this.controller) this.controller.abort();
    }

    _alive() {
      clearTimeout(this.watchdog);
      this.watchdog = setTimeout(() => this.drop(), 40000);
    }

    async _connect() {
      if (this.stopped) return;
      this.onState("connecting");
      const controller = new AbortController();
      this.controller = controller;
      const headers = { Accept: "text/event-stream", Authorization: "Bearer " + this.token };
      if (this.lastId) headers["Last-Event-ID"] = this.lastId;
      let response;
      try {
        response = await fetch(this.path, { headers: headers, signal: controller.signal, cache: "no-store" });
      } catch (_) {
        return this._again();
      }
      if (response.status === 401 || response.status === 403 || response.status === 404) {
        let detail = response.statusText;
        try {
          detail = (await response.json()).detail || detail;
        } catch (_) {
          /* not JSON */
        }
        this.onState("refused", detail);
        return;
      }
      if (!response.ok || !response.body) {
        return this._again();
      }
      heard(response);
      this.delay = 1;
      this.onState("live");
      this._alive();
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      let event = { name: "message", data: [], id: null };
      try {
        for (;;) {
          const chunk = await reader.read();
          if (chunk.done) break;
          this._alive();
          buffer += decoder.decode(chunk.value, { stream: true });
          let newline;
          while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
            const line = buffer.slice(0, newline);
            buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
            if (line === "") {
              if (event.data.length) this._dispatch(event);
              event = { name: "message", data: [], id: null };
              continue;
            }
            if (line.startsWith(":")) continue; // a comment: the ping
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            let value = colon < 0 ? "" : line.slice(colon + 1);
            if (value.startsWith(" ")) value = value.slice(1);
            if (field === "event") event.name = value;
            else if (field === "data") event.data.push(value);
            else if (field === "id") event.id = value;
          }
        }
      } catch (_) {
        /* dropped, or aborted by the watchdog */
      }
      this._again();
    }

    _dispatch(event) {
      if (event.id) this.lastId = event.id;
      let data = event.data.join("\n");
      try {
        data = JSON.parse(data);
      } catch (_) {
        /* text */
      }
      try {
        this.onEvent(event.name, data, event.id);
      } catch (err) {
        console.warn("dialbox: handling the event " + event.name + " failed:", err);
      }
    }

    _again() {
      clearTimeout(this.watchdog);
      if (this.stopped) return;
      const wait = this.delay;
      this.delay = Math.min(this.delay * 2, 30);
      this.onState("reconnecting", wait);
      this.timer = setTimeout(() => this._connect(), wait * 1000);
    }
  }

  /** Keyboard shortcuts: Alt+<key> clicks the button whose data-key is that key (shown on it). */
  function shortcuts(root) {
    document.addEventListener("keydown", (e) => {
      if (!e.altKey || e.ctrlKey || e.metaKey || e.key.length !== 1) return;
      const key = e.key.toLowerCase();
      const target = Array.from(root.querySelectorAll("[data-key]")).find(
        (el) => el.dataset.key === key && !el.disabled && el.offsetParent !== null,
      );
      if (target) {
        e.preventDefault();
        target.focus();
        target.click();
      }
    });
    for (const el of root.querySelectorAll("[data-key]")) {
      el.setAttribute("aria-keyshortcuts", "Alt+" + el.dataset.key.toUpperCase());
      if (!el.querySelector("kbd")) {
        const kbd = document.createElement("kbd");
        kbd.textContent = "Alt+" + el.dataset.key.toUpperCase();
        el.append(" ", kbd);
      }
    }
  }

  /** "m:ss" or "h:mm:ss" of a number of seconds. */
  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const rest = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + rest : m + ":" + rest;
  }

  /** An ISO time as the local date and time, short. */
  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
  }

  /** A new element: el("td", {class: "x"}, "text", child…). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  /** Shows a line of status in an element with role=status or alert. */
  function say(node, text, kind) {
    node.textContent = text || "";
    node.className = "note" + (kind ? " " + kind : "");
    node.hidden = !text;
  }

  window.Dialbox = { ApiError, api, EventStream, shortcuts, duration, when, el, say, serverNow };
})();
