// simfleet admin page: scenario cards, state panel, live rates over the WebSocket.
"use strict";
(function () {
  const token = new URLSearchParams(location.search).get("access_token");
  // every request declares JSON: the server refuses a POST of any other type (415), which is
  // what keeps pages of other sites from submitting forms to it (CSRF)
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, props, ...kids) => {
    const { dataset, ...rest } = props || {};
    const n = Object.assign(document.createElement(tag), rest);
    Object.assign(n.dataset, dataset || {});
    kids.forEach((k) => n.append(k));
    return n;
  };
  let state = null;
  let scenarios = [];

  async function api(method, path, body) {
    const r = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.detail || data.title || r.statusText);
    return data;
  }
  function say(text, bad) {
    const m = $("#message");
    m.textContent = text;
    m.style.color = bad ? "var(--danger)" : "";
  }
  function fmtWall(s) {
    if (s == null) return "";
    return s < 90 ? Math.round(s) + " s" : Math.round(s / 60) + " min";
  }

  // -- scenario cards --------------------------------------------------------------------
  async function loadScenarios() {
    scenarios = (await api("GET", "/api/scenarios")).scenarios.filter((s) => s.steers);
    const cards = $("#cards");
    cards.replaceChildren();
    for (const s of scenarios) {
      const btn = el("button", { className: "activate", textContent: "Activate" });
      btn.addEventListener("click", () => activate(s.id, btn));
      cards.append(
        el("div", { className: "card", id: "card-" + s.id, dataset: { id: s.id, domain: s.domain } },
          el("h4", { textContent: s.name }),
          el("p", { textContent: s.description }),
          el("small", { className: "muted duration", textContent: s.domain + " · " + s.duration }),
          btn)
      );
    }
    render();
  }
  async function activate(id, btn) {
    btn.classList.add("loading");
    btn.disabled = true;
    try {
      const r = await api("POST", "/api/scenario", { scenario_id: id });
      say(`${r.scenario.name} starts at ${r.effective_at} (about ${r.estimated_duration}` +
        (r.estimated_wall_s != null ? `, ${fmtWall(r.estimated_wall_s)} of wall time` : "") + ")");
    } catch (e) {
      say(e.message, true);
    } finally {
      btn.classList.remove("loading");
      refresh();
    }
  }

  // -- stop and reset --------------------------------------------------------------------
  $("#stop").addEventListener("click", async () => {
    $("#stop").disabled = true;
    try {
      const r = await api("POST", "/api/stop");
      say(`Stopped ${r.stopped.join(", ")}; settled by ${r.settling_until}`);
      $("#eta").textContent = "settling: about " + fmtWall(r.settling_wall_s);
    } catch (e) {
      say(e.message, true);
    }
    refresh();
  });
  $("#reset").addEventListener("click", () => {
    const list = $("#reset-list");
    list.replaceChildren();
    const scen = (state ? state.scenarios : []).filter((s) => s.steers);
    if (!scen.length) list.append(el("li", { textContent: "no scenario (already baseline)" }));
    for (const s of scen) list.append(el("li", { textContent: `scenario ${s.id} (${s.state})` }));
    $("#reset-dialog").showModal();
  });
  $("#reset-dialog").addEventListener("close", async () => {
    if ($("#reset-dialog").returnValue !== "confirm") return;
    try {
      const r = await api("POST", "/api/reset");
      say("Reset: cleared " + (r.cleared.scenarios.join(", ") || "nothing"));
    } catch (e) {
      say(e.message, true);
    }
    refresh();
  });

  // -- the state panel -------------------------------------------------------------------
  async function refresh() {
    try {
      state = await api("GET", "/api/state");
    } catch (e) {
      $("#status").textContent = "unavailable";
      $("#status").dataset.status = "";
      return;
    }
    render();
  }
  function render() {
    if (!state) return;
    $("#status").textContent = state.status;
    $("#status").dataset.status = state.status;
    $("#system").textContent = state.status;
    $("#clock").textContent = `sim ${state.sim_time.slice(0, 19)}Z · ${state.speed}x · v${state.control_version}`;
    // falling behind the sim clock, and the embedded broker's memory (it holds every record)
    $("#behind").hidden = !state.behind;
    $("#behind").textContent = state.behind ? "falling behind: " + state.behind.text : "";
    const b = state.broker;
    const gib = (n) => (n / 2 ** 30).toFixed(2) + " GiB";
    $("#broker").textContent = b
      ? `broker ${gib(b.memory_bytes)}` + (b.budget_bytes ? ` of ${gib(b.budget_bytes)}` : "")
      : "";
    const steering = state.scenarios.filter((s) => s.steers);
    // one steering scenario at a time per domain (the orchestrator refuses a second one)
    const running = steering.filter((s) => s.state === "active" || s.state === "pending");
    const busyDomains = new Set(running.map((s) => s.domain));
    const busy = running.length > 0;
    const settling = steering.filter((s) => s.state === "settling");
    document.querySelectorAll(".card").forEach((c) => {
      const on = steering.some((s) => s.id === c.dataset.id && s.state !== "settled");
      c.classList.toggle("active", on);
      c.querySelector("button").disabled = busyDomains.has(c.dataset.domain);
    });
    $("#stop").disabled = !busy;
    if (settling.length && !busy) {
      $("#eta").textContent = "settling: about " +
        fmtWall(Math.max(...settling.map((s) => s.remaining_wall_s || 0))) + " left";
    } else if (!busy) {
      $("#eta").textContent = "";
    }
    const act = $("#active-scenarios");
    act.replaceChildren();
    for (const s of steering) {
      act.append(el("div", { className: "scenario-row", dataset: { state: s.state },
        textContent: `${s.name}: ${s.state}${s.phase ? " (" + s.phase + ")" : ""}` +
          ` · started ${s.started_at.slice(0, 16)}Z` +
          (s.remaining_wall_s != null ? ` · ${fmtWall(s.remaining_wall_s)} left` : "") }));
    }
    const evs = $("#active-events");
    evs.replaceChildren();
    for (const e of state.external_events) {
      evs.append(el("li", { textContent: `${e.title} (${e.severity}, ${e.timestamp.slice(0, 16)}Z)` }));
    }
    if (!state.external_events.length) evs.append(el("li", { className: "muted", textContent: "none" }));
    const an = $("#anomalies");
    an.replaceChildren();
    for (const a of state.anomalies.slice(-8).reverse()) {
      an.append(el("li", { textContent: `${a.stream}: ${a.anomaly} (score ${a.normalized})` }));
    }
    if (!state.anomalies.length) an.append(el("li", { className: "muted", textContent: "none" }));
    const body = $("#workers tbody");
    body.replaceChildren();
    for (const w of state.workers) {
      body.append(el("tr", {},
        el("td", { textContent: w.worker }), el("td", { textContent: w.shards.join(",") }),
        el("td", { textContent: w.produced.toLocaleString() }),
        el("td", { textContent: w.delivered.toLocaleString() }),
        el("td", { textContent: w.failed.toLocaleString() })));
    }
    timeline([...state.external_events, ...state.upcoming_events]);
  }
  function timeline(events) {
    const box = $("#timeline");
    box.replaceChildren();
    if (!state) return;
    const now = state.sim_time_ms;
    const span = 2 * 86400000; // one sim day either side of now
    box.append(el("div", { className: "tick now", style: "left:50%;background:#6b7482" },
      el("span", { textContent: "now" })));
    let row = 0;
    for (const e of events.slice().sort((a, b) => a.timestamp.localeCompare(b.timestamp))) {
      const x = (Date.parse(e.timestamp) - (now - span / 2)) / span;
      if (x < 0 || x > 1) continue;
      row = (row + 1) % 3; // labels on three staggered rows so neighbours stay readable
      box.append(el("div", { className: `tick ${e.severity} row${row}`, title: e.title,
        style: `left:${(x * 100).toFixed(2)}%` }, el("span", { textContent: e.title })));
    }
  }

  // -- live rates over the WebSocket ------------------------------------------------------
  const WINDOW = 60;
  const perSecond = new Map(); // stream -> Map(second -> count)
  let received = 0;
  let lastCursor = null;
  let chart = null;
  let chartStreams = [];
  function count(counts) {
    const sec = Math.floor(Date.now() / 1000);
    for (const [stream, n] of Object.entries(counts)) {
      let m = perSecond.get(stream);
      if (!m) perSecond.set(stream, (m = new Map()));
      m.set(sec, (m.get(sec) || 0) + n);
      received += n;
    }
    $("#received").dataset.count = received;
    $("#received").textContent = `(${received.toLocaleString()} events seen)`;
  }
  function drawRates() {
    const now = Math.floor(Date.now() / 1000) - 1; // the current second is still filling
    const xs = [];
    for (let t = now - WINDOW + 1; t <= now; t++) xs.push(t);
    const totals = [...perSecond.entries()].map(([s, m]) => [s, xs.reduce((a, t) => a + (m.get(t) || 0), 0)]);
    const top = totals.filter(([s]) => !s.endsWith(".metrics")).sort((a, b) => b[1] - a[1])
      .slice(0, 8).map(([s]) => s).sort();
    if (!top.length) return;
    const data = [xs, ...top.map((s) => xs.map((t) => perSecond.get(s).get(t) || 0))];
    if (!chart || top.join() !== chartStreams.join()) {
      if (chart) chart.destroy();
      chartStreams = top;
      const colors = ["#2860c8", "#c0392b", "#1e8e4f", "#c77d0a", "#8e44ad", "#16a085", "#7f8c8d", "#d35400"];
      chart = new uPlot({
        width: Math.max(320, $("#rates").clientWidth - 10), height: 260,
        scales: { x: { time: true } },
        series: [{}, ...top.map((s, i) => ({ label: s.replace(/^[^.]+\./, ""), stroke: colors[i % 8], width: 1.5 }))],
        axes: [{}, { label: "events/s" }],
      }, data, $("#rates"));
    } else {
      chart.setData(data);
    }
    $("#rates").dataset.points = String(data[1].filter((v) => v > 0).length);
  }
  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/ws` + (token ? "?access_token=" + encodeURIComponent(token) : ""));
    ws.onopen = () => {
      $("#conn").textContent = "live";
      const sub = { type: "subscribe", streams: ["*"], maxRate: 200 };
      if (lastCursor != null) sub.lastTimestamp = lastCursor;
      ws.send(JSON.stringify(sub));
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type === "ping") ws.send(JSON.stringify({ type: "pong" }));
      if (msg.type === "events") count(msg.counts);
      if (msg.events && msg.events.length) lastCursor = msg.events[msg.events.length - 1].cursor;
    };
    ws.onclose = () => {
      $("#conn").textContent = "reconnecting";
      setTimeout(connect, 1000);
    };
  }

  loadScenarios().then(refresh);
  setInterval(refresh, 1000);
  setInterval(drawRates, 1000);
  connect();
})();
