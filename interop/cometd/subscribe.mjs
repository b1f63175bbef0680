// Subscribes to a Salesforce-style streaming channel with the official
// CometD JavaScript client (run in Node by cometd-nodejs-client), the way
// Salesforce's own samples and jsforce do: Authorization header on every
// request, long-polling only, and the replay extension on /meta/subscribe.
//
// Environment:
//   COMETD_URL  e.g. http://127.0.0.1:8080/cometd/62.0   (required)
//   TOKEN       access token, sent as "Authorization: Bearer <TOKEN>" (required)
//   CHANNEL     e.g. /event/BillingObjectChange__e       (required)
//   REPLAY      replay id, -1 (new) or -2 (all retained); default -1
//   EXPECT      number of events to receive before exiting 0; default 1
//   TIMEOUT_MS  give up (exit 1) after this long; default 15000
//
// Prints one JSON line per step to stdout: {"step":"subscribed"} once the
// subscription is confirmed, then {"step":"event","message":{...}} per event.
import { adapt } from "cometd-nodejs-client";
import { CometD } from "cometd";

adapt();

const need = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`missing ${name}`);
    process.exit(2);
  }
  return v;
};
const url = need("COMETD_URL");
const token = need("TOKEN");
const channel = need("CHANNEL");
const replay = Number(process.env.REPLAY ?? "-1");
const expect = Number(process.env.EXPECT ?? "1");
const timeoutMs = Number(process.env.TIMEOUT_MS ?? "15000");

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const fail = (why) => {
  console.error(`interop failed: ${why}`);
  process.exit(1);
};
setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs).unref();

const cometd = new CometD();
// Salesforce speaks long-polling only.
cometd.unregisterTransport("websocket");
cometd.unregisterTransport("callback-polling");
cometd.configure({
  url,
  requestHeaders: { Authorization: `Bearer ${token}` },
  logLevel: process.env.COMETD_LOG ?? "warn",
});

// The replay extension, as in Salesforce's cometdReplayExtension and
// jsforce's StreamingExtension.Replay: enabled only when the handshake
// reply says ext.replay == true.
let replayEnabled = false;
let lastReplay = replay;
cometd.registerExtension("replay", {
  incoming(message) {
    if (message.channel === "/meta/handshake") {
      replayEnabled = !!(message.ext && message.ext.replay === true);
    } else if (message.channel === channel && message.data && message.data.event) {
      lastReplay = message.data.event.replayId;
    }
    return message;
  },
  outgoing(message) {
    if (message.channel === "/meta/subscribe" && replayEnabled) {
      message.ext = message.ext || {};
      message.ext.replay = { [channel]: lastReplay };
    }
    return message;
  },
});

let received = 0;
cometd.handshake((reply) => {
  if (!reply.successful) {
    fail(`handshake: ${JSON.stringify(reply)}`);
  }
  if (!replayEnabled) {
    fail("handshake reply did not enable the replay extension");
  }
  cometd.subscribe(
    channel,
    (message) => {
      out({ step: "event", message });
      if (++received >= expect) {
        cometd.disconnect(() => process.exit(0));
        setTimeout(() => process.exit(0), 2000).unref();
      }
    },
    (sub) => {
      if (!sub.successful) {
        fail(`subscribe: ${JSON.stringify(sub)}`);
      }
      out({ step: "subscribed" });
    },
  );
});
