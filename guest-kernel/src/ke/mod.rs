//! The kernel core (Ke/Ki): bugchecks, the clock, exception dispatch, and the dispatcher:
//! thread scheduling, ready queues, context switches, dispatcher objects and waits.

pub mod bugcheck;
pub mod clock;
pub mod dispatcher;
pub mod event;
pub mod exception;
mod ready_queue;
pub mod thread;
pub mod timings;
pub mod wait;
