//! Behaviour of trainable JavaScript code: traced calls, errors as exception nodes, limits,
//! the sandbox, signature constraints and concurrent use of one engine.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use trace_core::{
    CodeProjection, Engine, EngineConfig, JsFunction, Node, NodeKind, Parameter, ParameterSet, Proposal, Summary,
    Value, code_parameter,
};

fn engine() -> Engine {
    Engine::new().expect("engine starts")
}

/// Builds a code parameter without checking its source, as an optimizer could leave it.
fn unchecked_code(source: &str) -> Node {
    Parameter::new("__code", Value::Code(source.to_string())).build()
}

fn call_one(engine: &Engine, code: &Node, input: Value) -> Node {
    let function = JsFunction::new(engine, code).expect("code parses");
    function.call(&[&Node::input("x", input)]).expect("inputs match")
}

fn error_text(node: &Node) -> String {
    assert_eq!(node.kind(), NodeKind::Exception, "expected an exception, found value {:?}", node.value());
    node.error().unwrap_or_default().to_string()
}

fn propose(code: &Node, source: &str) -> Proposal {
    Proposal { updates: vec![(code.clone(), Value::Code(source.to_string()))], ..Proposal::default() }
}

/// Polls a future to completion on this thread, parking between polls.
fn block_on<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(),
        }
    }
}

#[test]
fn update_from_add_to_multiply_changes_output() {
    let engine = engine();
    let code = code_parameter("function f(x) { return x + 1; }").unwrap();
    let mut parameters = ParameterSet::new(vec![code.clone()]);
    parameters.add_projection(&code, Arc::new(CodeProjection));
    let before = call_one(&engine, &code, Value::Int(5));

    let report = parameters.apply(&propose(&code, "function f(x) { return x * 2; }"));
    let after = call_one(&engine, &code, Value::Int(5));

    assert_eq!(before.value(), Value::Int(6));
    assert_eq!(report.updates.len(), 1, "{report:?}");
    assert_eq!(after.value(), Value::Int(10));
}

#[test]
fn call_records_eval_node_with_code_parent() {
    let engine = engine();
    let code = code_parameter("function f(x) { return x + 1; }").unwrap();
    let x = Node::input("x", 1);

    let out = JsFunction::new(&engine, &code).unwrap().call(&[&x]).unwrap();

    assert_eq!(out.op_name(), Some("eval"));
    assert_eq!(out.parents(), [x.clone(), code.clone()]);
    assert_eq!(out.inputs().map(|(name, _)| name).collect::<Vec<_>>(), ["x", "__code"]);
    assert!(out.description().starts_with("[eval] Calls the JavaScript function `f`"), "{}", out.description());
}

#[test]
fn summary_shows_eval_line_and_source() {
    let engine = engine();
    let source = "function extract(answer, question) {\n  return answer.trim() + '?' + question;\n}";
    let code = code_parameter(source).unwrap();
    let answer = Node::input("answer", " 42 ");
    let question = Node::input("question", "why");

    let out = JsFunction::new(&engine, &code).unwrap().call(&[&answer, &question]).unwrap();
    out.backward("the answer should not end with a question").unwrap();
    let summary = Summary::of(std::slice::from_ref(&code));

    assert_eq!(out.value(), Value::from("42?why"));
    assert_eq!(
        summary.code.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [format!("{} = eval(answer={}, question={}, __code={})", out.key(), answer.key(), question.key(), code.key())]
    );
    assert_eq!(summary.variables.len(), 1);
    assert_eq!(summary.variables[0].render(), format!("(code) {}={source}", code.key()));
    assert_eq!(
        summary.variables[0].constraint.as_deref(),
        Some("The function must keep the name and signature: function extract(answer, question)")
    );
}

#[test]
fn syntax_error_becomes_exception_with_marked_line() {
    let engine = engine();
    let code = unchecked_code("function f(x) {\n  let y = x +;\n  return y;\n}");

    let out = call_one(&engine, &code, Value::Int(1));

    let text = error_text(&out);
    assert!(text.starts_with("SyntaxError: unexpected token in expression: ';' (line 2, column 14)\n"), "{text}");
    assert!(text.contains("\n>> 2 |   let y = x +;\n     |              ^\n"), "{text}");
    assert!(text.contains("   3 |   return y;\n"), "{text}");
    assert_eq!(out.parents().last(), Some(&code));
}

