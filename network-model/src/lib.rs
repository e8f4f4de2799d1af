//! `linepack-network`: the gas network model that the engine and the
//! simulator build on. It does no I/O beyond reading and writing network
//! files and knows nothing of MQTT.
//!
//! It owns:
//! - [`ids`]: dense newtype indices for every element kind;
//! - [`units`] and [`gas`]: constants, gauge/absolute pressure, gas density
//!   and compressibility;
//! - [`network`]: the validated element arrays ([`Network`]);
//! - [`mod@file`]: network files v1 (JSON, TOML): schema, loading, validation;
//! - [`topology`]: the petgraph view: supplied components, upstream and
//!   downstream of an element, valve isolation sets;
//! - [`solver`]: the steady-state solver of `specs/hydraulics.md` (Newton on
//!   nodes and branches, analytic Jacobian, sparse LU) with a reusable
//!   workspace;
//! - [`linepack`]: gas mass stored in pipes for a solved state.
//!
//! ```
//! use linepack_network::{file, solver::{SolveOptions, SteadySolver}};
//! # let text = r#"{"version": 1, "name": "doc", "gas": {"name": "ng",
//! #   "density_normal_kg_m3": 0.8, "viscosity_pa_s": 1.1e-5, "temperature_k": 283.15,
//! #   "compressibility": {"model": "constant", "z": 1.0}},
//! #   "nodes": [{"id": "A", "elevation_m": 0}, {"id": "B", "elevation_m": 0}],
//! #   "pipes": [{"id": "P", "from": "A", "to": "B", "length_m": 1000,
//! #              "diameter_mm": 100, "roughness_mm": 0.1}],
//! #   "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 4, "kind": "city_gate"}],
//! #   "consumers": [{"id": "C", "node": "B", "kind": "industrial", "demand_kg_s": 0.5}]}"#;
//! let network = file::parse(text, file::Format::Json, "doc.json".as_ref())?;
//! let mut solver = SteadySolver::new(&network, SolveOptions::default());
//! let state = solver.solve(&network)?;
//! let b = network.find_node("B").unwrap();
//! assert!(state.pressure_bar_g(&network, b).unwrap() < 4.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod file;
pub mod gas;
pub mod gaslib;
pub mod ids;
pub mod linepack;
pub mod network;
pub mod solver;
pub mod topology;
pub mod units;

#[cfg(test)]
mod testing;

pub use ids::{BranchRef, ElementRef};
pub use network::Network;
