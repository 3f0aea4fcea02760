//! Pause, resume and cancel: the state the JS methods flip, and futures that wait for it.
//!
//! The upload (`upload.rs`) races its work against [`Control::wait_until`]; when a pause or cancel
//! wins, the work future is dropped, which aborts its requests and stream reads. No polling, no
//! flags checked in loops.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    Paused,
    Cancelled,
}

pub struct Control {
    state: Cell<RunState>,
    wakers: RefCell<Vec<Waker>>,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            state: Cell::new(RunState::Running),
            wakers: RefCell::new(Vec::new()),
        }
    }
}

impl Control {
    pub fn state(&self) -> RunState {
        self.state.get()
    }

    fn set(&self, state: RunState) {
        self.state.set(state);
        for waker in self.wakers.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Running → Paused. Returns whether it changed anything.
    pub fn pause(&self) -> bool {
        let changed = self.state() == RunState::Running;
        if changed {
            self.set(RunState::Paused);
        }
        changed
    }

    /// Paused → Running.
    pub fn resume(&self) -> bool {
        let changed = self.state() == RunState::Paused;
        if changed {
            self.set(RunState::Running);
        }
        changed
    }

    /// Anything → Cancelled (final).
    pub fn cancel(&self) {
        if self.state() != RunState::Cancelled {
            self.set(RunState::Cancelled);
        }
    }

    /// Resolves with the state once `accept(state)` holds.
    pub async fn wait_until(&self, accept: impl Fn(RunState) -> bool) -> RunState {
        poll_fn(|cx| {
            let state = self.state.get();
            if accept(state) {
                return Poll::Ready(state);
            }
            let mut wakers = self.wakers.borrow_mut();
            // The same task polls this again after every unrelated wake-up; keep one entry.
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}
