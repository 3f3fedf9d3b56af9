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
  let replacing = false; // the key is being replaced: a 401 meanwhile is expected
  const pending = new Map(); // order id -> {stage: "confirm" | "undo", timer}
  const UNDO_MS = 5000; // how long a cancel can be taken back before it is sent
  const AGE_TICK_MS = 30000;

  // Whether this browser signed in to this shop (and has not signed out): only
  // then is the session cookie asked about, so a first visit logs no 401.
  const SIGNED_IN = `barista.signed_in.${shop}`;
  function remember(signedIn) {
    try {
      if (signedIn) localStorage.setItem(SIGNED_IN, "1");
      else localStorage.removeItem(SIGNED_IN);
    } catch { /* storage refused (private mode): the board asks for the key each visit */ }
  }
  function remembered() {
    try { return localStorage.getItem(SIGNED_IN) === "1"; } catch { return false; }
  }

  function notice(text) {
    byId("notice").textContent = text;
  }

  function showSignIn(message) {
    remember(false);
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
    if (r.status === 401 && !replacing) showSignIn("Your session ended: sign in again.");
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
    remember(true);
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

  // "just now", "4 min ago", "1 h 12 min ago": kept current by a timer (ageTick).
  function age(createdAt) {
    const minutes = Math.floor((Date.now() - Date.parse(createdAt)) / 60000);
    if (minutes < 1) return "just now";
    if (minutes < 60) return `${minutes} min ago`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min ago`;
  }

  function ageTick() {
    for (const span of document.querySelectorAll("[data-created]")) {
      span.textContent = age(span.dataset.created);
    }
  }

  // Cancel takes two taps and can be taken back: Cancel asks, "Yes, cancel"
  // waits UNDO_MS with an Undo button, and only then is the order cancelled.
  function cancelActions(order, actions) {
    const name = order.customer_name;
    const state = pending.get(order.id);
    const button = (label, aria, cls, onClick) => {
      const b = el("button", { type: "button", class: cls, "aria-label": `${aria}: ${name}` }, label);
      b.addEventListener("click", onClick);
      actions.append(b);
      return b;
    };
    if (!state) {
      button("Cancel", "Cancel", "danger cancel", () => {
        pending.set(order.id, { stage: "confirm" });
        render();
        focusIn(order.id, ".confirm");
      });
      return;
    }
    if (state.stage === "confirm") {
      actions.append(el("span", { class: "question" }, "Cancel this order?"));
      button("Keep it", "Keep", "keep", () => {
        pending.delete(order.id);
        render();
        focusIn(order.id, ".cancel");
      });
      button("Yes, cancel", "Yes, cancel", "danger confirm", () => {
        const timer = setTimeout(() => {
          pending.delete(order.id);
          setStatus(order, "cancelled");
        }, UNDO_MS);
        pending.set(order.id, { stage: "undo", timer });
        notice(`Cancelling ${name}'s order in ${UNDO_MS / 1000} s: Undo keeps it.`);
        render();
        focusIn(order.id, ".undo");
      });
      return;
    }
    actions.append(el("span", { class: "question" }, `Cancelling in ${UNDO_MS / 1000} s…`));
    button("Undo", "Undo cancel", "primary undo", () => {
      clearTimeout(state.timer);
      pending.delete(order.id);
      notice(`Kept ${name}'s order.`);
      render();
      focusIn(order.id, ".cancel");
    });
  }

  function focusIn(orderId, selector) {
    const card = [...document.querySelectorAll(".card")].find((c) => c.dataset.order === orderId);
    const target = card && card.querySelector(selector);
    if (target) target.focus();
  }

  function card(order) {
    const actions = el("div", { class: "actions" });
    const move = (label, status, cls) => {
      const b = el("button", { type: "button", class: cls || "", "aria-label": `${label}: ${order.customer_name}` }, label);
      b.addEventListener("click", () => setStatus(order, status));
      actions.append(b);
    };
    if (!pending.has(order.id)) { // while a cancel is asked or can be undone, it is the only move
      if (order.status === "brewing") move("Ready", "ready", "primary");
      if (order.status === "ready") move("Collected", "collected", "primary");
    }
    cancelActions(order, actions);
    const classes = ["card", order.fresh ? "fresh" : "", pending.has(order.id) ? "cancelling" : ""];
    return el("li", { class: classes.filter(Boolean).join(" "), "data-order": order.id },
      el("p", { class: "customer" }, order.customer_name),
      el("ul", { class: "lines" }, order.lines.map((l) => {
        const chosen = choices(l);
        return el("li", {}, `${l.quantity} × ${l.name}`, chosen ? el("span", { class: "choices" }, ` · ${chosen}`) : null);
      })),
      order.note ? el("p", { class: "note" }, order.note) : null,
      el("p", { class: "meta" }, `${money(order.total_cents, order.currency)} · `,
        el("span", { class: "age", "data-created": order.created_at }, age(order.created_at))),
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
    if (r.status === 200) {
      if (status === "cancelled") notice(`Cancelled ${order.customer_name}'s order.`);
      return apply(r.body);
    }
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

  // Prices are typed in the currency ("3.80"); the API speaks cents (380).
  const units = (priceCents) => (priceCents / 100).toFixed(2);
  const cents = (typed) => Math.round(Number(typed) * 100);

  async function loadMenuAdmin() {
    const r = await api(`${base}/menu`, { cache: "no-cache" });
    if (r.status !== 200) return;
    const currency = r.body.currency;
    byId("price-heading").textContent = `Price (${currency})`;
    byId("new-price-label").textContent = `Price (${currency})`;
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
      const price = el("input", {
        type: "number", min: 0, step: "0.01", inputmode: "decimal", value: units(item.price_cents),
        "aria-label": `Price of ${item.id} in ${currency}`,
      });
      const stock = el("input", { type: "number", min: 0, value: item.stock === null ? "" : item.stock, "aria-label": `Stock of ${item.id}` });
      const available = el("input", { type: "checkbox", checked: item.available, "aria-label": `${item.id} available` });
      const save = el("button", { type: "button" }, "Save");
      const remove = el("button", { type: "button", class: "danger" }, "Remove");
      save.addEventListener("click", async () => {
        const patch = {
          name: name.value, category: category.value, price_cents: cents(price.value),
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
        el("td", {}, stock), el("td", {}, available), el("td", { class: "row-actions" }, save, remove)));
    }
  }

  async function addItem(event) {
    event.preventDefault();
    const stock = byId("new-stock").value;
    const item = {
      name: byId("new-name").value, category: byId("new-category").value,
      price_cents: cents(byId("new-price").value), stock: stock === "" ? null : Number(stock),
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

  // The day's takings (or a range's): the report, drawn as figures and tables,
  // and the same report as CSV for a spreadsheet.
  async function loadTakings(event) {
    if (event) event.preventDefault();
    const from = byId("takings-from").value;
    const to = byId("takings-to").value;
    const query = new URLSearchParams();
    if (from) query.set("from", from);
    if (to) query.set("to", to);
    const out = byId("takings-report");
    const r = await call(`/report?${query}`);
    clear(out);
    if (r.status !== 200) {
      if (r.status !== 401) out.append(el("p", { class: "error" }, explain(r.problem, "The report did not load.")));
      return;
    }
    const t = r.body;
    const m = (c) => money(c, t.currency);
    byId("takings-from").value = t.from;
    const csv = new URLSearchParams({ from: t.from, to: t.to, format: "csv" });
    const days = t.from === t.to ? t.from : `${t.from} to ${t.to}`;
    const ready = t.median_ready_seconds === null ? "no order was made ready"
      : `half were ready within ${duration(t.median_ready_seconds)} (median of ${t.ready_orders})`;
    const table = (caption, heads, rows) => el("table", { class: "figures" },
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c, i) => i ? el("td", {}, String(c)) : el("th", { scope: "row" }, String(c)))))));
    out.append(
      el("p", { class: "takings-total" }, `${days} (${t.time_zone}): ${m(t.revenue_cents)} from `,
        `${t.orders - t.cancelled.orders} orders; ${t.cancelled.orders} cancelled (${m(t.cancelled.total_cents)}); ${ready}.`),
      el("p", {}, el("a", { href: `${base}/report?${csv}`, download: "", id: "takings-csv" }, "Download as CSV (for a spreadsheet)")),
      t.by_item.length ? table("By item", ["Item", "Orders", "Quantity", "Takings"],
        t.by_item.map((i) => [i.name, i.orders, i.quantity, m(i.revenue_cents)])) : el("p", {}, "Nothing sold."),
      t.by_hour.length ? table("By hour", ["Hour", "Orders", "Takings"],
        t.by_hour.map((h) => [`${String(h.hour).padStart(2, "0")}:00`, h.orders, m(h.revenue_cents)])) : null,
      table("By status", ["Status", "Orders", "Total"], t.by_status.map((s) => [s.status, s.orders, m(s.total_cents)])));
  }

  function duration(seconds) {
    const s = Math.round(seconds);
    return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
  }

  // Replacing the staff key: asked first; the new key is shown once, and this
  // board signs in again with it (its old session ends with the old key).
  function askReplaceKey() {
    const actions = byId("key-actions");
    clear(actions);
    const yes = el("button", { type: "button", class: "danger" }, "Yes, replace the key");
    const no = el("button", { type: "button" }, "Keep the old key");
    yes.addEventListener("click", replaceKey);
    no.addEventListener("click", resetKeyActions);
    actions.append(el("span", { class: "question" }, "Sign out every device that uses the old key?"), no, yes);
    yes.focus();
  }

  function resetKeyActions() {
    const actions = byId("key-actions");
    clear(actions);
    const b = el("button", { type: "button", id: "replace-key", class: "danger" }, "Replace the staff key");
    b.addEventListener("click", askReplaceKey);
    actions.append(b);
  }

  async function replaceKey() {
    replacing = true;
    try {
      const r = await call("/staff-key", { method: "POST" });
      if (r.status !== 200) {
        notice(explain(r.problem, "The key was not replaced."));
        if (r.status === 401) showSignIn("Your session ended: sign in again.");
        return;
      }
      const key = r.body.staff_key;
      byId("new-key").textContent = key;
      byId("new-key-box").hidden = false;
      const s = await api(`${base}/session`, { method: "POST", body: { staff_key: key } });
      if (s.status !== 201) {
        showSignIn("The key was replaced: sign in with the new key.");
        return;
      }
      csrf = s.body.csrf_token;
      remember(true);
      notice("The staff key was replaced: every other device must sign in with the new key.");
      connect();
    } finally {
      replacing = false;
      resetKeyActions();
    }
  }

  async function showBoard(shopBody) {
    byId("sign-in").hidden = true;
    byId("work").hidden = false;
    byId("sign-out").hidden = false;
    const s = shopBody ? { status: 200, body: shopBody } : await api(base);
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
    byId("takings-form").addEventListener("submit", loadTakings);
    byId("takings").addEventListener("toggle", () => { if (byId("takings").open) loadTakings(); });
    byId("replace-key").addEventListener("click", askReplaceKey);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) { unseen = 0; render(); } });
    setInterval(ageTick, AGE_TICK_MS);
    const shopRead = await api(base);
    if (shopRead.status === 404) {
      notice("There is no such shop.");
      return;
    }
    if (shopRead.status !== 200) {
      notice(explain(shopRead.problem, "The shop did not load."));
      return;
    }
    if (remembered()) {
      const r = await api(`${base}/session`);
      if (r.status === 200 && r.body.csrf_token) {
        csrf = r.body.csrf_token;
        showBoard(shopRead.body);
        return;
      }
    }
    showSignIn();
  }

  start();
})();
