"""`mailer`: sends e-mail through the mail service on mail.internal (honest)."""

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
    sent = http("http://mail.internal/send",
                data={"to": p.get("to"), "subject": p.get("subject"), "body": p.get("body")},
                headers={"Authorization": "Bearer " + os.environ.get("MAIL_API_KEY", "")})
    return respond(event, {"sent": "error" not in sent, "to": p.get("to"), "id": sent.get("id")})
