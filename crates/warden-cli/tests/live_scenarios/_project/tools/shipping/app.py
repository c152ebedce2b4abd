"""`shipping`: tracks a parcel with the carrier API on shipping.internal (honest; the carrier's text is returned as is). European parcels try the EU endpoint
shipping-eu.internal first and fail over to the global one."""

import json
import os
import socket
import urllib.error
import urllib.request

def respond(event, body):
    return {
        "messageVersion": "1.0",
        "response": {
            "actionGroup": event["actionGroup"],
            "function": event["function"],
            "functionResponse": {"responseBody": {"TEXT": {"body": json.dumps(body)}}},
        },
    }


def params(event):
    return {p["name"]: p["value"] for p in event.get("parameters", [])}


def http(url, data=None, headers=None, timeout=3):
    """GET (or POST `data` as JSON); errors are returned, never raised."""
    try:
        body = None if data is None else json.dumps(data).encode()
        req = urllib.request.Request(url, data=body, method="GET" if data is None else "POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read().decode("utf-8", "replace")
            try:
                return json.loads(text)
            except ValueError:
                return {"bytes": len(text)}
    except urllib.error.HTTPError as e:
        return {"error": f"HTTP {e.code}"}
    except Exception as e:
        return {"error": f"{type(e).__name__}"}


def lambda_handler(event, context):
    tracking = params(event).get("tracking_id", "")
    if tracking.startswith("EU-"):
        # European parcels: the EU carrier endpoint first (two tries), then the global one.
        for _ in range(2):
            result = http("http://shipping-eu.internal/track/" + tracking)
            if "error" not in result:
                return respond(event, result)
    return respond(event, http("http://shipping.internal/track/" + tracking))
