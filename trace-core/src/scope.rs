//! Per-thread tracing state: scopes that stop tracing, and the record of node reads that
//! lets a bundle find inputs it was not given.

use std::cell::{Cell, RefCell};

use crate::node::Node;

thread_local! {
    static PAUSED: Cell<usize> = const { Cell::new(0) };
    static READ_DEPTH: Cell<usize> = const { Cell::new(0) };
    static READS: RefCell<Vec<Vec<Node>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with tracing stopped on this thread: operators still compute their values, but
/// the nodes they return have no parents, so nothing inside `f` is part of a graph.
///
/// ```
/// use trace_core::{Node, stop_tracing};
///
/// let x = Node::parameter("x", 2);
/// let y = stop_tracing(|| &x + 1);
///
/// assert_eq!(y.value(), 3.into());
/// assert!(y.parents().is_empty());
/// ```
pub fn stop_tracing<R>(f: impl FnOnce() -> R) -> R {
    let _guard = StopTracing::enter();
    f()
}

/// A guard that stops tracing on the current thread until it is dropped. See [`stop_tracing`].
///
/// The guard is per thread, so it is neither `Send` nor `Sync`; across `.await` points of a
/// multi-threaded runtime, use [`stop_tracing`] around synchronous sections instead.
#[derive(Debug)]
pub struct StopTracing {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl StopTracing {
    /// Stops tracing on this thread until the guard is dropped.
    pub fn enter() -> StopTracing {
        PAUSED.with(|paused| paused.set(paused.get() + 1));
        StopTracing { _not_send: std::marker::PhantomData }
    }
}

impl Drop for StopTracing {
    fn drop(&mut self) {
        PAUSED.with(|paused| paused.set(paused.get().saturating_sub(1)));
    }
}

/// Whether operators on this thread record parents.
pub(crate) fn is_tracing() -> bool {
    PAUSED.with(Cell::get) == 0
}

/// Records that `node`'s value was read, if a bundle on this thread is watching.
pub(crate) fn record_read(node: &Node) {
    if READ_DEPTH.with(Cell::get) == 0 {
        return;
    }
    READS.with(|reads| {
        if let Some(frame) = reads.borrow_mut().last_mut() {
            frame.push(node.clone());
        }
    });
}

/// Starts recording node reads on this thread until [`end_reads`] is called.
pub(crate) fn begin_reads() {
    READS.with(|reads| reads.borrow_mut().push(Vec::new()));
    READ_DEPTH.with(|depth| depth.set(depth.get() + 1));
}

/// Stops the innermost recording and returns the nodes read since [`begin_reads`].
pub(crate) fn end_reads() -> Vec<Node> {
    READ_DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    READS.with(|reads| reads.borrow_mut().pop().unwrap_or_default())
}
