"""What one report costs for a shop with a year of orders (bench/report runs this).

For each backend: a shop gets three real orders through the API (their rows are
the templates), then N orders spread evenly over the last 365 days are written
in one SQL statement (1 in 33 cancelled, the rest collected, each made ready 2
to 5 minutes after it was placed). Then, in interleaved rounds:

  barista  GET /v1/shops/{shop}/report for one day, and for 31 days (the widest
           range), over one keep-alive connection: the medians;
  anchor   the same figures computed by the database itself, as a competent
           engineer would write the report in SQL (GROUP BY status, hour, and
           item with the database's JSON functions), on the same index;
  scan     every order of the range in one query with the index turned off (a
           full scan of the shop's year): what the index buys.

Prints the query plan of the report's query (the index that serves it), the
medians, the ratios, and the server's peak memory.
"""
import argparse
import http.client
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request

DAY = 86_400_000_000  # microseconds
ADMIN = "bench-admin"
PSQL = "psql"
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
# The report's query as the store runs it (a page of 2,000 orders at a time; the first page).
REPORT_QUERY = ("SELECT status, total_cents, lines, created_at, ready_at, id FROM orders "
                "WHERE shop_id = {shop} AND created_at >= {start} AND (created_at > {start} OR id > '') "
                "AND created_at < {end} ORDER BY created_at, id LIMIT 2000")
# Every order of the range in one query: what `scan` runs with no index.
RANGE_QUERY = ("SELECT status, total_cents, lines, created_at, ready_at FROM orders "
               "WHERE shop_id = {shop} AND created_at >= {start} AND created_at < {end}")
TOTALS = ("SELECT count(*), sum(CASE WHEN status <> 'cancelled' THEN total_cents ELSE 0 END) FROM orders "
          "WHERE shop_id = {shop} AND created_at >= {start} AND created_at < {end}")


