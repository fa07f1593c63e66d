// A real socket.io-client session against the gateway under test. Usage:
//   node socketio-client.mjs <url> <token|-> <websocket|polling>
// Prints one JSON object per line: what happened, in order. The Rust test reads them
// (testkit::socketio) and acts on the server (pushes `news`) once it sees "ready".
import { io } from "socket.io-client";

const [url, token, transport] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const socket = io(url, {
  transports: [transport],
  auth: token === "-" ? {} : { token },
  reconnection: false,
  timeout: 5000,
});
const ask = (event, payload) =>
  new Promise((resolve) => socket.timeout(5000).emit(event, payload, (err, res) => resolve(err ? { timeout: true } : JSON.parse(res))));
const down = () => new Promise((resolve) => socket.once("__down__", (res) => resolve(JSON.parse(res))));

socket.on("connect_error", (e) => {
  out({ step: "connect_error", message: e.message });
  process.exit(0);
});
socket.on("__stat_down__", (s) => out({ step: "stat", stat: JSON.parse(s) }));
socket.on("news", (d) => {
  out({ step: "news", down: JSON.parse(d) });
  socket.disconnect();
  // long-polling sends the disconnect packet in a request of its own: let it leave
  setTimeout(() => process.exit(0), 300);
});
socket.on("connect", async () => {
  out({ step: "connected", transport: socket.io.engine.transport.name });
  out({ step: "join_ack", res: await ask("__join_room_up__", { reqId: "j1", room: "r1" }) });
  const d = down();
  socket.emit("__join_room_up__", JSON.stringify({ reqId: "j2", room: "r2" }));
  out({ step: "join_down", res: await d });
  out({ step: "join_refused", res: await ask("__join_room_up__", { reqId: "j3", room: "forbidden" }) });
  out({ step: "join_invalid", res: await ask("__join_room_up__", { reqId: "j4" }) });
  out({ step: "not_json", res: await ask("__join_room_up__", "{oops") });
  out({ step: "leave", res: await ask("__leave_room_up__", { reqId: "l1", room: "r2" }) });
  out({ step: "rooms", res: await ask("__rooms_page_up__", { reqId: "p1", pageSize: 2 }) });
  out({ step: "up", res: await ask("__up__", { reqId: "u1", payload: { q: 1 } }) });
  out({ step: "ready" });
});
