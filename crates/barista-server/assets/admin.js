// The operator's page: every shop, a page at a time, with its name, standing
// and the operator's actions (rename, suspend or resume, export, a new staff
// key, delete), and a form to open a shop. The admin token is held in this
// page's memory only, sent as a bearer token; nothing is stored.
"use strict";
(() => {
  const { api, explain, el, clear, byId, when } = window.Barista;
  let token = null;
  let nextAfter = null;

  function notice(text) {
    byId("notice").textContent = text;
  }

  // An admin call; a refused token sends the operator back to sign in.
  async function call(path, options = {}) {
    const r = await api(path, { ...options, headers: { authorization: `Bearer ${token}` } });
    if (r.status === 401) showSignIn("The admin token was refused: sign in again.");
    return r;
  }

  function showSignIn(message) {
    token = null;
    byId("work").hidden = true;
    byId("sign-out").hidden = true;
    byId("sign-in").hidden = false;
    byId("sign-in-error").textContent = message || "";
    byId("admin-token").focus();
  }

  async function signIn(event) {
    event.preventDefault();
    token = byId("admin-token").value.trim();
    const r = await api("/v1/admin/shops?limit=1", { headers: { authorization: `Bearer ${token}` } });
    if (r.status !== 200) {
      token = null;
      byId("sign-in-error").textContent = r.status === 401 ? "That is not the admin token."
        : r.status === 404 ? "This server has no admin token: start it with --admin-token (or BARISTA_ADMIN_TOKEN)."
          : explain(r.problem, "Signing in failed.");
      return;
    }
    byId("admin-token").value = "";
    byId("sign-in").hidden = true;
    byId("work").hidden = false;
    byId("sign-out").hidden = false;
    load();
  }

  function showKey(label, key) {
    byId("shown-key-label").textContent = label;
    byId("shown-key-value").textContent = key;
    byId("shown-key").hidden = false;
  }

  const shopPath = (slug) => `/v1/admin/shops/${encodeURIComponent(slug)}`;

  // One shop's row; `ask` holds a pending confirmation ("delete" or "key").
  function row(shop, ask) {
    const name = el("input", { value: shop.name, maxlength: 100, "aria-label": `Name of ${shop.slug}` });
    const actions = el("td", { class: "row-actions" });
    const button = (label, cls, onClick, aria) => {
      const b = el("button", { type: "button", class: cls || "", "aria-label": `${aria || label}: ${shop.slug}` }, label);
      b.addEventListener("click", onClick);
      actions.append(b);
      return b;
    };
    const replace = (next) => { const r = row(shop, next); tr.replaceWith(r); return r; };
    if (ask === "delete") {
      const typed = el("input", { "aria-label": `Type ${shop.slug} to delete it`, placeholder: shop.slug, size: 12 });
      actions.append(el("span", { class: "question" }, "Delete every row of it? Type its slug: "), typed);
      button("Keep it", "", () => replace(null), "Keep");
      button("Delete for good", "danger", async () => {
        if (typed.value !== shop.slug) { notice(`Type ${shop.slug} to delete it.`); return; }
        const r = await call(shopPath(shop.slug), { method: "DELETE" });
        if (r.status === 204) { tr.remove(); byId("shown-key").hidden = true; notice(`Deleted ${shop.slug} and everything it owned.`); } else if (r.status !== 401) notice(explain(r.problem, "Deleting failed."));
      }, "Delete for good");
    } else if (ask === "key") {
      actions.append(el("span", { class: "question" }, "The owner's key and every board on it stop working. "));
      button("Keep the key", "", () => replace(null), "Keep the key");
      button("Yes, new key", "danger", async () => {
        const r = await call(`${shopPath(shop.slug)}/staff-key`, { method: "POST" });
        if (r.status === 200) { showKey(`${shop.slug}'s new staff key`, r.body.staff_key); notice(`${shop.slug} has a new staff key.`); replace(null); } else if (r.status !== 401) notice(explain(r.problem, "The key was not replaced."));
      }, "Yes, new key");
    } else {
      button("Save name", "", async () => {
        const r = await call(shopPath(shop.slug), { method: "PATCH", body: { name: name.value } });
        if (r.status === 200) { Object.assign(shop, r.body); notice(`Renamed ${shop.slug}: ${r.body.name}.`); replace(null); } else if (r.status !== 401) notice(explain(r.problem, "Renaming failed."));
      });
      button(shop.suspended ? "Resume" : "Suspend", shop.suspended ? "primary" : "", async () => {
        const r = await call(shopPath(shop.slug), { method: "PATCH", body: { suspended: !shop.suspended } });
        if (r.status === 200) {
          Object.assign(shop, r.body);
          notice(shop.suspended ? `${shop.slug} is suspended: its pages and API answer so; nothing is deleted.` : `${shop.slug} is open again.`);
          replace(null);
        } else if (r.status !== 401) notice(explain(r.problem, "That did not work."));
      });
      button("Export", "", () => exportShop(shop.slug));
      button("New staff key", "", () => replace("key"));
      button("Delete", "danger", () => replace("delete"));
    }
    const tr = el("tr", { "data-shop": shop.slug },
      el("th", { scope: "row" }, el("a", { href: `/s/${encodeURIComponent(shop.slug)}/board` }, shop.slug)),
      el("td", {}, name), el("td", {}, shop.currency), el("td", {}, when(shop.created_at)),
      el("td", { class: shop.suspended ? "suspended" : "" }, shop.suspended ? "Suspended" : "Open"),
      actions);
    return tr;
  }

  // The export as a file download (the token is a header, so a plain link cannot carry it).
  async function exportShop(slug) {
    const response = await fetch(`${shopPath(slug)}/export`, { headers: { authorization: `Bearer ${token}` } });
    if (response.status === 401) { showSignIn("The admin token was refused: sign in again."); return; }
    if (!response.ok) { notice("The export failed."); return; }
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: `${slug}.json` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    notice(`Exported ${slug} (${slug}.json): barista shops import reads it.`);
  }

  async function load(more = false) {
    const query = new URLSearchParams({ limit: "50" });
    if (more && nextAfter) query.set("after", nextAfter);
    const r = await call(`/v1/admin/shops?${query}`);
    if (r.status !== 200) { if (r.status !== 401) notice(explain(r.problem, "The shops did not load.")); return; }
    const body = byId("shops");
    if (!more) clear(body);
    body.append(...r.body.shops.map((s) => row(s, null)));
    nextAfter = r.body.next_after || null;
    byId("more").hidden = !nextAfter;
    if (!more && r.body.shops.length === 0) notice("No shop yet: open one below.");
  }

  async function createShop(event) {
    event.preventDefault();
    const shop = { slug: byId("new-slug").value.trim(), name: byId("new-shop-name").value, currency: byId("new-currency").value.trim() };
    const r = await call("/v1/shops", { method: "POST", body: shop });
    if (r.status === 201) {
      showKey(`${r.body.shop.slug}'s staff key`, r.body.staff_key);
      notice(`Opened ${r.body.shop.slug}.`);
      event.target.reset();
      load();
    } else if (r.status !== 401) {
      notice(explain(r.problem, "Opening the shop failed."));
    }
  }

  byId("sign-in-form").addEventListener("submit", signIn);
  byId("sign-out").addEventListener("click", () => showSignIn("Signed out."));
  byId("more").addEventListener("click", () => load(true));
  byId("create-shop").addEventListener("submit", createShop);
  byId("admin-token").focus();
})();
