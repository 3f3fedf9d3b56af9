//! The API reference a person reads: `/docs` renders the OpenAPI document
//! (operations, parameters, bodies, responses, schemas) and the problem
//! catalogue as one plain HTML page, and `/problems/{code}` shows one entry of
//! the catalogue, so every problem's `type` resolves to its explanation. Both
//! are built in the binary from the same sources as `/openapi.json`: no
//! network, no script, no build step.

use crate::error::ApiError;
use crate::extract::PathOf;
use crate::problem::{CATALOGUE, Code, Entry};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::fmt::Write;
use std::sync::OnceLock;

/// No script runs on these pages; only their own inline style applies.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}\
code,pre{font:14px ui-monospace,monospace;background:#f4f1ec;border-radius:3px}code{padding:0 .2em}\
pre{padding:.6em;overflow-x:auto}table{border-collapse:collapse;width:100%;margin:.5em 0}\
th,td{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}\
h2{border-bottom:2px solid #6f4e37;margin-top:2.5em}h3{margin-top:2em}.method{font-weight:bold;color:#6f4e37}\
nav ul{columns:2}a{color:#6f4e37}";

fn html(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

/// Text made safe to place in HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Markdown-style `code` spans in catalogue text, as HTML.
fn prose(text: &str) -> String {
    esc(text)
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_owned()
            }
        })
        .collect()
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    )
}

/// A schema in a few words: `string, 1-100 characters`, `array of Order`, `integer 0-99`.
fn describe(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{name}\">{name}</a>");
    }
    if let Some(choices) = schema["anyOf"].as_array() {
        let choices: Vec<String> = choices.iter().map(describe).collect();
        return choices.join("; or ");
    }
    let kind = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".into(),
    };
    let mut words = vec![esc(&kind)];
    if kind == "array" {
        words = vec![format!("array of {}", describe(&schema["items"]))];
        if let (Some(lo), Some(hi)) = (schema["minItems"].as_u64(), schema["maxItems"].as_u64()) {
            words.push(format!("{lo} to {hi} items"));
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values
            .iter()
            .map(|v| format!("<code>{}</code>", esc(v.as_str().unwrap_or(&v.to_string()))))
            .collect();
        words.push(format!("one of {}", values.join(", ")));
    }
    match (schema["minimum"].as_i64(), schema["maximum"].as_i64()) {
        (Some(lo), Some(hi)) => words.push(format!("{lo} to {hi}")),
        (Some(lo), None) => words.push(format!("at least {lo}")),
        _ => {}
    }
    match (schema["minLength"].as_u64(), schema["maxLength"].as_u64()) {
        (_, Some(0)) => words.push("empty".into()),
        (Some(lo), Some(hi)) => words.push(format!("{lo} to {hi} characters")),
        _ => {}
    }
    if let Some(format) = schema["format"].as_str() {
        words.push(esc(format));
    }
    if let Some(pattern) = schema["pattern"].as_str()
        && pattern.len() < 40
    {
        words.push(format!("matching <code>{}</code>", esc(pattern)));
    }
    if let Some(description) = schema["description"].as_str() {
        words.push(format!("({})", esc(description)));
    }
    words.join(", ")
}

fn schema_table(out: &mut String, schema: &Value) {
    let Some(properties) = schema["properties"].as_object() else {
        return;
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("<table><tr><th>Field</th><th>Required</th><th>Value</th></tr>");
    for (name, property) in properties {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(name),
            if required.contains(&name.as_str()) {
                "yes"
            } else {
                "no"
            },
            describe(property)
        );
    }
    out.push_str("</table>");
}

fn operation_section(out: &mut String, method: &str, path: &str, op: &Value) {
    let id = op["operationId"].as_str().unwrap_or("");
    let _ = write!(
        out,
        "<h3 id=\"{id}\"><span class=\"method\">{}</span> <code>{}</code></h3><p>{}</p>",
        method.to_uppercase(),
        esc(path),
        esc(op["summary"].as_str().unwrap_or(""))
    );
    let who = match op["security"][0].as_object().and_then(|s| s.keys().next()) {
        Some(scheme) if scheme == "staffKey" => {
            "staff: <code>Authorization: Bearer STAFF_KEY</code>"
        }
        Some(_) => "admin: <code>Authorization: Bearer ADMIN_TOKEN</code>",
        None => "anyone",
    };
    let _ = write!(out, "<p>Who: {who}</p>");
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("<table><tr><th>Parameter</th><th>In</th><th>Value</th><th>Example</th></tr>");
        for p in params {
            let _ = write!(
                out,
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(p["name"].as_str().unwrap_or("")),
                if p["required"] == true {
                    " (required)"
                } else {
                    ""
                },
                esc(p["in"].as_str().unwrap_or("")),
                describe(&p["schema"]),
                esc(&p["example"].to_string())
            );
        }
        out.push_str("</table>");
    }
    if let Some(body) = op["requestBody"]["content"].as_object() {
        for (media, content) in body {
            let _ = write!(
                out,
                "<p>Body (<code>{}</code>): {}</p>",
                esc(media),
                describe(&content["schema"])
            );
            if !content["example"].is_null() {
                let example = serde_json::to_string_pretty(&content["example"]).unwrap_or_default();
                let _ = write!(out, "<pre>{}</pre>", esc(&example));
            }
        }
    }
    out.push_str("<table><tr><th>Status</th><th>Meaning</th><th>Body</th><th>Headers</th></tr>");
    for (status, response) in op["responses"].as_object().into_iter().flatten() {
        let body = response["content"]
            .as_object()
            .and_then(|c| c.iter().next())
            .map(|(media, c)| format!("<code>{}</code> {}", esc(media), describe(&c["schema"])))
            .unwrap_or_else(|| "none".into());
        let headers: Vec<String> = response["headers"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(name, _)| *name != "x-request-id")
            .map(|(name, _)| format!("<code>{}</code>", esc(name)))
            .collect();
        let _ = write!(
            out,
            "<tr><td>{status}</td><td>{}</td><td>{body}</td><td>{}</td></tr>",
            esc(response["description"].as_str().unwrap_or("")),
            headers.join(" ")
        );
    }
    out.push_str("</table>");
}

