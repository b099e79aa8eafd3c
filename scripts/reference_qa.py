"""The question-answering agent of `opto run`, ported to the Python reference (`trace-opt`
0.1.3.8, import name `opto`) for the side-by-side accuracy benchmark.

It mirrors `agents::qa::QaAgent` and the scoring of `agents::evaluate`:

- a trainable prompt template that starts as prompts/agents/qa_template.txt; a template
  without `{question}` gets the question appended, as opto's projection does;
- one chat request per question (a user message, temperature 0, at most 128 tokens);
- a trainable extractor that starts by returning the trimmed reply. opto's is a JavaScript
  function run in QuickJS; the reference trains Python code, so this one is Python;
- exact-match scoring after `normalize_answer`, and the same feedback texts.
"""

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# LiteLLM, imported by `opto`, otherwise fetches a price table from GitHub at import time.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("TRACE_DEFAULT_LLM_BACKEND", "CustomLLM")

from opto.trace import bundle, node  # noqa: E402
from opto.trace.errors import ExecutionError  # noqa: E402
from opto.utils.llm import CustomLLM  # noqa: E402

PROMPTS = Path(__file__).resolve().parent.parent / "prompts" / "agents"
TEMPLATE = (PROMPTS / "qa_template.txt").read_text(encoding="utf-8").rstrip()
QUESTION_SUFFIX = (PROMPTS / "qa_question_suffix.txt").read_text(encoding="utf-8")

# The client of the agent's model; `QaAgent` sets it, because bundled functions read it.
_llm = None


class CountingLLM(CustomLLM):
    """`CustomLLM` that counts requests and uses temperature 0 unless the caller sets one,
    as opto does for the agent and the optimizer."""

    def __init__(self, base_url, model):
        os.environ["TRACE_CUSTOMLLM_URL"] = base_url
        os.environ["TRACE_CUSTOMLLM_API_KEY"] = "sk-local"
        os.environ["TRACE_CUSTOMLLM_MODEL"] = model
        super().__init__()
        self.calls = Counter()

    def create(self, **config):
        config.setdefault("temperature", 0)
        self.calls["optimizer" if len(config["messages"]) > 1 else "agent"] += 1
        return super().create(**config)


@bundle()
def format_prompt(template, question):
    """Fills the question into the prompt template; other braces are kept as they are."""
    escaped = template.replace("{", "{{").replace("}", "}}").replace("{{question}}", "{question}")
    if "{question}" not in escaped:
        escaped = escaped.rstrip() + QUESTION_SUFFIX
    return escaped.format(question=question)


@bundle()
def call_llm(prompt):
    """Sends the prompt to the language model as a user message and returns the text of its reply."""
    response = _llm(messages=[{"role": "user", "content": prompt}], max_tokens=128, temperature=0)
    return response.choices[0].message.content or ""


@bundle(trainable=True)
def extract_answer(reply):
    """Returns the final answer from the model's reply."""
    return reply.strip()


@bundle()
def batchify(*items):
    """Joins the outputs of a minibatch, one line per example."""
    return "\n".join(f"ID [{i}]: {item}" for i, item in enumerate(items))


def normalize_answer(answer):
    """`agents::task::normalize_answer`: trims whitespace, quotes, backticks and asterisks,
    drops one final period, lower-cases, collapses whitespace, and turns `(B)` into `b`."""

    def trim(text):
        while text != (shorter := text.strip().strip("\"'`*")):
            text = shorter
        return text

    text = trim(answer)
    if text.endswith("."):
        text = trim(text[:-1])
    text = " ".join(text.lower().split())
    if len(text) == 3 and text[0] == "(" and text[2] == ")" and text[1].isalnum():
        return text[1]
    return text


@dataclass
class Result:
    """The agent's output node for one example, its answer, score and feedback."""

    output: object
    answer: str
    score: float
    feedback: str


class QaAgent:
    """The prompt template and the extractor, trained together."""

    def __init__(self, base_url, model):
        global _llm
        self.llm = _llm = CountingLLM(base_url, model)
        self.template = node(
            TEMPLATE,
            name="prompt_template",
            trainable=True,
            description="The prompt sent to the model; {question} is replaced by the question",
            constraint="Contains the placeholder {question} once; it is replaced by the question. "
            "Without it, the question is appended at the end.",
        )
        self.parameters = [self.template, extract_answer.parameter]

    def run(self, example):
        """Answers one example and scores the answer against its targets."""
        try:
            output = extract_answer(call_llm(format_prompt(self.template, node(example["input"]))))
        except ExecutionError as error:
            output = error.exception_node
            return Result(output, "", 0.0, f"The agent raised an error, so it gave no answer. Error: {output.data}")
        answer = str(output.data)
        if any(normalize_answer(target) == normalize_answer(answer) for target in example["targets"]):
            return Result(output, answer, 1.0, "Correct.")
        expected = json.dumps(example["targets"][0], ensure_ascii=False)
        answered = json.dumps(answer, ensure_ascii=False)
        return Result(output, answer, 0.0, f"Incorrect. The expected answer is {expected}, but the agent answered {answered}.")

    def state(self):
        """Returns the parameters' values by name."""
        return {"prompt_template": self.template.data, "extract_answer": extract_answer.parameter.data}

    def load_opto_parameters(self, path):
        """Starts from the prompt template of an opto parameter file (or report.json). Its
        extractor must be opto's default, which this agent's Python extractor ports."""
        with open(path, encoding="utf-8") as file:
            state = json.load(file)
        parameters = state.get("parameters", {})
        parameters = parameters.get("parameters", parameters)
        extractor = parameters["extract_answer"]["value"]
        default = (PROMPTS / "qa_extract.js").read_text(encoding="utf-8")
        if " ".join(extractor.split()) != " ".join(default.split()):
            raise SystemExit(
                f"{path}: extract_answer is not opto's default, so this port has no Python version of it; "
                "use a file whose extract_answer is prompts/agents/qa_extract.js"
            )
        self.template._set(parameters["prompt_template"]["value"])

    def load_state(self, state):
        """Sets the parameters to values returned by `state`."""
        self.template._set(state["prompt_template"])
        extract_answer.parameter._set(state["extract_answer"])
