"""The pages in a real browser (Debian's Chromium, driven by Playwright):
scripts/browser-test runs this with the binary to test.

A customer (a phone-sized context) and baristas (desktop contexts) on one
server: the customer orders, the board shows it, the barista claims it, makes
it ready and hands it over, and the customer's page shows each status. Also:
a failed send is retried under the same Idempotency-Key (one order); a hostile
customer name renders as text; a cookie write without the CSRF token is
refused; two baristas on one board, one losing a race, see it explained; menu
management; the board and the customer's page recover after the server
restarts. The board: nothing refused before sign-in (no 401 in the console);
Cancel asks, can be undone, and stands apart; Ready first on a phone; a card's
age keeps up; prices typed in the currency; the day's takings (and its CSV);
the staff key replaced (the old one refused). The operator's page: a shop
opened, renamed, suspended and resumed, exported, re-keyed and deleted. The
customer's page: the cart is locked while an order is resent;
every order not yet collected stays on the page (ordering something else,
reloading); the customer is told when it is ready (vibration, a notification,
the title); nothing moves when the menu arrives (cumulative layout shift under
0.1); every button is at least 44 px tall; the icon is served. Screens go to
target/browser/. Timings are printed, never asserted.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from playwright.sync_api import expect, sync_playwright

BINARY = os.path.abspath(sys.argv[1])
OUT = os.path.abspath(sys.argv[2])
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SAFETY = 15_000  # ms: a safety net for waits, not a measure
HOSTILE = "<img src=x onerror=alert(1)>"
ADMIN = "browser-admin"
MIN_TARGET = 44  # px: the smallest touch target phone guidelines ask for

# Before any page script: what the page asks of the phone (vibration, a
# notification) is recorded, and layout shifts are added up as they happen.
RECORDER = """
window.__vibrated = []; window.__notified = [];
Object.defineProperty(navigator, "vibrate", {value: (p) => { window.__vibrated.push(p); return true; }});
window.Notification = class {
  constructor(title, options) { window.__notified.push(title); }
  static get permission() { return "granted"; }
  static requestPermission() { return Promise.resolve("granted"); }
};
window.__cls = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (!e.hadRecentInput) window.__cls += e.value;
}).observe({type: "layout-shift", buffered: true});
"""


def latest(page):
    """The newest order the customer's page follows."""
    return page.locator("#orders .tracked").first


def small_buttons(page):
    """The visible buttons of a page shorter than MIN_TARGET px."""
    return page.evaluate("""(min) => [...document.querySelectorAll("button")]
        .filter((b) => b.offsetParent !== null && b.getBoundingClientRect().height < min)
        .map((b) => `${b.textContent.trim()}: ${b.getBoundingClientRect().height}px`)""", MIN_TARGET)


def call(server, method, path, body=None, key=None):
    """One API call (the staff key as a bearer): (status, parsed JSON or None)."""
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    request = urllib.request.Request(f"{server.base}{path}", method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            data = r.read()
            return r.status, json.loads(data) if data else None
    except urllib.error.HTTPError as e:
        return e.code, None


def place(server, name):
    status, order = call(server, "POST", "/v1/shops/demo/orders",
                         {"customer_name": name, "lines": [{"item_id": "espresso", "quantity": 1}]})
    assert status == 201, status
    return order


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`barista serve` on a SQLite file; restartable on the same port."""

    def __init__(self, db, port):
        self.db, self.port, self.process, self.key = db, port, None, None
        self.base = f"http://127.0.0.1:{port}"

    def start(self):
        self.process = subprocess.Popen(
            [BINARY, "serve", "--database", f"sqlite://{self.db}", "--listen", f"127.0.0.1:{self.port}",
             "--metrics-listen", "off", "--admin-token", ADMIN],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines = []
        threading.Thread(target=lambda out: lines.extend(out), args=(self.process.stdout,), daemon=True).start()
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"browser-test: the server exited at start: {lines}")
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=2) as r:
                    if r.status == 200 and (self.key or any("bsk_" in line for line in lines)):
                        break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("browser-test: the server was not ready in 60 s")
        for line in lines:
            found = re.search(r"bsk_[0-9a-f]{64}", line)
            if found:
                self.key = found.group(0)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(30) == 0, "a clean stop"

    def kill(self):
        """However the test ends, nothing it started keeps running."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def main():
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="barista-browser-")
    server = Server(os.path.join(work, "shop.db"), free_port())
    try:
        run(server)
    finally:
        server.kill()
        shutil.rmtree(work, ignore_errors=True)


