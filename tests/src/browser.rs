//! Headless Chromium (the Debian package `chromium`), driven over the DevTools protocol on a
//! WebSocket: open a page, evaluate JavaScript in it, take screenshots, and collect what the
//! page logged as errors. Started with a throwaway profile; stopped when dropped.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Mutex, oneshot};
use tokio_tungstenite::tungstenite::Message;

use crate::process::ChildProcess;
use crate::scratch::ScratchDir;

type Pending = Arc<std::sync::Mutex<HashMap<i64, oneshot::Sender<Value>>>>;
type Sink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

/// Whether an evaluation failed only because the page was navigating.
fn is_navigating(e: &anyhow::Error) -> bool {
    let text = e.to_string();
    [
        "Inspected target navigated or closed",
        "Execution context was destroyed",
        "Cannot find context with specified id",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// A headless Chromium with one page.
pub struct Browser {
    _process: ChildProcess,
    _profile: ScratchDir,
    sink: Mutex<Sink>,
    pending: Pending,
    events: Arc<std::sync::Mutex<Vec<Value>>>,
    next: AtomicI64,
    session: String,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").finish_non_exhaustive()
    }
}

/// What the browser prints once its DevTools endpoint listens.
const LISTENING: &str = "DevTools listening on ";

fn chromium() -> anyhow::Result<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .context("chromium not found (tests/interop/install.sh installs the Debian package)")
}

impl Browser {
    /// Starts Chromium and opens a blank page.
    pub async fn start() -> anyhow::Result<Self> {
        let profile = ScratchDir::new("chromium")?;
        let mut command = Command::new(chromium()?);
        command.args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--window-size=1280,900",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
        ]);
        command.arg(format!("--user-data-dir={}", profile.path().display()));
        command.arg("about:blank");
        let mut process = ChildProcess::spawn("chromium", command)?;
        let line = process
            .wait_for_line(LISTENING, Duration::from_secs(30))
            .await?;
        let ws = line
            .split_once(LISTENING)
            .map(|(_, url)| url.trim().to_owned())
            .context("no DevTools URL")?;
        let (socket, _) = tokio_tungstenite::connect_async(ws.as_str())
            .await
            .with_context(|| format!("connecting to {ws}"))?;
        let (sink, mut stream) = socket.split();
        let pending: Pending = Arc::default();
        let events: Arc<std::sync::Mutex<Vec<Value>>> = Arc::default();
        {
            let (pending, events) = (pending.clone(), events.clone());
            tokio::spawn(async move {
                while let Some(Ok(message)) = stream.next().await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else {
                        continue;
                    };
                    match value.get("id").and_then(Value::as_i64) {
                        Some(id) => {
                            let waiter = pending.lock().ok().and_then(|mut p| p.remove(&id));
                            if let Some(tx) = waiter {
                                let _ = tx.send(value);
                            }
                        }
                        None => {
                            if let Ok(mut e) = events.lock() {
                                e.push(value);
                            }
                        }
                    }
                }
            });
        }
        let mut browser = Browser {
            _process: process,
            _profile: profile,
            sink: Mutex::new(sink),
            pending,
            events,
            next: AtomicI64::new(1),
            session: String::new(),
        };
        let target = browser
            .send(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await?;
        let target_id = target["targetId"].as_str().context("targetId")?.to_owned();
        let attached = browser
            .send(
                None,
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await?;
        browser.session = attached["sessionId"]
            .as_str()
            .context("sessionId")?
            .to_owned();
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.command(domain, json!({})).await?;
        }
        Ok(browser)
    }

    async fn send(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> anyhow::Result<Value> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = s.into();
        }
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(id, tx);
        }
        self.sink
            .lock()
            .await
            .send(Message::text(message.to_string()))
            .await
            .with_context(|| format!("sending {method}"))?;
        let answer = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .with_context(|| format!("{method}: no answer in 30 s"))?
            .with_context(|| format!("{method}: the browser went away"))?;
        if let Some(e) = answer.get("error") {
            bail!("{method}: {e}");
        }
        Ok(answer["result"].clone())
    }

    /// A DevTools command on the page.
    pub async fn command(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.send(Some(&self.session.clone()), method, params).await
    }

    /// Loads `url` in the page.
    pub async fn open(&self, url: &str) -> anyhow::Result<()> {
        let r = self.command("Page.navigate", json!({"url": url})).await?;
        if let Some(e) = r.get("errorText").and_then(Value::as_str) {
            bail!("navigating to {url}: {e}");
        }
        Ok(())
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    pub async fn eval(&self, expression: &str) -> anyhow::Result<Value> {
        let r = self
            .command(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(e) = r.get("exceptionDetails") {
            bail!("{expression}: {e}");
        }
        Ok(r["result"]["value"].clone())
    }

    /// Evaluates `expression` until it is `true`, at most `limit`.
    pub async fn wait_for(&self, expression: &str, limit: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match self.eval(expression).await {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(_) => {}
                // The page is between two documents (a form submitted, a redirect): ask again.
                Err(e) if is_navigating(&e) => {}
                Err(e) => return Err(e),
            }
            if tokio::time::Instant::now() >= deadline {
                let body = self
                    .eval("document.body ? document.body.innerText : ''")
                    .await
                    .unwrap_or_default();
                bail!("{expression} not true within {limit:?}; the page shows:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A PNG of the page, written to `path`.
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let r = self
            .command("Page.captureScreenshot", json!({"format": "png"}))
            .await?;
        let data = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().context("screenshot data")?)
            .context("screenshot base64")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, data).with_context(|| format!("writing {}", path.display()))
    }

    /// What the page reported as errors so far: uncaught exceptions, `console.error`, and
    /// the browser's own error log entries (failed loads).
    pub fn errors(&self) -> Vec<String> {
        let events = self.events.lock().map(|e| e.clone()).unwrap_or_default();
        events
            .iter()
            .filter_map(|e| match e["method"].as_str() {
                Some("Runtime.exceptionThrown") => {
                    Some(e["params"]["exceptionDetails"].to_string())
                }
                Some("Runtime.consoleAPICalled") if e["params"]["type"] == "error" => {
                    Some(e["params"]["args"].to_string())
                }
                Some("Log.entryAdded") if e["params"]["entry"]["level"] == "error" => {
                    Some(e["params"]["entry"].to_string())
                }
                _ => None,
            })
            .collect()
    }
}
