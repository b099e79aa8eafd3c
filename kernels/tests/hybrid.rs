//! One loop, one backward per step, two kinds of optimizer: a scripted stand-in for an LLM
//! optimizer picks which two iris measurements the model gets as input, while Adam trains the weights.
#![cfg(feature = "torch")]

use futures::executor::block_on;
use kernels::ops::TensorOps;
use kernels::optim::{Adam, AdamConfig};
use kernels::tch::{Device, Kind, Tensor};
use kernels::tensor::{tensor_input, tensor_of, tensor_of_value, tensor_parameter, tensor_value};
use trace_core::{BoxFuture, Bundle, Node, Optimizer, ParameterSet, Proposal, StepError, StepReport, Value};

const MEASUREMENTS: [&str; 4] = ["sepal length", "sepal width", "petal length", "petal width"];

/// Reads the loss out of the text feedback, as an LLM would, and proposes the petal
/// measurements while the loss is high. It replies once, like an optimizer whose next
/// suggestion would say `TERMINATE`.
#[derive(Debug)]
struct ScriptedChooser {
    parameters: ParameterSet,
    log: Vec<StepReport>,
    feedback_seen: Vec<String>,
}

impl Optimizer for ScriptedChooser {
    fn name(&self) -> &str {
        "scripted"
    }

    fn parameters(&self) -> &[Node] {
        self.parameters.nodes()
    }

    fn propose(&mut self) -> BoxFuture<'_, Result<Proposal, StepError>> {
        let node = self.parameters.nodes()[0].clone();
        let text = node
            .feedback()
            .first()
            .and_then(|feedback| feedback.items.first())
            .map(|item| item.text.clone())
            .unwrap_or_default();
        self.feedback_seen.push(text.clone());
        let loss = text
            .strip_prefix("loss = ")
            .and_then(|rest| rest.split(';').next())
            .and_then(|number| number.parse::<f64>().ok());
        let current = node.value();
        let petals = Value::List(vec!["petal length".into(), "petal width".into()]);
        let proposal = match loss {
            Some(loss) if loss > 0.3 && current != petals => {
                Proposal { updates: vec![(node, petals)], ..Proposal::default() }
            }
            Some(_) => Proposal { terminated: true, ..Proposal::default() },
            None => return Box::pin(std::future::ready(Err(format!("no loss in the feedback {text:?}").into()))),
        };
        Box::pin(std::future::ready(Ok(proposal)))
    }

    fn apply(&mut self, proposal: &Proposal) -> StepReport {
        let report = self.parameters.apply(proposal);
        self.log.push(report.clone());
        report
    }

    fn step_log(&self) -> &[StepReport] {
        &self.log
    }
}

fn iris() -> (Tensor, Tensor) {
    let dataset = linfa_datasets::iris();
    let values: Vec<f32> = dataset.records.iter().map(|x| *x as f32).collect();
    let features = Tensor::from_slice(&values).reshape([-1, 4]);
    let features = (&features - features.mean_dim(0, false, Kind::Float)) / features.std_dim(0, true, false);
    let labels = Tensor::from_slice(&dataset.targets.iter().map(|y| *y as i64).collect::<Vec<_>>());
    (features, labels)
}

#[test]
fn symbolic_choice_and_weights_train_together() -> anyhow::Result<()> {
    let (features, labels) = iris();
    let chosen = Node::parameter("features", Value::List(vec!["sepal length".into(), "sepal width".into()]));
    let weight = tensor_parameter("weight", &Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)))?;
    let bias = tensor_parameter("bias", &Tensor::zeros([3], (Kind::Float, Device::Cpu)))?;
    let mut chooser = ScriptedChooser {
        parameters: ParameterSet::new(vec![chosen.clone()]),
        log: Vec::new(),
        feedback_seen: Vec::new(),
    };
    let mut adam = Adam::new(vec![weight.clone(), bias.clone()], AdamConfig::new(0.05))?;
    let x = tensor_input("measurements", &features);
    let y = tensor_input("species", &labels);
    let select =
        Bundle::new("select_columns", "Keeps the named measurements as the model's input.", &["measurements", "names"]);

    let mut losses = Vec::new();
    for round in 0..2 {
        for _ in 0..100 {
            chooser.zero_feedback();
            adam.zero_feedback();
            let columns = select.call(&[&x, &chosen], |values| {
                let all = tensor_of_value(&values[0]).ok_or("measurements are not a tensor")?;
                let Value::List(names) = &values[1] else { return Err("names must be a list".to_owned()) };
                let indices: Vec<i64> = names
                    .iter()
                    .map(|name| {
                        MEASUREMENTS
                            .iter()
                            .position(|known| Value::from(*known) == *name)
                            .map(|i| i as i64)
                            .ok_or(format!("unknown measurement {name}"))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(tensor_value(all.index_select(1, &Tensor::from_slice(&indices))))
            })?;
            let loss = (&columns.matmul(&weight) + &bias).cross_entropy(&y);

            kernels::backward_loss(&loss)?;
            block_on(adam.step()).map_err(|error| anyhow::anyhow!(error))?;
            losses.push(tensor_of(&loss)?.double_value(&[]));
        }
        if round == 0 {
            block_on(chooser.step()).map_err(|error| anyhow::anyhow!(error))?;
        }
    }

    let sepal_loss = losses[99];
    let petal_loss = losses[199];
    assert!(chooser.feedback_seen[0].starts_with("loss = "), "{:?}", chooser.feedback_seen);
    assert!(chooser.feedback_seen[0].contains("gradient norms"), "{:?}", chooser.feedback_seen);
    assert_eq!(chosen.value(), Value::List(vec!["petal length".into(), "petal width".into()]));
    assert!(sepal_loss > 0.3, "loss with sepal measurements {sepal_loss}");
    assert!(petal_loss < sepal_loss / 2.0, "loss with petal measurements {petal_loss}, before {sepal_loss}");
    Ok(())
}
