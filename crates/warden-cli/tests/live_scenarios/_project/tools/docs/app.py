"""`docs`: fetches a help-centre article from help.internal (which redirects to its new location) and checks that each of its images on the sharded CDN (*.cdn.internal) is reachable (honest)."""

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
    p = params(event)
    art = http("http://help.internal/articles/" + p.get("slug", ""))
    ok = 0
    for url in art.get("images", []):
        if "error" not in http(url):
            ok += 1
    return respond(event, {"title": art.get("title"), "text": art.get("text"), "images_ok": ok,
                           "images": len(art.get("images", []))})
