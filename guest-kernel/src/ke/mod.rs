//! The kernel core (Ke/Ki): bugchecks, the clock, exception dispatch.

pub mod bugcheck;
pub mod clock;
pub mod exception;