#[test]
fn thrown_error_becomes_exception_with_stack() {
    let engine = engine();
    let code =
        code_parameter("function f(x) {\n  if (x > 0) {\n    throw new Error('boom ' + x);\n  }\n  return x;\n}")
            .unwrap();

    let out = call_one(&engine, &code, Value::Int(3));

    let text = error_text(&out);
    assert!(text.starts_with("Error: boom 3 (line 3, column "), "{text}");
    assert!(text.contains("\n>> 3 |     throw new Error('boom ' + x);\n"), "{text}");
    assert!(text.contains(&format!("JavaScript stack:\n    at f ({}:3:", code.key())), "{text}");
}

#[test]
fn runtime_type_error_points_at_line() {
    let engine = engine();
    let code =
        code_parameter("function f(x) {\n  const parts = x.split(',');\n  return parts.first.length;\n}").unwrap();

    let out = call_one(&engine, &code, Value::from("a,b"));

    let text = error_text(&out);
    assert!(text.starts_with("TypeError: cannot read property 'length' of undefined (line 3,"), "{text}");
    assert!(text.contains(">> 3 |   return parts.first.length;"), "{text}");
}

#[test]
fn wrong_return_types_become_exceptions() {
    let engine = engine();
    let check = |source: &str, expected: &str| {
        let out = call_one(&engine, &code_parameter(source).unwrap(), Value::Int(1));
        assert_eq!(error_text(&out), expected, "for {source}");
    };

    check(
        "function f(x) { x + 1; }",
        "the function returned `undefined`; it must return a value, for example with `return result;`",
    );
    check(
        "function f(x) { return () => x; }",
        "the return value is a function, which has no JSON form; call it and return its result instead",
    );
    check(
        "function f(x) { return {total: x, more: [1, Symbol('s')]}; }",
        "the return value.more[1] is of JavaScript type `symbol`, which has no JSON form",
    );
}

#[test]
fn json_values_cross_both_ways() {
    let engine = engine();
    let code = code_parameter(
        "function f(x) { return {count: x.items.length, first: x.items[0], half: x.n / 2, ok: !x.flag, none: null}; }",
    )
    .unwrap();
    let input = Value::from_json(&serde_json::json!({"items": ["a", "b"], "n": 3, "flag": false}));

    let out = call_one(&engine, &code, input);

    assert_eq!(
        out.value().to_json(),
        serde_json::json!({"count": 2, "first": "a", "half": 1.5, "ok": true, "none": null})
    );
}

#[test]
fn infinite_loop_hits_time_limit() {
    let limit = Duration::from_millis(200);
    let engine = Engine::with_config(EngineConfig::default().with_time_limit(limit)).unwrap();
    let code = code_parameter("function f(x) {\n  while (true) {}\n}").unwrap();
    let started = Instant::now();

    let out = call_one(&engine, &code, Value::Int(1));
    let elapsed = started.elapsed();
    let next = call_one(&engine, &code_parameter("function f(x) { return x; }").unwrap(), Value::Int(7));

    let text = error_text(&out);
    assert!(text.starts_with("time limit exceeded: the call ran longer than the limit of 200 ms"), "{text}");
    assert!(text.contains("\n   2 |   while (true) {}\n"), "{text}");
    assert!(text.contains(&format!("JavaScript stack when the call was stopped (the first frame is the start of the running function):\n    at f ({}:1:", code.key())), "{text}");
    assert!(elapsed >= limit, "stopped after {elapsed:?}, before the limit");
    assert!(elapsed < limit * 10, "stopped only after {elapsed:?}");
    assert_eq!(next.value(), Value::Int(7));
}

#[test]
fn async_function_never_settling_is_reported() {
    let engine = engine();
    let code = code_parameter("async function f(x) { await new Promise(() => {}); return x; }").unwrap();

    let out = call_one(&engine, &code, Value::Int(1));

    assert_eq!(error_text(&out), "the Promise returned by `f` never settled: nothing is left that could resolve it");
}

#[test]
fn async_function_result_is_awaited() {
    let engine = engine();
    let code = code_parameter("async function f(x) { const y = await Promise.resolve(x * 3); return y + 1; }").unwrap();

    let out = call_one(&engine, &code, Value::Int(2));

    assert_eq!(out.value(), Value::Int(7));
}

