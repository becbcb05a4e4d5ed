//! The Last.fm rate gate shared by every worker, against the deployed stack's table.

use futures::future::join_all;
use karaoke_tests::{shared_rate_gate, stack_rate_limit};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn concurrent_reservations_get_distinct_slots_one_interval_apart() {
    let gate = shared_rate_gate().await;
    let interval = (1000.0 / stack_rate_limit()).ceil() as i64;
    let before = now_ms();
    // Ten slots: enough to race, few enough that the gate is free again within ~2 s for the
    // suites that call Last.fm through it.
    let slots: Vec<i64> = join_all((0..10).map(|_| gate.reserve()))
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("reserve a slot");
    let mut sorted = slots.clone();
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        assert!(
            pair[1] - pair[0] >= interval,
            "slots {} and {} are closer than one interval ({interval} ms): {sorted:?}",
            pair[0],
            pair[1]
        );
    }
    assert!(
        sorted[0] >= before,
        "a slot before the reservation was asked for: {sorted:?} < {before}"
    );
}
