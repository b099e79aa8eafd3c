#!/usr/bin/env python3
"""The Python side of the side-by-side benchmarks: runs one case through the reference
(`trace-opt` 0.1.3.8, import name `opto`) and prints one JSON object on stdout.

Each case mirrors a case of `examples/reference_bench.rs`:

- `graph SHAPE SIZE`: a chain (`x + 1 + 1 ...`) or a balanced binary tree of additions with
  SIZE operators, then `backward` with the default GraphPropagator, then OptoPrime's
  `summarize`. Prints the seconds of each phase and the peak resident size.
- `prompt SHAPE SIZE REPEATS`: the same graph, then the median time of
  `summarize` plus `construct_prompt` (the prompt OptoPrime sends) and its length.
- `step BASE_URL STEPS BATCH`: optimization steps of a one-parameter prompt template,
  evaluating BATCH questions one after the other through a traced LLM call, one backward
  from the joined outputs, and one OptoPrime step, against the mock server at BASE_URL.
- `mlp SHAPE REPEATS`: one training step of a two-layer perceptron (`iris` 120x4-64-3 or
  `mnist-like` 128x784-256-10) in PyTorch with Adam, the median over REPEATS steps after
  warm-up (needs `torch` in the venv).
- `accuracy SPLITS BASE_URL MODEL [START]`: the question-answering agent of `opto run`,
  ported in `reference_qa.py`, optimized with OptoPrime on the examples and minibatches
  that `opto split` wrote to the file SPLITS, against the OpenAI-compatible server at
  BASE_URL; test accuracy before and after. START is an opto parameter file whose prompt
  template the agent starts from, as `opto run --parameters START` does.

`scripts/bench-reference` runs each case in its own process under a time and memory limit.
"""

import json
import os
import resource
import statistics
import sys
import time

# LiteLLM, imported by `opto`, otherwise fetches a price table from GitHub at import time.
# Nothing in these benchmarks may reach a host other than 127.0.0.1.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("TRACE_DEFAULT_LLM_BACKEND", "CustomLLM")

