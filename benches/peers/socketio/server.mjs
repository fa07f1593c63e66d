// The peer of the gateway benchmark: a Node socket.io 4.8 server with default options that
// answers `__join_room_up__` as the gateway does (joins, acks {"code":200}) and broadcasts on
// command, with the same bytes on the wire as the gateway's SocketDown.
//   node server.mjs <port>
// stdin: "bcast <room> <count> <payload bytes>" -> emits <count> messages to <room>, yielding to
// the event loop after each, then prints {"step":"sent"}.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createInterface } from "node:readline";

const port = Number(process.argv[2]);
const http = createServer();
const io = new Server(http);
io.on("connection", (s) => {
  s.on("__join_room_up__", (d, ack) => {
    const req = typeof d === "string" ? JSON.parse(d) : d;
    s.join(req.room);
    if (typeof ack === "function") ack(JSON.stringify({ code: 200, msg: "success", reqId: req.reqId }));
  });
});
http.listen(port, "127.0.0.1", () => process.stdout.write(JSON.stringify({ step: "listening", port }) + "\n"));

createInterface({ input: process.stdin }).on("line", async (line) => {
  const [cmd, room, count, bytes] = line.trim().split(/\s+/);
  if (cmd !== "bcast") return;
  const payload = "x".repeat(Number(bytes));
  for (let i = 0; i < Number(count); i++) {
    io.to(room).emit("news", JSON.stringify({ event: "news", payload, reqId: `m${i}` }));
    await new Promise((r) => setImmediate(r));
  }
  process.stdout.write(JSON.stringify({ step: "sent" }) + "\n");
});
