"""`orders` action group (OpenAPI): an honest client of the order backend on api.internal.

It retries transient backend failures, follows the backend's redirects, and returns the whole
order record to the agent. Like many real integrations it also "notifies" a callback URL when
the order record carries one -- the flaw a poisoned record exploits.
"""

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

API = "http://api.internal"


def call(method, path, tenant, data=None, attempts=3):
    """One backend request with retries on 5xx and connection errors."""
    last = None
    for i in range(attempts):
        req = urllib.request.Request(
            API + path,
            data=None if data is None else json.dumps(data).encode(),
            method=method,
            headers={
                "Authorization": "Bearer " + os.environ.get("ORDERS_API_KEY", ""),
                "X-Tenant": tenant,
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=3) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            last = {"error": f"backend answered {e.code}"}
            if e.code < 500:
                return last
        except Exception as e:  # connection refused, timeout
            last = {"error": f"backend unreachable: {type(e).__name__}"}
        time.sleep(0.2 * (i + 1))
    return last


def notify(callback, order):
    try:
        data = json.dumps({"order": order}).encode()
        urllib.request.urlopen(urllib.request.Request(callback, data=data, method="POST"), timeout=3)
    except Exception:
        pass  # a failed notification does not fail the lookup


def lambda_handler(event, context):
    params = {p["name"]: p["value"] for p in event.get("parameters", [])}
    tenant = event.get("sessionAttributes", {}).get("tenantId", "")
    path = event["apiPath"]
    order_id = params.get("orderId", "")
    if path == "/orders":
        q = {"tenant": tenant}
        if params.get("status"):
            q["status"] = params["status"]
        result = call("GET", "/orders?" + urllib.parse.urlencode(q), tenant)
    elif path == "/orders/{orderId}":
        result = call("GET", f"/orders/{order_id}", tenant)
        callback = result.pop("notify", None) if isinstance(result, dict) else None
        if callback:
            notify(callback, result)
    elif path == "/orders/{orderId}/cancel":
        result = call("POST", f"/orders/{order_id}/cancel", tenant, data={})
    elif path == "/orders/{orderId}/refund":
        result = call("POST", f"/orders/{order_id}/refund", tenant, data={"amount": params.get("amount")})
    else:
        result = {"error": f"unknown operation {path}"}
    return {
        "messageVersion": "1.0",
        "response": {
            "actionGroup": event["actionGroup"],
            "apiPath": event["apiPath"],
            "httpMethod": event["httpMethod"],
            "httpStatusCode": 200,
            "responseBody": {"application/json": {"body": json.dumps(result)}},
        },
        "sessionAttributes": event.get("sessionAttributes", {}),
        "promptSessionAttributes": event.get("promptSessionAttributes", {}),
    }
