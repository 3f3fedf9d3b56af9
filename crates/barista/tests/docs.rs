//! The documents under `docs/` say what the code does: their generated
//! sections (between `<!-- generated: NAME -->` and `<!-- end: NAME -->`) must
//! equal what the code produces now. Run with `UPDATE_DOCS=1` to rewrite them
//! after a change, then read the diff.

use std::path::PathBuf;
use std::process::Command;

fn docs(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(file)
}

/// `text` with the section `name` replaced by `body`.
fn with_section(text: &str, name: &str, body: &str) -> String {
    let begin = format!("<!-- generated: {name} -->\n");
    let end = format!("<!-- end: {name} -->");
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("no `{begin}` marker"))
        + begin.len();
    let stop = text[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("no `{end}` marker"))
        + start;
    format!("{}{body}{}", &text[..start], &text[stop..])
}

/// Checks (or, with UPDATE_DOCS=1, rewrites) the generated sections of a document.
fn check_sections(file: &str, sections: &[(&str, String)]) {
    let path = docs(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut expected = text.clone();
    for (name, body) in sections {
        expected = with_section(&expected, name, body);
    }
    if expected == text {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, expected).unwrap();
        return;
    }
    let first = text
        .lines()
        .zip(expected.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(0);
    panic!(
        "docs/{file} is out of date from line {} (run the test with UPDATE_DOCS=1):\n  now:  {:?}\n  want: {:?}",
        first + 1,
        text.lines().nth(first).unwrap_or(""),
        expected.lines().nth(first).unwrap_or("")
    );
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[test]
fn the_api_reference_lists_every_route_and_every_problem_code() {
    let doc = barista_server::openapi_document();
    let mut routes =
        String::from("| Method and path | Who | Success | What it does |\n|---|---|---|---|\n");
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, op) in methods.as_object().unwrap() {
            let who = match op["security"][0].as_object().and_then(|s| s.keys().next()) {
                Some(s) if s == "staffKey" => "staff",
                Some(_) => "admin",
                None => "anyone",
            };
            let success: Vec<&String> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .filter(|s| s.starts_with('2') || s.starts_with('3'))
                .collect();
            let success: Vec<&str> = success.iter().map(|s| s.as_str()).collect();
            routes += &format!(
                "| `{} {path}` | {who} | {} | {} |\n",
                method.to_uppercase(),
                success.join(", "),
                cell(op["summary"].as_str().unwrap())
            );
        }
    }
    let mut problems =
        String::from("| Status | Code | Meaning | What a client should do |\n|---|---|---|---|\n");
    for entry in barista_server::problem::CATALOGUE {
        problems += &format!(
            "| {} | `{}` | {} | {} |\n",
            entry.status.as_u16(),
            entry.code,
            cell(entry.meaning),
            cell(entry.action)
        );
    }
    check_sections("api.md", &[("routes", routes), ("problems", problems)]);
}

/// `barista ARGS --help` as a user sees it, with no `BARISTA_*` variable set.
fn help(args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_barista"));
    command.args(args).arg("--help");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BARISTA_") {
            command.env_remove(name);
        }
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "barista {args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_command_line_reference_shows_every_commands_help() {
    let sections: Vec<(&str, String)> = [
        "barista", "serve", "migrate", "load", "sweep", "doctor", "probe",
    ]
    .into_iter()
    .map(|command| {
        let args: &[&str] = if command == "barista" {
            &[]
        } else {
            &[command]
        };
        (command, format!("```text\n{}```\n", help(args)))
    })
    .collect();
    check_sections("cli.md", &sections);
}
