// Many real socket.io-client sessions in one process: the cluster tests' room members and the
// load of the broadcast benchmark (the same script drives our gateway and the Node peer).
//   node sio-load.mjs <url> <token|-> <room|-> <clients> [websocket|polling]
// Opens <clients> sessions (100 handshakes in flight at a time), each joins <room> with
// `__join_room_up__` (acked; none for "-"), then prints {"step":"ready","clients","ms"}.
// Counts every `news` event. Commands on stdin, one per line:
//   count          -> {"step":"count","total","min","max","per":[...]} (per-session counts)
//   wait <N>       -> {"step":"done","total","ms"} once N events arrived (ms: from the first)
//   cpu            -> {"step":"cpu","user_us","system_us"} of this process
//   exit           -> closes every session and exits
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, token, room, n, transport = "websocket"] = process.argv.slice(2);
const clients = Number(n);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const counts = new Array(clients).fill(0);
const sockets = [];
let total = 0;
let first = 0;
let waiting = null;

function check() {
  if (waiting && total >= waiting.n) {
    out({ step: "done", total, ms: Date.now() - first });
    waiting = null;
  }
}

function open(i) {
  return new Promise((resolve, reject) => {
    const s = io(url, {
      transports: [transport],
      auth: token === "-" ? {} : { token },
      reconnection: false,
      forceNew: true,
      timeout: 20000,
    });
    sockets[i] = s;
    s.on("news", () => {
      if (total === 0) first = Date.now();
      counts[i] += 1;
      total += 1;
      check();
    });
    s.once("connect_error", (e) => reject(new Error(`session ${i}: ${e.message}`)));
    s.once("connect", () => {
      if (room === "-") return resolve();
      s.timeout(20000).emit("__join_room_up__", { reqId: `j${i}`, room }, (err, res) => {
        if (err) return reject(new Error(`session ${i}: join timed out`));
        const r = JSON.parse(res);
        if (r.code !== 200) return reject(new Error(`session ${i}: join refused ${res}`));
        resolve();
      });
    });
  });
}

const t0 = Date.now();
try {
  for (let i = 0; i < clients; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(i + 100, clients); j++) batch.push(open(j));
    await Promise.all(batch);
  }
} catch (e) {
  out({ step: "error", message: e.message });
  process.exit(1);
}
out({ step: "ready", clients, ms: Date.now() - t0 });

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === "count") {
    out({ step: "count", total, min: Math.min(...counts), max: Math.max(...counts), per: counts });
  } else if (cmd === "wait") {
    waiting = { n: Number(arg) };
    check();
  } else if (cmd === "cpu") {
    const u = process.cpuUsage();
    out({ step: "cpu", user_us: u.user, system_us: u.system });
  } else if (cmd === "exit") {
    for (const s of sockets) s.disconnect();
    setTimeout(() => process.exit(0), 200);
  }
});
rl.on("close", () => process.exit(0));
