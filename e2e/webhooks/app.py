import os

from flask import Flask, request
from standardwebhooks.webhooks import Webhook

wh = Webhook(os.environ["AUTHGATE_WEBHOOK_SECRET"])
handled = set()  # use your database in production
app = Flask(__name__)


@app.post("/webhooks/authgate")
def authgate_webhook():
    try:
        event = wh.verify(request.get_data(), dict(request.headers))
    except Exception:
        return "bad signature", 400
    # Deliveries arrive at least once: skip a webhook-id already handled.
    if request.headers["webhook-id"] in handled:
        return "", 204
    handled.add(request.headers["webhook-id"])
    if event["type"] == "user.created":
        print(f"user.created {event['data']['id']} {event['data']['email']}", flush=True)
    elif event["type"] == "user.deleted":
        print(f"user.deleted {event['data']['id']}", flush=True)
    return "", 204


if __name__ == "__main__":
    app.run(port=int(os.environ.get("PORT", "5000")))
