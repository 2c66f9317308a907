//! The kernel core (Ke/Ki): bugchecks, the clock, exception dispatch, and the dispatcher:
//! thread scheduling, ready queues, context switches, dispatcher objects (events,
//! semaphores, mutants, timers), priorities, waits and user APCs.

pub mod apc;
pub mod bugcheck;
pub mod clock;
pub mod dispatcher;
pub mod event;
pub mod exception;
pub mod mutant;
pub mod priority;
mod ready_queue;
pub mod semaphore;
pub mod thread;
pub mod timer;
pub mod timings;
pub mod wait;