def log(*args):
    print(*args, flush=True)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, database, work):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.out = open(os.path.join(work, f"barista-{self.port}.log"), "w")
        self.process = subprocess.Popen(
            [binary, "serve", "--database", database, "--listen", f"127.0.0.1:{self.port}",
             "--metrics-listen", "off", "--admin-token", ADMIN, "--no-demo"],
            stdout=self.out, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"})
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    sys.exit(f"bench/report: the server exited at start (see {self.out.name})")
                time.sleep(0.1)
        sys.exit("bench/report: the server was not ready in 60 s")

    def call(self, method, path, body=None, token=None):
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def peak_rss_mb(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.out.close()


def seed_shop(server):
    """A shop with three items and three real orders: the rows copied below."""
    key = server.call("POST", "/v1/shops", {"slug": "year", "name": "A year of orders", "currency": "EUR"},
                      ADMIN)["staff_key"]
    for item, name, price in (("flat-white", "Flat white", 380), ("croissant", "Croissant", 280),
                              ("latte", "Latte", 390)):
        server.call("PUT", f"/v1/shops/year/menu/items/{item}",
                    {"name": name, "category": "bench", "price_cents": price}, key)
    for lines in ([{"item_id": "flat-white", "quantity": 1}],
                  [{"item_id": "latte", "quantity": 2}, {"item_id": "croissant", "quantity": 1}],
                  [{"item_id": "flat-white", "quantity": 1}, {"item_id": "croissant", "quantity": 2}]):
        server.call("POST", "/v1/shops/year/orders", {"customer_name": "Bench", "lines": lines})
    return key


def fill_sql(columns, shop, orders, start, series, template_order):
    """INSERT ... SELECT of `orders` rows copied from the shop's three templates."""
    step = 365 * DAY // orders
    overrides = {
        "id": "'year-' || i",
        "status": "CASE WHEN i % 33 = 0 THEN 'cancelled' ELSE 'collected' END",
        "created_at": f"{start} + i * {step}",
        "updated_at": f"{start} + i * {step} + 300000000",
        "ready_at": f"CASE WHEN i % 33 = 0 THEN NULL ELSE {start} + i * {step} + (120 + i % 180) * 1000000 END",
        "version": "4",
    }
    select = ", ".join(overrides.get(c, f"t.{c}") for c in columns)
    return (f"INSERT INTO orders ({', '.join(columns)}) SELECT {select} FROM {series} "
            f"JOIN (SELECT *, row_number() OVER (ORDER BY {template_order}) - 1 AS k FROM orders WHERE shop_id = {shop}) t "
            f"ON t.k = i % 3")


def anchor_sql(dialect, shop, start, end):
    """The report as SQL: by status, by hour, by item (JSON lines), in the database."""
    where = f"shop_id = {shop} AND created_at >= {start} AND created_at < {end}"
    if dialect == "sqlite":
        item = ("SELECT json_extract(l.value, '$.item_id'), count(DISTINCT o.id), "
                "sum(json_extract(l.value, '$.quantity')), sum(json_extract(l.value, '$.line_total_cents')) "
                f"FROM orders o, json_each(o.lines) l WHERE o.{where.replace(' AND ', ' AND o.')} "
                "AND o.status <> 'cancelled' GROUP BY 1")
    else:
        item = ("SELECT l->>'item_id', count(DISTINCT o.id), sum((l->>'quantity')::int), "
                "sum((l->>'line_total_cents')::bigint) "
                f"FROM orders o, jsonb_array_elements(o.lines::jsonb) l WHERE o.{where.replace(' AND ', ' AND o.')} "
                "AND o.status <> 'cancelled' GROUP BY 1")
    return [
        f"SELECT status, count(*), sum(total_cents) FROM orders WHERE {where} GROUP BY status",
        f"SELECT (created_at / 3600000000) % 24, count(*), sum(total_cents) FROM orders "
        f"WHERE {where} AND status <> 'cancelled' GROUP BY 1",
        item,
    ]


class Sqlite:
    name = "SQLite"

    def __init__(self, work):
        self.path = os.path.join(work, "year.db")
        self.url = f"sqlite://{self.path}"

    def shop_id(self):
        with sqlite3.connect(self.path) as db:
            return db.execute("SELECT id FROM shops WHERE slug = 'year'").fetchone()[0]

    def fill(self, shop, orders, start):
        with sqlite3.connect(self.path) as db:
            columns = [r[1] for r in db.execute("PRAGMA table_info(orders)")]
            series = f"(WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {orders - 1}) SELECT i FROM n)"
            db.execute(fill_sql(columns, shop, orders, start, series, "id"))
            db.execute("ANALYZE")

    def plan(self, shop, start, end):
        with sqlite3.connect(self.path) as db:
            rows = db.execute("EXPLAIN QUERY PLAN " + REPORT_QUERY.format(shop=shop, start=start, end=end))
            return "; ".join(r[-1] for r in rows)

    def totals(self, shop, start, end):
        with sqlite3.connect(self.path) as db:
            return tuple(db.execute(TOTALS.format(shop=shop, start=start, end=end)).fetchone())

    def _time(self, statements, rounds):
        times = []
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True) as db:
            for _ in range(rounds):
                t = time.perf_counter()
                for s in statements:
                    db.execute(s).fetchall()
                times.append(time.perf_counter() - t)
        return times

    def anchor(self, shop, start, end, rounds):
        return self._time(anchor_sql("sqlite", shop, start, end), rounds)

    def scan(self, shop, start, end, rounds):
        # `+created_at`: the range cannot use an index, so the shop's rows are all read.
        query = RANGE_QUERY.format(shop=shop, start=start, end=end).replace("created_at ", "+created_at ")
        return self._time([query], rounds)


class Postgres:
    name = "PostgreSQL"

    def __init__(self, url, work):
        self.url = url
        self.work = work

    def psql(self, sql):
        out = subprocess.run([PSQL, self.url, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"bench/report: psql failed: {out.stderr.strip()}")
        return out.stdout.strip()

    def shop_id(self):
        return int(self.psql("SELECT id FROM shops WHERE slug = 'year'"))

    def fill(self, shop, orders, start):
        columns = self.psql("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) "
                            "FROM information_schema.columns WHERE table_name = 'orders'").split(",")
        self.psql(fill_sql(columns, shop, orders, start, f"generate_series(0::bigint, {orders - 1}) AS i", "id"))
        self.psql("VACUUM ANALYZE orders")

    def plan(self, shop, start, end):
        lines = self.psql("EXPLAIN " + REPORT_QUERY.format(shop=shop, start=start, end=end)).splitlines()
        return "; ".join(line.strip().lstrip("-> ") for line in lines if "Scan" in line or "Index Cond" in line)

    def totals(self, shop, start, end):
        return tuple(int(x) for x in self.psql(TOTALS.format(shop=shop, start=start, end=end)).split("|"))

    def _pgbench(self, sql, rounds, setup=""):
        script = os.path.join(self.work, "anchor.sql")
        with open(script, "w") as f:
            f.write(setup + ";\n".join(sql) + ";\n")
        out = subprocess.run([PGBENCH, "-n", "-c", "1", "-t", str(rounds), "-f", script, self.url],
                             check=True, capture_output=True, text=True).stdout
        average = float(re.search(r"latency average = ([0-9.]+) ms", out).group(1)) / 1000
        return [average]  # pgbench gives the mean of its rounds

    def anchor(self, shop, start, end, rounds):
        return self._pgbench(anchor_sql("postgres", shop, start, end), rounds)

    def scan(self, shop, start, end, rounds):
        setup = "SET enable_indexscan = off;\nSET enable_bitmapscan = off;\nSET enable_indexonlyscan = off;\n"
        return self._pgbench([RANGE_QUERY.format(shop=shop, start=start, end=end)], rounds, setup)


def report_times(server, key, query, rounds):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    times, body = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        connection.request("GET", f"/v1/shops/year/report?{query}", headers={"authorization": f"Bearer {key}"})
        response = connection.getresponse()
        raw = response.read()
        times.append(time.perf_counter() - t)
        if response.status != 200:
            sys.exit(f"bench/report: the report answered {response.status}: {raw[:300]!r}")
        body = json.loads(raw)
    connection.close()
    return times, body


def ms(seconds):
    return f"{seconds * 1000:8.1f} ms"


def run(backend, binary, orders, rounds):
    log(f"== {backend.name}: {orders:,} orders over 365 days for one shop")
    server = Server(binary, backend.url, WORK)
    try:
        key = seed_shop(server)
        shop = backend.shop_id()
        now = int(time.time() * 1_000_000)
        start = now - 365 * DAY
        started = time.time()
        backend.fill(shop, orders, start)
        log(f"   written in {time.time() - started:.1f} s (one INSERT ... SELECT, then ANALYZE)")
        yesterday = time.strftime("%Y-%m-%d", time.gmtime(now / 1e6 - 86400))
        month_from = time.strftime("%Y-%m-%d", time.gmtime(now / 1e6 - 31 * 86400))
        day_start = (now // DAY - 1) * DAY
        ranges = {"one day": (f"from={yesterday}", day_start, day_start + DAY),
                  "31 days": (f"from={month_from}&to={yesterday}", day_start - 30 * DAY, day_start + DAY)}
        log(f"   plan of the report's query: {backend.plan(shop, day_start, day_start + DAY)}")
        for label, (query, lo, hi) in ranges.items():
            report_times(server, key, query, 1)  # warm: the first read brings the pages in
            backend.anchor(shop, lo, hi, 1)
            ours, theirs, scans, body = [], [], [], None
            for _ in range(rounds):  # interleaved rounds
                t, body = report_times(server, key, query, 3)
                ours += t
                theirs += backend.anchor(shop, lo, hi, 3)
                scans += backend.scan(shop, lo, hi, 1)
            o, a, s = (statistics.median(x) for x in (ours, theirs, scans))
            expected = backend.totals(shop, lo, hi)
            if (body["orders"], body["revenue_cents"]) != expected:
                sys.exit(f"bench/report: the report counted {body['orders']} orders, "
                         f"{body['revenue_cents']} cents; the database has {expected}")
            log(f"   {label} ({body['orders']:,} orders, revenue {body['revenue_cents'] / 100:,.2f} EUR, "
                f"median ready {body['median_ready_seconds']:.0f} s):")
            log(f"     barista report (HTTP, JSON)   {ms(o)}")
            log(f"     anchor: the report in SQL     {ms(a)}   barista/anchor {o / a:.2f} (under 1: Barista is faster)")
            log(f"     the query with no index       {ms(s)}   scan/barista {s / o:.1f}x")
        log(f"   server peak RSS {server.peak_rss_mb():.0f} MB")
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--barista", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", help="a PostgreSQL URL (omit to measure SQLite only)")
    args = parser.parse_args()
    WORK = args.work
    run(Sqlite(args.work), args.barista, args.orders, args.rounds)
    if args.postgres:
        run(Postgres(args.postgres, args.work), args.barista, args.orders, args.rounds)
