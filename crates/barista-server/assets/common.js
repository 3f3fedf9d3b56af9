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

  return { api, explain, el, clear, byId, money, shopSlug, STATUS_TEXT };
})();
