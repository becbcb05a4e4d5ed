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

pub fn get_ns(item: &Item, name: &str) -> Result<BTreeSet<u32>, StoreError> {
    match item.get(name) {
        None => Ok(BTreeSet::new()),
        Some(AttributeValue::Ns(values)) => values
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
