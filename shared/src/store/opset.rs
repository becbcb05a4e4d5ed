//! A set of unit ids stored as one binary attribute: the sorted ids as LEB128 varints of
//! their gaps.
//!
//! A track item remembers which of the current job's pages it has applied (`applied_ops`).
//! A track played all through a long history is on most pages, so as a DynamoDB number set
//! this grows to hundreds of members, and every write pays for it: DynamoDB bills the item's
//! size (a 1,000-member set is several kilobytes, several write units per write), and the
//! local emulator validates every member on every write. Consecutive page numbers take one
//! byte each here. Items written before this encoding hold a number set, which is still read.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::attr::{self, Item};
use super::StoreError;

pub fn encode(ids: &BTreeSet<u32>) -> AttributeValue {
    let mut bytes = Vec::with_capacity(ids.len() + 4);
    let mut previous = 0u32;
    for &id in ids {
        // Sorted and distinct, so every gap after the first id is at least 1.
        let mut gap = id - previous;
        previous = id;
        loop {
            let low = (gap & 0x7f) as u8;
            gap >>= 7;
            if gap == 0 {
                bytes.push(low);
                break;
            }
            bytes.push(low | 0x80);
        }
    }
    AttributeValue::B(Blob::new(bytes))
}

fn decode_bytes(bytes: &[u8]) -> Option<BTreeSet<u32>> {
    let mut ids = BTreeSet::new();
    let mut current = 0u32;
    let mut gap = 0u32;
    let mut shift = 0u32;
    for &byte in bytes {
        // A u32 fits in five bytes, the fifth holding its top four bits.
        if shift > 28 || (shift == 28 && byte & 0x7f > 0x0f) {
            return None;
        }
        gap |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            current = current.checked_add(gap)?;
            ids.insert(current);
            gap = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    // A varint left open at the end means the bytes were cut short.
    (shift == 0).then_some(ids)
}

/// Reads the set under `name`: empty when absent; a number set from before the binary
/// encoding is read too.
pub fn get(item: &Item, name: &str) -> Result<BTreeSet<u32>, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("attribute {name}: {what}"));
    match item.get(name) {
        None => Ok(BTreeSet::new()),
        Some(AttributeValue::B(blob)) => {
            decode_bytes(blob.as_ref()).ok_or_else(|| corrupt("bad id set"))
        }
        Some(AttributeValue::Ns(_)) => attr::get_ns(item, name),
        Some(_) => Err(corrupt("not an id set")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(ids: &[u32]) -> BTreeSet<u32> {
        let set: BTreeSet<u32> = ids.iter().copied().collect();
        let item = Item::from([("ops".to_string(), encode(&set))]);
        get(&item, "ops").unwrap()
    }

    #[test]
    fn sets_round_trip_including_large_and_sparse_ids() {
        for ids in [
            vec![],
            vec![0],
            vec![1],
            vec![1, 2, 3, 200, 1_099],
            vec![127, 128, 16_383, 16_384],
            vec![5, 1_000_001, 2_000_000_000, u32::MAX],
        ] {
            assert_eq!(round_trip(&ids), ids.iter().copied().collect(), "{ids:?}");
        }
    }

    #[test]
    fn consecutive_pages_take_a_byte_each() {
        let pages: BTreeSet<u32> = (1..=1_099).collect();
        let AttributeValue::B(blob) = encode(&pages) else {
            panic!("not binary");
        };
        assert_eq!(blob.as_ref().len(), 1_099);
    }

    #[test]
    fn number_sets_of_older_items_are_still_read() {
        let item = Item::from([(
            "ops".to_string(),
            AttributeValue::Ns(vec!["3".into(), "1".into(), "2".into()]),
        )]);
        assert_eq!(get(&item, "ops").unwrap(), BTreeSet::from([1, 2, 3]));
        assert!(get(&Item::new(), "ops").unwrap().is_empty());
    }

    #[test]
    fn cut_or_foreign_values_are_reported_not_guessed() {
        let cut = Item::from([("ops".to_string(), AttributeValue::B(Blob::new(vec![0x81])))]);
        assert!(matches!(get(&cut, "ops"), Err(StoreError::Corrupt(_))));
        let overflow = Item::from([(
            "ops".to_string(),
            AttributeValue::B(Blob::new(vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])),
        )]);
        assert!(matches!(get(&overflow, "ops"), Err(StoreError::Corrupt(_))));
        let too_wide = Item::from([(
            "ops".to_string(),
            AttributeValue::B(Blob::new(vec![0xff, 0xff, 0xff, 0xff, 0x7f])),
        )]);
        assert!(matches!(get(&too_wide, "ops"), Err(StoreError::Corrupt(_))));
        let text = Item::from([("ops".to_string(), AttributeValue::S("1,2".into()))]);
        assert!(matches!(get(&text, "ops"), Err(StoreError::Corrupt(_))));
    }
}
