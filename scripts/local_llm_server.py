#!/usr/bin/env python3
"""Serve a GGUF model over an OpenAI-compatible HTTP API on 127.0.0.1.

Runs llama.cpp's own HTTP server through the `xllamacpp` wheel (set up by
`scripts/setup-local-llm`). Endpoints: `/health`, `/v1/models`, `/v1/chat/completions`
(with `response_format` `json_object` and `json_schema`).

The process keeps serving until it gets SIGTERM or SIGINT, or until its parent process
exits: a watchdog thread polls the parent pid, so a server started by a program that is
killed (even with SIGKILL) does not stay behind.

Example:
    .venv/bin/python scripts/local_llm_server.py \
        --model .cache/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf --port 8080
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="path of the GGUF model file")
    parser.add_argument("--port", required=True, type=int, help="TCP port to listen on, on 127.0.0.1")
    parser.add_argument(
        "--alias",
        default="local",
        help="model name that clients send in the `model` field (default: local)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for generation and prompt processing (default: 1, the fastest "
        "setting measured on a 2-core machine that also runs other work)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="number of requests served at once; the context is split between them (default: 1)",
    )
    parser.add_argument(
        "--ctx-size",
        type=int,
        default=4096,
        help="context length in tokens, shared by the parallel slots (default: 4096)",
    )
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="exit when this process is no longer the parent (default: the parent at start)",
    )
    return parser.parse_args(argv)


def watch_parent(parent_pid: int, stop: threading.Event) -> None:
    """Set `stop` once the parent pid changes, which happens when the parent exits."""
    while not stop.is_set():
        if os.getppid() != parent_pid:
            print(f"local_llm_server: parent {parent_pid} exited, stopping", file=sys.stderr, flush=True)
            stop.set()
            return
        stop.wait(0.5)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not args.model.is_file():
        print(
            f"local_llm_server: model file {args.model} not found; run scripts/setup-local-llm",
            file=sys.stderr,
        )
        return 2
    if args.threads < 1 or args.parallel < 1 or args.ctx_size < 256:
        print(
            "local_llm_server: --threads and --parallel must be at least 1 and --ctx-size at least 256",
            file=sys.stderr,
        )
        return 2

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(args.model)
    params.n_ctx = args.ctx_size
    params.n_parallel = args.parallel
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    # xllamacpp accepts only a set here.
    params.model_alias = {args.alias}
    params.use_jinja = True

    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        print(f"local_llm_server: got signal {signum}, stopping", file=sys.stderr, flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    parent_pid = args.parent_pid if args.parent_pid is not None else os.getppid()
    threading.Thread(target=watch_parent, args=(parent_pid, stop), daemon=True).start()

    started = time.monotonic()
    server = xllamacpp.Server(params)
    print(
        f"local_llm_server: serving {args.model.name} as '{args.alias}' on "
        f"http://127.0.0.1:{args.port} ({args.threads} threads, {args.parallel} slots, "
        f"started in {time.monotonic() - started:.1f} s)",
        file=sys.stderr,
        flush=True,
    )

    # The main thread sleeps in short waits so that Python can run the signal handlers.
    while not stop.wait(0.2):
        pass
    del server
    print("local_llm_server: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
