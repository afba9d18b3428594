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
})();
