//! Dense newtype indices for network elements.
//!
//! The hot path and the solver address elements by position in the network's
//! arrays; string ids live at the edges (files, MQTT topics, the API). Each
//! element kind has its own index type so a pipe index can never be used as a
//! node index.

use std::fmt;

macro_rules! dense_index {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u32);

        impl $name {
            /// The index for position `i` of its element array.
            ///
            /// Networks are limited to `u32::MAX` elements per kind; the loader
            /// enforces that, so the conversion cannot truncate.
            #[inline]
            pub const fn new(i: usize) -> Self {
                Self(i as u32)
            }

            /// Position in its element array.
            #[inline]
            pub const fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}#{}", stringify!($name), self.0)
            }
        }
    };
}

dense_index!(
    /// Index of a node (junction).
    NodeIdx
);
dense_index!(
    /// Index of a pipe.
    PipeIdx
);
dense_index!(
    /// Index of a valve.
    ValveIdx
);
dense_index!(
    /// Index of a pressure regulator.
    RegulatorIdx
);
dense_index!(
    /// Index of a supply (city gate, LNG station, ...).
    SupplyIdx
);
dense_index!(
    /// Index of a consumer.
    ConsumerIdx
);
dense_index!(
    /// Index of an injection.
    InjectionIdx
);
dense_index!(
    /// Index of a sensor.
    SensorIdx
);
dense_index!(
    /// Index of a balance zone.
    ZoneIdx
);

/// Any element of a network, by kind and dense index.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ElementRef {
    Node(NodeIdx),
    Pipe(PipeIdx),
    Valve(ValveIdx),
    Regulator(RegulatorIdx),
    Supply(SupplyIdx),
    Consumer(ConsumerIdx),
    Injection(InjectionIdx),
    Sensor(SensorIdx),
    Zone(ZoneIdx),
}

impl ElementRef {
    /// The element kind as written in error messages and reports ("pipe", "valve", ...).
    pub fn kind_name(self) -> &'static str {
        match self {
            ElementRef::Node(_) => "node",
            ElementRef::Pipe(_) => "pipe",
            ElementRef::Valve(_) => "valve",
            ElementRef::Regulator(_) => "regulator",
            ElementRef::Supply(_) => "supply",
            ElementRef::Consumer(_) => "consumer",
            ElementRef::Injection(_) => "injection",
            ElementRef::Sensor(_) => "sensor",
            ElementRef::Zone(_) => "zone",
        }
    }
}

/// A branch of the graph: an element that connects two nodes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum BranchRef {
    Pipe(PipeIdx),
    Valve(ValveIdx),
    Regulator(RegulatorIdx),
}

impl From<BranchRef> for ElementRef {
    fn from(b: BranchRef) -> Self {
        match b {
            BranchRef::Pipe(i) => ElementRef::Pipe(i),
            BranchRef::Valve(i) => ElementRef::Valve(i),
            BranchRef::Regulator(i) => ElementRef::Regulator(i),
        }
    }
}
