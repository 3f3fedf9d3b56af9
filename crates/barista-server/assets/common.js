// Shared by the pages: the API client, safe element building (text only, never
// markup), money. Served as /assets/common.js; no dependencies, no build step.
"use strict";
window.Barista = (() => {
  const shopSlug = () => decodeURIComponent(location.pathname.split("/")[2] || "");

  // One call to the API: {status, body, problem}. `csrf` adds the session's token.
  // `cache: "no-cache"` revalidates (a 304 when nothing changed) instead of
  // trusting the browser's copy for the menu's max-age.
  async function api(path, { method = "GET", body, headers = {}, csrf, cache = "default" } = {}) {
    const init = { method, headers: { ...headers }, credentials: "same-origin", cache };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (csrf) init.headers["x-csrf-token"] = csrf;
    const response = await fetch(path, init);
    const type = response.headers.get("content-type") || "";
    const json = type.includes("json") ? await response.json() : null;
    return {
      status: response.status,
      body: response.ok ? json : null,
      problem: response.ok ? null : json,
    };
  }

  // What a problem says, for people: its detail and each field's message.
  function explain(problem, fallback) {
    if (!problem) return fallback;
    const fields = (problem.errors || []).map((e) => `${e.field}: ${e.message}`);
    return [problem.detail || problem.title || fallback, ...fields].join(" · ");
  }

  // An element with attributes and children; strings become text nodes.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === false || value === null || value === undefined) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) {
        node.append(typeof child === "string" ? document.createTextNode(child) : child);
      }
    }
    return node;
  }

  const clear = (node) => node.replaceChildren();
  const byId = (id) => document.getElementById(id);

  function money(cents, currency) {
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100);
    } catch {
      return `${(cents / 100).toFixed(2)} ${currency}`;
    }
  }

  const STATUS_TEXT = {
    placed: "Placed: waiting for a barista",
    brewing: "Brewing",
    ready: "Ready: come and get it",
    collected: "Collected. Enjoy!",
    cancelled: "Cancelled",
  };

  // What a line chose, for people: "Large, Oat milk, Extra shot" (empty when nothing).
  function choices(line) {
    return [line.variation ? line.variation.name : null, ...(line.modifiers || []).map((m) => m.name)]
      .filter(Boolean).join(", ");
  }

  // A line of an order: "2 × Flat white (Large, Oat milk)".
  function lineText(line) {
    const chosen = choices(line);
    return `${line.quantity} × ${line.name}${chosen ? ` (${chosen})` : ""}`;
  }

  // A moment, in the reader's own clock: "10:42", or "Fri 07:00" past today.
  function when(iso) {
    const at = new Date(iso);
    const sameDay = at.toDateString() === new Date().toDateString();
    const time = at.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    return sameDay ? time : `${at.toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short" })} ${time}`;
  }

  // What the shop's `ordering` says, for people; null when it takes orders.
  function closedText(ordering) {
    if (!ordering || ordering.open) return null;
    const paused = ordering.reason === "paused";
    const what = paused ? "The shop has paused ordering for a moment" : "The shop is closed";
    if (ordering.opens_at) return `${what}: it takes orders again at ${when(ordering.opens_at)}.`;
    return paused ? `${what}: it takes orders again when the baristas resume.` : `${what}.`;
  }

  return { api, explain, el, clear, byId, money, shopSlug, STATUS_TEXT, choices, lineText, when, closedText };
})();
