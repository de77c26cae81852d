// A stand-in for the Realtime API's two HTTP endpoints, answering at once or after STUB_DELAY_MS:
// client_secrets (a JSON ek_ secret) and calls (an SDP answer with the call id in Location). No
// dependencies: node's own http module, so the stub costs the contenders as little CPU as possible.
import crypto from "node:crypto";
import http from "node:http";

const delay = Number(process.env.STUB_DELAY_MS || 0);
const answer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" + "a=x:y\r\n".repeat(60);
let n = 0;

function reply(req, res) {
  n += 1;
  if (req.url.endsWith("/realtime/client_secrets")) {
    const now = Math.floor(Date.now() / 1000);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({
      value: `ek_${crypto.randomBytes(18).toString("hex")}`,
      expires_at: now + 600,
      session: { type: "realtime", object: "realtime.session", id: `sess_${n}`, model: "gpt-realtime",
        output_modalities: ["audio"], audio: { output: { voice: "marin" } } },
    }));
  } else if (req.url.endsWith("/hangup")) {
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{}");
  } else if (req.url.endsWith("/realtime/calls")) {
    res.writeHead(201, { "content-type": "application/sdp", location: `/v1/realtime/calls/rtc_stub${n}` });
    res.end(answer);
  } else {
    res.writeHead(404, { "content-type": "application/json" });
    res.end('{"error":{"type":"invalid_request_error","code":"not_found","message":"no such path","param":null}}');
  }
}

const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => (delay ? setTimeout(reply, delay, req, res) : reply(req, res)));
});
// A relayed call's sideband (/realtime?call_id=): accepted once, then closed normally at once; asked
// again, the call is gone (404). So each relayed call costs the gateway its whole life (attach, end)
// within the run, and no call outlives it.
const attached = new Set();
server.on("upgrade", (req, socket) => {
  socket.on("error", () => {});
  const callId = new URL(req.url, "http://stub").searchParams.get("call_id");
  if (attached.has(callId)) {
    socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    return;
  }
  attached.add(callId);
  const accept = crypto.createHash("sha1")
    .update(req.headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
  socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
  socket.end(Buffer.from([0x88, 0x02, 0x03, 0xe8]));
});
server.listen(Number(process.env.PORT || 3001), "127.0.0.1");