fn catalogue_table(out: &mut String) {
    out.push_str(
        "<table><tr><th>Status</th><th>Code</th><th>Meaning</th><th>What a client should do</th></tr>",
    );
    for entry in CATALOGUE {
        let code = entry.code.as_str();
        let _ = write!(
            out,
            "<tr id=\"problem-{code}\"><td>{}</td><td><a href=\"/problems/{code}\"><code>{code}</code></a></td><td>{}</td><td>{}</td></tr>",
            entry.status.as_u16(),
            prose(entry.meaning),
            prose(entry.action)
        );
    }
    out.push_str("</table>");
}

fn render_reference(doc: &Value) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<h1>{} API reference</h1><p>Version {}. {}</p>\
<p>The same contract as a machine reads it: <a href=\"/openapi.json\"><code>/openapi.json</code></a>. \
Bodies are JSON (<code>application/json</code>, UTF-8); money is an integer count of the currency's minor unit; \
times are RFC 3339 in UTC; every response carries an <code>x-request-id</code> header.</p>",
        esc(doc["info"]["title"].as_str().unwrap_or("")),
        esc(doc["info"]["version"].as_str().unwrap_or("")),
        prose(doc["info"]["description"].as_str().unwrap_or(""))
    );
    let operations: Vec<(&str, &str, &Value)> = doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(path, methods)| {
            methods
                .as_object()
                .into_iter()
                .flatten()
                .map(move |(method, op)| (path.as_str(), method.as_str(), op))
        })
        .collect();
    out.push_str("<nav><h2>Operations</h2><ul>");
    for (path, method, op) in &operations {
        let _ = write!(
            out,
            "<li><a href=\"#{}\">{} <code>{}</code></a></li>",
            op["operationId"].as_str().unwrap_or(""),
            method.to_uppercase(),
            esc(path)
        );
    }
    out.push_str("<li><a href=\"#problems\">Problem codes</a></li><li><a href=\"#schemas\">Schemas</a></li></ul></nav>");
    let mut tags: Vec<&str> = vec![];
    for (_, _, op) in &operations {
        let tag = op["tags"][0].as_str().unwrap_or("");
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    for tag in tags {
        let _ = write!(out, "<h2>{}</h2>", esc(tag));
        for (path, method, op) in &operations {
            if op["tags"][0] == tag {
                operation_section(&mut out, method, path, op);
            }
        }
    }
    out.push_str("<h2 id=\"problems\">Problem codes</h2><p>Every error is an RFC 9457 problem \
(<code>application/problem+json</code>): <code>type</code>, <code>title</code>, <code>status</code>, \
<code>detail</code>, <code>code</code>, and <code>errors</code> (field, message) when fields are at fault. \
<code>detail</code> is for people; programs act on <code>code</code>.</p>");
    catalogue_table(&mut out);
    out.push_str("<h2 id=\"schemas\">Schemas</h2>");
    for (name, schema) in doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let _ = write!(out, "<h3 id=\"schema-{name}\">{name}</h3>");
        schema_table(&mut out, schema);
    }
    page("Barista API reference", &out)
}

/// `GET /docs`: the whole reference, rendered once.
pub async fn reference(State(state): State<AppState>) -> Response {
    static PAGE: OnceLock<String> = OnceLock::new();
    html(
        PAGE.get_or_init(|| render_reference(&state.documents.openapi_tree()))
            .clone(),
    )
}

fn render_problem(entry: &Entry) -> String {
    let code = entry.code.as_str();
    let body = format!(
        "<p><a href=\"/docs#problems\">All problem codes</a></p><h1>{}</h1>\
<p><code>{code}</code> · HTTP {} · <code>type</code> <code>/problems/{code}</code></p>\
<h2>What it means</h2><p>{}</p><h2>What to do</h2><p>{}</p>",
        esc(entry.title),
        entry.status.as_u16(),
        prose(entry.meaning),
        prose(entry.action)
    );
    page(&format!("{} ({code})", entry.title), &body)
}

/// `GET /problems/{code}`: one catalogue entry, where a problem's `type` points.
pub async fn problem(PathOf(code): PathOf<String>) -> Result<Response, ApiError> {
    let entry = Code::parse(&code)
        .ok_or_else(|| ApiError::not_found(format!("no problem code `{code}`")))?
        .entry();
    Ok(html(render_problem(entry)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_code_spans_are_kept() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(prose("send `a<b` now"), "send <code>a&lt;b</code> now");
    }

    #[test]
    fn the_reference_names_every_operation_schema_and_code() {
        let doc = crate::openapi::document();
        let page = render_reference(&doc);
        for methods in doc["paths"].as_object().unwrap().values() {
            for op in methods.as_object().unwrap().values() {
                let id = op["operationId"].as_str().unwrap();
                assert!(page.contains(&format!("id=\"{id}\"")), "{id}");
            }
        }
        for name in doc["components"]["schemas"].as_object().unwrap().keys() {
            assert!(page.contains(&format!("id=\"schema-{name}\"")), "{name}");
        }
        for entry in CATALOGUE {
            assert!(page.contains(&format!("id=\"problem-{}\"", entry.code)));
        }
        assert!(!page.contains("<script"));
    }
}
