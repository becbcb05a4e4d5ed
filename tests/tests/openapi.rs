//! docs/openapi.yaml lists every route the API serves, and nothing it does not.

use std::collections::BTreeSet;

/// Reads `paths:` of the spec: a path at two spaces of indent, its methods at four.
fn spec_routes() -> BTreeSet<(String, String)> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml"))
            .expect("docs/openapi.yaml");
    let mut routes = BTreeSet::new();
    let mut in_paths = false;
    let mut path = String::new();
    for line in text.lines() {
        if !line.starts_with(' ') {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            path = format!("/{p}");
        } else if let Some(m) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')) {
            if ["get", "put", "post", "delete", "patch"].contains(&m) {
                routes.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

#[test]
fn the_spec_and_the_router_list_the_same_routes() {
    let served: BTreeSet<(String, String)> = api::app::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let spec = spec_routes();
    let undocumented: Vec<_> = served.difference(&spec).collect();
    let phantom: Vec<_> = spec.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from docs/openapi.yaml: {undocumented:?}"
    );
    assert!(
        phantom.is_empty(),
        "docs/openapi.yaml lists routes the API does not serve: {phantom:?}"
    );
    assert!(spec.len() >= 19);
}
