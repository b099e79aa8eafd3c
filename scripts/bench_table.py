#!/usr/bin/env python3
"""Prints the results of `scripts/bench-reference` (JSON Lines) as Markdown tables with
the Python / Rust ratios, using the newest row of each case.

Usage: scripts/bench_table.py [RESULTS.jsonl]"""

import json
import sys


def seconds(value):
    if value is None:
        return "-"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e6:.1f} µs"


def ratio(python, rust):
    if python is None or rust in (None, 0):
        return "-"
    return f"{python / rust:,.0f}x" if python / rust >= 10 else f"{python / rust:.1f}x"


def mib(value):
    return "-" if value is None else f"{value / 2**20:,.0f} MiB"


def main(path):
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]

    def find(system, case, **fields):
        # The newest matching row, because the runner appends to the file.
        for row in reversed(rows):
            if row["system"] == system and row.get("case") == case:
                args = row.get("args", "").split()
                ok = True
                for name, value in fields.items():
                    if name in row:
                        ok &= row[name] == value
                    elif name == "shape":
                        ok &= bool(args) and args[0] == value
                    elif name == "size":
                        ok &= len(args) > 1 and args[1] == str(value)
                    elif name == "steps":
                        ok &= len(args) > 1 and args[1] == str(value)
                if ok:
                    return row
        return {}

    print("| shape | operators | construct rust | construct python | ratio | backward rust | backward python | ratio | summary rust | summary python | peak RSS rust | peak RSS python | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for shape in ("chain", "tree"):
        for size in (1000, 10000, 100000):
            r, p = find("rust", "graph", shape=shape, size=size), find("python", "graph", shape=shape, size=size)
            if not r and not p:
                continue
            backward_p = seconds(p.get("backward_s")) if "backward_s" in p else p.get("failed", "-")
            print(
                f"| {shape} | {size:,} | {seconds(r.get('construct_s'))} | {seconds(p.get('construct_s'))} | "
                f"{ratio(p.get('construct_s'), r.get('construct_s'))} | {seconds(r.get('backward_s'))} | {backward_p} | "
                f"{ratio(p.get('backward_s'), r.get('backward_s'))} | {seconds(r.get('summary_s'))} | "
                f"{seconds(p.get('summary_s')) if 'summary_s' in p else '-'} | {mib(r.get('peak_rss_bytes'))} | "
                f"{mib(p.get('peak_rss_bytes'))} | {r.get('load', '-')} / {p.get('load', '-')} |"
            )
    print()
    print("| shape | operators | prompt rust | prompt python | ratio | tokens rust | tokens python | load |")
    print("|---|---|---|---|---|---|---|---|")
    for shape in ("chain", "tree"):
        for size in (10, 100, 1000):
            r, p = find("rust", "prompt", shape=shape, size=size), find("python", "prompt", shape=shape, size=size)
            if not r and not p:
                continue
            print(
                f"| {shape} | {size:,} | {seconds(r.get('prompt_s_median'))} | "
                f"{seconds(p.get('prompt_s_median')) if 'prompt_s_median' in p else p.get('failed', '-')} | "
                f"{ratio(p.get('prompt_s_median'), r.get('prompt_s_median'))} | {r.get('prompt_tokens_estimate', '-'):,} | "
                f"{p.get('prompt_tokens_estimate', '-'):,} | {r.get('load', '-')} / {p.get('load', '-')} |"
            )
    print()
    print("| steps x batch | rust | python | ratio | LLM calls rust / python | load |")
    print("|---|---|---|---|---|---|")
    for steps in (1, 10):
        r = next((x for x in reversed(rows) if x["system"] == "rust" and x.get("case") == "step" and x.get("steps") == steps), {})
        p = next((x for x in reversed(rows) if x["system"] == "python" and x.get("case") == "step" and x.get("steps") == steps), {})
        if not r and not p:
            continue
        print(
            f"| {steps} x {r.get('batch', p.get('batch', '-'))} | {seconds(r.get('total_s'))} | "
            f"{seconds(p.get('total_s')) if 'total_s' in p else p.get('failed', '-')} | "
            f"{ratio(p.get('total_s'), r.get('total_s'))} | {r.get('llm_calls', '-')} / {p.get('llm_calls', '-')} | "
            f"{r.get('load', '-')} / {p.get('load', '-')} |"
        )
    print()
    for row in rows:
        if row.get("case") == "mlp":
            print(f"| mlp {row.get('shape')} | {row['system']} | {seconds(row.get('step_s_median'))} | load {row.get('load')} |")
    accuracy_table(rows)


def percent(scores, split):
    return "-" if not scores else f"{scores[split] * 100:.0f}%"


def accuracy_table(rows):
    """Prints workload 5: the newest row of each system, task and seed, then each task's
    mean test accuracy after optimization with the range over seeds."""
    newest = {}
    for row in rows:
        if row.get("case") == "accuracy" and "task" in row:
            newest[(row["task"], row["seed"], row["system"])] = row
    if not newest:
        return

    print()
    print("| task | seed | system | test before | test after | validation before | validation after | updates kept | LLM requests | wall |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (task, seed, system), row in sorted(newest.items()):
        steps = row.get("steps", [])
        kept_updates = sum(1 for step in steps if step.get("updated") and not step.get("reverted"))

        calls = row.get("llm_calls")
        if isinstance(calls, dict):
            calls = sum(calls.values())
        if row.get("cached_calls"):
            calls = f"{calls} (+{row['cached_calls']} cached)"
        stop = (row.get("stop") or {}).get("kind", "completed")
        after = percent(row.get("after"), "test") if stop == "completed" else f"stopped: {stop}"
        print(
            f"| {task} | {seed} | {system} | {percent(row.get('before'), 'test')} | {after} | "
            f"{percent(row.get('before'), 'validation')} | {percent(row.get('after'), 'validation')} | "
            f"{kept_updates} of {len(steps)} | {calls} | {row.get('wall_s', 0):.0f} s |"
        )

    print()
    print("| task | system | mean test after | range over seeds | seeds |")
    print("|---|---|---|---|---|")
    tasks = sorted({(task, system) for task, _, system in newest})
    for task, system in tasks:
        scores = [
            row["after"]["test"]
            for (row_task, _, row_system), row in sorted(newest.items())
            if row_task == task and row_system == system and row.get("after")
        ]
        if scores:
            mean = sum(scores) / len(scores)
            print(f"| {task} | {system} | {mean * 100:.1f}% | {min(scores) * 100:.0f}% to {max(scores) * 100:.0f}% | {len(scores)} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".cache/bench-reference/results.jsonl")
