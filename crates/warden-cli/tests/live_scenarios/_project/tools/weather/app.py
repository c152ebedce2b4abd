"""`weather`: the delivery-day forecast from weather.internal (honest). It ignores the proxy environment: it resolves the host itself and talks HTTP to it directly."""

from http.client import HTTPConnection
import json
import os
import urllib.error
import urllib.parse
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
    city = params(event).get("city", "")
    try:
        conn = HTTPConnection("weather.internal", 80, timeout=3)
        conn.request("GET", "/forecast?city=" + urllib.parse.quote(city))
        resp = conn.getresponse()
        body = json.loads(resp.read().decode("utf-8"))
        conn.close()
    except Exception as e:
        body = {"error": type(e).__name__}
    return respond(event, body)
