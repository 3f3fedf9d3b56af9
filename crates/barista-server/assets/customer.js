// The customer's page: menu, cart, the order (retried under one Idempotency-Key
// until it is acknowledged, across reloads), then its live status.
"use strict";
(() => {
  const { api, explain, el, clear, byId, money, shopSlug, STATUS_TEXT } = window.Barista;
  const shop = shopSlug();
  const PENDING = `barista.pending.${shop}`; // sessionStorage: an order not yet acknowledged
  const CURRENT = `barista.order.${shop}`; // localStorage: the order being followed
  let currency = "EUR";
  let items = [];
  const cart = new Map(); // item id -> quantity
  let stream = null;

  function fail(message) {
    const p = byId("page-error");
    p.textContent = message;
    p.hidden = false;
  }

  async function loadMenu() {
    // Revalidated: stock and availability are what the shop has now.
    const r = await api(`/v1/shops/${encodeURIComponent(shop)}/menu`, { cache: "no-cache" });
    if (r.status !== 200) return fail(explain(r.problem, "The menu could not be loaded."));
    currency = r.body.currency;
    items = r.body.items;
    renderMenu();
    renderCart();
  }

  const soldOut = (item) => !item.available || item.stock === 0;

  function renderMenu() {
    const menu = byId("menu");
    clear(menu);
    const categories = [...new Set(items.map((i) => i.category))];
    for (const category of categories) {
      const list = el("ul", { class: "items" });
      for (const item of items.filter((i) => i.category === category)) {
        const out = soldOut(item);
        const add = el("button", {
          type: "button",
          disabled: out,
          "aria-label": out ? `${item.name}: sold out` : `Add ${item.name} to your order`,
        }, out ? "Sold out" : "Add");
        add.addEventListener("click", () => {
          cart.set(item.id, Math.min(99, (cart.get(item.id) || 0) + 1));
          renderCart();
        });
        list.append(el("li", { class: out ? "item sold-out" : "item" },
          el("span", { class: "name" }, item.name),
          item.description ? el("span", { class: "description" }, item.description) : null,
          el("span", { class: "price" }, money(item.price_cents, currency)),
          add));
      }
      menu.append(el("section", { class: "category" }, el("h3", {}, category), list));
    }
    menu.setAttribute("aria-busy", "false");
  }

  function renderCart() {
    const list = byId("cart");
    clear(list);
    let total = 0;
    for (const [id, quantity] of cart) {
      const item = items.find((i) => i.id === id);
      if (!item) continue;
      total += item.price_cents * quantity;
      const less = el("button", { type: "button", "aria-label": `One ${item.name} less` }, "−");
      const more = el("button", { type: "button", "aria-label": `One ${item.name} more` }, "+");
      less.addEventListener("click", () => {
        if (quantity <= 1) cart.delete(id); else cart.set(id, quantity - 1);
        renderCart();
      });
      more.addEventListener("click", () => { cart.set(id, Math.min(99, quantity + 1)); renderCart(); });
      list.append(el("li", {}, el("span", {}, `${quantity} × ${item.name}`), less, more));
    }
    byId("total").textContent = cart.size ? `Total ${money(total, currency)}` : "Nothing yet: add something from the menu.";
    byId("place").disabled = cart.size === 0;
  }

  // Sends the pending order until the server answers it; a network error, 429 or
  // 5xx is retried with the same key, so the shop gets one order however often.
  async function send(pending) {
    const error = byId("order-error");
    for (let attempt = 0; ; attempt++) {
      let r;
      try {
        r = await api(`/v1/shops/${encodeURIComponent(shop)}/orders`, {
          method: "POST", body: pending.body, headers: { "idempotency-key": pending.key },
        });
      } catch {
        r = { status: 0 };
      }
      if (r.status === 201) {
        sessionStorage.removeItem(PENDING);
        localStorage.setItem(CURRENT, r.body.id);
        error.textContent = "";
        cart.clear();
        follow(r.body.id);
        return;
      }
      if (r.status !== 0 && r.status !== 429 && r.status < 500) {
        sessionStorage.removeItem(PENDING);
        error.textContent = explain(r.problem, "The order was refused.");
        byId("place").disabled = false;
        await loadMenu();
        return;
      }
      const wait = Math.min(8000, 500 * 2 ** attempt);
      error.textContent = `Connection trouble: sending your order again in ${Math.round(wait / 1000) || 1} s (it will be placed once).`;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  function place(event) {
    event.preventDefault();
    const name = byId("customer-name");
    const error = byId("order-error");
    if (!name.value.trim()) {
      error.textContent = "Please give a name, so the barista can call you.";
      name.focus();
      return;
    }
    const body = {
      customer_name: name.value.trim(),
      lines: [...cart].map(([item_id, quantity]) => ({ item_id, quantity })),
    };
    const note = byId("note").value.trim();
    if (note) body.note = note;
    const pending = { key: crypto.randomUUID(), body };
    sessionStorage.setItem(PENDING, JSON.stringify(pending));
    byId("place").disabled = true;
    send(pending);
  }

  function show(order) {
    byId("order-summary").textContent =
      `${order.customer_name}: ${order.lines.map((l) => `${l.quantity} × ${l.name}`).join(", ")} · ${money(order.total_cents, order.currency)}`;
    byId("status").textContent = STATUS_TEXT[order.status] || order.status;
    const rank = ["placed", "brewing", "ready", "collected"].indexOf(order.status);
    for (const step of byId("steps").children) {
      const mine = ["placed", "brewing", "ready", "collected"].indexOf(step.dataset.status);
      step.className = mine < rank ? "done" : mine === rank ? "current" : "";
      if (mine === rank) step.setAttribute("aria-current", "step"); else step.removeAttribute("aria-current");
    }
    byId("steps").classList.toggle("cancelled", order.status === "cancelled");
    document.body.dataset.status = order.status;
  }

  // Follows one order's events; EventSource reconnects by itself and resumes
  // after the last event it saw (Last-Event-ID). The stream ends at a final status.
  function follow(id) {
    byId("ordering").hidden = true;
    byId("tracking").hidden = false;
    byId("tracking-heading").focus();
    if (stream) stream.close();
    stream = new EventSource(`/v1/shops/${encodeURIComponent(shop)}/orders/${encodeURIComponent(id)}/events`);
    const connection = byId("connection");
    stream.addEventListener("order", (e) => {
      const order = JSON.parse(e.data);
      show(order);
      if (order.status === "collected" || order.status === "cancelled") {
        stream.close();
        connection.textContent = "";
        localStorage.removeItem(CURRENT);
      }
    });
    stream.addEventListener("open", () => { connection.textContent = ""; });
    stream.addEventListener("error", () => {
      if (stream.readyState === EventSource.CLOSED) {
        connection.textContent = "";
        // Not found (another shop's id, or forgotten): back to the menu.
        api(`/v1/shops/${encodeURIComponent(shop)}/orders/${encodeURIComponent(id)}`).then((r) => {
          if (r.status === 404) { localStorage.removeItem(CURRENT); orderAgain(); }
          else if (r.status === 200) show(r.body);
        });
      } else {
        connection.textContent = "Reconnecting…";
      }
    });
  }

  function orderAgain() {
    if (stream) stream.close();
    localStorage.removeItem(CURRENT);
    byId("tracking").hidden = true;
    byId("ordering").hidden = false;
    byId("place").disabled = cart.size === 0;
    loadMenu();
  }

  async function start() {
    const r = await api(`/v1/shops/${encodeURIComponent(shop)}`);
    if (r.status !== 200) return fail(explain(r.problem, "This shop could not be loaded."));
    byId("shop-name").textContent = r.body.name;
    document.title = `${r.body.name}: order`;
    byId("order-form").addEventListener("submit", place);
    byId("order-again").addEventListener("click", orderAgain);
    await loadMenu();
    const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
    const current = localStorage.getItem(CURRENT);
    if (pending) {
      byId("place").disabled = true;
      send(pending);
    } else if (current) {
      follow(current);
    }
  }

  start();
})();
