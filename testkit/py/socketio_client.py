"""A real python-socketio client session against the gateway under test, the Python twin of
socketio-client.mjs. Usage: python3 socketio_client.py <url> <token|-> <websocket|polling>

Prints one JSON object per line (the same steps as the Node client); the Rust test
(testkit::socketio) reads them and pushes `news` once it sees "ready" after a `__stat_down__`.
"""

import json
import sys
import threading

import socketio

url, token, transport = sys.argv[1:4]
done = threading.Event()


def out(o):
    sys.stdout.write(json.dumps(o, ensure_ascii=False) + "\n")
    sys.stdout.flush()


sio = socketio.Client(reconnection=False)


@sio.on("__stat_down__")
def stat(s):
    out({"step": "stat", "stat": json.loads(s)})


@sio.on("news")
def news(d):
    out({"step": "news", "down": json.loads(d)})
    done.set()


def ask(event, payload):
    try:
        return json.loads(sio.call(event, payload, timeout=5))
    except socketio.exceptions.TimeoutError:
        return {"timeout": True}


def down_after(event, payload):
    got = threading.Event()
    box = {}

    def on_down(r):
        box["res"] = json.loads(r)
        got.set()

    sio.on("__down__", on_down)
    sio.emit(event, payload)
    got.wait(5)
    return box.get("res", {"timeout": True})


try:
    sio.connect(url, auth=None if token == "-" else {"token": token}, transports=[transport], wait_timeout=5)
except socketio.exceptions.ConnectionError as e:
    out({"step": "connect_error", "message": str(e)})
    sys.exit(0)
out({"step": "connected", "transport": sio.transport()})
out({"step": "join_ack", "res": ask("__join_room_up__", {"reqId": "j1", "room": "r1"})})
out({"step": "join_down", "res": down_after("__join_room_up__", json.dumps({"reqId": "j2", "room": "r2"}))})
out({"step": "join_refused", "res": ask("__join_room_up__", {"reqId": "j3", "room": "forbidden"})})
out({"step": "join_invalid", "res": ask("__join_room_up__", {"reqId": "j4"})})
out({"step": "not_json", "res": ask("__join_room_up__", "{oops")})
out({"step": "leave", "res": ask("__leave_room_up__", {"reqId": "l1", "room": "r2"})})
out({"step": "rooms", "res": ask("__rooms_page_up__", {"reqId": "p1", "pageSize": 2})})
out({"step": "up", "res": ask("__up__", {"reqId": "u1", "payload": {"q": 1}})})
out({"step": "ready"})
done.wait(20)
sio.disconnect()
