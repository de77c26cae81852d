// The token server from OpenAI's realtime WebRTC guide, as written there; changed only to the GA request
// shape and to read the upstream's address (a stub, in the bench) and its port from the environment.
import express from "express";

const app = express();
const apiKey = process.env.OPENAI_API_KEY;
const base = process.env.OPENAI_BASE_URL || "https://api.openai.com/v1";
const sessionConfig = JSON.stringify({
  session: { type: "realtime", model: "gpt-realtime", audio: { output: { voice: "marin" } } },
});

app.use(express.text({ type: ["application/sdp", "text/plain"] }));

// An ephemeral key for the browser.
app.get("/token", async (req, res) => {
  try {
    const response = await fetch(`${base}/realtime/client_secrets`, {
      method: "POST",
      headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" },
      body: sessionConfig,
    });
    const data = await response.json();
    res.json(data);
  } catch (error) {
    console.error("Token generation error:", error);
    res.status(500).json({ error: "Failed to generate token" });
  }
});

// The unified interface: the browser's SDP offer, relayed with the server's key.
app.post("/session", async (req, res) => {
  const fd = new FormData();
  fd.set("sdp", req.body);
  fd.set("session", JSON.stringify(JSON.parse(sessionConfig).session));
  try {
    const r = await fetch(`${base}/realtime/calls`, {
      method: "POST",
      headers: { Authorization: `Bearer ${apiKey}` },
      body: fd,
    });
    const sdp = await r.text();
    res.send(sdp);
  } catch (error) {
    console.error("Session error:", error);
    res.status(500).json({ error: "Failed to create session" });
  }
});

app.listen(Number(process.env.PORT || 3000));
