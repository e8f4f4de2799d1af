//! Alarms: kinds and priorities, the ISA-18.2 state machine ([`AlarmBook`]),
//! and flood detection. No I/O.

pub mod book;
pub mod event;
pub mod flood;
pub mod kind;

pub use book::{Actor, Alarm, AlarmBook, AlarmKey, AlarmState, CommandError, Source, Transition};
pub use event::{AlarmEvent, Namer};
pub use flood::FloodDetector;
pub use kind::{AlarmKind, Priority};

#[cfg(test)]
mod tests;
