// Live updates for the result page. The server renders every number, so without this script the
// page still shows the tally as of loading; with it, the numbers follow /events.
"use strict";
(() => {
  const root = document.getElementById("results");
  if (!root || !("EventSource" in window)) {
    return;
  }
  const status = document.getElementById("status");
  const announcer = document.getElementById("announce");
  const numbers = new Intl.NumberFormat("en-US");
  const votes = (n) => (n === 1 ? "1 vote" : numbers.format(n) + " votes");

  // Screen readers hear the tally at most every few seconds: a busy poll would otherwise talk
  // without pause.
  const announceEvery = 5000;
  let announced = 0;
  let announceTimer = 0;
  let announcement = "";
  const announce = (text) => {
    announcement = text;
    if (announceTimer) {
      return;
    }
    const wait = Math.max(0, announced + announceEvery - Date.now());
    announceTimer = setTimeout(() => {
      announceTimer = 0;
      announced = Date.now();
      announcer.textContent = announcement;
    }, wait);
  };

  const field = (scope, name) => scope.querySelector(`[data-field="${name}"]`);

  // What the page says, in the words an announcement uses; the first event usually repeats the
  // server-rendered numbers, and that is not news.
  const describe = (options, summary) =>
    options.map((o) => `${o.label} ${o.percent}`).join(", ") + ". " + summary + ".";
  let spoken = describe(
    Array.from(root.querySelectorAll("[data-key]"), (item) => ({
      label: item.querySelector(".label").textContent,
      percent: field(item, "percent").textContent,
    })),
    field(root, "summary").textContent,
  );

  // The live chart: the server draws it at first (and for browsers without this script); here it
  // is redrawn from each event's recent intervals, and every second as the window slides. The
  // clock is the server's, from when the page was made, so a wrong clock here does not shift it.
  const chart = document.getElementById("chart");
  const plot = chart && chart.querySelector('[data-field="plot"]');
  const keys = Array.from(root.querySelectorAll("[data-key]"), (item) => item.dataset.key);
  const labels = Array.from(root.querySelectorAll("[data-key] .label"), (label) => label.textContent);
  const svg = "http://www.w3.org/2000/svg";
  const skew = chart ? Number(chart.dataset.serverTime) - Date.now() : 0;
  const interval = chart ? Number(chart.dataset.interval) * 1000 : 10000;
  const columns = chart ? Number(chart.dataset.window) * 1000 / interval : 0;
  const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
  // Votes by interval start (ms), as the server rendered them.
  let recent = new Map();
  if (plot) {
    for (const g of plot.querySelectorAll("g[data-start]")) {
      const votes = {};
      for (const k of keys) {
        votes[k] = Number(g.getAttribute("data-" + k)) || 0;
      }
      recent.set(Date.parse(g.dataset.start), votes);
    }
  }
  let drawn = "";
  const drawChart = () => {
    if (!plot) {
      return;
    }
    const end = Math.floor((Date.now() + skew) / interval) * interval;
    const start = end - (columns - 1) * interval;
    let peak = 0;
    const totals = keys.map(() => 0);
    const cols = [];
    for (let i = 0; i < columns; i++) {
      const at = start + i * interval;
      const votes = recent.get(at) || {};
      cols.push([at, votes]);
      keys.forEach((k, j) => {
        peak = Math.max(peak, votes[k] || 0);
        totals[j] += votes[k] || 0;
      });
    }
    const key = JSON.stringify(cols);
    if (key === drawn) {
      return;
    }
    drawn = key;
    const width = (10 - 2) / keys.length;
    const round = (x) => String(Math.round(x * 100) / 100);
    const groups = cols.map(([at, votes], i) => {
      const g = document.createElementNS(svg, "g");
      g.setAttribute("data-start", iso(at));
      keys.forEach((k, j) => {
        const n = votes[k] || 0;
        g.setAttribute("data-" + k, String(n));
        const h = peak > 0 ? (100 * n) / peak : 0;
        const bar = document.createElementNS(svg, "rect");
        bar.setAttribute("class", "col-" + ((j % 3) + 1));
        bar.setAttribute("x", round(i * 10 + 1 + j * width));
        bar.setAttribute("y", round(100 - h));
        bar.setAttribute("width", round(width));
        bar.setAttribute("height", round(h));
        g.appendChild(bar);
      });
      return g;
    });
    plot.replaceChildren(...groups);
    field(chart, "peak").textContent =
      peak === 0 ? "no votes in this time" : `top: ${peak} per ${interval / 1000} s`;
    const caption =
      `Votes cast every ${interval / 1000} seconds (a change of mind counts) over the last ${(columns * interval) / 60000} minutes: ` +
      labels.map((label, j) => `${label} ${votes(totals[j])}`).join(", ") + ".";
    if (field(chart, "caption").textContent !== caption) {
      field(chart, "caption").textContent = caption;
      plot.setAttribute("aria-label", caption);
    }
  };

  const render = (tally) => {
    for (const option of tally.options) {
      const item = root.querySelector(`[data-key="${CSS.escape(option.key)}"]`);
      if (!item) {
        continue;
      }
      const percent = Math.min(100, Math.max(0, Math.round(option.percent)));
      field(item, "percent").textContent = percent + "%";
      field(item, "votes").textContent = votes(option.votes);
      // Widths are classes (w-0 … w-100 in style.css), as the CSP forbids inline styles.
      field(item, "bar").className = "bar w-" + percent;
    }
    field(root, "summary").textContent = tally.summary;
    if (tally.lead) {
      field(root, "lead").textContent = tally.lead.text;
    }
    if (tally.recent) {
      recent = new Map(tally.recent.buckets.map((b) => [Date.parse(b.start), b.votes]));
      drawChart();
    }
    const notice = field(root, "notice");
    if (notice) {
      notice.remove();
    }
    const text = describe(tally.options.map((o) => ({ label: o.label, percent: o.percent + "%" })), tally.summary);
    if (text !== spoken) {
      spoken = text;
      announce(text);
    }
  };

  const setStatus = (text) => {
    if (status.textContent !== text) {
      status.textContent = text;
    }
  };

  // EventSource reconnects by itself after a dropped stream (honouring the server's retry:), but
  // gives up for good on an error status such as 503 (instance full or shutting down): then this
  // script tries again itself, with growing, jittered delays.
  let delay = 1000;
  const connect = () => {
    const source = new EventSource(root.dataset.events);
    source.addEventListener("tally", (e) => {
      render(JSON.parse(e.data));
      setStatus("");
      delay = 1000;
    });
    source.addEventListener("open", () => setStatus(""));
    source.addEventListener("error", () => {
      setStatus("Reconnecting…");
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        setTimeout(connect, delay / 2 + Math.random() * delay);
        delay = Math.min(delay * 2, 30000);
      }
    });
  };
  connect();
  setInterval(drawChart, 1000);
})();
