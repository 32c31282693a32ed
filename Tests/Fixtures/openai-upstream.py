#!/usr/bin/env python3
"""A scripted OpenAI-compatible upstream for the chat proxy tests (Tests/ReplyGuardCLITests/ChatProxyTests).

The request body's `x_script` says what to answer (the proxy forwards the body unchanged):
  {"json": {...}}                      a JSON completion
  {"body": "<base64>"}                 a JSON completion given as its bytes (a key twice, say)
  {"writes": ["<base64>", ...], "end": "ok"|"drop", "delay": seconds}
                                       a text/event-stream body, each write sent and flushed on its own
                                       (any split of the bytes), then the chunked body ended or the
                                       connection dropped
  {"status": 500}                      an error status
  {"writes": [...], "gate": "NAME"}    waits before the last write until GET /control/open/NAME (at most
                                       20 s), so a client can tell what it received before the end
GET /control/state: {"requests": n, "broken": n (writes that failed: the client went away),
                     "gates": {NAME: "opened" | "timed out"}}.
Prints its port on stdout, then serves until killed."""
import base64
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

state = {"requests": 0, "broken": 0, "auth": [], "gates": {}}
lock = threading.Lock()
gates = {}


def gate(name):
    with lock:
        return gates.setdefault(name, threading.Event())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/control/open/"):
            gate(self.path[len("/control/open/"):]).set()
        with lock:
            body = json.dumps(state).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length))
        script = request.get("x_script", {})
        with lock:
            state["requests"] += 1
            state["auth"].append(self.headers.get("Authorization"))
        if "status" in script:
            body = b'{"error":{"message":"upstream trouble"}}'
            self.send_response(script["status"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if "json" in script or "body" in script:
            body = base64.b64decode(script["body"]) if "body" in script else json.dumps(script["json"], ensure_ascii=script.get("ascii", True)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        try:
            writes = script.get("writes", [])
            for k, write in enumerate(writes):
                if script.get("gate") and k == len(writes) - 1:
                    opened = gate(script["gate"]).wait(20)
                    with lock:
                        state["gates"][script["gate"]] = "opened" if opened else "timed out"
                data = base64.b64decode(write)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                if script.get("delay"):
                    time.sleep(script["delay"])
            if script.get("end", "ok") == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            with lock:
                state["broken"] += 1
            self.close_connection = True


def exit_when_stdin_closes():
    """With --exit-when-stdin-closes (the Swift tests): exit once standard input closes, when the test
    process ends however it ends, so no fixture outlives a test run."""
    sys.stdin.buffer.read()
    os._exit(0)


if "--exit-when-stdin-closes" in sys.argv[1:]:
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
