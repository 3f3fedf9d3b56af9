// The barista's board: sign in with the staff key (exchanged for a session
// cookie the event stream can use), columns that follow the shop's events, the
// moves, and the menu. Every write carries the session's CSRF token.
"use strict";
(() => {
  const { api, explain, el, clear, byId, money, shopSlug, choices, when, closedText } = window.Barista;
  const shop = shopSlug();
  const base = `/v1/shops/${encodeURIComponent(shop)}`;
  const orders = new Map(); // open orders (placed, brewing, ready) by id
  let csrf = null;
  let stream = null;
  let lost = false;
  let audio = null;
  let unseen = 0;
  let shopName = "Board";

  function notice(text) {
    byId("notice").textContent = text;
  }

  function showSignIn(message) {
    if (stream) stream.close();
    stream = null;
    csrf = null;
    byId("work").hidden = true;
    byId("sign-out").hidden = true;
    byId("sign-in").hidden = false;
    byId("sign-in-error").textContent = message || "";
    byId("connection").textContent = "";
    byId("staff-key").focus();
  }

  // A staff call; a lost session sends the barista back to sign in.
  async function call(path, options = {}) {
    const r = await api(`${base}${path}`, { ...options, csrf });
    if (r.status === 401) showSignIn("Your session ended: sign in again.");
    return r;
  }

  async function signIn(event) {
    event.preventDefault();
    const key = byId("staff-key").value.trim();
    const r = await api(`${base}/session`, { method: "POST", body: { staff_key: key } });
    if (r.status !== 201) {
      byId("sign-in-error").textContent = r.status === 401 ? "That is not this shop's staff key." : explain(r.problem, "Signing in failed.");
      return;
    }
    byId("staff-key").value = "";
    csrf = r.body.csrf_token;
    // The click is the user gesture that lets the page play the new-order sound.
    try { audio = new AudioContext(); } catch { audio = null; }
    showBoard();
  }

  async function signOut() {
    await call("/session", { method: "DELETE" });
    showSignIn("Signed out.");
  }

  function beep() {
    if (!audio) return;
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  }

  function age(order) {
    const minutes = Math.floor((Date.now() - Date.parse(order.created_at)) / 60000);
    return minutes < 1 ? "just now" : `${minutes} min ago`;
  }

  function card(order) {
    const actions = el("div", { class: "actions" });
    const move = (label, status, cls) => {
      const b = el("button", { type: "button", class: cls || "", "aria-label": `${label}: ${order.customer_name}` }, label);
      b.addEventListener("click", () => setStatus(order, status));
      actions.append(b);
    };
    if (order.status === "brewing") move("Ready", "ready", "primary");
    if (order.status === "ready") move("Collected", "collected", "primary");
    move("Cancel", "cancelled", "danger");
    return el("li", { class: order.fresh ? "card fresh" : "card", "data-order": order.id },
      el("p", { class: "customer" }, order.customer_name),
      el("ul", { class: "lines" }, order.lines.map((l) => {
        const chosen = choices(l);
        return el("li", {}, `${l.quantity} × ${l.name}`, chosen ? el("span", { class: "choices" }, ` · ${chosen}`) : null);
      })),
      order.note ? el("p", { class: "note" }, order.note) : null,
      el("p", { class: "meta" }, `${money(order.total_cents, order.currency)} · ${age(order)}`),
      actions);
  }

  function render() {
    for (const status of ["placed", "brewing", "ready"]) {
      const list = byId(status);
      clear(list);
      const mine = [...orders.values()].filter((o) => o.status === status)
        .sort((a, b) => a.created_at.localeCompare(b.created_at));
      list.append(...mine.map(card));
      byId(`${status}-count`).textContent = `(${mine.length})`;
    }
    document.title = unseen ? `(${unseen}) New order · ${shopName}` : `${shopName}: board`;
  }

  // An order as it is now: kept while open, dropped once final.
  function apply(order, { announce = true } = {}) {
    const known = orders.has(order.id);
    if (order.status === "collected" || order.status === "cancelled") {
      orders.delete(order.id);
    } else {
      const previous = orders.get(order.id);
      if (previous && previous.version > order.version) return; // an older state, seen late
      order.fresh = !known && order.status === "placed" && announce;
      orders.set(order.id, order);
      if (order.fresh) {
        unseen += 1;
        beep();
        notice(`New order: ${order.customer_name}`);
        setTimeout(() => { order.fresh = false; render(); }, 4000);
      }
    }
    render();
  }

  async function setStatus(order, status) {
    const r = await call(`/orders/${encodeURIComponent(order.id)}/status`, { method: "POST", body: { status } });
    if (r.status === 200) return apply(r.body);
    if (r.status === 409) {
      // Another barista moved it first: show where it is now.
      const now = await call(`/orders/${encodeURIComponent(order.id)}`);
      if (now.status === 200) apply(now.body, { announce: false });
      notice(`${order.customer_name}'s order was already moved by another barista (now ${now.body ? now.body.status : "changed"}).`);
    } else if (r.status !== 401) {
      notice(explain(r.problem, "That did not work."));
    }
  }

  async function claim() {
    unseen = 0;
    const r = await call("/queue/claim", { method: "POST" });
    if (r.status === 200) {
      apply(r.body, { announce: false });
      notice(`Claimed: ${r.body.customer_name}`);
    } else if (r.status === 204) {
      notice("No order is waiting.");
    } else if (r.status !== 401) {
      notice(explain(r.problem, "Claiming failed."));
    }
  }

  // Every open order, read again (after a reconnect nothing is missed).
  async function sync() {
    const fresh = new Map();
    for (const status of ["placed", "brewing", "ready"]) {
      let cursor = "";
      do {
        const r = await call(`/orders?status=${status}&limit=200${cursor ? `&cursor=${cursor}` : ""}`);
        if (r.status !== 200) return;
        for (const o of r.body.orders) fresh.set(o.id, o);
        cursor = r.body.next_cursor;
      } while (cursor);
    }
    orders.clear();
    for (const [id, o] of fresh) orders.set(id, o);
    render();
  }

  function connect() {
    if (stream) stream.close();
    const connection = byId("connection");
    connection.textContent = "Connecting…";
    stream = new EventSource(`${base}/events`);
    stream.addEventListener("open", () => {
      connection.textContent = "Live";
      connection.className = "connection live";
      if (lost) { lost = false; sync(); }
    });
    stream.addEventListener("order", (e) => apply(JSON.parse(e.data)));
    stream.addEventListener("error", async () => {
      lost = true;
      connection.textContent = "Reconnecting…";
      connection.className = "connection lost";
      if (stream.readyState === EventSource.CLOSED) {
        // Refused (the server restarting, or the session over): ask, then retry.
        const r = await call("/session");
        if (r.status !== 401) setTimeout(connect, 2000);
      }
    });
  }

  // Taking orders, or not: the pause ("snooze") for a rush the bar cannot keep up with.
  let pauseTimer = null;
  function showOrdering(ordering) {
    const now = byId("ordering-now");
    const buttons = byId("pause-buttons");
    clear(buttons);
    clearTimeout(pauseTimer);
    const paused = ordering.reason === "paused";
    if (ordering.open) {
      now.textContent = ordering.closes_at ? `Taking orders until ${when(ordering.closes_at)}` : "Taking orders";
    } else {
      now.textContent = closedText(ordering);
    }
    now.className = ordering.open ? "open" : "closed";
    const button = (label, body, cls) => {
      const b = el("button", { type: "button", class: cls || "" }, label);
      b.addEventListener("click", () => pause(body));
      buttons.append(b);
    };
    if (paused) {
      button("Resume taking orders", null, "primary");
    } else {
      for (const minutes of [15, 30, 60]) button(`Pause ${minutes} min`, { minutes });
      button("Pause until resumed", {});
    }
    const next = ordering.open ? ordering.closes_at : (ordering.paused_until || ordering.opens_at);
    const wait = next ? Date.parse(next) - Date.now() : NaN;
    if (wait > 0 && wait < 2 ** 31) pauseTimer = setTimeout(loadOrdering, wait + 500);
  }

  async function loadOrdering() {
    const r = await api(`${base}/hours`);
    if (r.status === 200) showOrdering(r.body.ordering);
  }

  async function pause(body) {
    const r = body
      ? await call("/pause", { method: "PUT", body })
      : await call("/pause", { method: "DELETE" });
    if (r.status === 200) {
      showOrdering(r.body.ordering);
      notice(body ? "Ordering paused: customers are told when it resumes." : "Taking orders again.");
    } else if (r.status !== 401) {
      notice(explain(r.problem, "That did not work."));
    }
  }

  async function loadMenuAdmin() {
    const r = await api(`${base}/menu`, { cache: "no-cache" });
    if (r.status !== 200) return;
    const body = byId("menu-items");
    clear(body);
    const mods = byId("modifier-admin");
    clear(mods);
    for (const group of r.body.modifier_groups || []) {
      mods.append(el("fieldset", { class: "modifiers" }, el("legend", {}, group.name),
        group.modifiers.map((m) => {
          const box = el("input", { type: "checkbox", checked: m.available });
          box.addEventListener("change", async () => {
            const w = await call(`/menu/modifiers/${encodeURIComponent(m.id)}`, { method: "PATCH", body: { available: box.checked } });
            notice(w.status === 200 ? `${m.name}: ${box.checked ? "back on" : "off"} for every item.` : explain(w.problem, "That did not work."));
            loadMenuAdmin();
          });
          return el("label", { class: "choice" }, box, ` ${m.name}`);
        })));
    }
    for (const item of r.body.items) {
      const name = el("input", { value: item.name, "aria-label": `Name of ${item.id}`, maxlength: 100 });
      const category = el("input", { value: item.category, "aria-label": `Category of ${item.id}`, maxlength: 40 });
      const price = el("input", { type: "number", min: 0, value: item.price_cents, "aria-label": `Price of ${item.id} in cents` });
      const stock = el("input", { type: "number", min: 0, value: item.stock === null ? "" : item.stock, "aria-label": `Stock of ${item.id}` });
      const available = el("input", { type: "checkbox", checked: item.available, "aria-label": `${item.id} available` });
      const save = el("button", { type: "button" }, "Save");
      const remove = el("button", { type: "button", class: "danger" }, "Remove");
      save.addEventListener("click", async () => {
        const patch = {
          name: name.value, category: category.value, price_cents: Number(price.value),
          stock: stock.value === "" ? null : Number(stock.value), available: available.checked,
        };
        const w = await call(`/menu/items/${encodeURIComponent(item.id)}`, { method: "PATCH", body: patch });
        notice(w.status === 200 ? `Saved ${w.body.name}.` : explain(w.problem, "Saving failed."));
        loadMenuAdmin();
      });
      remove.addEventListener("click", async () => {
        const w = await call(`/menu/items/${encodeURIComponent(item.id)}`, { method: "DELETE" });
        notice(w.status === 204 ? `Removed ${item.name}.` : explain(w.problem, "Removing failed."));
        loadMenuAdmin();
      });
      body.append(el("tr", { "data-item": item.id },
        el("th", { scope: "row" }, item.id), el("td", {}, name), el("td", {}, category), el("td", {}, price),
        el("td", {}, stock), el("td", {}, available), el("td", {}, save, remove)));
    }
  }

  async function addItem(event) {
    event.preventDefault();
    const stock = byId("new-stock").value;
    const item = {
      name: byId("new-name").value, category: byId("new-category").value,
      price_cents: Number(byId("new-price").value), stock: stock === "" ? null : Number(stock),
    };
    const id = byId("new-id").value.trim();
    const r = await call(`/menu/items/${encodeURIComponent(id)}`, { method: "PUT", body: item });
    if (r.status === 201 || r.status === 200) {
      notice(`Added ${r.body.name}.`);
      event.target.reset();
      loadMenuAdmin();
    } else {
      notice(explain(r.problem, "Adding failed."));
    }
  }

  async function showBoard() {
    byId("sign-in").hidden = true;
    byId("work").hidden = false;
    byId("sign-out").hidden = false;
    const s = await api(base);
    if (s.status === 200) {
      shopName = s.body.name;
      byId("shop-name").textContent = `${s.body.name}: board`;
    }
    await sync();
    connect();
    loadOrdering();
    loadMenuAdmin();
  }

  async function start() {
    byId("sign-in-form").addEventListener("submit", signIn);
    byId("sign-out").addEventListener("click", signOut);
    byId("claim").addEventListener("click", claim);
    byId("add-item").addEventListener("submit", addItem);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) { unseen = 0; render(); } });
    const r = await api(`${base}/session`);
    if (r.status === 200 && r.body.csrf_token) {
      csrf = r.body.csrf_token;
      showBoard();
    } else if (r.status === 404) {
      notice("There is no such shop.");
    } else {
      showSignIn();
    }
  }

  start();
})();
