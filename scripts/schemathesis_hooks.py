"""schemathesis hooks for scripts/fuzz-api (loaded through SCHEMATHESIS_HOOKS).

What a valid order is depends on state no schema can describe: its item ids
must be on the shop's menu (the schema gives their pattern), and an
`Idempotency-Key` sent before with another body is refused (422, as the IETF
draft says). So valid generated orders would nearly all be refused, and the
server's ordering logic would go untested. For positive cases only, this
names the demo shop's items for well-formed item ids and derives a given key
from the body, so the same body replays and another one gets its own key.
Negative cases are left exactly as generated.

The operator's routes that end a shop as the fuzzer knows it (deleting it,
suspending it, replacing its staff key) are sent to a spare shop instead of
the demo shop, so the rest of the run still finds the demo shop as it was; the
spare is created through the admin API when first needed, again after a
delete, and resumed after a suspension. The staff's own key replacement goes
to another spare, which fuzz-api creates, with that shop's key (the header
comes from the configuration, which outranks any a hook sets): the first
replacement works, and later ones, with the key now replaced, are 401.
"""
import hashlib
import json
import os
import re
import sys

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
def before_call(ctx, case, kwargs):
    """Every call, in every phase, of an operation that would end the demo
    shop goes to a spare shop instead (positive ones too, so they succeed)."""
    operation = _operation_id(case)
    params = case.path_parameters or {}
    if not (params.get("shop") == "demo" or _positive(case)):
        return
    if operation == "replaceStaffKey":
        params["shop"] = os.environ.get("BARISTA_FUZZ_KEY_SHOP", "no-spare-shop")
    elif operation in ENDING:
        # Never the demo shop: without a spare, a shop that does not exist.
        params["shop"] = _spare(case) or "no-spare-shop"
    else:
        return
    case.path_parameters = params


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


def _call(case, method, path, body, key):
    """A call beside the fuzzed ones: its answer's JSON body, or None."""
    import urllib.request
    base = os.environ.get("BARISTA_FUZZ_BASE") or case.operation.base_url or ""
    request = urllib.request.Request(
        base.rstrip("/") + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read()
            return json.loads(text) if text else {}
    except Exception:  # the next case shows what is wrong, if anything is
        return None


def _staff_call(case, method, path, body):
    """A call of the demo shop's staff, to undo what a fuzzed case changed."""
    return _call(case, method, path, body, os.environ.get("BARISTA_FUZZ_STAFF_KEY", ""))


def _admin_call(case, method, path, body):
    return _call(case, method, path, body, os.environ.get("BARISTA_ADMIN_TOKEN", ""))


# Operations that would end the demo shop for the rest of the run.
ENDING = {"deleteShop", "patchShop", "adminReplaceStaffKey"}
SPARE = {"slug": None, "made": 0}


def _operation_id(case):
    try:
        return case.operation.definition.raw.get("operationId")
    except AttributeError:
        return None


def _spare(case):
    """The spare shop's slug, created when there is none."""
    if SPARE["slug"] is None:
        SPARE["made"] += 1
        slug = f"fuzz-spare-{os.getpid()}-{SPARE['made']}"
        made = _admin_call(case, "POST", "/v1/shops", {"slug": slug, "name": "Spare", "currency": "EUR"})
        if made and made.get("staff_key"):
            SPARE["slug"] = slug
        else:
            print(f"fuzz hooks: could not create the spare shop {slug}", file=sys.stderr)
    return SPARE["slug"]


@schemathesis.hook
def after_call(ctx, case, response):
    """A pause, closing hours or an 86 that a case set would refuse every later
    order, and then placeOrder would never be reached: each is undone at once,
    after the route answered (and was checked). On the spare shop: a
    suspension undone, a delete forgotten."""
    if not 200 <= response.status_code < 300:
        return
    path = case.formatted_path
    operation = _operation_id(case)
    if operation in ENDING and (case.path_parameters or {}).get("shop") == SPARE["slug"]:
        if operation == "deleteShop":
            SPARE["slug"] = None
        elif operation == "patchShop":
            _admin_call(case, "PATCH", path, {"suspended": False})
        return
    if case.method.upper() == "PUT" and path.endswith("/pause"):
        _staff_call(case, "DELETE", path, None)
    elif case.method.upper() == "PUT" and path.endswith("/hours"):
        _staff_call(case, "PUT", path, {"time_zone": "UTC"})
    elif case.method.upper() == "PATCH" and "/menu/modifiers/" in path:
        _staff_call(case, "PATCH", path, {"available": True})
