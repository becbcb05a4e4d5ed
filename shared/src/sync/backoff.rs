//! How long a page waits after losing a write race before it tries again.
//!
//! Pages of one user touch the same hot tracks, so concurrent workers collide on them. A
//! fixed pause makes the losers retry in step and collide again: with 10 workers on the
//! emulator, 190 of 1,111 pages spent all their rounds that way and went back to SQS. An
//! exponential pause with full jitter spreads the retries and gives the winner's
//! transaction time to land.

use std::time::Duration;

/// The first round's longest pause.
const BASE_MS: u64 = 20;
/// The longest pause of any round.
const CAP_MS: u64 = 1_000;

/// The pause before write round `round + 1`: anywhere in `[1, min(BASE·2^round, CAP)]` ms,
/// picked by `seed`.
pub fn conflict_pause(round: usize, seed: u64) -> Duration {
    let ceiling = (BASE_MS << round.min(16)).min(CAP_MS);
    Duration::from_millis(1 + mix(seed) % ceiling)
}

/// A seed that differs between workers and between calls.
pub fn jitter_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// splitmix64's finaliser: nearby seeds (successive clock readings) land far apart.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_stay_within_a_ceiling_that_doubles_up_to_the_cap() {
        for round in 0..30 {
            let ceiling = (BASE_MS << round.min(16)).min(CAP_MS);
            for seed in 0..500 {
                let pause = conflict_pause(round, seed).as_millis() as u64;
                assert!((1..=ceiling).contains(&pause), "round {round}: {pause} ms");
            }
        }
        assert_eq!((BASE_MS << 5).min(CAP_MS), 640);
        assert_eq!((BASE_MS << 6).min(CAP_MS), CAP_MS);
    }

    #[test]
    fn successive_seeds_spread_over_the_range() {
        // Workers that lose the same race read the clock nanoseconds apart; their pauses
        // must not line up.
        let round = 6;
        let pauses: std::collections::BTreeSet<u128> = (0..200u64)
            .map(|seed| conflict_pause(round, 1_700_000_000_000_000_000 + seed).as_millis())
            .collect();
        assert!(pauses.len() > 120, "only {} distinct pauses", pauses.len());
        assert!(pauses.iter().any(|&p| p < 250) && pauses.iter().any(|&p| p > 750));
    }
}