def run(server):
    server.start()
    assert server.key, "the demo shop's key was printed"
    dialogs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        desk = browser.new_context(viewport={"width": 1280, "height": 900})
        other_desk = browser.new_context(viewport={"width": 1280, "height": 900})
        for context in (phone, desk, other_desk):
            context.set_default_timeout(SAFETY)
        customer = phone.new_page()
        customer.add_init_script(RECORDER)
        missing = []
        customer.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
        board = desk.new_page()
        for page in (customer, board):
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("pageerror", lambda e: dialogs.append(f"page error: {e}"))

        # The board: staff sign in with the shop's key.
        started = time.time()
        refused = []
        board.on("response", lambda r: refused.append(r.url) if r.status == 401 else None)
        board.goto(f"{server.base}/s/demo/board")
        expect(board.locator("#sign-in")).to_be_visible()
        board.wait_for_load_state("networkidle")
        assert not refused, f"a first visit asks nothing it is refused (no 401 in the console): {refused}"
        board.get_by_label("The shop's staff key").fill("bsk_" + "0" * 64)
        board.get_by_role("button", name="Sign in").click()
        expect(board.locator("#sign-in-error")).to_have_text("That is not this shop's staff key.")
        board.get_by_label("The shop's staff key").fill(server.key)
        board.get_by_role("button", name="Sign in").click()
        expect(board.locator("#connection")).to_have_text("Live")
        print(f"   board signed in and live in {time.time() - started:.2f} s")

        # The customer orders; the first send fails on the network, the retry
        # carries the same key, and the shop gets one order.
        started = time.time()
        # The menu arrives late, as on a phone's network, after the page is drawn.
        customer.route("**/v1/shops/demo/menu", lambda route: (time.sleep(0.6), route.continue_()))
        customer.goto(f"{server.base}/s/demo")
        expect(customer.locator("#menu .item").first).to_be_visible()
        print(f"   customer page usable in {time.time() - started:.2f} s (the menu held 0.6 s)")
        customer.unroute("**/v1/shops/demo/menu")
        sent_keys = []

        # Nothing moved when the menu arrived, and every button is a finger's size.
        customer.wait_for_timeout(300)  # let any late shift be recorded (not a measure)
        cls = customer.evaluate("window.__cls")
        print(f"   customer page: cumulative layout shift {cls:.3f} while loading")
        assert cls < 0.1, f"the page moved as it loaded: CLS {cls}"
        assert not small_buttons(customer), small_buttons(customer)
        expect(customer.get_by_role("button", name="Place order")).to_be_disabled()

        # Held: the first two sends fail, so the order is resent twice; meanwhile
        # the cart and the form are locked (a change then would be lost).
        def flaky(route):
            sent_keys.append(route.request.headers.get("idempotency-key"))
            if len(sent_keys) <= 2:
                route.abort("connectionreset")
            else:
                route.continue_()
        customer.route("**/v1/shops/demo/orders", flaky)
        customer.get_by_role("button", name="Add Espresso to your order").click()
        customer.get_by_role("button", name="Choose size and extras of Flat white").click()
        customer.get_by_role("button", name="Add Flat white to your order").click()
        customer.get_by_role("button", name="One Flat white (Small) more").click()
        customer.get_by_label("Your name").fill("Ana")
        customer.screenshot(path=os.path.join(OUT, "customer-cart.png"), full_page=True)
        placed_at = time.time()
        customer.get_by_role("button", name="Place order").click()
        expect(customer.locator("#order-error")).to_contain_text("sending your order again")
        expect(customer.get_by_role("button", name="Add Espresso to your order")).to_be_disabled()
        expect(customer.get_by_role("button", name="One Flat white (Small) more")).to_be_disabled()
        expect(customer.get_by_label("Your name")).not_to_be_editable()
        expect(latest(customer).locator(".status")).to_have_text("Placed: waiting for a barista")
        customer.unroute("**/v1/shops/demo/orders")
        assert len(sent_keys) == 3 and len(set(sent_keys)) == 1, sent_keys
        card = board.locator("#placed .card", has_text="Ana")
        expect(card).to_be_visible()
        print(f"   the board showed the order {time.time() - placed_at:.2f} s after the click"
              f" (two failed sends retried under key {sent_keys[0][:8]}…)")
        expect(board.locator("#placed .card")).to_have_count(1)
        customer.screenshot(path=os.path.join(OUT, "customer-placed.png"), full_page=True)
        board.screenshot(path=os.path.join(OUT, "board-new-order.png"), full_page=True)

        # Ordering something else, or reloading, never loses the order waited for.
        customer.get_by_role("button", name="Order something else").click()
        expect(customer.get_by_role("button", name="Add Espresso to your order")).to_be_enabled()
        expect(latest(customer)).to_contain_text("Ana")
        customer.reload()
        expect(latest(customer).locator(".status")).to_have_text("Placed: waiting for a barista")
        expect(latest(customer)).to_contain_text("2 × Flat white")

        # Claimed, ready, collected: the customer's page follows each.
        board.get_by_role("button", name="Claim the next order").click()
        expect(board.locator("#brewing .card", has_text="Ana")).to_be_visible()
        expect(latest(customer).locator(".status")).to_have_text("Brewing")
        board.get_by_role("button", name="Ready: Ana").click()
        expect(latest(customer).locator(".status")).to_have_text("Ready: come and get it")
        expect(latest(customer).locator(".steps li.current")).to_have_text("Ready")
        # Told, not only shown: the phone vibrates, a notification, the tab's title.
        assert customer.evaluate("window.__vibrated.length") == 1, customer.evaluate("window.__vibrated")
        notified = customer.evaluate("window.__notified")
        assert len(notified) == 1 and "ready" in notified[0], notified
        expect(customer).to_have_title(re.compile(r"^Ready! "))
        customer.screenshot(path=os.path.join(OUT, "customer-ready.png"), full_page=True)
        board.get_by_role("button", name="Collected: Ana").click()
        expect(latest(customer).locator(".status")).to_have_text("Collected. Enjoy!")
        expect(customer).not_to_have_title(re.compile(r"^Ready! "))
        expect(board.locator(".card", has_text="Ana")).to_have_count(0)

        # A hostile name is text on both pages.
        customer.get_by_role("button", name="Order something else").click()
        customer.get_by_role("button", name="Add Espresso to your order").click()
        customer.get_by_label("Your name").fill(HOSTILE)
        placed_at = time.time()
        customer.get_by_role("button", name="Place order").click()
        hostile = board.locator("#placed .card .customer")
        expect(hostile).to_have_text(HOSTILE)
        print(f"   an order sent once reached the board {time.time() - placed_at:.2f} s after the click")
        expect(latest(customer).locator(".status")).to_have_text("Placed: waiting for a barista")
        expect(customer.locator("#orders .tracked")).to_have_count(1)  # Ana's, collected, left
        assert board.locator("#placed .card img").count() == 0
        assert customer.locator("#orders img").count() == 0
        assert HOSTILE in latest(customer).locator(".summary").text_content()

        # A cookie write without the CSRF token (what another site could make this
        # browser send) is refused, and nothing moved.
        forged = board.evaluate("""async () => {
            const r = await fetch('/v1/shops/demo/queue/claim', {method: 'POST', credentials: 'same-origin'});
            return [r.status, (await r.json()).code];
        }""")
        assert forged == [403, "csrf_failed"], forged
        expect(board.locator("#placed .card")).to_have_count(1)

        # A second barista on the same board, without the live stream for a while:
        # the first one claims the order, readies it and hands it over; the
        # second, still showing it as placed, tries to cancel it, loses the race,
        # and is told so (not an error page).
        second = other_desk.new_page()
        second.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        second.route("**/v1/shops/demo/events", lambda route: route.abort())
        second.goto(f"{server.base}/s/demo/board")
        second.get_by_label("The shop's staff key").fill(server.key)
        second.get_by_role("button", name="Sign in").click()
        expect(second.locator("#placed .card .customer")).to_have_text(HOSTILE)
        board.get_by_role("button", name="Claim the next order").click()
        board.get_by_role("button", name=f"Ready: {HOSTILE}").click()
        board.get_by_role("button", name=f"Collected: {HOSTILE}").click()
        expect(latest(customer).locator(".status")).to_have_text("Collected. Enjoy!")
        second.get_by_role("button", name=f"Cancel: {HOSTILE}").click()
        second.get_by_role("button", name=f"Yes, cancel: {HOSTILE}").click()
        # (the cancel is sent once its undo window has passed)
        expect(second.locator("#notice")).to_contain_text("already moved by another barista (now collected)", timeout=SAFETY)
        expect(second.locator(".card")).to_have_count(0)
        second.screenshot(path=os.path.join(OUT, "board-lost-race.png"), full_page=True)
        second.unroute("**/v1/shops/demo/events")

        # Menu management: an item added on the board is on the customer's menu;
        # its stock set to 0, it shows sold out.
        board.locator("#menu-admin summary").click()
        board.get_by_label("Id (a-z, 0-9, -)").fill("chai")
        board.get_by_label("Name", exact=True).fill("Chai latte")
        board.get_by_label("Category", exact=True).fill("tea")
        board.get_by_label("Price (EUR)", exact=True).fill("4.20")
        board.get_by_label("Stock (empty: unlimited)", exact=True).fill("3")
        board.get_by_role("button", name="Add", exact=True).click()
        expect(board.locator("#notice")).to_have_text("Added Chai latte.")
        customer.get_by_role("button", name="Order something else").click()
        expect(customer.get_by_role("button", name="Add Chai latte to your order")).to_be_visible()
        expect(customer.locator("#menu .item", has_text="Chai latte")).to_contain_text("4.20")
        expect(board.get_by_label("Price of chai in EUR")).to_have_value("4.20")
        save, remove = (board.locator("tr[data-item=chai]").get_by_role("button", name=n) for n in ("Save", "Remove"))
        expect(remove).to_be_visible()
        assert save.bounding_box()["y"] == remove.bounding_box()["y"], "Save and Remove on one line"
        board.get_by_label("Stock of chai").fill("0")
        board.locator("tr[data-item=chai]").get_by_role("button", name="Save").click()
        expect(board.locator("#notice")).to_have_text("Saved Chai latte.")
        customer.reload()
        expect(customer.get_by_role("button", name="Chai latte: sold out")).to_be_disabled()
        board.screenshot(path=os.path.join(OUT, "board-menu.png"), full_page=True)

        # A large oat flat white with an extra shot: chosen on the page, priced as
        # chosen (the server agrees), told when to come, followed live; the board
        # shows the choices on the card.
        customer.get_by_role("button", name="Choose size and extras of Flat white").click()
        chooser = customer.locator("#options-flat-white")
        add = chooser.get_by_role("button", name="Add Flat white to your order")
        expect(add).to_have_text(re.compile(r"3\.80"))
        chooser.get_by_label("Large", exact=False).check()
        expect(add).to_have_text(re.compile(r"4\.60"))
        chooser.get_by_label("Oat milk", exact=False).check()
        chooser.get_by_label("Extra shot", exact=False).check()
        expect(add).to_have_text(re.compile(r"5\.70"))
        assert not small_buttons(customer), small_buttons(customer)
        customer.screenshot(path=os.path.join(OUT, "customer-choices.png"), full_page=True)
        add.click()
        expect(customer.locator("#cart")).to_contain_text("1 × Flat white (Large, Oat milk, Extra shot)")
        expect(customer.locator("#total")).to_contain_text("5.70")
        customer.get_by_label("Your name").fill("Oat")
        customer.get_by_role("button", name="Place order").click()
        mine = latest(customer)
        expect(mine.locator(".summary")).to_contain_text("1 × Flat white (Large, Oat milk, Extra shot)")
        expect(mine.locator(".summary")).to_contain_text("5.70")
        expect(mine.locator(".pickup")).to_contain_text(re.compile(r"Ready around .* yours is next"))
        oat = board.locator("#placed .card", has_text="Oat")
        expect(oat.locator(".choices")).to_have_text(" · Large, Oat milk, Extra shot")
        board.get_by_role("button", name="Claim the next order").click()
        expect(mine.locator(".status")).to_have_text("Brewing")
        board.get_by_role("button", name="Ready: Oat").click()
        expect(mine.locator(".status")).to_have_text("Ready: come and get it")
        expect(mine.locator(".pickup")).to_have_text("")
        board.screenshot(path=os.path.join(OUT, "board-choices.png"), full_page=True)
        board.get_by_role("button", name="Collected: Oat").click()
        # Out of oat milk: unticked once on the board, it is off every drink.
        board.locator("#modifier-admin").get_by_label("Oat milk").uncheck()
        expect(board.locator("#notice")).to_have_text("Oat milk: off for every item.")
        customer.get_by_role("button", name="Order something else").click()
        customer.get_by_role("button", name="Choose size and extras of Caffè latte").click()
        expect(customer.locator("#options-latte").get_by_label("Oat milk", exact=False)).to_be_disabled()
        expect(customer.locator("#options-latte")).to_contain_text("Oat milk +€0.50 (sold out)")
        board.locator("#modifier-admin").get_by_label("Oat milk").check()
        expect(board.locator("#notice")).to_have_text("Oat milk: back on for every item.")
        customer.get_by_role("button", name="Choose size and extras of Caffè latte").click()
        expect(customer.locator("#options-latte")).to_have_count(0)

        # Paused from the board: a customer who had the menu open is refused on
        # the page, told when to come back; a fresh page offers no Place order.
        customer.get_by_role("button", name="Add Espresso to your order").click()
        board.get_by_role("button", name="Pause 15 min").click()
        expect(board.locator("#ordering-now")).to_contain_text("paused ordering")
        customer.get_by_role("button", name="Place order").click()
        expect(customer.locator("#order-error")).to_contain_text("paused ordering for a moment: it takes orders again at")
        expect(customer.locator("#ordering-state")).to_contain_text("paused")
        expect(customer.get_by_role("button", name="Place order")).to_be_hidden()
        customer.reload()
        expect(customer.locator("#ordering-state")).to_contain_text("paused")
        expect(customer.get_by_role("button", name="Place order")).to_be_hidden()
        customer.screenshot(path=os.path.join(OUT, "customer-paused.png"), full_page=True)
        board.get_by_role("button", name="Resume taking orders").click()
        expect(board.locator("#ordering-now")).to_have_text("Taking orders")
        customer.reload()
        expect(customer.get_by_role("button", name="Place order")).to_be_visible()
        expect(customer.locator("#ordering-state")).to_be_hidden()

        # Outside the opening hours (closed every day but one far ahead): the
        # page says so; open all the time again, it takes orders.
        def hours(body):
            request = urllib.request.Request(
                f"{server.base}/v1/shops/demo/hours", method="PUT", data=json.dumps(body).encode(),
                headers={"authorization": f"Bearer {server.key}", "content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as r:
                assert r.status == 200
        hours({"time_zone": "Europe/Lisbon", "weekly": {}})
        customer.reload()
        expect(customer.locator("#ordering-state")).to_have_text("The shop is closed.")
        expect(customer.get_by_role("button", name="Place order")).to_be_hidden()
        hours({"time_zone": "UTC"})
        customer.reload()
        expect(customer.locator("#ordering-state")).to_be_hidden()

        # Cancel asks first, can be taken back for a few seconds, and says when done;
        # it stands apart from the move beside it.
        undo_me = place(server, "Undo me")
        undo_card = board.locator("#placed .card", has_text="Undo me")
        expect(undo_card).to_be_visible()
        board.get_by_role("button", name="Claim the next order").click()
        undo_card = board.locator("#brewing .card", has_text="Undo me")
        expect(undo_card.get_by_role("button", name="Ready: Undo me")).to_be_visible()
        expect(undo_card.get_by_role("button", name="Cancel: Undo me")).to_be_visible()
        ready_box = undo_card.get_by_role("button", name="Ready: Undo me").bounding_box()
        cancel_box = undo_card.get_by_role("button", name="Cancel: Undo me").bounding_box()
        gap = cancel_box["x"] - (ready_box["x"] + ready_box["width"])
        assert gap > 40, f"Cancel stands apart from Ready ({gap:.0f} px between them)"
        undo_card.get_by_role("button", name="Cancel: Undo me").click()
        expect(undo_card).to_contain_text("Cancel this order?")
        undo_card.get_by_role("button", name="Keep: Undo me").click()
        undo_card.get_by_role("button", name="Cancel: Undo me").click()
        undo_card.get_by_role("button", name="Yes, cancel: Undo me").click()
        expect(board.locator("#notice")).to_contain_text("Cancelling Undo me's order")
        board.screenshot(path=os.path.join(OUT, "board-cancel-undo.png"), full_page=True)
        undo_card.get_by_role("button", name="Undo cancel: Undo me").click()
        expect(board.locator("#notice")).to_have_text("Kept Undo me's order.")
        board.wait_for_timeout(6000)  # past the undo window: nothing was sent
        status, kept = call(server, "GET", f"/v1/shops/demo/orders/{undo_me['id']}", key=server.key)
        assert status == 200 and kept["status"] == "brewing", (status, kept)
        expect(undo_card.get_by_role("button", name="Cancel: Undo me")).to_be_visible()
        undo_card.get_by_role("button", name="Cancel: Undo me").click()
        undo_card.get_by_role("button", name="Yes, cancel: Undo me").click()
        expect(board.locator("#notice")).to_have_text("Cancelled Undo me's order.", timeout=SAFETY)
        expect(board.locator(".card", has_text="Undo me")).to_have_count(0)

        # On a phone, Ready comes first: four orders wait, one is ready, and
        # handing it over needs no scrolling.
        place(server, "Hand me over")
        status, handed = call(server, "POST", "/v1/shops/demo/queue/claim", key=server.key)
        assert status == 200 and handed["customer_name"] == "Hand me over", (status, handed)
        status, _ = call(server, "POST", f"/v1/shops/demo/orders/{handed['id']}/status", {"status": "ready"}, server.key)
        assert status == 200, status
        waiting_orders = [place(server, f"Waiting {n}") for n in range(4)]
        pocket = phone.new_page()
        pocket.goto(f"{server.base}/s/demo/board")
        pocket.get_by_label("The shop's staff key").fill(server.key)
        pocket.get_by_role("button", name="Sign in").click()
        expect(pocket.locator("#placed .card")).to_have_count(4)
        hand_over = pocket.get_by_role("button", name="Collected: Hand me over")
        expect(hand_over).to_be_in_viewport()
        ready_y = pocket.locator("#ready-heading").bounding_box()["y"]
        placed_y = pocket.locator("#placed-heading").bounding_box()["y"]
        assert ready_y < placed_y, f"Ready ({ready_y}) above Placed ({placed_y}) on a phone"
        assert not small_buttons(pocket), small_buttons(pocket)
        pocket.screenshot(path=os.path.join(OUT, "board-phone.png"), full_page=True)
        pocket.close()

        # A card's age keeps up while it waits (the clock of a context of its own
        # run ten minutes on); reloaded, the board opens signed in, its session remembered.
        later = browser.new_context(viewport={"width": 1280, "height": 900})
        later.set_default_timeout(SAFETY)
        aged = later.new_page()
        aged.clock.install()
        aged.goto(f"{server.base}/s/demo/board")
        aged.get_by_label("The shop's staff key").fill(server.key)
        aged.get_by_role("button", name="Sign in").click()
        expect(aged.locator("#connection")).to_have_text("Live")
        aged.reload()
        expect(aged.locator("#connection")).to_have_text("Live")
        expect(aged.locator("#sign-in")).to_be_hidden()
        waiting = aged.locator("#placed .card", has_text="Waiting 0").locator(".age")
        expect(waiting).to_have_text("just now")
        aged.clock.fast_forward("10:00")
        expect(waiting).to_have_text(re.compile(r"^1\d min ago$"))
        later.close()
        for order in waiting_orders:  # out of the way of the claims below
            call(server, "POST", f"/v1/shops/demo/orders/{order['id']}/status", {"status": "cancelled"}, server.key)
        expect(board.locator("#placed .card")).to_have_count(0)

        # The day's takings on the board, and the same report as CSV.
        board.locator("#takings summary").click()
        report = board.locator("#takings-report")
        expect(report).to_contain_text("Flat white")
        expect(report).to_contain_text("cancelled")
        expect(report.locator("table", has_text="By hour")).to_be_visible()
        csv = board.evaluate("""async () => {
            const r = await fetch(document.getElementById("takings-csv").href);
            return [r.status, (await r.text()).split("\\n")[0]];
        }""")
        assert csv == [200, "section,key,name,orders,quantity,amount_cents"], csv
        board.screenshot(path=os.path.join(OUT, "board-takings.png"), full_page=True)

        # The server restarts: the board reconnects, and an order placed after it
        # (the customer following it) appears and moves as before.
        server.stop()
        expect(board.locator("#connection")).to_have_text("Reconnecting…")
        server.start()
        expect(board.locator("#connection")).to_have_text("Live")
        customer.get_by_role("button", name="Add Espresso to your order").click()
        customer.get_by_label("Your name").fill("After restart")
        customer.get_by_role("button", name="Place order").click()
        expect(board.locator("#placed .card", has_text="After restart")).to_be_visible()
        board.get_by_role("button", name="Claim the next order").click()
        expect(latest(customer).locator(".status")).to_have_text("Brewing")
        # The customer's stream survives a restart too.
        server.stop()
        server.start()
        board.get_by_role("button", name="Ready: After restart").click()
        expect(latest(customer).locator(".status")).to_have_text("Ready: come and get it")
        board.screenshot(path=os.path.join(OUT, "board-after-restart.png"), full_page=True)
        assert not small_buttons(board), small_buttons(board)

        # The staff key replaced from the board: asked first, shown once; the old
        # key stops working, and this board goes on with the new one.
        old_key = server.key
        board.locator("#staff-key-admin summary").click()
        board.get_by_role("button", name="Replace the staff key").click()
        board.get_by_role("button", name="Yes, replace the key").click()
        expect(board.locator("#new-key")).to_have_text(re.compile(r"^bsk_[0-9a-f]{64}$"))
        server.key = board.locator("#new-key").text_content()
        assert server.key != old_key
        assert call(server, "GET", "/v1/shops/demo/orders", key=old_key)[0] == 401
        assert call(server, "GET", "/v1/shops/demo/orders", key=server.key)[0] == 200
        expect(board.locator("#connection")).to_have_text("Live")
        place(server, "New key")
        board.get_by_role("button", name="Claim the next order").click()
        expect(board.locator("#notice")).to_have_text("Claimed: New key")
        expect(board.locator("#sign-in")).to_be_hidden()
        board.screenshot(path=os.path.join(OUT, "board-new-key.png"), full_page=True)

        # Sign out: the board asks for the key again, and the cookie is gone.
        board.get_by_role("button", name="Sign out").click()
        expect(board.locator("#sign-in")).to_be_visible()
        board.reload()
        expect(board.locator("#sign-in")).to_be_visible()

        # The operator's page: a shop opened, renamed, suspended (its API says
        # so) and resumed, exported as a file, given a new key, and deleted.
        admin = desk.new_page()
        admin.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        admin.on("pageerror", lambda e: dialogs.append(f"page error: {e}"))
        admin.goto(f"{server.base}/admin")
        admin.get_by_label("Admin token").fill("not-the-token")
        admin.get_by_role("button", name="Sign in").click()
        expect(admin.locator("#sign-in-error")).to_have_text("That is not the admin token.")
        admin.get_by_label("Admin token").fill(ADMIN)
        admin.get_by_role("button", name="Sign in").click()
        expect(admin.locator("tr[data-shop=demo]")).to_be_visible()
        admin.get_by_label("Slug", exact=False).fill("corner")
        admin.get_by_label("Name", exact=True).fill("Corner Café")
        admin.get_by_role("button", name="Open the shop").click()
        expect(admin.locator("#shown-key-value")).to_have_text(re.compile(r"^bsk_[0-9a-f]{64}$"))
        first_key = admin.locator("#shown-key-value").text_content()
        corner = admin.locator("tr[data-shop=corner]")
        corner.get_by_label("Name of corner").fill("Corner Coffee")
        corner.get_by_role("button", name="Save name: corner").click()
        expect(admin.locator("#notice")).to_have_text("Renamed corner: Corner Coffee.")
        admin.locator("tr[data-shop=corner]").get_by_role("button", name="Suspend: corner").click()
        expect(admin.locator("tr[data-shop=corner]")).to_contain_text("Suspended")
        assert call(server, "GET", "/v1/shops/corner")[0] == 403
        admin.locator("tr[data-shop=corner]").get_by_role("button", name="Resume: corner").click()
        expect(admin.locator("tr[data-shop=corner]")).to_contain_text("Open")
        assert call(server, "GET", "/v1/shops/corner")[0] == 200
        with admin.expect_download() as download:
            admin.locator("tr[data-shop=corner]").get_by_role("button", name="Export: corner").click()
        with open(download.value.path()) as f:
            exported = json.load(f)
        assert exported["format"] == "barista-shop-export" and exported["shop"]["name"] == "Corner Coffee", exported["shop"]
        admin.locator("tr[data-shop=corner]").get_by_role("button", name="New staff key: corner").click()
        admin.locator("tr[data-shop=corner]").get_by_role("button", name="Yes, new key: corner").click()
        expect(admin.locator("#notice")).to_have_text("corner has a new staff key.")
        assert admin.locator("#shown-key-value").text_content() != first_key
        assert call(server, "GET", "/v1/shops/corner/orders", key=first_key)[0] == 401
        admin.locator("tr[data-shop=corner]").get_by_role("button", name="Delete: corner").click()
        admin.locator("tr[data-shop=corner]").get_by_label("Type corner to delete it").fill("corner")
        admin.locator("tr[data-shop=corner]").get_by_role("button", name="Delete for good: corner").click()
        expect(admin.locator("tr[data-shop=corner]")).to_have_count(0)
        assert call(server, "GET", "/v1/shops/corner")[0] == 404
        assert not small_buttons(admin), small_buttons(admin)
        admin.screenshot(path=os.path.join(OUT, "admin.png"), full_page=True)
        browser.close()
    with urllib.request.urlopen(f"{server.base}/favicon.ico", timeout=5) as icon:
        assert icon.status == 200 and icon.headers["content-type"] == "image/svg+xml", icon.headers
    server.stop()
    assert not dialogs, f"no script ran from content, no page error: {dialogs}"
    assert not missing, f"the customer's page asked for what is not there: {missing}"
    print(f"== browser-test: passed (screens in {os.path.relpath(OUT)})")


if __name__ == "__main__":
    main()
