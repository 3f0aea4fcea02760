//! One queue for all uploads of an `Uploader`: at most `concurrency` requests at once across all
//! of its files, so a page that adds hundreds of files does not start hundreds of requests
//! (Uppy's users hit that). Init, listParts and complete go ahead of queued parts, so a finished
//! file never waits behind the parts of others.
//!
//! A small async semaphore on one thread. A waiter that is dropped (pause, cancel) leaves the
//! queue, and a slot handed to it is passed on, so no slot is ever lost.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct Ticket {
    granted: Cell<bool>,
    waker: RefCell<Option<Waker>>,
    urgent: bool,
}

/// At most `limit` holders at once; urgent waiters are served before the others.
pub struct Gate {
    limit: usize,
    in_use: Cell<usize>,
    queue: RefCell<VecDeque<Rc<Ticket>>>,
}

/// A held slot; dropping it hands the slot to the next waiter.
pub struct Permit {
    gate: Rc<Gate>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.release();
    }
}

impl Gate {
    pub fn new(limit: usize) -> Rc<Gate> {
        Rc::new(Gate {
            limit: limit.max(1),
            in_use: Cell::new(0),
            queue: RefCell::new(VecDeque::new()),
        })
    }

    pub fn in_use(&self) -> usize {
        self.in_use.get()
    }

    pub fn waiting(&self) -> usize {
        self.queue.borrow().len()
    }

    fn release(&self) {
        let next = self.queue.borrow_mut().pop_front();
        match next {
            // The slot passes straight to the next waiter: in_use stays the same.
            Some(ticket) => {
                ticket.granted.set(true);
                if let Some(waker) = ticket.waker.borrow_mut().take() {
                    waker.wake();
                }
            }
            None => self.in_use.set(self.in_use.get() - 1),
        }
    }

    /// Waits for a slot. `urgent` requests queue ahead of non-urgent ones.
    pub fn acquire(self: &Rc<Gate>, urgent: bool) -> Acquire {
        let ticket = Rc::new(Ticket {
            granted: Cell::new(false),
            waker: RefCell::new(None),
            urgent,
        });
        if self.in_use.get() < self.limit && self.queue.borrow().is_empty() {
            self.in_use.set(self.in_use.get() + 1);
            ticket.granted.set(true);
        } else {
            let mut queue = self.queue.borrow_mut();
            let position = if urgent {
                queue.iter().position(|t| !t.urgent).unwrap_or(queue.len())
            } else {
                queue.len()
            };
            queue.insert(position, ticket.clone());
        }
        Acquire {
            gate: self.clone(),
            ticket: Some(ticket),
        }
    }
}

/// The future of [`Gate::acquire`].
pub struct Acquire {
    gate: Rc<Gate>,
    ticket: Option<Rc<Ticket>>,
}

impl Future for Acquire {
    type Output = Permit;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let ticket = self.ticket.as_ref().expect("polled after completion");
        if ticket.granted.get() {
            self.ticket = None;
            return Poll::Ready(Permit {
                gate: self.gate.clone(),
            });
        }
        *ticket.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        if ticket.granted.get() {
            // Granted but never taken: pass the slot on.
            self.gate.release();
        } else {
            self.gate
                .queue
                .borrow_mut()
                .retain(|t| !Rc::ptr_eq(t, &ticket));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn poll(future: &mut Acquire) -> Option<Permit> {
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(future).poll(&mut cx) {
            Poll::Ready(permit) => Some(permit),
            Poll::Pending => None,
        }
    }

    #[test]
    fn at_most_limit_holders_and_fifo_handover() {
        let gate = Gate::new(2);
        let a = poll(&mut gate.acquire(false)).unwrap();
        let b = poll(&mut gate.acquire(false)).unwrap();
        let mut c = gate.acquire(false);
        let mut d = gate.acquire(false);
        assert!(poll(&mut c).is_none());
        assert_eq!((gate.in_use(), gate.waiting()), (2, 2));
        drop(a);
        let c = poll(&mut c).expect("c is next");
        assert!(poll(&mut d).is_none());
        assert_eq!(gate.in_use(), 2);
        drop(b);
        drop(c);
        let d = poll(&mut d).unwrap();
        assert_eq!(gate.in_use(), 1);
        drop(d);
        assert_eq!(gate.in_use(), 0);
    }

    #[test]
    fn urgent_waiters_go_first() {
        let gate = Gate::new(1);
        let held = poll(&mut gate.acquire(false)).unwrap();
        let mut part = gate.acquire(false);
        let mut complete = gate.acquire(true);
        drop(held);
        assert!(poll(&mut part).is_none());
        let done = poll(&mut complete).expect("the urgent one first");
        drop(done);
        assert!(poll(&mut part).is_some());
    }

    #[test]
    fn dropped_waiters_lose_no_slot() {
        let gate = Gate::new(1);
        let held = poll(&mut gate.acquire(false)).unwrap();
        let waiting = gate.acquire(false);
        let granted_but_dropped = gate.acquire(false);
        drop(waiting); // leaves the queue
        drop(held); // hands the slot to the second waiter…
        drop(granted_but_dropped); // …which is dropped before taking it: passed on / freed
        assert_eq!((gate.in_use(), gate.waiting()), (0, 0));
        assert!(poll(&mut gate.acquire(false)).is_some());
    }
}
