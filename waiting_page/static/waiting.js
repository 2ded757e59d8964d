// The waiting page's script: keeps the numbers fresh and continues the login
// by itself when the ticket is served.
//
// Two loops, so a crowd costs little: the public room state (the same for
// everyone, cacheable) is polled often and tells us how many people went in,
// which moves our position between heartbeats; the per-ticket status, which is
// also the heartbeat keeping our place, is polled only as often as the server
// asks (heartbeat_seconds). A hidden tab stops the first loop but keeps the
// second. Both back off on 429/503 and honour Retry-After.
(() => {
  "use strict";
  const body = document.body;
  const cfg = JSON.parse(body.getAttribute("data-wr"));
  cfg.statusUrl = body.getAttribute("data-status-url");
  cfg.continueUrl = body.getAttribute("data-continue-url");
  const t = cfg.t;
  const $ = (id) => document.getElementById(id);
  const nf = new Intl.NumberFormat(cfg.lang, { maximumFractionDigits: 0 });
  const plurals = new Intl.PluralRules(cfg.lang);
  const relative = new Intl.RelativeTimeFormat(cfg.lang, { numeric: "auto" });
  const ROOM_EVERY = cfg.roomEvery;
  const BEAT_EVERY = cfg.beatEvery;
  const MAX_ROOM_BACKOFF = 60;
  const MAX_RETRY_AFTER = 600;

  const fill = (text, values) =>
    text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
  const plural = (key, n) => {
    const forms = t[key];
    return fill(forms[plurals.select(n)] || forms.other, { n: nf.format(n) });
  };
  // Same rounding as the server (oidc_adapter/i18n.py), so numbers never jump.
  const duration = (seconds) => {
    if (seconds < 60) return t.less_than_minute;
    const minutes = Math.ceil(seconds / 60);
    if (minutes < 60) return plural("minutes", minutes);
    const rounded = 5 * Math.round(minutes / 5);
    const hours = Math.floor(rounded / 60);
    const rest = rounded % 60;
    return plural("hours", hours) + (rest ? " " + plural("minutes", rest) : "");
  };
  const waitText = (e) => {
    if (!e) return t.wait_unknown;
    const wait = duration(e.seconds);
    const low = duration(e.low);
    const high = duration(e.high);
    if (e.high < 60) return wait;
    if (e.seconds < 60) return fill(t.wait_soon, { high });
    if (low === high) return fill(t.wait_about, { wait });
    if (e.low < 60) return fill(t.wait_upto, { wait, high });
    return fill(t.wait_range, { wait, low, high });
  };

  // A timed sale's pre-queue has no places yet: they are drawn at the opening.
  const viewOf = (mode, schedule) => {
    if (mode === "paused" || mode === "closed") return mode;
    return schedule && schedule.phase === "prequeue" ? "prequeue" : "waiting";
  };
  const s = {
    view: viewOf(cfg.mode, { phase: body.getAttribute("data-phase") }),
    ahead: cfg.ahead,
    served: cfg.servedTotal,
    // What the last heartbeat said; room polls only move us forward from it.
    beatAhead: cfg.ahead,
    beatServed: cfg.servedTotal,
    beatEstimate: cfg.estimate,
    estimate: cfg.estimate,
    updated: Date.now(),
    lastBeat: Date.now(),
    fails: { room: 0, beat: 0 },
    busy: { room: false, beat: false },
    timers: {},
    navigated: false,
    final: false,
  };

  // The progress bar runs from the place we had when we first saw this ticket,
  // kept per ticket so a reload or a second tab continues the same bar.
  const storeKey = "wr:" + cfg.room + ":" + cfg.ticket;
  // (None before a timed sale opens: the bar starts with the first real place.)
  let start = 0;
  const keepStart = () => {
    if (start > 0 || s.view === "prequeue") return;
    start = s.ahead + 1;
    try { localStorage.setItem(storeKey, String(start)); } catch (e) { /* not kept */ }
  };
  try {
    const kept = parseInt(localStorage.getItem(storeKey), 10);
    if (kept > 0) start = kept;
    for (let i = localStorage.length - 1; i >= 0; i--) {
      const k = localStorage.key(i);
      if (k && k !== storeKey && k.indexOf("wr:" + cfg.room + ":") === 0) localStorage.removeItem(k);
    }
  } catch (e) {
    // Storage blocked: the bar starts from this page load.
  }
  const forget = () => {
    try { localStorage.removeItem(storeKey); } catch (e) { /* nothing kept */ }
  };

  const setText = (el, text) => { if (el.textContent !== text) el.textContent = text; };
  const inLine = () => ["waiting", "paused", "closed", "prequeue"].includes(s.view);

  function render() {
    document.querySelectorAll("[data-view]").forEach((el) => {
      el.hidden = el.getAttribute("data-view") !== s.view;
    });
    $("line").hidden = !inLine();
    $("keep").hidden = !inLine();
    const place = $("place");  // (a custom template may not have it)
    if (place) place.hidden = s.view === "prequeue";
    if (inLine()) {
      keepStart();
      setText($("position"), nf.format(s.ahead + 1));
      setText($("ahead"), s.ahead > 0 ? plural("ahead", s.ahead) : t.ahead_none);
      setText($("served"), plural("served_total", s.served));
      $("wait-row").hidden = s.view !== "waiting";
      setText($("wait"), waitText(s.estimate));
      $("progress").hidden = start === 0;
      if (start > 0) {
        const bar = $("progress-bar");
        const pct = Math.round((100 * Math.max(0, start - (s.ahead + 1))) / start);
        bar.value = Math.min(100, pct);
        bar.textContent = bar.value + "%";
      }
    }
    $("offline").hidden = s.final || s.fails.room + s.fails.beat < 2;
    renderUpdated();
  }

  function renderUpdated() {
    const secs = Math.round((Date.now() - s.updated) / 1000);
    const when = secs < 60 ? relative.format(-secs, "second")
      : relative.format(-Math.floor(secs / 60), "minute");
    setText($("updated"), fill(t.updated, { time: when }));
  }

  const jitter = (base, low, high) => base * (low + Math.random() * (high - low));

  // The heartbeat's timer runs in a worker (ticker.js) when the browser
  // allows one, so a long-hidden tab is not throttled out of its place.
  let ticker = null;
  try {
    ticker = new Worker(new URL("ticker.js", document.currentScript.src));
    ticker.onmessage = () => beat();
  } catch (e) {
    ticker = null;
  }

  function schedule(name, seconds) {
    clearTimeout(s.timers[name]);
    if (name === "beat" && ticker) {
      ticker.postMessage(s.final ? 0 : seconds * 1000);
      return;
    }
    if (!s.final) s.timers[name] = setTimeout(name === "room" ? pollRoom : beat, seconds * 1000);
  }

  // Retry-After wins (seconds or an HTTP date); else exponential backoff with
  // jitter, the heartbeat capped so a short outage never costs our place.
  function retry(name, res) {
    s.fails[name] += 1;
    const header = res && res.headers.get("Retry-After");
    let wait = NaN;
    if (header) {
      wait = /^\d+$/.test(header) ? Number(header) : (Date.parse(header) - Date.now()) / 1000;
    }
    if (wait >= 0) {
      wait = Math.min(MAX_RETRY_AFTER, Math.max(1, wait)) + Math.random() * 2;
    } else {
      const base = name === "room" ? ROOM_EVERY : BEAT_EVERY;
      const cap = name === "room" ? MAX_ROOM_BACKOFF : 2 * BEAT_EVERY;
      wait = jitter(Math.min(cap, base * 2 ** s.fails[name]), 0.5, 1);
    }
    render();
    schedule(name, wait);
  }

  function fetchJson(url, fresh) {
    return fetch(url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: fresh ? "no-store" : "default",
    });
  }

  function modeView(mode, schedule) {
    if (s.view === "served" || s.final) return;
    s.view = viewOf(mode, schedule);
  }

  async function pollRoom() {
    if (document.hidden || s.final || s.view === "served" || s.busy.room) return;
    s.busy.room = true;
    let res;
    try {
      res = await fetchJson(cfg.roomUrl, false);
      if (res.status === 429 || res.status >= 500) throw new Error("busy");
      if (!res.ok) throw new Error("refused");
      const room = await res.json();
      s.busy.room = false;
      s.fails.room = 0;
      applyRoom(room);
      schedule("room", jitter(ROOM_EVERY, 1, 1.5));
    } catch (e) {
      s.busy.room = false;
      retry("room", res);
    }
  }

  function applyRoom(room) {
    s.updated = Date.now();
    s.served = room.served_total;
    // Service is first come, first served: everyone let in since our last
    // heartbeat was ahead of us. (A cached, older state simply changes nothing.)
    // Not while a timed sale's drawn pre-queue is served and we are in it:
    // those let in may have been behind us, so only the heartbeat moves us.
    const sale = room.schedule;
    const inDraw = sale && cfg.number <= sale.prequeue_size && sale.shuffle_cursor < sale.prequeue_size;
    const passed = inDraw ? 0 : Math.max(0, room.served_total - s.beatServed);
    const ahead = Math.max(0, s.beatAhead - passed);
    if (ahead !== s.ahead && s.beatEstimate) {
      const f = (ahead + 1) / (s.beatAhead + 1);
      const e = s.beatEstimate;
      s.estimate = { seconds: Math.ceil(e.seconds * f), low: Math.floor(e.low * f),
        high: Math.ceil(e.high * f) };
    }
    s.ahead = ahead;
    const before = s.view;
    modeView(room.mode, room.schedule);
    if (room.mode === "paused" || room.mode === "closed") s.estimate = null;
    render();
    // Our number came up, or the room changed mode: ask about our ticket now.
    if ((room.now_serving >= cfg.number || s.view !== before) && Date.now() - s.lastBeat > 1000) {
      beat();
    }
  }

  async function beat() {
    if (s.final || s.busy.beat) return;
    s.busy.beat = true;
    s.lastBeat = Date.now();
    let res;
    try {
      res = await fetchJson(cfg.statusUrl, true);
      if (res.status === 429 || res.status >= 500) throw new Error("busy");
      const body = await res.json();
      s.busy.beat = false;
      s.fails.beat = 0;
      if (res.status === 410 || res.status === 404) {
        end(body.state === "expired" ? "expired" : "lost");
        return;
      }
      if (!res.ok) throw new Error("refused");
      applyTicket(body);
      schedule("beat", jitter(BEAT_EVERY, 0.75, 1));
    } catch (e) {
      s.busy.beat = false;
      retry("beat", res);
    }
  }

  function applyTicket(ticket) {
    s.updated = Date.now();
    s.served = s.beatServed = ticket.served_total;
    if (ticket.served) {
      s.view = "served";
      forget();
      render();
      // The server decides where a served login goes (the code, or a fresh
      // login at the site when the site's own login state is too old).
      if (!s.navigated) {
        s.navigated = true;
        window.location.replace(cfg.continueUrl);
      }
      return;
    }
    s.ahead = s.beatAhead = ticket.ahead;
    s.estimate = s.beatEstimate = ticket.estimated_wait;
    modeView(ticket.mode, ticket.schedule);
    render();
  }

  function end(view) {
    s.view = view;
    s.final = true;
    clearTimeout(s.timers.room);
    clearTimeout(s.timers.beat);
    if (ticker) ticker.postMessage(0);
    forget();
    render();
  }

  // Leaving gives the place to the next person at once instead of after the
  // grace period; the browser's ticket cookie proves the ticket is ours.
  const leave = $("leave");
  $("leave-row").hidden = false;
  leave.addEventListener("click", async () => {
    leave.disabled = true;
    try {
      const res = await fetch(cfg.statusUrl, { method: "DELETE", credentials: "same-origin" });
      if (res.ok) {
        end("left");
        return;
      }
    } catch (e) {
      // offline: keep our place; the button can be pressed again
    }
    leave.disabled = false;
  });

  document.addEventListener("visibilitychange", () => {
    if (s.final) return;
    if (document.hidden) {
      clearTimeout(s.timers.room);
      return;
    }
    pollRoom();
    if (Date.now() - s.lastBeat > (BEAT_EVERY * 1000) / 2) beat();
  });
  setInterval(() => { if (!document.hidden) renderUpdated(); }, 5000);

  // The opening time in the visitor's own zone (the page says it in UTC).
  const opensAt = $("opens-at");
  if (opensAt) {
    const when = new Date(opensAt.getAttribute("datetime"));
    opensAt.textContent = new Intl.DateTimeFormat(cfg.lang, { hour: "2-digit", minute: "2-digit" })
      .format(when);
  }
  render();
  schedule("room", jitter(ROOM_EVERY, 0.5, 1));
  schedule("beat", jitter(BEAT_EVERY, 0.75, 1));
})();
