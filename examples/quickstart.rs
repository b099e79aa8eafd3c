//! Traces a small prompt pipeline, sends feedback backward from two outputs, and prints the
//! summary an LLM optimizer would read.
//!
//! Run with `cargo run --example quickstart`.

use opto::trace::{BackwardOptions, Feedback, Node, Summary, backward, ops};

fn main() -> anyhow::Result<()> {
    let template = Node::parameter("template", "Question: {question}\nAnswer:");
    let questions = ["How many legs does a spider have?", "What is 7 * 6?"];

    let mut outputs = Vec::new();
    for question in questions {
        let question = Node::input("question", question);
        let prompt = ops::format(&template, &[("question", &question)]);
        let length = prompt.len();
        outputs.push((length, Feedback::from(format!("the prompt for {question} should ask for one word"))));
    }

    backward(&outputs, &BackwardOptions::default())?;
    let summary = Summary::of(std::slice::from_ref(&template));

    println!("#Code");
    for line in summary.code_lines() {
        println!("{line}");
    }
    println!("\n#Variables");
    for entry in &summary.variables {
        println!("{}", entry.render());
    }
    println!("\n#Feedback\n{}", summary.feedback_text());
    Ok(())
}
