//! The OpenAPI document checked against every response the suite receives:
//! the status must be documented for the operation, the media type and the
//! required headers must be the documented ones, and a JSON body must
//! validate against the documented schema (JSON Schema 2020-12, formats
//! included). An event stream's events are checked as they are read. So the
//! document cannot drift from what the server really sends without failing
//! the suite, on SQLite and on PostgreSQL alike.

use reqwest::{Client, Method, Request, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

struct Operation {
    method: Method,
    segments: Vec<Option<String>>,
    spec: Value,
}

struct Contract {
    doc: Value,
    operations: Vec<Operation>,
    /// Compiled validators by schema (as JSON text).
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

static CONTRACT: LazyLock<Contract> = LazyLock::new(|| {
    let doc = barista_server::openapi_document();
    let mut operations = vec![];
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, spec) in methods.as_object().unwrap() {
            operations.push(Operation {
                method: method.to_uppercase().parse().unwrap(),
                segments: path
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect(),
                spec: spec.clone(),
            });
        }
    }
    Contract {
        doc,
        operations,
        validators: Mutex::default(),
    }
});

impl Contract {
    fn operation(&self, method: &Method, path: &str) -> Option<&Operation> {
        let parts: Vec<&str> = path.split('/').collect();
        self.operations.iter().find(|op| {
            op.method == method
                && op.segments.len() == parts.len()
                && op
                    .segments
                    .iter()
                    .zip(&parts)
                    .all(|(want, got)| match want {
                        Some(literal) => literal == got,
                        None => !got.is_empty(),
                    })
        })
    }

    /// Validates `instance` against `schema` (which may `$ref` the components).
    fn validate(&self, schema: &Value, instance: &Value, what: &str) {
        let key = schema.to_string();
        let validator = self
            .validators
            .lock()
            .unwrap()
            .entry(key)
            .or_insert_with(|| {
                let mut root = schema.clone();
                root["components"] = self.doc["components"].clone();
                let validator = jsonschema::options()
                    .should_validate_formats(true)
                    .build(&root)
                    .unwrap_or_else(|e| {
                        panic!("the document's schema for {what} does not compile: {e}")
                    });
                Arc::new(validator)
            })
            .clone();
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what} does not match the OpenAPI document:\n  {}\nbody: {instance}",
            errors.join("\n  ")
        );
    }
}

/// The documented response of `method path` with `status`, or a panic saying what is undocumented.
fn documented(method: &Method, path: &str, status: u16) -> (String, Value) {
    let contract = &*CONTRACT;
    let (label, responses) = match contract.operation(method, path) {
        Some(op) => (format!("{method} {path}"), op.spec["responses"].clone()),
        // No route: the fallbacks answer 404 or 405 problems.
        None => (
            format!("{method} {path} (no route)"),
            json!({
                "404": {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
                "405": {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
            }),
        ),
    };
    let response = responses
        .get(status.to_string())
        .cloned()
        .unwrap_or_else(|| {
            panic!("{label} answered {status}, which the OpenAPI document does not list")
        });
    (label, response)
}

/// Checks a whole response (not an event stream) against the document.
pub fn check(
    method: &Method,
    path: &str,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) {
    let (label, response) = documented(method, path, status);
    let what = format!("{label} -> {status}");
    for (name, header) in response["headers"].as_object().into_iter().flatten() {
        if header["required"] == true {
            assert!(
                headers.contains_key(name.as_str()),
                "{what}: no `{name}` header"
            );
        }
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    match response["content"].as_object() {
        None => assert!(body.is_empty(), "{what}: a body where none is documented"),
        Some(content) => {
            let media = content.get(&content_type).unwrap_or_else(|| {
                panic!(
                    "{what}: content type `{content_type}`, documented: {:?}",
                    content.keys()
                )
            });
            if content_type.ends_with("json") {
                let instance: Value = serde_json::from_slice(body)
                    .unwrap_or_else(|e| panic!("{what}: the body is not JSON ({e})"));
                CONTRACT.validate(&media["schema"], &instance, &what);
            }
        }
    }
}

/// Checks one event of a stream: its fields, and its `data` as documented
/// (an Order for `order`, a Pickup for `pickup`).
pub fn check_event(id: Option<&str>, event: &str, data: &Value) {
    let name = if event == "pickup" {
        "PickupEvent"
    } else {
        "OrderEvent"
    };
    let schema = &CONTRACT.doc["components"]["schemas"][name];
    let mut frame = json!({"event": event, "data": data.to_string()});
    if let Some(id) = id {
        frame["id"] = json!(id);
    }
    CONTRACT.validate(schema, &frame, "an event");
    CONTRACT.validate(
        &schema["properties"]["data"]["contentSchema"],
        data,
        "an event's data",
    );
}

/// Sends a request and checks its answer against the document. An event
/// stream is returned as it is, after its status and headers are checked;
/// anything else is read whole, checked, and handed back unchanged.
pub async fn send(client: &Client, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.url().path().to_owned();
    let res = client.execute(request).await.expect("the server answers");
    let status = res.status();
    let is_stream = res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if is_stream {
        let (_, response) = documented(&method, &path, status.as_u16());
        assert!(
            response["content"].get("text/event-stream").is_some(),
            "{method} {path}: an event stream where none is documented"
        );
        return res;
    }
    let headers = res.headers().clone();
    let version = res.version();
    let body = res.bytes().await.expect("a whole body");
    check(&method, &path, status.as_u16(), &headers, &body);
    let mut rebuilt = axum::http::Response::builder()
        .status(status)
        .version(version);
    for (name, value) in &headers {
        rebuilt = rebuilt.header(name, value);
    }
    Response::from(rebuilt.body(body).expect("a response"))
}
