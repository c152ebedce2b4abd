"""Lambda-style handler for the `orders` action group (OpenAPI schema).

Runs under the Lambda Runtime API (`python3 -m awslambdaric app.lambda_handler`): Warden hosts
the Runtime API, passes the Bedrock action-group event, and returns the response to the agent.
The handler reads the tenant only from the trusted session attributes Warden injects.
"""

import json
import os
import urllib.request

API = os.environ.get("ORDERS_API_URL", "http://api.internal")


def lambda_handler(event, context):
    params = {p["name"]: p["value"] for p in event.get("parameters", [])}
    order_id = params.get("orderId", "")
    tenant = event.get("sessionAttributes", {}).get("tenantId", "")
    req = urllib.request.Request(
        f"{API}/orders/{order_id}",
        headers={
            "Authorization": f"Bearer {os.environ.get('ORDERS_API_KEY', '')}",
            "X-Tenant": tenant,
        },
    )
    with urllib.request.urlopen(req, timeout=4) as resp:
        order = json.loads(resp.read().decode("utf-8"))
    body = json.dumps({"orderId": order_id, "status": order.get("status"), "eta": order.get("eta")})
    return {
        "messageVersion": "1.0",
        "response": {
            "actionGroup": event["actionGroup"],
            "apiPath": event["apiPath"],
            "httpMethod": event["httpMethod"],
            "httpStatusCode": 200,
            "responseBody": {"application/json": {"body": body}},
        },
        "sessionAttributes": event.get("sessionAttributes", {}),
        "promptSessionAttributes": event.get("promptSessionAttributes", {}),
    }
