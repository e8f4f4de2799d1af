//! Peak heap memory of one steady-state solve: the bytes allocated and not
//! yet freed at the worst moment between the validated network in memory and
//! the results in memory (the `solve_time_ms` interval). Counted by a global
//! allocator, so it is exact and repeatable, unlike RSS.
//!
//! Usage: solve_memory NETWORK.json

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use linepack_network::file;
use linepack_network::linepack::linepack;
use linepack_network::solver::{SolveOptions, SteadySolver};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: solve_memory NETWORK.json");
        return std::process::ExitCode::from(2);
    };
    let network = match file::load(path.as_ref()) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let start = Instant::now();
    let state = SteadySolver::new(&network, SolveOptions::default()).solve(&network);
    let stored = state.as_ref().map(|s| linepack(&network, s).total_kg);
    let elapsed = start.elapsed();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    match stored {
        Ok(kg) => {
            println!(
                "{{\"nodes\": {}, \"solve_time_ms\": {:.1}, \"peak_solve_heap_mb\": {:.1}, \"network_heap_mb\": {:.1}, \"linepack_kg\": {kg:.0}}}",
                network.nodes.len(),
                elapsed.as_secs_f64() * 1e3,
                peak as f64 / 1e6,
                before as f64 / 1e6
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
