// simfleet admin page: live rates and state first, then the scenario catalog by domain.
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
  const DAY_MS = 86400000;
  const int = (n) => Math.round(n).toLocaleString("en-US");
  let state = null;
  let stateWall = 0; // Date.now() when `state` arrived: sim time moves on from there
  let catalog = [];
  const byId = new Map();

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
  function simNowMs(wall) {
    if (!state) return null;
    return state.sim_time_ms + ((wall == null ? Date.now() : wall) - stateWall) * state.speed;
  }
  function fmtSim(ms) {
    return new Date(ms).toISOString().slice(0, 16).replace("T", " ");
  }

  // -- the scenario catalog, one collapsible group per domain ----------------------------
  let groupsFor = null; // the running domains the groups were built for
  async function loadScenarios() {
    catalog = (await api("GET", "/api/scenarios")).scenarios;
    catalog.forEach((s) => byId.set(s.id, s));
    buildGroups();
    render();
  }
  function buildGroups() {
    const running = new Set(state ? state.domains : []);
    groupsFor = [...running].sort().join();
    const box = $("#groups");
    box.replaceChildren();
    // the running domains first and open; the others closed (their scenarios cannot start)
    const domains = [...new Set(catalog.map((s) => s.domain))].sort(
      (a, b) => running.has(b) - running.has(a) || a.localeCompare(b));
    for (const d of domains) {
      const cards = el("div", { className: "cards" });
      for (const s of catalog.filter((x) => x.domain === d)) cards.append(card(s));
      box.append(el("details", { className: "domain", id: "domain-" + d, open: running.has(d),
        dataset: { domain: d } },
        el("summary", {}, el("b", { textContent: d }), " ",
          el("span", { className: "muted domain-note" })),
        cards));
    }
  }
  function card(s) {
    const c = el("div", { className: "card", id: "card-" + s.id,
      dataset: { id: s.id, domain: s.domain, kind: s.kind } },
      el("h4", { textContent: s.name }),
      el("p", { textContent: s.description, title: s.description }),
      el("small", { className: "muted duration",
        textContent: s.duration + (s.kind === "parameters" ? "" : " · " + s.kind) }));
    if (s.kind === "baseline") {
      // starting a baseline would end every scenario of every domain: Reset does that, openly
      c.append(el("small", { className: "muted",
        textContent: `${s.domain} runs it whenever no scenario steers` }));
    } else {
      const btn = el("button", { className: "activate", textContent: "Activate" });
      btn.addEventListener("click", () => activate(s.id, btn));
      c.append(btn);
    }
    return c;
  }
  async function activate(id, btn) {
    btn.classList.add("loading");
    btn.disabled = true;
    try {
      const r = await api("POST", "/api/scenario", { scenario_id: id });
      say(`${r.scenario.name} starts at ${r.effective_at} (about ${r.estimated_duration}` +
        (r.estimated_wall_s != null ? `, ${fmtWall(r.estimated_wall_s)} of wall time` : "") + ")");
      autoAt = 0; // chart the streams it moves at once
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
    const scen = (state ? state.scenarios : []).filter((s) => s.steers && s.state !== "settled");
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
      stateWall = Date.now();
    } catch (e) {
      $("#status").textContent = "unavailable";
      $("#status").dataset.status = "";
      return;
    }
    render();
  }
  function live() {
    // settled scenarios are history (GET /api/state keeps them): the page shows what acts
    return state ? state.scenarios.filter((s) => s.steers && s.state !== "settled") : [];
  }
  function render() {
    if (!state) return;
    $("#status").textContent = state.status;
    $("#status").dataset.status = state.status;
    $("#system").textContent = state.status;
    $("#clock").textContent =
      `sim ${state.sim_time.slice(0, 16).replace("T", " ")} UTC · ${int(state.speed)}x`;
    $("#clock").title = `control version ${state.control_version}`;
    // falling behind the sim clock, and the embedded broker's memory (it holds every record)
    $("#behind").hidden = !state.behind;
    $("#behind").textContent = state.behind ? "falling behind: " + state.behind.text : "";
    const b = state.broker;
    const mib = (n) => int(n / 2 ** 20) + " MiB";
    $("#broker").textContent = b
      ? `broker memory ${mib(b.memory_bytes)}` + (b.budget_bytes ? ` of ${mib(b.budget_bytes)}` : "")
      : "";
    $("#broker").classList.toggle("warn-text", !!(b && b.budget_bytes &&
      b.memory_bytes > 0.8 * b.budget_bytes));
    if (catalog.length && [...state.domains].sort().join() !== groupsFor) buildGroups();
    const acting = live();
    // one steering scenario at a time per domain (the orchestrator refuses a second one);
    // another domain's cards stay enabled
    const running = acting.filter((s) => s.state === "active" || s.state === "pending");
    const busy = new Map(running.map((s) => [s.domain, s]));
    const domains = new Set(state.domains);
    document.querySelectorAll(".card").forEach((c) => {
      const mine = acting.find((s) => s.id === c.dataset.id);
      c.classList.toggle("active", !!mine);
      c.dataset.state = mine ? mine.state : "";
      const btn = c.querySelector("button.activate");
      if (!btn || btn.classList.contains("loading")) return;
      const d = c.dataset.domain;
      const why = !domains.has(d)
        ? `${d} does not run in this fleet (start it with simctl up --domain ${d})`
        : busy.has(d) ? `${busy.get(d).name} steers ${d}: stop it first` : "";
      btn.disabled = !!why;
      btn.title = why;
    });
    document.querySelectorAll("details.domain").forEach((g) => {
      const d = g.dataset.domain;
      const here = acting.filter((s) => s.domain === d);
      g.querySelector(".domain-note").textContent = !domains.has(d) ? "· not running"
        : here.length ? "· " + here.map((s) => `${s.name} (${s.state})`).join(", ") : "· baseline";
      g.classList.toggle("busy", busy.has(d));
    });
    $("#stop").disabled = !running.length;
    const settling = acting.filter((s) => s.state === "settling");
    if (settling.length && !running.length) {
      $("#eta").textContent = "settling: about " +
        fmtWall(Math.max(...settling.map((s) => s.remaining_wall_s || 0))) + " left";
    } else if (!running.length) {
      $("#eta").textContent = "";
    }
    const act = $("#active-scenarios");
    act.replaceChildren();
    for (const s of acting) {
      act.append(el("div", { className: "scenario-row", dataset: { state: s.state, id: s.id },
        textContent: `${s.domain}: ${s.name}, ${s.state}${s.phase ? " (" + s.phase + ")" : ""}` +
          ` · from ${s.started_at.slice(0, 16).replace("T", " ")}` +
          (s.remaining_wall_s != null ? ` · ${fmtWall(s.remaining_wall_s)} left` : "") }));
    }
    const evs = $("#active-events");
    evs.replaceChildren();
    const shown = state.external_events.slice(-6).reverse(); // the newest; the rest by count
    for (const e of shown) evs.append(el("li", { textContent: `${e.title} (${e.severity})` }));
    if (state.external_events.length > shown.length) {
      evs.append(el("li", { className: "muted",
        textContent: `and ${state.external_events.length - shown.length} more` }));
    }
    if (!state.external_events.length) evs.append(el("li", { className: "muted", textContent: "none" }));
    const an = $("#anomalies");
    an.replaceChildren();
    for (const a of state.anomalies.slice(-5).reverse()) {
      an.append(el("li", { textContent: `${a.stream}: ${a.anomaly} (score ${a.normalized})` }));
    }
    if (!state.anomalies.length) an.append(el("li", { className: "muted", textContent: "none" }));
    const body = $("#workers tbody");
    body.replaceChildren();
    for (const w of state.workers) {
      body.append(el("tr", {},
        el("td", { textContent: w.worker }), el("td", { textContent: w.shards.join(",") }),
        el("td", { textContent: int(w.produced) }), el("td", { textContent: int(w.delivered) }),
        el("td", { textContent: int(w.failed) })));
    }
    timeline([...state.external_events, ...state.upcoming_events]);
  }

  // -- external events: a day of sim time either side of now, labels packed in lanes ------
  const LANES = 4;
  function timeline(events) {
    const box = $("#timeline");
    box.replaceChildren();
    const now = state.sim_time_ms;
    const width = box.clientWidth;
    if (!width) return;
    $("#timeline-span").textContent =
      `(sim ${fmtSim(now - DAY_MS)} to ${fmtSim(now + DAY_MS)} UTC)`;
    box.append(el("div", { className: "now", style: "left:50%" }, el("span", { textContent: "now" })));
    const lanes = []; // the right edge (px) of each lane's last label
    let hidden = 0;
    const sorted = events.slice().sort((a, b) => a.timestamp.localeCompare(b.timestamp));
    for (const e of sorted) {
      const x = ((Date.parse(e.timestamp) - now) / (2 * DAY_MS) + 0.5) * width;
      if (x < 0 || x > width) continue;
      const text = `${e.title} (${e.severity}, ${e.timestamp.slice(5, 16).replace("T", " ")})`;
      box.append(el("div", { className: `tick ${e.severity}`, title: text,
        style: `left:${x.toFixed(1)}px` }));
      const label = el("span", { className: "label", textContent: e.title, title: text });
      box.append(label);
      const w = label.offsetWidth;
      const left = Math.max(0, Math.min(x - 5, width - w)); // inside the box, never past it
      // the first lane where it clears its neighbour; none free: the dot stays, the label goes
      let lane = lanes.findIndex((right) => left >= right + 8);
      if (lane < 0 && lanes.length < LANES) lane = lanes.push(-Infinity) - 1;
      if (lane < 0) {
        label.remove();
        hidden += 1;
        continue;
      }
      lanes[lane] = left + w;
      label.style.left = left.toFixed(1) + "px";
      label.style.top = 18 + lane * 16 + "px";
    }
    if (hidden) {
      box.append(el("span", { className: "more muted",
        textContent: `+${hidden} more (point at a dot)` }));
    }
  }

  // -- live rates over the WebSocket ------------------------------------------------------
  const WINDOW = 120; // wall seconds on the chart
  const SMOOTH = 10; // the rate is a mean over this many wall seconds (ticks arrive in bursts)
  const AUTO = 8; // streams charted in auto mode, beyond the scenarios' own
  const perSecond = new Map(); // stream -> Map(wall second -> count)
  const simAt = new Map(); // wall second -> sim seconds at its start
  const known = new Set(); // every stream the server serves
  let firstSec = null;
  let received = 0;
  let lastCursor = null;
  let chart = null;
  let chartStreams = [];
  let picked = null; // null: auto; else the streams the user ticked
  let autoPick = [];
  let autoAt = 0;
  $("#smoothing").textContent = `(mean over ${SMOOTH} s, per sim time)`;

  function learn(streams) {
    let fresh = false;
    for (const s of streams) {
      if (!known.has(s)) {
        known.add(s);
        fresh = true;
      }
    }
    if (fresh) buildPicker();
  }
  function count(counts) {
    const sec = Math.floor(Date.now() / 1000);
    if (firstSec == null) firstSec = sec + 1; // the page opened mid-second: that one is partial
    if (!simAt.has(sec) && state) simAt.set(sec, simNowMs(sec * 1000) / 1000);
    learn(Object.keys(counts));
    for (const [stream, n] of Object.entries(counts)) {
      let m = perSecond.get(stream);
      if (!m) perSecond.set(stream, (m = new Map()));
      m.set(sec, (m.get(sec) || 0) + n);
      received += n;
    }
    $("#received").dataset.count = received;
    $("#received").textContent = `· ${int(received)} events seen`;
  }
  function recent(stream, upto) {
    const m = perSecond.get(stream);
    let n = 0;
    if (m) for (let t = upto - 3 * SMOOTH + 1; t <= upto; t++) n += m.get(t) || 0;
    return n;
  }
  function chosen(now) {
    if (picked) return [...picked].sort();
    // auto: what the running scenarios say they move, then the busiest, re-picked every
    // 10 s (not every second: the chart would flicker between near-equal streams)
    if (Date.now() - autoAt > 10000 || !autoPick.length) {
      const moved = new Set(live().flatMap((s) => (byId.get(s.id) || {}).streams || []));
      const want = [...moved].filter((s) => known.has(s));
      // the busiest of each domain in turn: a quiet domain is charted beside a loud one
      const ranked = new Map();
      [...known].filter((s) => !s.endsWith(".metrics") && !moved.has(s))
        .map((s) => [s, recent(s, now)]).filter(([, n]) => n > 0)
        .sort((a, b) => b[1] - a[1]).forEach(([s]) => {
          const d = s.split(".")[0];
          if (!ranked.has(d)) ranked.set(d, []);
          ranked.get(d).push(s);
        });
      const busiest = [];
      for (let i = 0; busiest.length < AUTO - want.length && i < 64; i++) {
        for (const list of ranked.values()) if (list[i]) busiest.push(list[i]);
      }
      autoPick = [...want, ...busiest.slice(0, Math.max(0, AUTO - want.length))].sort();
      autoAt = Date.now();
    }
    return autoPick;
  }
  const COLORS = ["#2860c8", "#c0392b", "#1e8e4f", "#c77d0a", "#8e44ad", "#16a085", "#7f8c8d",
    "#d35400", "#2c3e50", "#b03a7a", "#6d8a1f", "#0a7bb5"];
  function colorOf(stream) {
    let h = 0;
    for (const ch of stream) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return COLORS[h % COLORS.length];
  }
  function simTicks(u, vals) {
    // 24-hour UTC times; the date where it changes (and on the first tick)
    let day = null;
    return vals.map((v) => {
      const iso = new Date(v * 1000).toISOString();
      const label = iso.slice(0, 10) === day ? iso.slice(11, 16) : iso.slice(5, 10) + " " + iso.slice(11, 16);
      day = iso.slice(0, 10);
      return label;
    });
  }
  function smooth(stream, secs) {
    const m = perSecond.get(stream) || new Map();
    return secs.map((t) => {
      const lo = Math.max(firstSec, t - SMOOTH + 1);
      let n = 0;
      for (let s = lo; s <= t; s++) n += m.get(s) || 0;
      return n / (t - lo + 1);
    });
  }
  function drawRates() {
    const now = Math.floor(Date.now() / 1000) - 1; // the current second is still filling
    if (firstSec == null || now < firstSec || !state) return;
    // forget what the chart and the smoothing no longer reach
    const keep = now - WINDOW - SMOOTH;
    for (const m of [...perSecond.values(), simAt]) for (const t of m.keys()) if (t < keep) m.delete(t);
    const secs = [];
    for (let t = Math.max(firstSec, now - WINDOW + 1); t <= now; t++) secs.push(t);
    const xs = secs.map((t) => (simAt.has(t) ? simAt.get(t) : simNowMs(t * 1000) / 1000));
    for (let i = 1; i < xs.length; i++) if (xs[i] <= xs[i - 1]) xs[i] = xs[i - 1] + 0.001;
    const streams = chosen(now);
    syncPicker(streams);
    const data = [xs, ...streams.map((s) => smooth(s, secs))];
    const box = $("#rates");
    if (!chart || streams.join() !== chartStreams.join()) {
      if (chart) chart.destroy();
      chartStreams = streams;
      chart = new uPlot({
        width: box.clientWidth, height: 260,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
        scales: { x: { time: true } },
        series: [{ label: "sim time", value: (u, v) => (v == null ? "" : fmtSim(v * 1000)) },
          ...streams.map((s) => ({ label: s, stroke: colorOf(s), width: 1.5, points: { show: false },
            value: (u, v) => (v == null ? "" : int(v)) }))],
        axes: [{ label: "sim time (UTC)", labelSize: 20, values: simTicks },
          { label: "events/s", size: 64, values: (u, vals) => vals.map((v) => int(v)) }],
      }, data, box);
    } else {
      chart.setData(data);
    }
    box.dataset.points = String(data.slice(1).reduce((n, ys) => n + ys.filter((v) => v > 0).length, 0));
    box.dataset.streams = streams.join(",");
    box.dataset.simFrom = String(xs[0]);
  }
  window.addEventListener("resize", () => {
    if (chart) chart.setSize({ width: $("#rates").clientWidth, height: 260 });
    render();
  });

  // -- the stream picker: every stream, grouped by domain, full names -------------------
  function buildPicker() {
    const box = $("#picker-groups");
    box.replaceChildren();
    const domains = new Map();
    for (const s of [...known].sort()) {
      const d = s.split(".")[0];
      if (!domains.has(d)) domains.set(d, []);
      domains.get(d).push(s);
    }
    for (const [d, streams] of domains) {
      const all = el("button", { type: "button", className: "small ghost", textContent: "all" });
      all.addEventListener("click", () => pick([...(picked || chartStreams), ...streams]));
      const list = el("div", { className: "picks" });
      for (const s of streams) {
        const cb = el("input", { type: "checkbox", value: s, checked: chartStreams.includes(s) });
        cb.addEventListener("change", () => {
          const now = new Set(picked || chartStreams);
          if (cb.checked) now.add(s);
          else now.delete(s);
          pick([...now]);
        });
        list.append(el("label", { title: s }, cb, " " + s));
      }
      box.append(el("fieldset", {}, el("legend", {}, d + " ", all), list));
    }
    syncPicker(chartStreams);
  }
  function pick(streams) {
    picked = streams === null ? null : new Set(streams);
    autoAt = 0;
    drawRates();
  }
  function syncPicker(streams) {
    const on = new Set(streams);
    document.querySelectorAll("#picker-groups input").forEach((cb) => {
      cb.checked = on.has(cb.value);
    });
    $("#picker-summary").textContent = `Streams: ${picked ? "picked" : "auto"}, ` +
      `${streams.length} of ${known.size}`;
  }
  $("#pick-auto").addEventListener("click", () => pick(null));
  $("#pick-none").addEventListener("click", () => pick([]));

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/ws` + (token ? "?access_token=" + encodeURIComponent(token) : ""));
    ws.onopen = () => {
      $("#conn").textContent = "live";
      // the page charts counts, which every frame carries: few decoded events are enough
      const sub = { type: "subscribe", streams: ["*"], maxRate: 20 };
      if (lastCursor != null) sub.lastTimestamp = lastCursor;
      ws.send(JSON.stringify(sub));
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type === "ping") ws.send(JSON.stringify({ type: "pong" }));
      if (msg.type === "subscribed" && msg.matched) learn(msg.matched);
      if (msg.type === "events") count(msg.counts);
      if (msg.events && msg.events.length) lastCursor = msg.events[msg.events.length - 1].cursor;
    };
    ws.onclose = () => {
      $("#conn").textContent = "reconnecting";
      setTimeout(connect, 1000);
    };
  }

  refresh().then(loadScenarios);
  setInterval(refresh, 1000);
  setInterval(drawRates, 1000);
  connect();
})();
