/* shipshape dashboard. Plain JavaScript, no dependencies, no build step.
 *
 * Talks only to its own origin: GET /stats (polled), GET /list and GET /visitors (paged through
 * the `Link: <...>; rel="next"` header), PUT and GET /hello/{username}.
 * Charts are drawn on <canvas> by the small LineChart class below.
 * The page runs under a strict CSP with Trusted Types: never assign HTML strings to the DOM.
 *
 * Settings (data attributes on <body>, overridable by query parameters for tests and demos):
 *   data-poll-interval-ms   ?interval=    /stats polling period (default 2000, min 250)
 *   data-table-refresh-ms   ?tableRefresh= refresh of the first page of the tables (default 10000)
 *   data-page-size          ?pageSize=    rows per table page (default 10, max 100)
 */
"use strict";

(() => {
  const MAX_POINTS = 90;
  const REQUEST_TIMEOUT_MS = 8000;

  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const query = new URLSearchParams(window.location.search);

  function setting(param, attribute, fallback, min, max) {
    const raw = query.get(param) ?? attribute;
    const value = Number.parseInt(raw ?? "", 10);
    if (!Number.isFinite(value)) return fallback;
    return Math.min(Math.max(value, min), max);
  }

  const POLL_MS = setting("interval", body.dataset.pollIntervalMs, 2000, 250, 60000);
  const TABLE_REFRESH_MS = setting("tableRefresh", body.dataset.tableRefreshMs, 10000, 500, 600000);
  const PAGE_SIZE = setting("pageSize", body.dataset.pageSize, 10, 1, 100);

  // ---------------------------------------------------------------- helpers

  async function request(path, options = {}) {
    const controller = new AbortController();
    const timer = window.setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    try {
      return await fetch(path, {
        cache: "no-store",
        credentials: "same-origin",
        redirect: "error",
        ...options,
        headers: { Accept: "application/json", ...(options.headers ?? {}) },
        signal: controller.signal,
      });
    } finally {
      window.clearTimeout(timer);
    }
  }

  /** The rel="next" target of a Link header, reduced to path + query on our own origin. */
  function nextLink(response) {
    const header = response.headers.get("Link");
    if (!header) return null;
    const pattern = /<([^>]*)>([^,]*)/g;
    for (const match of header.matchAll(pattern)) {
      if (/;\s*rel\s*=\s*"?([^";]*\s)?next(\s[^";]*)?"?/i.test(match[2])) {
        const url = new URL(match[1], window.location.href);
        return url.pathname + url.search;
      }
    }
    return null;
  }

  function el(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });

  function formatPercent(value) {
    return typeof value === "number" && Number.isFinite(value) ? `${numberFormat.format(value)} %` : "–";
  }

  function formatBytes(bytes) {
    if (typeof bytes !== "number" || !Number.isFinite(bytes)) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${numberFormat.format(value)} ${units[unit]}`;
  }

  function formatDuration(seconds) {
    if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "–";
    let rest = Math.max(0, Math.floor(seconds));
    const days = Math.floor(rest / 86400);
    rest -= days * 86400;
    const hours = Math.floor(rest / 3600);
    rest -= hours * 3600;
    const minutes = Math.floor(rest / 60);
    const secs = rest - minutes * 60;
    if (days > 0) return `${days} d ${hours} h`;
    if (hours > 0) return `${hours} h ${minutes} min`;
    if (minutes > 0) return `${minutes} min ${secs} s`;
    return `${secs} s`;
  }

  function formatDisk(disk) {
    if (typeof disk === "number") return formatPercent(disk);
    if (disk && typeof disk === "object") {
      const percent = disk.percent ?? disk.used_percent;
      const parts = [];
      if (typeof percent === "number") parts.push(formatPercent(percent));
      const total = disk.total_bytes ?? disk.total;
      const free = disk.free_bytes ?? disk.free;
      const used = disk.used_bytes ?? disk.used ?? (total - free);
      if (typeof total === "number" && Number.isFinite(used)) {
        parts.push(`${formatBytes(used)} of ${formatBytes(total)}`);
      }
      if (parts.length > 0) return parts.join(" · ");
    }
    return "–";
  }

  /** API timestamps are UTC; treat a value without an offset as UTC too. */
  function parseTime(value) {
    if (typeof value !== "string" || value === "") return null;
    const hasZone = /(Z|[+-]\d\d:?\d\d)$/i.test(value);
    const date = new Date(hasZone ? value : `${value}Z`);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  function timeCell(value) {
    const date = parseTime(value);
    if (!date) return el("td", { className: "time", text: value ? String(value) : "–" });
    return el("td", { className: "time" }, [
      el("time", { datetime: date.toISOString(), text: dateFormat.format(date) }),
    ]);
  }

  // ---------------------------------------------------------------- status pill

  const statusEl = $("status");
  function setStatus(state, text) {
    if (statusEl.dataset.state === state && statusEl.textContent === text) return;
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  // ---------------------------------------------------------------- charts

  class LineChart {
    constructor(canvas, label, format) {
      this.canvas = canvas;
      this.label = label;
      this.format = format;
      this.fixedMax = canvas.dataset.max ? Number(canvas.dataset.max) : null;
      this.values = [];
      this.received = 0;
      this.context = canvas.getContext("2d");
      if (typeof ResizeObserver === "function") {
        new ResizeObserver(() => this.draw()).observe(canvas);
      } else {
        window.addEventListener("resize", () => this.draw());
      }
    }

    push(value) {
      if (typeof value !== "number" || !Number.isFinite(value)) return;
      this.values.push(value);
      if (this.values.length > MAX_POINTS) this.values.shift();
      this.received += 1;
      this.canvas.dataset.points = String(this.received);
      this.canvas.dataset.latest = String(value);
      const seconds = Math.round(((this.values.length - 1) * POLL_MS) / 1000);
      this.canvas.setAttribute(
        "aria-label",
        `${this.label} over the last ${seconds} seconds, latest ${this.format(value)}`,
      );
      this.draw();
    }

    yMax() {
      if (this.fixedMax) return this.fixedMax;
      const peak = Math.max(1, ...this.values);
      const magnitude = 10 ** Math.floor(Math.log10(peak));
      for (const step of [1, 2, 5, 10]) {
        if (peak <= step * magnitude) return step * magnitude;
      }
      return 10 * magnitude;
    }

    draw() {
      const { canvas, context: ctx } = this;
      if (!ctx) return;
      const width = canvas.clientWidth;
      const height = canvas.clientHeight;
      if (width === 0 || height === 0) return;
      const ratio = window.devicePixelRatio || 1;
      const pixelWidth = Math.round(width * ratio);
      const pixelHeight = Math.round(height * ratio);
      if (canvas.width !== pixelWidth || canvas.height !== pixelHeight) {
        canvas.width = pixelWidth;
        canvas.height = pixelHeight;
      }
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, width, height);

      const style = window.getComputedStyle(canvas);
      const line = style.color;
      const grid = style.getPropertyValue("--grid").trim() || "#ddd";
      const muted = style.getPropertyValue("--muted").trim() || "#666";
      const left = 38;
      const right = width - 8;
      const top = 10;
      const bottom = height - 8;
      const max = this.yMax();
      const y = (v) => bottom - (Math.min(Math.max(v, 0), max) / max) * (bottom - top);

      ctx.font = `11px ${style.fontFamily}`;
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      ctx.lineWidth = 1;
      for (const fraction of [0, 0.5, 1]) {
        const value = max * fraction;
        const py = Math.round(y(value)) + 0.5;
        ctx.strokeStyle = grid;
        ctx.beginPath();
        ctx.moveTo(left, py);
        ctx.lineTo(right, py);
        ctx.stroke();
        ctx.fillStyle = muted;
        ctx.fillText(numberFormat.format(value), left - 6, py);
      }

      const n = this.values.length;
      if (n === 0) return;
      const step = (right - left) / (MAX_POINTS - 1);
      const x = (i) => right - (n - 1 - i) * step;

      ctx.beginPath();
      this.values.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v))));
      ctx.strokeStyle = line;
      ctx.lineWidth = 2;
      ctx.lineJoin = "round";
      ctx.stroke();

      ctx.lineTo(x(n - 1), bottom);
      ctx.lineTo(x(0), bottom);
      ctx.closePath();
      ctx.globalAlpha = 0.15;
      ctx.fillStyle = line;
      ctx.fill();
      ctx.globalAlpha = 1;

      ctx.beginPath();
      ctx.arc(x(n - 1), y(this.values[n - 1]), 3, 0, Math.PI * 2);
      ctx.fillStyle = line;
      ctx.fill();
    }
  }

  const formatRate = (v) => `${numberFormat.format(v)} req/s`;
  const charts = {
    cpu: new LineChart($("chart-cpu"), "CPU usage", formatPercent),
    ram: new LineChart($("chart-ram"), "RAM usage", formatPercent),
    rps: new LineChart($("chart-rps"), "Request rate", formatRate),
  };

  // ---------------------------------------------------------------- /stats polling

  let previous = null; // { total, at, instance } for the request-rate delta

  function renderStats(stats) {
    charts.cpu.push(stats.cpu);
    charts.ram.push(stats.ram);
    $("value-cpu").textContent = formatPercent(stats.cpu);
    $("value-ram").textContent = formatPercent(stats.ram);

    const now = performance.now();
    const total = stats.requests_total;
    const instance = `${stats.hostname ?? ""}/${stats.pid ?? ""}`;
    if (typeof total === "number") {
      // Another instance (load-balanced replicas) or a smaller count (restart): new baseline.
      if (previous && previous.instance === instance && total >= previous.total) {
        const seconds = (now - previous.at) / 1000;
        if (seconds > 0) {
          const rate = (total - previous.total) / seconds;
          charts.rps.push(rate);
          $("value-rps").textContent = formatRate(rate);
        }
      }
      previous = { total, at: now, instance };
      $("fact-requests").textContent = numberFormat.format(total);
    }

    $("fact-hostname").textContent = stats.pod ?? stats.hostname ?? "–";
    $("fact-uptime").textContent = formatDuration(stats.uptime_seconds);
    const cpus = typeof stats.cpu_count === "number" ? ` (${stats.cpu_count} CPUs)` : "";
    $("fact-load").textContent = Array.isArray(stats.load_average)
      ? stats.load_average.map((v) => Number(v).toFixed(2)).join(" · ") + cpus
      : "–";
    $("fact-disk").textContent = formatDisk(stats.disk);
    $("fact-rss").textContent = formatBytes(stats.process_rss_bytes ?? stats.process?.rss_bytes);
  }

  async function pollStats() {
    if (!document.hidden) {
      try {
        const response = await request("/stats");
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        renderStats(await response.json());
        setStatus("live", "Live");
      } catch {
        setStatus("offline", "Offline, retrying…");
      }
    }
    window.setTimeout(pollStats, POLL_MS);
  }

  // ---------------------------------------------------------------- paged tables

  class PagedTable {
    constructor(name, columns, emptyText) {
      this.name = name;
      this.table = $(`${name}-table`);
      this.tbody = this.table.tBodies[0];
      this.state = $(`${name}-state`);
      this.columns = columns;
      this.emptyText = emptyText;
      this.pages = [`${this.table.dataset.source}?limit=${PAGE_SIZE}`];
      this.next = null;
      this.loading = false;
      this.older = document.querySelector(`[data-pager="${name}"][data-direction="older"]`);
      this.newer = document.querySelector(`[data-pager="${name}"][data-direction="newer"]`);
      this.older.addEventListener("click", () => this.goOlder());
      this.newer.addEventListener("click", () => this.goNewer());
      document
        .querySelector(`[data-refresh="${name}"]`)
        .addEventListener("click", () => this.load());
    }

    get page() {
      return this.pages.length;
    }

    async load() {
      if (this.loading) return;
      this.loading = true;
      this.table.setAttribute("aria-busy", "true");
      try {
        const response = await request(this.pages[this.pages.length - 1]);
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const rows = await response.json();
        if (!Array.isArray(rows)) throw new Error("unexpected response");
        this.next = nextLink(response);
        this.render(rows);
        this.state.textContent = `Page ${this.page}`;
        this.table.dataset.loaded = String(Number(this.table.dataset.loaded ?? 0) + 1);
      } catch (error) {
        this.state.textContent = `Could not load (${error.message}), retrying`;
      } finally {
        this.loading = false;
        this.table.removeAttribute("aria-busy");
        this.older.disabled = !this.next;
        this.newer.disabled = this.pages.length <= 1;
      }
    }

    render(rows) {
      if (rows.length === 0) {
        const cell = el("td", { colspan: String(this.columns.length), text: this.emptyText });
        this.tbody.replaceChildren(el("tr", { className: "empty" }, [cell]));
        return;
      }
      this.tbody.replaceChildren(
        ...rows.map((row) => el("tr", {}, this.columns.map((column) => column(row)))),
      );
    }

    goOlder() {
      if (!this.next) return;
      this.pages.push(this.next);
      this.load();
    }

    goNewer() {
      if (this.pages.length <= 1) return;
      this.pages.pop();
      this.load();
    }

    autoRefresh() {
      // Only the first page moves; older pages are stable, keep them still while being read.
      if (!document.hidden && this.pages.length === 1) this.load();
    }
  }

  const text = (key, className) => (row) =>
    el("td", { className: className ?? "", text: row[key] == null ? "–" : String(row[key]) });

  const visits = new PagedTable(
    "visits",
    [
      (row) => timeCell(row.created_at),
      text("ip", "ip"),
      (row) => {
        const agent = row.user_agent == null ? "–" : String(row.user_agent);
        return el("td", { className: "ua", title: agent, text: agent });
      },
    ],
    "No visits recorded yet.",
  );
  const visitors = new PagedTable(
    "visitors",
    [
      text("ip", "ip"),
      (row) => el("td", { className: "num", text: String(row.count ?? row.visits ?? "–") }),
      (row) => timeCell(row.first_seen),
      (row) => timeCell(row.last_seen),
    ],
    "No visitors yet.",
  );

  function scheduleTables() {
    window.setTimeout(() => {
      visits.autoRefresh();
      visitors.autoRefresh();
      scheduleTables();
    }, TABLE_REFRESH_MS);
  }

  // ---------------------------------------------------------------- birthday form

  const form = $("hello-form");
  const usernameInput = $("username");
  const dateInput = $("date-of-birth");
  const formError = $("hello-error");
  const greeting = $("greeting");
  const buttons = [$("hello-save"), $("hello-lookup")];
  const fields = { username: usernameInput, "date-of-birth": dateInput };

  function clearMessages() {
    for (const [name, input] of Object.entries(fields)) {
      input.removeAttribute("aria-invalid");
      $(`${name}-error`).textContent = "";
    }
    formError.textContent = "";
    greeting.textContent = "";
  }

  function fieldError(name, message) {
    const target = $(`${name}-error`);
    target.textContent = target.textContent ? `${target.textContent} ${message}` : message;
    fields[name].setAttribute("aria-invalid", "true");
  }

  function focusFirstInvalid() {
    const invalid = form.querySelector('[aria-invalid="true"]');
    if (invalid) invalid.focus();
  }

  /** Show FastAPI's error body ({"detail": "..."} or {"detail": [{loc, msg, type}]}). */
  async function showApiError(response) {
    let detail = null;
    try {
      detail = (await response.json()).detail;
    } catch {
      detail = null;
    }
    if (Array.isArray(detail) && detail.length > 0) {
      for (const item of detail) {
        const loc = Array.isArray(item.loc) ? item.loc.map(String) : [];
        const message = String(item.msg ?? "Invalid value").replace(/^Value error, /, "");
        if (loc.includes("username")) fieldError("username", message);
        else if (loc.includes("dateOfBirth")) fieldError("date-of-birth", message);
        else formError.textContent = `${formError.textContent} ${message}`.trim();
      }
      focusFirstInvalid();
    } else if (typeof detail === "string" && detail !== "") {
      formError.textContent = detail;
    } else {
      formError.textContent = `The request failed (HTTP ${response.status}).`;
    }
  }

  async function greet(username) {
    const response = await request(`/hello/${encodeURIComponent(username)}`);
    if (!response.ok) {
      await showApiError(response);
      return;
    }
    const payload = await response.json();
    greeting.textContent = String(payload.message ?? "");
  }

  async function submit(save) {
    clearMessages();
    const username = usernameInput.value.trim();
    const dateOfBirth = dateInput.value;
    if (username === "") fieldError("username", "Enter a username.");
    if (save && dateOfBirth === "") fieldError("date-of-birth", "Enter a complete date of birth.");
    if (form.querySelector('[aria-invalid="true"]')) {
      focusFirstInvalid();
      return;
    }
    for (const button of buttons) button.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      if (save) {
        const response = await request(`/hello/${encodeURIComponent(username)}`, {
          method: "PUT",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ dateOfBirth }),
        });
        if (!response.ok) {
          await showApiError(response);
          return;
        }
      }
      await greet(username);
    } catch {
      formError.textContent = "Could not reach the server. Please try again.";
    } finally {
      for (const button of buttons) button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(true);
  });
  $("hello-lookup").addEventListener("click", () => submit(false));

  // ---------------------------------------------------------------- start

  pollStats();
  visits.load();
  visitors.load();
  scheduleTables();
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      visits.autoRefresh();
      visitors.autoRefresh();
    }
  });
})();
