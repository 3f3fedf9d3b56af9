"""schemathesis hooks for scripts/fuzz-api (loaded through SCHEMATHESIS_HOOKS).

What a valid order is depends on state no schema can describe: its item ids
must be on the shop's menu (the schema gives their pattern), and an
`Idempotency-Key` sent before with another body is refused (422, as the IETF
draft says). So valid generated orders would nearly all be refused, and the
server's ordering logic would go untested. For positive cases only, this
names the demo shop's items for well-formed item ids and derives a given key
from the body, so the same body replays and another one gets its own key.
Negative cases are left exactly as generated.
"""
import hashlib
import json
import os
import re

import schemathesis
from schemathesis import GenerationMode

ITEM = re.compile(r"^[a-z0-9-]{1,40}$")
# The demo menu's items without a stock limit. Lines past these keep their
# generated ids (the rule that an item appears in one line only is the server's).
DEMO_ITEMS = ["espresso", "flat-white", "cappuccino", "latte", "earl-grey", "green-tea", "croissant"]


def _positive(case):
    meta = getattr(case, "meta", None)
    return meta is None or meta.generation.mode == GenerationMode.POSITIVE


@schemathesis.hook
def map_case(ctx, case):
    body = case.body
    # Signing in: positive cases use the demo shop's real key (fuzz-api exports it),
    # so the session route is exercised past its 401.
    if _positive(case) and isinstance(body, dict) and isinstance(body.get("staff_key"), str):
        body["staff_key"] = os.environ.get("BARISTA_FUZZ_STAFF_KEY", body["staff_key"])
    if not _positive(case) or not isinstance(body, dict) or not isinstance(body.get("lines"), list):
        return case
    for line, item in zip(body["lines"], DEMO_ITEMS):
        if isinstance(line, dict) and isinstance(line.get("item_id"), str) and ITEM.match(line["item_id"]):
            line["item_id"] = item
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key":
            digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
            headers[name] = "st-" + digest[:24]
    return case


def _staff_call(case, method, path, body):
    """A call of the demo shop's staff, to undo what a fuzzed case changed."""
    import urllib.request
    base = case.operation.base_url or ""
    key = os.environ.get("BARISTA_FUZZ_STAFF_KEY", "")
    request = urllib.request.Request(
        base.rstrip("/") + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=5).read()
    except Exception:  # the next case shows what is wrong, if anything is
        pass


@schemathesis.hook
def after_call(ctx, case, response):
    """A pause, closing hours or an 86 that a case set would refuse every later
    order, and then placeOrder would never be reached: each is undone at once,
    after the route answered (and was checked)."""
    if not 200 <= response.status_code < 300:
        return
    path = case.formatted_path
    if case.method.upper() == "PUT" and path.endswith("/pause"):
        _staff_call(case, "DELETE", path, None)
    elif case.method.upper() == "PUT" and path.endswith("/hours"):
        _staff_call(case, "PUT", path, {"time_zone": "UTC"})
    elif case.method.upper() == "PATCH" and "/menu/modifiers/" in path:
        _staff_call(case, "PATCH", path, {"available": True})