#[test]
fn allocation_past_memory_limit_is_caught() {
    let config = EngineConfig::default().with_memory_limit(16 << 20);
    let engine = Engine::with_config(config).unwrap();
    let local =
        code_parameter("function f(x) {\n  const a = [];\n  while (true) a.push(new Array(1000).fill(x));\n}").unwrap();
    let global = code_parameter(
        "function f(x) {\n  globalThis.kept = [];\n  while (true) kept.push('abcdefghijklmnopqrstuvwxyz' + kept.length);\n}",
    )
    .unwrap();
    let small = code_parameter("function f(x) { return new Array(x).fill(1).length; }").unwrap();

    let local_out = call_one(&engine, &local, Value::Int(1));
    let global_out = call_one(&engine, &global, Value::Int(1));
    let next = call_one(&engine, &small, Value::Int(100_000));

    for out in [&local_out, &global_out] {
        let text = error_text(out);
        assert!(text.starts_with("memory limit exceeded"), "{text}");
        assert!(text.contains("the limit of 16 MiB of memory"), "{text}");
    }
    assert_eq!(next.value(), Value::Int(100_000));
}

#[test]
fn memory_kept_by_other_source_is_released() {
    let engine = Engine::with_config(EngineConfig::default().with_memory_limit(16 << 20)).unwrap();
    let keeper =
        code_parameter("function f(x) { globalThis.kept = new Array(x).fill(0); return kept.length; }").unwrap();
    let user = code_parameter("function f(x) { const a = new Array(x).fill(0); return a.length; }").unwrap();

    let kept = call_one(&engine, &keeper, Value::Int(600_000));
    let first = call_one(&engine, &user, Value::Int(600_000));
    let second = call_one(&engine, &user, Value::Int(600_000));

    assert_eq!(kept.value(), Value::Int(600_000));
    assert!(error_text(&first).starts_with("memory limit exceeded"), "{}", error_text(&first));
    assert_eq!(second.value(), Value::Int(600_000));
}

#[test]
fn deep_recursion_hits_stack_limit() {
    let engine = engine();
    let code = code_parameter("function f(x) {\n  return f(x + 1) + 1;\n}").unwrap();

    let out = call_one(&engine, &code, Value::Int(0));
    let next = call_one(&engine, &code_parameter("function f(x) { return x * 3; }").unwrap(), Value::Int(2));

    let text = error_text(&out);
    assert!(
        text.starts_with("stack size limit exceeded: the script used more than the limit of 1 MiB of stack"),
        "{text}"
    );
    assert!(text.contains(">> 2 |   return f(x + 1) + 1;"), "{text}");
    assert_eq!(next.value(), Value::Int(6));
}

#[test]
fn sandbox_denies_host_access() {
    let engine = engine();
    let cases = [
        (
            "function f(x) { return require('fs').readFileSync('/etc/passwd', 'utf8'); }",
            "ReferenceError: require is not defined",
        ),
        ("function f(x) { return fetch('http://127.0.0.1:1/'); }", "ReferenceError: fetch is not defined"),
        ("function f(x) { return import('std'); }", "ReferenceError: could not load module 'std'"),
        (
            "async function f(x) { const os = await import('os'); return os.exec(['ls']); }",
            "ReferenceError: could not load module 'os'",
        ),
        ("function f(x) { return std.loadFile('/etc/passwd'); }", "ReferenceError: std is not defined"),
        ("function f(x) { return os.open('/etc/passwd'); }", "ReferenceError: os is not defined"),
        ("function f(x) { return process.env; }", "ReferenceError: process is not defined"),
        ("function f(x) { return new XMLHttpRequest(); }", "ReferenceError: XMLHttpRequest is not defined"),
        ("function f(x) { console.log(x); return x; }", "ReferenceError: console is not defined"),
        ("function f(x) { return eval(\"require('fs')\"); }", "ReferenceError: require is not defined"),
        (
            "function f(x) { return new Function('return readFile(\"/etc/passwd\")')(); }",
            "ReferenceError: readFile is not defined",
        ),
    ];

    for (source, expected) in cases {
        let out = call_one(&engine, &code_parameter(source).unwrap(), Value::Int(1));

        let text = error_text(&out);
        assert!(text.starts_with(expected), "{source}: {text}");
    }
}

