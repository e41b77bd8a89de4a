//! Choosing a share of requests: exactly `share` of a sequence (a counter), or a stable choice
//! per session (a hash of its serial).

use std::sync::atomic::{AtomicU64, Ordering};

/// Picks exactly `share` of the calls counted, spread evenly: call n is picked when
/// `floor((n + 1) · share)` passes `floor(n · share)`.
#[derive(Debug, Default)]
pub(crate) struct EvenShare {
    seen: AtomicU64,
}

impl EvenShare {
    pub(crate) fn pick(&self, share: f64) -> bool {
        if share >= 1.0 {
            return true;
        }
        if share <= 0.0 {
            return false;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed) as f64;
        ((n + 1.0) * share).floor() > (n * share).floor()
    }
}

/// A session's stable place in [0, 1): its serial, mixed (splitmix64).
pub(crate) fn session_point(serial: u64) -> f64 {
    let mut z = serial.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_even_share_picks_exactly_that_many() {
        let s = EvenShare::default();
        let picked = (0..100).filter(|_| s.pick(0.25)).count();
        assert_eq!(picked, 25);
        let s = EvenShare::default();
        assert_eq!((0..10).filter(|_| s.pick(1.0)).count(), 10);
        assert_eq!((0..10).filter(|_| s.pick(0.0)).count(), 0);
    }

    #[test]
    fn sessions_spread_evenly() {
        let below = (1..=10_000u64).filter(|s| session_point(*s) < 0.1).count();
        assert!((800..1200).contains(&below), "{below}");
        assert_eq!(session_point(7), session_point(7));
    }
}
