//! Reading and writing DynamoDB attribute maps without repeating match arms everywhere.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use super::StoreError;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn ns(values: impl IntoIterator<Item = u32>) -> AttributeValue {
    AttributeValue::Ns(values.into_iter().map(|v| v.to_string()).collect())
}

/// Small numbers as a string set. Same operations as a number set (ADD, DELETE, contains);
/// the local emulator re-validates every member of a number set by decimal parsing on each
/// write of its item, which for a job's 1,100 done pages made the progress item the page
/// phase's main cost there.
pub fn ss_u32(values: impl IntoIterator<Item = u32>) -> AttributeValue {
    AttributeValue::Ss(values.into_iter().map(|v| v.to_string()).collect())
}

fn corrupt(name: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("attribute {name}: {what}"))
}

pub fn get_s(item: &Item, name: &str) -> Result<String, StoreError> {
    get_s_opt(item, name)?.ok_or_else(|| corrupt(name, "missing"))
}

pub fn get_s_opt(item: &Item, name: &str) -> Result<Option<String>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
        Some(_) => Err(corrupt(name, "not a string")),
    }
}

pub fn get_n_opt<T: std::str::FromStr>(item: &Item, name: &str) -> Result<Option<T>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| corrupt(name, "not a number of the expected kind")),
        Some(_) => Err(corrupt(name, "not a number")),
    }
}

pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    get_n_opt(item, name)?.ok_or_else(|| corrupt(name, "missing"))
}

pub fn get_bool_opt(item: &Item, name: &str) -> Result<Option<bool>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(corrupt(name, "not a boolean")),
    }
}

/// A set of small numbers stored as a number set or (see [`ss_u32`]) a string set.
pub fn get_ns(item: &Item, name: &str) -> Result<BTreeSet<u32>, StoreError> {
    match item.get(name) {
        None => Ok(BTreeSet::new()),
        Some(AttributeValue::Ns(values) | AttributeValue::Ss(values)) => values
            .iter()
            .map(|v| v.parse().map_err(|_| corrupt(name, "bad set member")))
            .collect(),
        Some(_) => Err(corrupt(name, "not a number set")),
    }
}

pub fn get_string_list(item: &Item, name: &str) -> Result<Vec<String>, StoreError> {
    match item.get(name) {
        None => Ok(Vec::new()),
        Some(AttributeValue::L(values)) => values
            .iter()
            .map(|v| match v {
                AttributeValue::S(s) => Ok(s.clone()),
                _ => Err(corrupt(name, "list member is not a string")),
            })
            .collect(),
        Some(_) => Err(corrupt(name, "not a list")),
    }
}