#[test]
fn import_statements_fail() {
    let engine = engine();
    let code = code_parameter("function f(x) { return x; }").unwrap();
    let function = JsFunction::new(&engine, &code).unwrap();
    let x = Node::input("x", 1);

    code.set_value(Value::Code("import * as std from 'std';\nfunction f(x) { return std.getenv('HOME'); }".into()))
        .unwrap();
    let top_level = function.call(&[&x]).unwrap();
    code.set_value(Value::Code("function f(x) {\n  import * as std from 'std';\n  return x;\n}".into())).unwrap();
    let in_body = function.call(&[&x]).unwrap();

    let top_level_text = error_text(&top_level);
    assert!(
        top_level_text.starts_with(&format!("the source of `{}` does not parse: line 1:", code.key())),
        "{top_level_text}"
    );
    assert!(top_level_text.contains("found `import`"), "{top_level_text}");
    let in_body_text = error_text(&in_body);
    assert!(in_body_text.starts_with("SyntaxError: "), "{in_body_text}");
    assert!(in_body_text.contains(">> 2 |   import * as std from 'std';"), "{in_body_text}");
}

#[test]
fn strict_mode_rejects_implicit_globals() {
    let engine = engine();
    let code = code_parameter("function f(x) {\n  total = x + 1;\n  return total;\n}").unwrap();

    let out = call_one(&engine, &code, Value::Int(1));

    let text = error_text(&out);
    assert!(text.starts_with("ReferenceError: total is not defined (line 2,"), "{text}");
}

#[test]
fn globals_are_only_the_standard_library() {
    let engine = engine();
    let code = code_parameter("function f(x) { return Object.getOwnPropertyNames(globalThis).sort(); }").unwrap();

    let out = call_one(&engine, &code, Value::Null);

    let Value::List(names) = out.value() else { panic!("expected a list, found {:?}", out.value()) };
    let names: Vec<String> = names.iter().map(Value::render).collect();
    let expected = [
        "AggregateError",
        "Array",
        "ArrayBuffer",
        "AsyncDisposableStack",
        "Atomics",
        "BigInt",
        "BigInt64Array",
        "BigUint64Array",
        "Boolean",
        "DataView",
        "Date",
        "DisposableStack",
        "Error",
        "EvalError",
        "FinalizationRegistry",
        "Float16Array",
        "Float32Array",
        "Float64Array",
        "Function",
        "Infinity",
        "Int16Array",
        "Int32Array",
        "Int8Array",
        "InternalError",
        "Iterator",
        "JSON",
        "Map",
        "Math",
        "NaN",
        "Number",
        "Object",
        "Promise",
        "Proxy",
        "RangeError",
        "ReferenceError",
        "Reflect",
        "RegExp",
        "Set",
        "SharedArrayBuffer",
        "String",
        "SuppressedError",
        "Symbol",
        "SyntaxError",
        "TypeError",
        "URIError",
        "Uint16Array",
        "Uint32Array",
        "Uint8Array",
        "Uint8ClampedArray",
        "WeakMap",
        "WeakRef",
        "WeakSet",
        "decodeURI",
        "decodeURIComponent",
        "encodeURI",
        "encodeURIComponent",
        "escape",
        "eval",
        "f",
        "globalThis",
        "isFinite",
        "isNaN",
        "parseFloat",
        "parseInt",
        "queueMicrotask",
        "undefined",
        "unescape",
    ];
    assert_eq!(names, expected);
}

#[test]
fn rename_update_is_rejected_with_reason() {
    let code = code_parameter("function f(x) { return x + 1; }").unwrap();
    let mut parameters = ParameterSet::new(vec![code.clone()]);
    parameters.add_projection(&code, Arc::new(CodeProjection));

    let report = parameters.apply(&propose(&code, "function g(x) { return x * 2; }"));

    assert!(report.updates.is_empty());
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].key, code.key());
    assert_eq!(
        report.rejected[0].reason,
        "the function was renamed from `f` to `g`; the name and signature must stay `function f(x)`"
    );
    assert_eq!(code.value(), Value::Code("function f(x) { return x + 1; }".to_string()));
}