def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def build(shape, size):
    from opto.trace import node

    if shape == "chain":
        x = node(0, trainable=True)
        one = node(1)
        out = x
        for _ in range(size):
            out = out + one
        return [x], out
    if shape == "tree":
        leaves = [node(i, trainable=True) for i in range(size + 1)]
        level = leaves
        while len(level) > 1:
            level = [level[i] + level[i + 1] if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
        return leaves, level[0]
    raise SystemExit(f"unknown shape {shape!r}; use chain or tree")


def unused_llm():
    """Creates a client for a closed port on 127.0.0.1, because prompt building never calls it."""
    os.environ.setdefault("TRACE_CUSTOMLLM_URL", "http://127.0.0.1:9/v1")
    os.environ.setdefault("TRACE_CUSTOMLLM_API_KEY", "sk-unused")
    os.environ.setdefault("TRACE_CUSTOMLLM_MODEL", "unused")
    from opto.utils.llm import CustomLLM

    return CustomLLM()


def report_progress(progress, every_s=5.0):
    """Prints `progress` with the peak resident size so far as a partial line every
    `every_s` seconds, from a daemon thread, so that a case killed by the time or memory
    limit still leaves its phase times and its peak behind."""
    import threading

    started = time.perf_counter()

    def loop():
        while True:
            time.sleep(every_s)
            line = dict(progress, partial=True, peak_rss_bytes=peak_rss_bytes())
            line["elapsed_s"] = time.perf_counter() - started
            print(json.dumps(line), flush=True)

    threading.Thread(target=loop, daemon=True).start()


def graph_case(shape, size):
    from opto.optimizers import OptoPrime

    progress = {"phase": "construct"}
    report_progress(progress)
    started = time.perf_counter()
    parameters, out = build(shape, size)
    progress.update(construct_s=time.perf_counter() - started, phase="backward")
    construct = progress["construct_s"]

    started = time.perf_counter()
    out.backward("feedback", retain_graph=False)
    backward = time.perf_counter() - started
    progress.update(backward_s=backward, phase="summary")

    optimizer = OptoPrime(parameters, llm=unused_llm())
    started = time.perf_counter()
    optimizer.summarize()
    summary = time.perf_counter() - started
    return {
        "system": "python",
        "case": "graph",
        "shape": shape,
        "size": size,
        "construct_s": construct,
        "backward_s": backward,
        "summary_s": summary,
        "peak_rss_bytes": peak_rss_bytes(),
    }


def prompt_case(shape, size, repeats):
    from opto.optimizers import OptoPrime

    parameters, out = build(shape, size)
    out.backward("The output should be larger.", retain_graph=False)
    optimizer = OptoPrime(parameters, llm=unused_llm())
    times = []
    characters = 0
    for _ in range(max(repeats, 1)):
        started = time.perf_counter()
        summary = optimizer.summarize()
        system_prompt, user_prompt = optimizer.construct_prompt(summary)
        system_prompt = optimizer.replace_symbols(system_prompt, optimizer.prompt_symbols)
        user_prompt = optimizer.replace_symbols(user_prompt, optimizer.prompt_symbols)
        times.append(time.perf_counter() - started)
        characters = len(system_prompt) + len(user_prompt)
    return {
        "system": "python",
        "case": "prompt",
        "shape": shape,
        "size": size,
        "prompt_s_median": statistics.median(times),
        "repeats": max(repeats, 1),
        "prompt_chars": characters,
        "prompt_tokens_estimate": characters // 4,
    }


QUESTIONS = 64


def step_case(base_url, steps, batch):
    os.environ["TRACE_CUSTOMLLM_URL"] = base_url
    os.environ["TRACE_CUSTOMLLM_API_KEY"] = "sk-mock"
    os.environ["TRACE_CUSTOMLLM_MODEL"] = "mock"
    import reference_qa  # beside this script, which Python puts first on sys.path
    from opto.optimizers import OptoPrime
    from opto.trace import bundle, node
    from opto.utils.llm import CustomLLM

    llm = CustomLLM()

    @bundle()
    def format_prompt(template, question):
        """Fills the question into the prompt template."""
        return template.format(question=question)

    @bundle()
    def call_llm(prompt):
        """Sends the prompt to the language model as a user message and returns the text of its reply."""
        response = llm(messages=[{"role": "user", "content": prompt}], max_tokens=16, temperature=0)
        return response.choices[0].message.content

    template = node("Q: {question} A:", trainable=True, description="the prompt template")
    optimizer = OptoPrime([template], llm=llm)
    step_seconds = []
    llm_calls = 0
    started = time.perf_counter()
    for step in range(steps):
        step_started = time.perf_counter()
        optimizer.zero_feedback()
        outputs = []
        for index in range(batch):
            number = (step * batch + index) % QUESTIONS
            question = node(f"How many apples are in {number} baskets of one?")
            answer = call_llm(format_prompt(template, question))
            llm_calls += 1
            correct = str(answer.data).strip() == str(number)
            outputs.append((answer, "correct" if correct else f"expected {number}, got {answer.data}"))
        # The reference asserts that every output sharing a parameter has the same user
        # feedback, so the minibatch is joined into one node with one combined feedback.
        batch_output = reference_qa.batchify(*[answer for answer, _ in outputs])
        batch_feedback = "\n".join(f"ID [{i}]: {feedback}" for i, (_, feedback) in enumerate(outputs))
        optimizer.backward(batch_output, batch_feedback)
        optimizer.step()
        llm_calls += 1
        step_seconds.append(time.perf_counter() - step_started)
    return {
        "system": "python",
        "case": "step",
        "steps": steps,
        "batch": batch,
        "total_s": time.perf_counter() - started,
        "step_s": step_seconds,
        "llm_calls": llm_calls,
        "final_template": str(template.data),
    }


MLP_SHAPES = {
    "iris": (120, 4, 64, 3),
    "mnist-like": (128, 784, 256, 10),
}


def mlp_case(shape, repeats):
    """Forward, cross-entropy, backward and an Adam step (lr 1e-3) of a two-layer
    perceptron, as `kernels/benches/mlp.rs` does in Rust, on one libtorch thread.

    PyPI's torch wheel links the CUDA libraries. `scripts/bench-reference` puts empty
    stand-ins for the missing ones on LD_LIBRARY_PATH, so with lazy binding the CPU path
    loads without them."""
    sys.setdlopenflags(os.RTLD_LAZY | os.RTLD_GLOBAL)
    import torch

    batch, inputs, hidden, classes = MLP_SHAPES[shape]
    torch.manual_seed(1)
    torch.set_num_threads(1)
    x = torch.randn(batch, inputs)
    y = torch.randint(0, classes, (batch,))
    model = torch.nn.Sequential(torch.nn.Linear(inputs, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(50):
        step()
    times = []
    for _ in range(max(repeats, 1)):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return {
        "system": "python",
        "case": "mlp",
        "shape": shape,
        "variant": "pytorch_adam",
        "repeats": max(repeats, 1),
        "step_s_median": statistics.median(times),
        "torch_version": torch.__version__,
    }


def accuracy_case(splits_path, base_url, model, start_path=None):
    """Trains the question-answering agent of scripts/reference_qa.py with OptoPrime as
    `opto run` trains opto's agent. Each step takes one minibatch from the splits file, runs
    one backward and one optimizer step, then validation reverts the parameters when its
    score drops."""
    with open(splits_path, encoding="utf-8") as file:
        splits = json.load(file)
    if splits["metric"] != "exact_match":
        raise SystemExit(
            f"the accuracy case supports only exact_match tasks, but {splits['task']} uses {splits['metric']}; "
            "use a task such as object_counting or word_sorting"
        )

    import reference_qa  # beside this script, which Python puts first on sys.path
    from opto.optimizers import OptoPrime

    agent = reference_qa.QaAgent(base_url, model)
    if start_path:
        agent.load_opto_parameters(start_path)
    # opto's settings for its optimizer: 1024 reply tokens, no memory (temperature 0 is
    # set by the agent's client).
    optimizer = OptoPrime(agent.parameters, llm=agent.llm, max_tokens=1024)
    examples = {example["id"]: example for split in ("train", "validation", "test") for example in splits[split]}

    def score(split):
        results = [agent.run(example) for example in splits[split]]
        return sum(result.score for result in results) / max(len(results), 1)

    started = time.perf_counter()
    before = {"validation": score("validation"), "test": score("test")}
    best_validation = before["validation"]
    best = agent.state()
    steps = []
    for step, ids in enumerate(splits["minibatches"]):
        optimizer.zero_feedback()
        results = [agent.run(examples[example_id]) for example_id in ids]
        # The reference asserts that outputs sharing a parameter get the same feedback, so
        # the minibatch is joined into one node with the feedback of each example.
        batch_output = reference_qa.batchify(*[result.output for result in results])
        batch_feedback = "\n".join(f"ID [{i}]: {result.feedback}" for i, result in enumerate(results))
        optimizer.backward(batch_output, batch_feedback)
        error, logged, before_step = None, len(optimizer.log), agent.state()
        try:
            optimizer.step()
        except Exception as exception:  # recorded like a failed step in opto's report
            error = f"{type(exception).__name__}: {exception}"
        updated = sorted(name for name, value in agent.state().items() if value != before_step[name])
        optimizer.zero_feedback()
        validation = score("validation")
        reverted = validation < best_validation
        if reverted:
            agent.load_state(best)
        else:
            best_validation, best = validation, agent.state()
        steps.append(
            {
                "step": step,
                "train_score": sum(result.score for result in results) / max(len(results), 1),
                "validation_score": validation,
                "reverted": reverted,
                "updated": updated,
                "error": error,
                "reply": optimizer.log[-1]["response"][:2000] if len(optimizer.log) > logged else None,
            }
        )
    agent.load_state(best)
    after = {"validation": best_validation, "test": score("test")}
    return {
        "system": "python",
        "case": "accuracy",
        "task": splits["task"],
        "seed": splits["seed"],
        "before": before,
        "after": after,
        "steps": steps,
        "llm_calls": dict(agent.llm.calls),
        "wall_s": time.perf_counter() - started,
        "parameters": agent.state(),
    }


def main(argv):
    if not argv:
        raise SystemExit("usage: reference_bench.py graph|prompt|step|mlp|accuracy ARGS...")
    case, args = argv[0], argv[1:]
    if case == "graph":
        result = graph_case(args[0], int(args[1]))
    elif case == "prompt":
        result = prompt_case(args[0], int(args[1]), int(args[2]))
    elif case == "step":
        result = step_case(args[0], int(args[1]), int(args[2]))
    elif case == "mlp":
        result = mlp_case(args[0], int(args[1]))
    elif case == "accuracy":
        result = accuracy_case(*args[:4])
    else:
        raise SystemExit(f"unknown case {case!r}; use graph, prompt, step, mlp or accuracy")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
