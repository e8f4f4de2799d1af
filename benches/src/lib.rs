//! Shared set-up for the criterion benches in `benches/` (one per stage) and
//! the measurement tools in `src/bin/`. See `BENCHMARKS.md` for the figures
//! and how they were produced.

use std::path::Path;

use linepack_network::Network;
use linepack_network::file::{self, Format};
use linepack_sim::generate::{CityConfig, city};

/// A generated city network of about `nodes` grid junctions, validated as
/// if loaded from a file (the same network `linepack sim generate` writes).
pub fn city_network(nodes: usize, seed: u64) -> Network {
    let f = city(&CityConfig {
        nodes,
        seed,
        ..CityConfig::default()
    });
    file::parse(
        &file::to_string(&f, Format::Json),
        Format::Json,
        Path::new("generated.json"),
    )
    .expect("generated networks are valid")
}

/// A generated city with at least `sensors` sensors (the generator gives
/// about one per five grid junctions, mostly users' gas detectors and
/// shut-off valves).
pub fn city_with_sensors(sensors: usize, seed: u64) -> Network {
    let mut nodes = sensors * 5;
    loop {
        let net = city_network(nodes, seed);
        if net.sensors.len() >= sensors {
            return net;
        }
        nodes += nodes / 10;
    }
}

pub mod engine;
