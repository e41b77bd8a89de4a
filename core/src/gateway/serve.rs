//! Running a gateway: HTTP on a listener (hyper, graceful shutdown), or MCP on stdin/stdout.

use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use super::Gateway;
use crate::envelope::PeerAddr;
use crate::upstream::UpstreamStatus;

impl Gateway {
    pub async fn wait_stopped(&self, limit: Duration) {
        let all = async {
            for m in self.aggregate().members() {
                let mut rx = m.upstream.watch_status();
                let _ = rx
                    .wait_for(|s| matches!(s, UpstreamStatus::Down { reason } if reason == crate::upstream::STOPPED))
                    .await;
            }
        };
        let _ = tokio::time::timeout(limit, all).await;
    }

    /// Serves HTTP on `listener` until [`Gateway::shutdown`].
    pub async fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let shutdown = self.inner.shutdown.clone();
        loop {
            let (stream, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.cancelled() => break,
            };
            let _ = stream.set_nodelay(true);
            // Every request carries the address it came from (for routes that serve loopback
            // callers only, such as the admin page without authentication).
            let router = self.router();
            let service = TowerToHyperService::new(tower::util::MapRequest::new(
                router,
                move |mut req: http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(PeerAddr(peer));
                    req
                },
            ));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
        drop(listener);
        let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
        Ok(())
    }

    /// Serves MCP on stdin/stdout until stdin closes or [`Gateway::shutdown`].
    pub async fn serve_stdio(&self) -> std::io::Result<()> {
        crate::server::stdio::serve_stdio(
            self.dispatcher().clone(),
            Some(self.aggregate().subscribe()),
            None,
            self.inner.shutdown.clone(),
        )
        .await
    }
}
