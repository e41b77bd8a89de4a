//! Inbound stdio: the gateway as a local MCP server for desktop clients.
//!
//! One JSON-RPC message per line on stdin; answers and notifications, one per line, on stdout
//! (logs go to stderr). Requests run concurrently; one writer task owns stdout. The session ends
//! when stdin closes: requests still running are cancelled.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{broadcast, mpsc};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dispatcher::{Dispatcher, Inbound};
use crate::envelope::Identity;
use crate::jsonrpc::{Message, error_frame};
use crate::lines::{Line, LineCodec};
use crate::outbound::Outbound;
use crate::session::{Downstream, Session, SessionInfo, TransportKind};

/// Longest accepted line.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// Serves MCP on the process's stdin/stdout until stdin closes or `shutdown` fires.
pub async fn serve_stdio(
    dispatcher: Dispatcher,
    notifications: Option<broadcast::Receiver<Outbound>>,
    identity: Option<Identity>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve(
        tokio::io::stdin(),
        tokio::io::stdout(),
        dispatcher,
        notifications,
        identity,
        shutdown,
    )
    .await
}

/// Serves MCP on any line-oriented reader/writer pair (tests use pipes).
pub async fn serve<R, W>(
    reader: R,
    writer: W,
    dispatcher: Dispatcher,
    mut notifications: Option<broadcast::Receiver<Outbound>>,
    identity: Option<Identity>,
    shutdown: CancellationToken,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let session = Arc::new(Session::new(SessionInfo::new(None, TransportKind::Stdio)));
    let (tx, rx) = mpsc::channel::<Outbound>(1024);
    let writer_task = tokio::spawn(crate::lines::write_lines(
        writer,
        rx,
        CancellationToken::new(),
    ));
    let downstream = Downstream::new(tx.clone());
    let tasks = TaskTracker::new();
    let mut lines = FramedRead::new(reader, LineCodec::new(MAX_LINE));
    loop {
        tokio::select! {
            line = lines.next() => {
                let line = match line {
                    None => break,
                    Some(Ok(Line::Message(l))) => l,
                    Some(Ok(Line::TooLong)) => {
                        let e = crate::McpError::invalid_request(format!("message longer than {MAX_LINE} bytes"));
                        let _ = tx.send(Outbound::Response(error_frame(None, &e))).await;
                        continue;
                    }
                    Some(Err(e)) => return Err(e),
                };
                if line.trim_ascii().is_empty() {
                    continue;
                }
                let msg = match Message::parse(&line) {
                    Ok(m) => m,
                    Err(f) => {
                        let _ = tx.send(Outbound::Response(error_frame(f.id.as_ref(), &f.error))).await;
                        continue;
                    }
                };
                let inbound = Inbound { downstream: downstream.clone(), identity: identity.clone(), ..Default::default() };
                match msg {
                    Message::Request(req) => {
                        let dispatcher = dispatcher.clone();
                        let session = session.clone();
                        let tx = tx.clone();
                        tasks.spawn(async move {
                            if let Some(frame) = dispatcher.request(&session, req, inbound).await {
                                let _ = tx.send(Outbound::Response(frame)).await;
                            }
                        });
                    }
                    other => {
                        dispatcher.handle(&session, other, inbound).await;
                    }
                }
            }
            n = async {
                match notifications.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => match n {
                Ok(frame) => {
                    if let Some(frame) = frame.for_session(session.info().serial()) {
                        let _ = tx.try_send(frame);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => notifications = None,
            },
            _ = shutdown.cancelled() => break,
        }
    }
    session.close();
    tasks.close();
    tasks.wait().await;
    drop(downstream);
    drop(tx);
    let _ = writer_task.await;
    Ok(())
}
