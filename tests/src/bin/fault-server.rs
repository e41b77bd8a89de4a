//! `fault-server`: a minimal hand-written MCP stdio server that misbehaves on demand, the
//! upstream of `tests/tests/faults.rs`.
//!
//! Newline-delimited JSON-RPC on stdin/stdout, logs on stderr; no SDK, so that every byte it
//! writes is chosen here.
//!
//! ```text
//! fault-server                     # a well-behaved server with the tools below
//! fault-server --hang-initialize   # reads stdin but never answers (initialize included)
//! ```
//!
//! | tool           | arguments           | what it does                                          |
//! | :-             | :-                  | :-                                                    |
//! | `echo`         | `{message: string}` | text `message` (missing: -32602 `fault-server: missing message`) |
//! | `pid`          | `{}`                | text: its process id                                  |
//! | `garbage_line` | `{}`                | one line of invalid UTF-8 on stdout, then text `after garbage` |
//! | `close_stdout` | `{}`                | closes fd 1 and keeps running, never answering        |
//! | `sleep`        | `{ms: integer}`     | text `slept` after `ms` milliseconds                  |
//! | `raw_args`     | any object          | text: the `arguments` it received, as JSON            |
//! | `lookup`       | `{ms: integer}`     | text `looked up #N` after `ms` ms, N counting the lookups this process answered; annotated `readOnlyHint: true` |
//! | `numbered`     | `{ms, slow?, slow_ms?}` | text `call #N`, N counting `numbered` calls as they arrive; sleeps `slow_ms` if N is `slow`, else `ms`; annotated `readOnlyHint: true` |
//! | `numbered_count` | `{}`              | text: how many `numbered` calls arrived so far         |
//! | `exit`         | `{after_ms: integer}` | exits (status 1) after `after_ms` ms, never answering |
//!
//! Calls run concurrently (one thread each). An unknown tool is -32602, an unknown method
//! -32601; notifications are ignored. It exits when stdin closes.

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};

const KNOWN_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
const LATEST: &str = "2025-11-25";
const INVALID_PARAMS: i64 = -32602;
const METHOD_NOT_FOUND: i64 = -32601;

/// Stdout, and whether `close_stdout` closed it (nothing is written after that).
#[derive(Debug, Default)]
struct Out {
    closed: bool,
}

type Stdout = Arc<Mutex<Out>>;

fn log(message: &str) {
    eprintln!("fault-server[{}]: {message}", std::process::id());
}

/// Writes `bytes` (one whole line) to stdout, unless it was closed.
fn write_raw(out: &Stdout, bytes: &[u8]) {
    let state = out.lock().unwrap_or_else(PoisonError::into_inner);
    if state.closed {
        log("stdout is closed: dropping a message");
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        log("writing stdout failed");
    }
}

fn send(out: &Stdout, message: &Value) {
    let mut line = message.to_string().into_bytes();
    line.push(b'\n');
    write_raw(out, &line);
}

fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn text(text: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": text.into()}]})
}

fn tools() -> Value {
    let object = |properties: Value, required: &[&str]| json!({"type": "object", "properties": properties, "required": required});
    json!({"tools": [
        {"name": "echo", "description": "Returns `message`.",
         "inputSchema": object(json!({"message": {"type": "string"}}), &["message"])},
        {"name": "pid", "description": "Returns the process id.",
         "inputSchema": object(json!({}), &[])},
        {"name": "garbage_line", "description": "Writes a line of invalid UTF-8, then answers.",
         "inputSchema": object(json!({}), &[])},
        {"name": "close_stdout", "description": "Closes stdout and never answers.",
         "inputSchema": object(json!({}), &[])},
        {"name": "sleep", "description": "Answers `slept` after `ms` milliseconds.",
         "inputSchema": object(json!({"ms": {"type": "integer"}}), &["ms"])},
        {"name": "raw_args", "description": "Returns the arguments it received, as JSON text.",
         "inputSchema": {"type": "object"}},
        {"name": "lookup", "description": "Answers `looked up` after `ms` milliseconds; changes nothing.",
         "inputSchema": object(json!({"ms": {"type": "integer"}}), &["ms"]),
         "annotations": {"readOnlyHint": true}},
        {"name": "numbered", "description": "Answers `call #N` after `ms` milliseconds (call number `slow` after `slow_ms`).",
         "inputSchema": object(json!({"ms": {"type": "integer"}, "slow": {"type": "integer"}, "slow_ms": {"type": "integer"}}), &["ms"]),
         "annotations": {"readOnlyHint": true}},
        {"name": "numbered_count", "description": "How many `numbered` calls arrived so far.",
         "inputSchema": object(json!({}), &[])},
        {"name": "exit", "description": "Exits the process after `after_ms` milliseconds.",
         "inputSchema": object(json!({"after_ms": {"type": "integer"}}), &["after_ms"])},
    ]})
}

