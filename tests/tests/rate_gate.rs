//! The Last.fm rate gate shared by every worker, against the deployed stack's table.

use futures::future::join_all;
use karaoke_shared::store::rate_gate::{Reservation, HORIZON};
use karaoke_tests::{shared_rate_gate, stack_rate_limit};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The tests here fill the one shared gate: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn concurrent_reservations_get_distinct_slots_one_interval_apart() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let gate = shared_rate_gate().await;
    let interval = (1000.0 / stack_rate_limit()).ceil() as i64;
    let before = now_ms();
    // Ten slots: enough to race, few enough that the gate is free again within ~2 s for the
    // suites that call Last.fm through it.
    let slots: Vec<i64> = join_all((0..10).map(|_| gate.reserve()))
        .await
        .into_iter()
        .map(|r| match r.expect("reserve a slot") {
            Reservation::Slot(slot) => slot,
            full => panic!("ten slots fit in the horizon: {full:?}"),
        })
        .collect();
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

/// However many callers rush the gate at once, it books no further ahead than its horizon:
/// the rest are told when it has room again, and nobody's slot lies beyond it.
#[tokio::test]
async fn a_rush_of_reservations_books_no_further_than_the_horizon() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let gate = shared_rate_gate().await;
    let interval = (1000.0 / stack_rate_limit()).ceil() as i64;
    let horizon = HORIZON.as_millis() as i64;
    let before = now_ms();
    let results: Vec<Reservation> = join_all((0..120).map(|_| gate.reserve()))
        .await
        .into_iter()
        .map(|r| r.expect("the gate answers"))
        .collect();
    let after = now_ms();
    let slots: Vec<i64> = results
        .iter()
        .filter_map(|r| match r {
            Reservation::Slot(s) => Some(*s),
            Reservation::Full { .. } => None,
        })
        .collect();
    let full: Vec<i64> = results
        .iter()
        .filter_map(|r| match r {
            Reservation::Full { room_at } => Some(*room_at),
            Reservation::Slot(_) => None,
        })
        .collect();
    let most = horizon / interval + 2;
    assert!(
        (slots.len() as i64) <= most,
        "{} slots booked in a {horizon} ms horizon at {interval} ms apart",
        slots.len()
    );
    assert!(!full.is_empty(), "nobody was turned away");
    for slot in &slots {
        assert!(
            *slot <= after + horizon,
            "a slot {} ms ahead",
            slot - before
        );
    }
    for room_at in &full {
        assert!(
            *room_at <= after + horizon + interval,
            "room {} ms ahead",
            room_at - before
        );
    }
    // Leave the gate free for whoever comes next.
    tokio::time::sleep(HORIZON + std::time::Duration::from_secs(1)).await;
}
