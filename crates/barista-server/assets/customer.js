// The customer's page: menu, cart, the order (retried under one Idempotency-Key
// until it is acknowledged, across reloads), then the live status of every
// order this browser placed that is not yet collected.
"use strict";
(() => {
  const { api, explain, el, clear, byId, money, shopSlug, STATUS_TEXT, lineText, when, closedText } = window.Barista;
  const shop = shopSlug();
  const base = `/v1/shops/${encodeURIComponent(shop)}`;
  const PENDING = `barista.pending.${shop}`; // sessionStorage: an order not yet acknowledged
  const ORDERS = `barista.orders.${shop}`; // localStorage: the orders being followed, newest first
  const OLD_CURRENT = `barista.order.${shop}`; // the one order an earlier page followed
  const STEPS = ["placed", "brewing", "ready", "collected"];
  const FINAL = new Set(["collected", "cancelled"]);
  let currency = "EUR";
  let items = [];
  let groups = new Map(); // modifier group id -> group
  let ordering = { open: true };
  let reopen = null; // the timer that reads the menu again when `ordering` changes
  let sending = false;
  // A line per item and choices: key -> {item_id, variation_id, modifiers, quantity}.
  const cart = new Map();
  const picking = new Map(); // item id -> {variation, chosen: Map(group id -> Set of modifier ids)}
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
    groups = new Map((r.body.modifier_groups || []).map((g) => [g.id, g]));
    showOrdering(r.body.ordering);
    renderMenu();
    renderCart();
    // The cart and the form appear with the menu, below it, so nothing the
    // customer sees moves when the menu arrives.
    byId("checkout").hidden = false;
  }

  const soldOut = (item) => !item.available || item.stock === 0;
  const hasOptions = (item) => (item.variations || []).length > 0 || (item.modifier_groups || []).length > 0;
  const offered = (item) => (item.modifier_groups || []).map((id) => groups.get(id)).filter(Boolean);

  // Whether the shop takes orders now: when it does not, the page says why and
  // until when, offers no "Place order", and reads the menu again when it opens.
  function showOrdering(state) {
    ordering = state || { open: true };
    const text = closedText(ordering);
    const banner = byId("ordering-state");
    banner.textContent = text || "";
    banner.hidden = !text;
    byId("place").hidden = !!text;
    clearTimeout(reopen);
    const next = ordering.open ? ordering.closes_at : (ordering.opens_at || ordering.paused_until);
    const wait = next ? Date.parse(next) - Date.now() : NaN;
    if (wait > 0 && wait < 2 ** 31) reopen = setTimeout(loadMenu, wait + 500);
  }

  // What is being chosen for an item: its size and each group's modifiers.
  function pick(item) {
    if (!picking.has(item.id)) {
      const chosen = new Map();
      for (const group of offered(item)) {
        // A group that takes exactly one starts on its first available choice.
        const first = group.modifiers.find((m) => m.available);
        chosen.set(group.id, new Set(group.min === 1 && group.max === 1 && first ? [first.id] : []));
      }
      picking.set(item.id, { variation: (item.variations || [])[0]?.id || null, chosen });
    }
    return picking.get(item.id);
  }

  // One unit's price and what is still missing, as the server will price and check it.
  function priced(item, variationId, modifierIds) {
    const variation = (item.variations || []).find((v) => v.id === variationId);
    let cents = variation ? variation.price_cents : item.price_cents;
    const missing = [];
    for (const group of offered(item)) {
      const mine = group.modifiers.filter((m) => modifierIds.includes(m.id));
      cents += mine.reduce((sum, m) => sum + m.price_delta_cents, 0);
      if (mine.length < group.min) missing.push(`choose ${group.min === group.max ? group.min : `at least ${group.min}`} ${group.name.toLowerCase()}`);
      if (mine.length > group.max) missing.push(`at most ${group.max} ${group.name.toLowerCase()}`);
    }
    return { cents, missing };
  }

  function chosenIds(state) {
    return [...state.chosen.values()].flatMap((set) => [...set]);
  }

  // The chooser of an item with sizes or choices: a radio group per size and
  // per single-choice group, check boxes for the others, and an Add button
  // whose price follows what is chosen.
  function chooser(item) {
    const state = pick(item);
    const panel = el("div", { class: "options", id: `options-${item.id}` });
    const add = el("button", { type: "button", class: "primary add-choice" });
    const hint = el("p", { class: "hint muted", "aria-live": "polite" });
    const refresh = () => {
      const { cents, missing } = priced(item, state.variation, chosenIds(state));
      add.textContent = `Add · ${money(cents, currency)}`;
      add.setAttribute("aria-label", `Add ${item.name} to your order, ${money(cents, currency)}`);
      add.disabled = sending || missing.length > 0;
      hint.textContent = missing.length ? `To add it: ${missing.join("; ")}.` : "";
    };
    const fieldset = (legend, name, options, type, isChecked, onChange) => el("fieldset", {},
      el("legend", {}, legend),
      options.map((o) => {
        const input = el("input", { type, name, value: o.id, checked: isChecked(o), disabled: o.disabled || sending });
        input.addEventListener("change", () => { onChange(o, input.checked); refresh(); });
        return el("label", { class: o.disabled ? "choice off" : "choice" }, input, ` ${o.label}`);
      }));
    if ((item.variations || []).length) {
      panel.append(fieldset("Size", `size-${item.id}`,
        item.variations.map((v) => ({ id: v.id, label: `${v.name} · ${money(v.price_cents, currency)}` })),
        "radio", (o) => o.id === state.variation, (o) => { state.variation = o.id; }));
    }
    for (const group of offered(item)) {
      const set = state.chosen.get(group.id);
      const single = group.max === 1;
      const options = group.modifiers.map((m) => ({
        id: m.id, disabled: !m.available,
        label: `${m.name}${m.price_delta_cents ? ` +${money(m.price_delta_cents, currency)}` : ""}${m.available ? "" : " (sold out)"}`,
      }));
      if (single && group.min === 0) options.unshift({ id: "", label: "None" });
      const rule = group.min === group.max ? `choose ${group.min}` : group.min ? `${group.min} to ${group.max}` : `up to ${group.max}`;
      panel.append(fieldset(`${group.name} (${rule})`, `${group.id}-${item.id}`, options,
        single ? "radio" : "checkbox",
        (o) => (o.id === "" ? set.size === 0 : set.has(o.id)),
        (o, on) => {
          if (single) set.clear();
          if (o.id && on) set.add(o.id); else if (o.id) set.delete(o.id);
        }));
    }
    add.addEventListener("click", () => {
      if (sending) return;
      addToCart(item, state.variation, chosenIds(state));
      picking.delete(item.id);
      renderMenu();
    });
    panel.append(hint, add);
    refresh();
    return panel;
  }

  function lineKey(itemId, variationId, modifierIds) {
    return JSON.stringify([itemId, variationId || "", [...modifierIds].sort()]);
  }

  function addToCart(item, variationId, modifierIds) {
    const key = lineKey(item.id, variationId, modifierIds);
    const line = cart.get(key) || { item_id: item.id, variation_id: variationId, modifiers: modifierIds, quantity: 0 };
    line.quantity = Math.min(99, line.quantity + 1);
    cart.set(key, line);
    renderCart();
  }

  // A cart line as the order will show it: "Flat white (Large, Oat milk)".
  function describe(line, item) {
    const variation = (item.variations || []).find((v) => v.id === line.variation_id);
    const names = offered(item).flatMap((g) => g.modifiers).filter((m) => line.modifiers.includes(m.id)).map((m) => m.name);
    const chosen = [variation ? variation.name : null, ...names].filter(Boolean).join(", ");
    return chosen ? `${item.name} (${chosen})` : item.name;
  }

  function renderMenu() {
    const menu = byId("menu");
    clear(menu);
    const categories = [...new Set(items.map((i) => i.category))];
    for (const category of categories) {
      const list = el("ul", { class: "items" });
      for (const item of items.filter((i) => i.category === category)) {
        const out = soldOut(item);
        const options = hasOptions(item) && !out;
        const open = options && picking.has(item.id);
        const add = el("button", {
          type: "button",
          disabled: out || sending,
          "aria-expanded": options ? String(open) : null,
          "aria-controls": open ? `options-${item.id}` : null,
          "aria-label": out ? `${item.name}: sold out` : options ? `Choose size and extras of ${item.name}` : `Add ${item.name} to your order`,
        }, out ? "Sold out" : options ? (open ? "Close" : "Choose") : "Add");
        add.addEventListener("click", () => {
          if (sending) return;
          if (!options) {
            addToCart(item, null, []);
          } else {
            if (open) picking.delete(item.id); else pick(item);
            renderMenu();
          }
        });
        const from = (item.variations || []).length > 1 ? "from " : "";
        list.append(el("li", { class: out ? "item sold-out" : "item" },
          el("span", { class: "name" }, item.name),
          item.description ? el("span", { class: "description" }, item.description) : null,
          el("span", { class: "price" }, `${from}${money(item.price_cents, currency)}`),
          add,
          open ? chooser(item) : null));
      }
      menu.append(el("section", { class: "category" }, el("h3", {}, category), list));
    }
    menu.setAttribute("aria-busy", "false");
  }

  function renderCart() {
    const list = byId("cart");
    clear(list);
    let total = 0;
    for (const [key, line] of cart) {
      const item = items.find((i) => i.id === line.item_id);
      if (!item) continue;
      const unit = priced(item, line.variation_id, line.modifiers).cents;
      total += unit * line.quantity;
      const label = describe(line, item);
      const less = el("button", { type: "button", disabled: sending, "aria-label": `One ${label} less` }, "−");
      const more = el("button", { type: "button", disabled: sending, "aria-label": `One ${label} more` }, "+");
      less.addEventListener("click", () => {
        if (sending) return;
        if (line.quantity <= 1) cart.delete(key); else line.quantity -= 1;
        renderCart();
      });
      more.addEventListener("click", () => {
        if (sending) return;
        line.quantity = Math.min(99, line.quantity + 1);
        renderCart();
      });
      list.append(el("li", {},
        el("span", {}, `${line.quantity} × ${label}`),
        el("span", { class: "price" }, money(unit * line.quantity, currency)),
        less, more));
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
        const closed = r.problem && r.problem.code === "shop_closed";
        error.textContent = closed ? closedText(r.problem.ordering) : explain(r.problem, "The order was refused.");
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
      lines: [...cart.values()].map((l) => {
        const line = { item_id: l.item_id, quantity: l.quantity };
        if (l.variation_id) line.variation_id = l.variation_id;
        if (l.modifiers.length) line.modifiers = l.modifiers;
        return line;
      }),
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
          body: `${order.customer_name}: ${order.lines.map(lineText).join(", ")}`,
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
      el("p", { class: "pickup" }),
      el("p", { class: "connection muted" }));
  }

  function show(t, order) {
    const previous = t.status;
    t.status = order.status;
    t.card.querySelector(".summary").textContent =
      `${order.customer_name}: ${order.lines.map(lineText).join(", ")} · ${money(order.total_cents, order.currency)}`;
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
    if (order.pickup) showPickup(t, order.pickup);
    else if (order.status !== "placed" && order.status !== "brewing") showPickup(t, null);
    if (FINAL.has(order.status)) {
      if (t.stream) t.stream.close();
      t.stream = null;
      t.card.querySelector(".connection").textContent = "";
      forget(order.id);
    }
    updateTitle();
  }

  // When to come to the counter: the shop's estimate, moving with its queue.
  function showPickup(t, pickup) {
    const p = t.card.querySelector(".pickup");
    if (!pickup || (t.status !== "placed" && t.status !== "brewing")) {
      p.textContent = "";
      return;
    }
    const ahead = pickup.ahead === 0 ? "yours is next" : pickup.ahead === 1 ? "1 order ahead of yours" : `${pickup.ahead} orders ahead of yours`;
    p.textContent = `Ready around ${when(pickup.ready_at)} · ${ahead}`;
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
    t.stream.addEventListener("pickup", (e) => showPickup(t, JSON.parse(e.data)));
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