/// Closes fd 1: the read end sees EOF while this process lives on.
#[allow(unsafe_code)]
fn close_fd_1() {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: fd 1 is open (the server has been writing to it). Taking ownership and dropping
    // closes it; `write_raw` never touches stdout again once `closed` is set (under the same
    // lock), so no one uses fd 1 — or a later file that reuses the number — as stdout.
    drop(unsafe { OwnedFd::from_raw_fd(1) });
}

/// How many `numbered` calls arrived.
static NUMBERED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs one `tools/call` and returns its answer (`close_stdout` never returns).
fn call_tool(out: &Stdout, id: &Value, params: &Value) -> Value {
    let args = &params["arguments"];
    match params["name"].as_str().unwrap_or_default() {
        "echo" => match args["message"].as_str() {
            Some(message) => result(id, text(message)),
            None => error(id, INVALID_PARAMS, "fault-server: missing message"),
        },
        "pid" => result(id, text(std::process::id().to_string())),
        "garbage_line" => {
            log("writing a line of invalid UTF-8");
            write_raw(out, b"\xff\xfe{\"jsonrpc\":\"2.0\"}\n");
            result(id, text("after garbage"))
        }
        "close_stdout" => {
            {
                let mut state = out.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = std::io::stdout().lock().flush();
                close_fd_1();
                state.closed = true;
            }
            log("closed stdout; sleeping forever");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        "sleep" => {
            let ms = args["ms"].as_u64().unwrap_or(0);
            std::thread::sleep(Duration::from_millis(ms));
            result(id, text("slept"))
        }
        "raw_args" => result(id, text(args.to_string())),
        "lookup" => {
            static LOOKUPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let ms = args["ms"].as_u64().unwrap_or(0);
            std::thread::sleep(Duration::from_millis(ms));
            let n = LOOKUPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            result(id, text(format!("looked up #{n}")))
        }
        "numbered_count" => result(
            id,
            text(
                NUMBERED
                    .load(std::sync::atomic::Ordering::SeqCst)
                    .to_string(),
            ),
        ),
        "numbered" => {
            let n = NUMBERED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let ms = if args["slow"].as_u64() == Some(n) {
                args["slow_ms"].as_u64().unwrap_or(0)
            } else {
                args["ms"].as_u64().unwrap_or(0)
            };
            std::thread::sleep(Duration::from_millis(ms));
            result(id, text(format!("call #{n}")))
        }
        "exit" => {
            let ms = args["after_ms"].as_u64().unwrap_or(0);
            std::thread::sleep(Duration::from_millis(ms));
            log("exiting on request");
            std::process::exit(1);
        }
        other => error(
            id,
            INVALID_PARAMS,
            &format!("fault-server: unknown tool {other}"),
        ),
    }
}

fn handle(out: &Stdout, message: Value) {
    let Some(method) = message["method"].as_str() else {
        return; // A response (the server sends no requests) or junk.
    };
    let Some(id) = message.get("id").cloned() else {
        return; // A notification.
    };
    let answer = match method {
        "initialize" => {
            let asked = message["params"]["protocolVersion"].as_str().unwrap_or("");
            let version = KNOWN_VERSIONS
                .into_iter()
                .find(|v| *v == asked)
                .unwrap_or(LATEST);
            result(
                &id,
                json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "fault-server", "version": env!("CARGO_PKG_VERSION")},
                }),
            )
        }
        "ping" => result(&id, json!({})),
        "tools/list" => result(&id, tools()),
        "tools/call" => {
            let out = Arc::clone(out);
            let params = message["params"].clone();
            std::thread::spawn(move || {
                let answer = call_tool(&out, &id, &params);
                send(&out, &answer);
            });
            return;
        }
        other => error(&id, METHOD_NOT_FOUND, &format!("method not found: {other}")),
    };
    send(out, &answer);
}

fn main() {
    let hang = std::env::args().skip(1).any(|a| a == "--hang-initialize");
    log(if hang {
        "started; will never answer initialize"
    } else {
        "started"
    });
    let out: Stdout = Arc::default();
    let mut stdin = std::io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                log(&format!("reading stdin failed: {e}"));
                break;
            }
        }
        if hang || line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(&line) {
            Ok(message) => handle(&out, message),
            Err(e) => log(&format!("ignoring a line that is not JSON ({e})")),
        }
    }
    log("stdin closed; exiting");
}
