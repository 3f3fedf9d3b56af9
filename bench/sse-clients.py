#!/usr/bin/env python3
"""N customers following one order over Server-Sent Events (used by bench/sse-fanout).

Opens N streams on one order and waits until every one has its first event
(the current state), then says `open` on stdout and waits for a line on stdin.
On that line it claims the order as staff and times, for every stream, how
long after the claim was sent its `brewing` event arrived. Prints one JSON
line of results. Only the standard library; loopback only; bounded in time.

    sse-clients.py HOST PORT SHOP ORDER_ID STAFF_KEY N
"""
import asyncio
import json
import sys
import time

HOST, PORT, SHOP, ORDER, KEY, N = sys.argv[1:7]
N = int(N)
PATH = f"/v1/shops/{SHOP}/orders/{ORDER}/events"
REQUEST = (f"GET {PATH} HTTP/1.1\r\nhost: {HOST}\r\naccept: text/event-stream\r\n\r\n").encode()
OPEN_TIMEOUT = 120
EVENT_TIMEOUT = 30
RETRIES = 30


async def stream(opened, claimed, seen, failures, retries):
    for _ in range(RETRIES):
        try:
            reader, writer = await asyncio.open_connection(HOST, int(PORT))
        except OSError as e:
            failures.append(f"connect: {e}")
            opened.release()
            return
        writer.write(REQUEST)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (OSError, asyncio.IncompleteReadError) as e:
            failures.append(f"head: {e}")
            opened.release()
            writer.close()
            return
        if not head.startswith(b"HTTP/1.1 503"):
            break
        # Shed while thousands connect at once: retry after Retry-After, as a client should.
        retries.append(1)
        writer.close()
        wait = 1.0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"retry-after:"):
                wait = float(line.split(b":", 1)[1])
        await asyncio.sleep(wait)
    try:
        if not head.startswith(b"HTTP/1.1 200"):
            failures.append(head.split(b"\r\n", 1)[0].decode())
            opened.release()
            return
        buffer = b""
        first = True
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                failures.append("closed")
                break
            buffer += chunk
            if first and b"\"status\":\"placed\"" in buffer:
                first = False
                buffer = b""
                opened.release()
            if b"\"status\":\"brewing\"" in buffer:
                seen.append(time.monotonic() - claimed["at"])
                break
    except (OSError, asyncio.IncompleteReadError) as e:
        failures.append(f"read: {e}")
        opened.release()
    finally:
        writer.close()


async def claim():
    reader, writer = await asyncio.open_connection(HOST, int(PORT))
    body = b"{}"
    writer.write(
        (f"POST /v1/shops/{SHOP}/queue/claim HTTP/1.1\r\nhost: {HOST}\r\n"
         f"authorization: Bearer {KEY}\r\ncontent-type: application/json\r\n"
         f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body)
    status = (await reader.readline()).decode().strip()
    writer.close()
    return status


async def main():
    opened = asyncio.Semaphore(0)
    claimed = {"at": 0.0}
    seen, failures, retries = [], [], []
    tasks = []
    started = time.monotonic()
    for i in range(N):
        tasks.append(asyncio.create_task(stream(opened, claimed, seen, failures, retries)))
        if i % 500 == 499:
            await asyncio.sleep(0.05)  # do not overrun the listen backlog
    for _ in range(N):
        await asyncio.wait_for(opened.acquire(), OPEN_TIMEOUT)
    open_s = time.monotonic() - started
    print("open", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    claimed["at"] = time.monotonic()
    status = await claim()
    await asyncio.wait(tasks, timeout=EVENT_TIMEOUT)
    seen.sort()
    within = sum(1 for s in seen if s <= 1.0)
    print(json.dumps({
        "streams": N, "opened_in_s": round(open_s, 2), "claim": status,
        "saw_change": len(seen), "within_1s": within,
        "p50_ms": round(seen[len(seen) // 2] * 1000, 1) if seen else None,
        "max_ms": round(seen[-1] * 1000, 1) if seen else None,
        "retried_503": len(retries), "failures": len(failures), "first_failures": failures[:3],
    }), flush=True)
    for t in tasks:
        t.cancel()


asyncio.run(main())
