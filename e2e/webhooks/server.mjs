import express from "express";
import { Webhook } from "standardwebhooks";

const wh = new Webhook(process.env.AUTHGATE_WEBHOOK_SECRET);
const handled = new Set(); // use your database in production
const app = express();

app.post("/webhooks/authgate", express.raw({ type: "application/json" }), (req, res) => {
  let event;
  try {
    event = wh.verify(req.body.toString("utf8"), req.headers);
  } catch {
    return res.status(400).send("bad signature");
  }
  // Deliveries arrive at least once: skip a webhook-id already handled.
  const id = req.headers["webhook-id"];
  if (handled.has(id)) return res.sendStatus(204);
  handled.add(id);
  switch (event.type) {
    case "user.created":
      console.log(`user.created ${event.data.id} ${event.data.email}`);
      break;
    case "user.deleted":
      console.log(`user.deleted ${event.data.id}`);
      break;
  }
  res.sendStatus(204);
});

app.listen(Number(process.env.PORT ?? 3000));
