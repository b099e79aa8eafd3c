//! A one-shot reply channel from a worker to the caller, which can be waited on by
//! blocking or awaited as a `std` future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::{Condvar, Mutex};

use crate::value::Value;

/// The outcome of a call: the value, or the text of the error.
pub(crate) type Outcome = Result<Value, String>;

#[derive(Default)]
struct Slot {
    outcome: Option<Outcome>,
    waker: Option<Waker>,
}

#[derive(Default)]
struct Shared {
    slot: Mutex<Slot>,
    filled: Condvar,
}

/// The worker's end: sends the outcome once. Dropped without sending (a worker that
/// stopped), it sends an error instead, so no caller waits forever.
pub(crate) struct Responder {
    shared: Option<Arc<Shared>>,
}

/// The caller's end.
pub(crate) struct Reply {
    shared: Arc<Shared>,
}

/// Creates a connected responder and reply.
pub(crate) fn channel() -> (Responder, Reply) {
    let shared = Arc::new(Shared::default());
    (Responder { shared: Some(shared.clone()) }, Reply { shared })
}

impl Responder {
    pub(crate) fn send(mut self, outcome: Outcome) {
        if let Some(shared) = self.shared.take() {
            fill(&shared, outcome);
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            fill(&shared, Err("the JavaScript engine worker stopped before answering the call".to_string()));
        }
    }
}

fn fill(shared: &Shared, outcome: Outcome) {
    let waker = {
        let mut slot = shared.slot.lock();
        slot.outcome = Some(outcome);
        slot.waker.take()
    };
    shared.filled.notify_all();
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl Reply {
    /// Blocks the current thread until the outcome arrives.
    pub(crate) fn wait(self) -> Outcome {
        let mut slot = self.shared.slot.lock();
        loop {
            if let Some(outcome) = slot.outcome.take() {
                return outcome;
            }
            self.shared.filled.wait(&mut slot);
        }
    }
}

impl Future for Reply {
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let mut slot = self.shared.slot.lock();
        match slot.outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_responder_answers_with_an_error() {
        let (responder, reply) = channel();

        drop(responder);

        assert_eq!(reply.wait(), Err("the JavaScript engine worker stopped before answering the call".to_string()));
    }

    #[test]
    fn reply_from_another_thread_wakes_the_waiter() {
        let (responder, reply) = channel();

        let sender = std::thread::spawn(move || responder.send(Ok(Value::Int(7))));

        assert_eq!(reply.wait(), Ok(Value::Int(7)));
        sender.join().unwrap();
    }
}