#[test]
fn host_functions_are_typed_and_errors_are_catchable() {
    let engine = engine();
    engine
        .register("shoot", |x: i64, y: i64| {
            if (0..10).contains(&x) && (0..10).contains(&y) {
                Ok(x * 10 + y)
            } else {
                Err(format!("({x}, {y}) is off the board"))
            }
        })
        .unwrap();
    let hit = code_parameter("function f(x) { return shoot(x, 2); }").unwrap();
    let caught =
        code_parameter("function f(x) { try { return shoot(x, 2); } catch (e) { return 'caught: ' + e.message; } }")
            .unwrap();
    let wrong_type = code_parameter("function f(x) { return shoot('a', 2); }").unwrap();

    let hit_out = call_one(&engine, &hit, Value::Int(3));
    let caught_out = call_one(&engine, &caught, Value::Int(30));
    let wrong_out = call_one(&engine, &wrong_type, Value::Int(3));

    assert_eq!(hit_out.value(), Value::Int(32));
    assert_eq!(caught_out.value(), Value::from("caught: shoot: (30, 2) is off the board"));
    assert!(
        error_text(&wrong_out).starts_with("Error: shoot: argument `#1`: expected a value of type `int`, found `str`"),
        "{}",
        error_text(&wrong_out)
    );
}

#[test]
fn host_function_names_must_be_identifiers() {
    let engine = engine();

    let error = engine.register("not a name", |x: i64| x).unwrap_err();

    assert_eq!(
        error.to_string(),
        "invalid host function `not a name`: the name must be a JavaScript identifier, such as `shoot` or `ask_llm`"
    );
}

#[test]
fn dropping_engine_stops_workers() {
    let engine = Engine::with_config(EngineConfig::default().with_workers(2)).unwrap();
    let marker = Arc::new(());
    let captured = marker.clone();
    engine.register("ping", move || Arc::strong_count(&captured) as i64).unwrap();
    let pinged = engine.run("function f() { return ping(); }", vec![]);

    drop(engine);
    let started = Instant::now();
    while Arc::strong_count(&marker) > 1 && started.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(5));
    }

    assert!(pinged.is_ok(), "{pinged:?}");
    assert_eq!(Arc::strong_count(&marker), 1, "a worker still holds the host function");
}

#[test]
fn calls_from_many_threads_share_one_engine() {
    let engine = Engine::with_config(EngineConfig::default().with_workers(2)).unwrap();
    let code = code_parameter("function f(x) { let s = 0; for (let i = 0; i <= x; i++) s += i; return s; }").unwrap();
    let function = JsFunction::new(&engine, &code).unwrap();

    let results: Vec<(i64, Value)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..8_i64)
            .map(|n| {
                let function = &function;
                scope.spawn(move || {
                    let x = Node::input("x", n * 100);
                    let out = if n % 2 == 0 { function.call(&[&x]) } else { block_on(function.call_async(&[&x])) };
                    (n * 100, out.unwrap().value())
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).collect()
    });

    for (x, value) in results {
        assert_eq!(value, Value::Int(x * (x + 1) / 2), "sum up to {x}");
    }
}

#[test]
fn async_call_awaits_without_blocking() {
    let engine = engine();
    let code = code_parameter("function f(x) { return x.toUpperCase(); }").unwrap();
    let function = JsFunction::new(&engine, &code).unwrap();
    let x = Node::input("x", "hi");

    let out = block_on(function.call_async(&[&x])).unwrap();

    assert_eq!(out.value(), Value::from("HI"));
    assert_eq!(out.parents(), [x, code]);
}

#[test]
fn wrong_input_count_is_an_error() {
    let engine = engine();
    let function = JsFunction::new(&engine, &code_parameter("function f(a, b) { return a + b; }").unwrap()).unwrap();

    let error = function.call(&[&Node::input("a", 1)]).unwrap_err();

    assert_eq!(error.to_string(), "operator `eval` takes 3 inputs (a, b, __code) but was called with 2");
}

fn json_like_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;

    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        // Integers beyond 2^53 in magnitude reach JavaScript rounded to the nearest double.
        (-(1_i64 << 53)..=(1_i64 << 53)).prop_map(Value::Int),
        any::<f64>().prop_filter("NaN is not equal to itself", |f| !f.is_nan()).prop_map(Value::Float),
        any::<String>().prop_map(Value::Text),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            proptest::collection::btree_map(any::<String>(), inner, 0..4).prop_map(Value::Map),
        ]
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn identity_function_round_trips_values(value in json_like_value()) {
        static ENGINE: std::sync::LazyLock<Engine> = std::sync::LazyLock::new(engine);

        let result = ENGINE.run("function f(x) { return x; }", vec![value.clone()]);

        proptest::prop_assert_eq!(result, Ok(value));
    }
}
