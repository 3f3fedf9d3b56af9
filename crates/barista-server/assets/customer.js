// The customer's page: menu, cart, the order (retried under one Idempotency-Key
// until it is acknowledged, across reloads), then the live status of every
// order this browser placed that is not yet collected.
"use strict";
(() => {
  const { api, explain, el, clear, byId, money, shopSlug, STATUS_TEXT } = window.Barista;
  const shop = shopSlug();
  const base = `/v1/shops/${encodeURIComponent(shop)}`;
  const PENDING = `barista.pending.${shop}`; // sessionStorage: an order not yet acknowledged
  const ORDERS = `barista.orders.${shop}`; // localStorage: the orders being followed, newest first
  const OLD_CURRENT = `barista.order.${shop}`; // the one order an earlier page followed
  const STEPS = ["placed", "brewing", "ready", "collected"];
  const FINAL = new Set(["collected", "cancelled"]);
  let currency = "EUR";
  let items = [];
  let sending = false;
  const cart = new Map(); // item id -> quantity
  const tracked = new Map(); // order id -> {card, stream, status}
  let pageTitle = document.title;

  function fail(message) {
    const p = byId("page-error");
    p.textContent = message;
    p.hidden = false;
  }

  // The orders to follow: kept until collected or cancelled, so a reload, or
  // ordering something else meanwhile, never loses one.
  function followed() {
    let ids = [];
    try {
      ids = JSON.parse(localStorage.getItem(ORDERS) || "[]");
    } catch {
      ids = [];
    }
    if (!Array.isArray(ids)) ids = [];
    const old = localStorage.getItem(OLD_CURRENT);
    if (old && !ids.includes(old)) ids.push(old);
    return ids.filter((id) => typeof id === "string");
  }

  function remember(id) {
    localStorage.setItem(ORDERS, JSON.stringify([id, ...followed().filter((o) => o !== id)]));
    localStorage.removeItem(OLD_CURRENT);
  }

  function forget(id) {
    localStorage.setItem(ORDERS, JSON.stringify(followed().filter((o) => o !== id)));
    localStorage.removeItem(OLD_CURRENT);
  }

  async function loadMenu() {
    // Revalidated: stock and availability are what the shop has now.
    const r = await api(`${base}/menu`, { cache: "no-cache" });
    if (r.status !== 200) return fail(explain(r.problem, "The menu could not be loaded."));
    currency = r.body.currency;
    items = r.body.items;
    renderMenu();
    renderCart();
    // The cart and the form appear with the menu, below it, so nothing the
    // customer sees moves when the menu arrives.
    byId("checkout").hidden = false;
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
          disabled: out || sending,
          "aria-label": out ? `${item.name}: sold out` : `Add ${item.name} to your order`,
        }, out ? "Sold out" : "Add");
        add.addEventListener("click", () => {
          if (sending) return;
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
      const less = el("button", { type: "button", disabled: sending, "aria-label": `One ${item.name} less` }, "−");
      const more = el("button", { type: "button", disabled: sending, "aria-label": `One ${item.name} more` }, "+");
      less.addEventListener("click", () => {
        if (sending) return;
        if (quantity <= 1) cart.delete(id); else cart.set(id, quantity - 1);
        renderCart();
      });
      more.addEventListener("click", () => {
        if (sending) return;
        cart.set(id, Math.min(99, quantity + 1));
        renderCart();
      });
      list.append(el("li", {}, el("span", {}, `${quantity} × ${item.name}`), less, more));
    }
    byId("total").textContent = cart.size ? `Total ${money(total, currency)}` : "Nothing yet: add something from the menu.";
    byId("place").disabled = sending || cart.size === 0;
  }

  // While an order is being sent (and resent), the cart and the form are locked:
  // what the shop gets is exactly what was sent, and nothing typed meanwhile is lost.
  function setSending(on) {
    sending = on;
    document.body.classList.toggle("sending", on);
    for (const input of byId("order-form").querySelectorAll("input")) input.readOnly = on;
    byId("place").textContent = on ? "Sending your order…" : "Place order";
    if (items.length) renderMenu();
    renderCart();
  }

  // Sends the pending order until the server answers it; a network error, 429 or
  // 5xx is retried with the same key, so the shop gets one order however often.
  async function send(pending) {
    const error = byId("order-error");
    setSending(true);
    for (let attempt = 0; ; attempt++) {
      let r;
      try {
        r = await api(`${base}/orders`, {
          method: "POST", body: pending.body, headers: { "idempotency-key": pending.key },
        });
      } catch {
        r = { status: 0 };
      }
      if (r.status === 201) {
        sessionStorage.removeItem(PENDING);
        remember(r.body.id);
        error.textContent = "";
        cart.clear();
        byId("note").value = "";
        setSending(false);
        dropFinished();
        track(r.body.id, r.body);
        showOrders();
        return;
      }
      if (r.status !== 0 && r.status !== 429 && r.status < 500) {
        sessionStorage.removeItem(PENDING);
        error.textContent = explain(r.problem, "The order was refused.");
        setSending(false);
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
    if (sending) return;
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
    askToNotify();
    send(pending);
  }

  // --- telling the customer their order is ready -----------------------------
  // The click that places an order is the gesture browsers want before a page
  // may ask for notifications or play a sound.
  let audio = null;
  function askToNotify() {
    try {
      if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
    } catch { /* not offered by this browser */ }
    try {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (Context && !audio) audio = new Context();
      if (audio && audio.state === "suspended") audio.resume();
    } catch { audio = null; }
  }

  function chime() {
    if (!audio || audio.state !== "running") return;
    const now = audio.currentTime;
    for (const [offset, frequency] of [[0, 880], [0.25, 1175]]) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.2, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.001, now + offset + 0.4);
      tone.connect(gain).connect(audio.destination);
      tone.start(now + offset);
      tone.stop(now + offset + 0.4);
    }
  }

  function notifyReady(order) {
    try { if (navigator.vibrate) navigator.vibrate([200, 100, 200]); } catch { /* no vibration */ }
    try { chime(); } catch { /* no sound */ }
    try {
      if ("Notification" in window && Notification.permission === "granted") {
        new Notification(`${byId("shop-name").textContent}: your order is ready`, {
          body: `${order.customer_name}: ${order.lines.map((l) => `${l.quantity} × ${l.name}`).join(", ")}`,
          tag: order.id,
        });
      }
    } catch { /* notifications refused */ }
  }

  function updateTitle() {
    const ready = [...tracked.values()].some((t) => t.status === "ready");
    document.title = ready ? `Ready! ${pageTitle}` : pageTitle;
  }

  // --- the orders being followed ---------------------------------------------
  function card(id) {
    const steps = el("ol", { class: "steps" },
      STEPS.map((s) => el("li", { "data-status": s }, s[0].toUpperCase() + s.slice(1))));
    return el("li", { class: "tracked", "data-order": id },
      el("p", { class: "summary" }, "Loading your order…"),
      steps,
      el("p", { class: "status", role: "status", "aria-live": "polite" }),
      el("p", { class: "connection muted" }));
  }

  function show(t, order) {
    const previous = t.status;
    t.status = order.status;
    t.card.querySelector(".summary").textContent =
      `${order.customer_name}: ${order.lines.map((l) => `${l.quantity} × ${l.name}`).join(", ")} · ${money(order.total_cents, order.currency)}`;
    t.card.querySelector(".status").textContent = STATUS_TEXT[order.status] || order.status;
    const rank = STEPS.indexOf(order.status);
    const steps = t.card.querySelector(".steps");
    for (const step of steps.children) {
      const mine = STEPS.indexOf(step.dataset.status);
      step.className = mine < rank ? "done" : mine === rank ? "current" : "";
      if (mine === rank) step.setAttribute("aria-current", "step"); else step.removeAttribute("aria-current");
    }
    steps.classList.toggle("cancelled", order.status === "cancelled");
    t.card.dataset.status = order.status;
    if (order.status === "ready" && previous && previous !== "ready") notifyReady(order);
    if (FINAL.has(order.status)) {
      if (t.stream) t.stream.close();
      t.stream = null;
      t.card.querySelector(".connection").textContent = "";
      forget(order.id);
    }
    updateTitle();
  }

  // Follows one order's events; EventSource reconnects by itself and resumes
  // after the last event it saw (Last-Event-ID). The stream ends at a final status.
  function track(id, order) {
    if (tracked.has(id)) return;
    const t = { card: card(id), stream: null, status: null };
    tracked.set(id, t);
    byId("orders").prepend(t.card);
    if (order) show(t, order);
    if (t.status && FINAL.has(t.status)) return;
    const path = `${base}/orders/${encodeURIComponent(id)}`;
    const connection = t.card.querySelector(".connection");
    t.stream = new EventSource(`${path}/events`);
    t.stream.addEventListener("order", (e) => show(t, JSON.parse(e.data)));
    t.stream.addEventListener("open", () => { connection.textContent = ""; });
    t.stream.addEventListener("error", () => {
      if (!t.stream) return;
      if (t.stream.readyState === EventSource.CLOSED) {
        connection.textContent = "";
        api(path).then((r) => {
          if (r.status === 404) untrack(id); // another shop's id, or forgotten
          else if (r.status === 200) show(t, r.body);
        });
      } else {
        connection.textContent = "Reconnecting…";
      }
    });
  }

  function untrack(id) {
    const t = tracked.get(id);
    if (!t) return;
    if (t.stream) t.stream.close();
    t.card.remove();
    tracked.delete(id);
    forget(id);
    if (tracked.size === 0) orderAgain();
    updateTitle();
  }

  // Orders already collected or cancelled leave the page when another is placed.
  function dropFinished() {
    for (const [id, t] of tracked) {
      if (t.status && FINAL.has(t.status)) {
        t.card.remove();
        tracked.delete(id);
      }
    }
  }

  function showOrders() {
    byId("tracking").hidden = false;
    byId("ordering").hidden = true;
    byId("order-again").hidden = false;
    byId("tracking-heading").focus();
  }

  function orderAgain() {
    byId("ordering").hidden = false;
    byId("tracking").hidden = tracked.size === 0;
    byId("order-again").hidden = true;
    byId("menu-heading").scrollIntoView({ block: "start" });
    loadMenu();
  }

  async function start() {
    // The orders to follow are drawn at once, before anything loads, so the
    // page does not move under the customer's finger when they arrive.
    const ids = followed();
    for (const id of [...ids].reverse()) track(id);
    if (ids.length) showOrders();
    const r = await api(base);
    if (r.status !== 200) return fail(explain(r.problem, "This shop could not be loaded."));
    byId("shop-name").textContent = r.body.name;
    pageTitle = document.title = `${r.body.name}: order`;
    updateTitle();
    byId("order-form").addEventListener("submit", place);
    byId("order-again").addEventListener("click", orderAgain);
    await loadMenu();
    const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
    if (pending) {
      byId("ordering").hidden = false;
      send(pending);
    }
  }

  start();
})();
