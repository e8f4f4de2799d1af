//! Alarm flood detection: more than `limit` new alarms within `window`
//! (ISA-18.2 suggests 10 in 10 minutes) is a flood, reported as its own
//! alarm; it ends when the rate falls back to the limit.

use std::collections::VecDeque;

/// Counts new alarms (transitions into unacknowledged from normal) in a
/// sliding window of alarm time.
#[derive(Debug)]
pub struct FloodDetector {
    limit: usize,
    window_ms: i64,
    recent: VecDeque<i64>,
    flooding: bool,
}

impl FloodDetector {
    pub fn new(limit: usize, window_ms: i64) -> Self {
        FloodDetector {
            limit,
            window_ms,
            recent: VecDeque::new(),
            flooding: false,
        }
    }

    /// Notes one new alarm at `ts_ms`.
    pub fn new_alarm(&mut self, ts_ms: i64) {
        self.recent.push_back(ts_ms);
    }

    /// Whether a flood is on at `now_ms`, and the count in the window.
    /// Returns `Some(on)` when that changed.
    pub fn update(&mut self, now_ms: i64) -> Option<(bool, usize)> {
        while self
            .recent
            .front()
            .is_some_and(|&t| t <= now_ms.saturating_sub(self.window_ms))
        {
            self.recent.pop_front();
        }
        let on = self.recent.len() > self.limit;
        (on != self.flooding).then(|| {
            self.flooding = on;
            (on, self.recent.len())
        })
    }

    pub fn count(&self) -> usize {
        self.recent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eleven_in_ten_minutes_is_a_flood_and_it_ends() {
        let mut f = FloodDetector::new(10, 600_000);
        for i in 0..10 {
            f.new_alarm(i * 1000);
        }
        assert_eq!(f.update(10_000), None);
        f.new_alarm(11_000);
        assert_eq!(f.update(11_000), Some((true, 11)));
        assert_eq!(f.update(12_000), None);
        // The first alarm leaves the window 10 minutes later.
        assert_eq!(f.update(600_000), Some((false, 10)));
    }
}
