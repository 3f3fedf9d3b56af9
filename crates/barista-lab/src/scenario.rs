//! Scenario files: a weighted mix of requests against any HTTP service.
//!
//! ```toml
//! [[request]]
//! name = "menu"                        # results are kept per name
//! path = "/v1/shops/demo/menu"         # relative to the TARGET base URL (or url = "http://...")
//! weight = 8                           # relative frequency, default 1
//!
//! [[request]]
//! name = "order"
//! method = "POST"
//! path = "/v1/shops/demo/orders"
//! headers = { "Content-Type" = "application/json" }
//! body = '{"customer_name": "Ana", "lines": [{"item_id": "espresso", "quantity": 1}]}'
//! ```

use crate::http::{Url, request_bytes};
use crate::workload::Entry;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    request: Vec<RequestSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestSpec {
    name: Option<String>,
    #[serde(default = "get")]
    method: String,
    path: Option<String>,
    url: Option<String>,
    #[serde(default = "one")]
    weight: u64,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: String,
}

fn get() -> String {
    "GET".into()
}

fn one() -> u64 {
    1
}

/// Parses a scenario; `base` resolves `path`s. Errors name the file's line.
pub fn parse(text: &str, base: Option<&Url>) -> Result<Vec<Entry>, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
    if file.request.is_empty() {
        return Err("the scenario has no [[request]]".into());
    }
    file.request
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let which = format!("request {}", i + 1);
            let url = match (&r.url, &r.path, base) {
                (Some(u), None, _) => Url::parse(u).map_err(|e| format!("{which}: {e}"))?,
                (None, Some(p), Some(base)) if p.starts_with('/') => base.with_path(p),
                (None, Some(p), _) if !p.starts_with('/') => {
                    return Err(format!("{which}: path {p:?} must start with /"));
                }
                (None, Some(_), None) => {
                    return Err(format!("{which}: a path needs a TARGET base URL"));
                }
                _ => return Err(format!("{which}: give exactly one of path or url")),
            };
            let method = r.method.to_ascii_uppercase();
            if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!("{which}: {:?} is not an HTTP method", r.method));
            }
            if r.weight == 0 {
                return Err(format!("{which}: weight must be at least 1"));
            }
            let headers: Vec<(String, String)> = r.headers.into_iter().collect();
            if headers
                .iter()
                .any(|(k, v)| k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']))
            {
                return Err(format!(
                    "{which}: header names and values must be single lines"
                ));
            }
            let name = r.name.unwrap_or_else(|| format!("{method} {}", url.path));
            let bytes = request_bytes(&method, &url, &headers, r.body.as_bytes());
            Ok(Entry {
                name,
                url,
                weight: r.weight,
                bytes: bytes.into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://127.0.0.1:8080").unwrap()
    }

    #[test]
    fn a_scenario_builds_weighted_named_requests() {
        let entries = parse(
            r#"
[[request]]
name = "menu"
path = "/menu"
weight = 3

[[request]]
method = "post"
url = "http://other:9/orders"
headers = { "Content-Type" = "application/json" }
body = '{"a":1}'
"#,
            Some(&base()),
        )
        .unwrap();
        assert_eq!(entries[0].name, "menu");
        assert_eq!(entries[0].weight, 3);
        assert_eq!(entries[1].name, "POST /orders");
        let text = String::from_utf8(entries[1].bytes.to_vec()).unwrap();
        assert!(
            text.starts_with("POST /orders HTTP/1.1\r\nHost: other:9\r\n")
                && text.ends_with("{\"a\":1}")
        );
    }

    #[test]
    fn syntax_errors_give_the_line() {
        let err = parse("[[request]]\npath = \"/a\"\nweight = = 2\n", Some(&base())).unwrap_err();
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn mistakes_are_named() {
        let err = parse("[[request]]\npath = \"/a\"\nwieght = 2\n", Some(&base())).unwrap_err();
        assert!(err.contains("wieght"), "{err}");
        assert!(
            parse("[[request]]\npath = \"a\"\n", Some(&base()))
                .unwrap_err()
                .contains("must start with /")
        );
        assert!(
            parse("[[request]]\npath = \"/a\"\n", None)
                .unwrap_err()
                .contains("TARGET")
        );
        assert!(
            parse("[[request]]\npath = \"/a\"\nweight = 0\n", Some(&base()))
                .unwrap_err()
                .contains("weight")
        );
        assert!(
            parse("request = []\n", Some(&base()))
                .unwrap_err()
                .contains("no [[request]]")
        );
    }
}
