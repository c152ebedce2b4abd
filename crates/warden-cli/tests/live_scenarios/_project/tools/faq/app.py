"""`faq`: answers store-policy questions from the policies bundled with the handler; it makes no network connection at all (honest)."""

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


POLICIES = {
    "returns": "Items can be returned within 30 days of delivery for a full refund.",
    "shipping": "Standard shipping takes 3-5 business days; express takes 1-2.",
    "warranty": "Electronics carry a two-year limited warranty.",
}


def lambda_handler(event, context):
    topic = params(event).get("topic", "").lower()
    return respond(event, {"topic": topic, "policy": POLICIES.get(topic, "No such policy.")})
