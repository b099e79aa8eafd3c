#!/usr/bin/env python3
"""A mock OpenAI-compatible chat server on 127.0.0.1 with a fixed latency and canned replies.

Used by `scripts/bench-reference` so that the Rust and the Python optimizers see the same
endpoint. Every POST to /v1/chat/completions (or /chat/completions) waits `--latency-ms`,
then answers:

- an optimizer request (its messages contain `#Variables`): a JSON object whose
  `suggestion` sets every variable key listed in the #Variables section (and in a closing
  "keys to update" list, if any) to `--new-value`;
- any other request: the text `--answer`.

Each request is served on its own thread, so concurrent clients see the latency once, not
once per queued request. The server binds 127.0.0.1 only, prints `ready PORT` on stdout
when listening, and stops after `--lifetime-s` seconds or on SIGTERM.
"""

import argparse
import json
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VARIABLE_LINE = re.compile(r"^\(([^)]*)\)\s+([A-Za-z_][\w:]*)=", re.MULTILINE)


def variable_keys(text):
    """The keys of the #Variables sections of an OptoPrime prompt, in order."""
    keys = []
    for section in re.findall(r"^#Variables[ \t]*\n(.*?)(?=^#|\Z)", text, re.MULTILINE | re.DOTALL):
        for match in VARIABLE_LINE.finditer(section):
            if match.group(2) not in keys:
                keys.append(match.group(2))
    return keys


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes. With Nagle's algorithm on, the body waits for
    # the client's delayed ACK on a kept-alive connection (up to 40 ms on Linux).
    disable_nagle_algorithm = True
    settings = None
    counter = 0
    lock = threading.Lock()

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": "mock", "object": "model"}]}).encode()
        self.reply(200, body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            request = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self.reply(400, b'{"error": {"message": "the body is not JSON"}}')
            return
        time.sleep(self.settings.latency_ms / 1000.0)
        text = "\n".join(str(m.get("content", "")) for m in request.get("messages", []))
        keys = variable_keys(text)
        if keys:
            content = json.dumps(
                {
                    "reasoning": "The prompt should ask for the number only.",
                    "answer": "",
                    "suggestion": {key: self.settings.new_value for key in keys},
                }
            )
        else:
            content = self.settings.answer
        with Handler.lock:
            Handler.counter += 1
            number = Handler.counter
        body = json.dumps(
            {
                "id": f"chatcmpl-mock-{number}",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": request.get("model", "mock"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {
                    "prompt_tokens": len(text) // 4,
                    "completion_tokens": len(content) // 4,
                    "total_tokens": (len(text) + len(content)) // 4,
                },
            }
        ).encode()
        self.reply(200, body)

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--answer", default="4")
    parser.add_argument("--new-value", default="Q: {question} Answer with a number only. A:")
    parser.add_argument("--lifetime-s", type=float, default=3600.0)
    args = parser.parse_args()

    Handler.settings = args
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    timer = threading.Timer(args.lifetime_s, server.shutdown)
    timer.daemon = True
    timer.start()
    print(f"ready {server.server_address[1]}", flush=True)
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
