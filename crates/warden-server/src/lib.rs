//! Warden's server: the composition root. Builds every component from a validated
//! [`warden_config::Config`], then serves the data plane (front door, invoke, health,
//! metrics) and, on its own thread and runtime, the admin API (kill switch, verdicts, audit).

mod admin;
mod app;
pub mod detection;
mod error;
pub mod eventstream;
pub mod frontdoor;
mod guardapi;
mod indexer;
pub mod killswitch;
mod metrics;
pub mod providers;
pub mod ratelimit;
#[cfg(feature = "bedrock-agent")]
pub mod remote;
mod routes;
pub mod screen;
pub mod sessions;
pub mod toolapi;
pub mod tools;

pub use app::{build, data_plane_id, App, StartupError};
pub use error::ApiError;
pub use metrics::Metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The current time as RFC 3339 with millisecond precision.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(now.millisecond() as u32 * 1_000_000)
        .unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The addresses a running server is bound to.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub data: SocketAddr,
    pub admin: SocketAddr,
}

/// A running server; dropping the handle does not stop it, [`Running::shutdown`] does.
#[derive(Debug)]
pub struct Running {
    pub bound: Bound,
    stop: watch::Sender<bool>,
    data: tokio::task::JoinHandle<std::io::Result<()>>,
    admin: std::thread::JoinHandle<std::io::Result<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish (up to the configured grace period)
    /// and waits for both listeners.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        for t in self.background {
            t.abort();
        }
        let data = self.data.await.map_err(std::io::Error::other)?;
        let admin = tokio::task::spawn_blocking(move || self.admin.join())
            .await
            .map_err(std::io::Error::other)?
            .map_err(|_| std::io::Error::other("admin thread panicked"))?;
        data.and(admin)
    }
}

/// Binds both listeners and starts serving. Must be called inside a Tokio runtime.
pub async fn start(app: Arc<App>) -> std::io::Result<Running> {
    let data_listener = tokio::net::TcpListener::bind(app.config.server.listen).await?;
    let admin_std = std::net::TcpListener::bind(app.config.server.admin_listen)?;
    admin_std.set_nonblocking(true)?;
    let bound = Bound {
        data: data_listener.local_addr()?,
        admin: admin_std.local_addr()?,
    };
    let (stop, stop_rx) = watch::channel(false);
    let grace = Duration::from_millis(app.config.server.shutdown_grace_ms);

    if !app.config.tools.is_empty() {
        app.start_broker()
            .await
            .map_err(|e| std::io::Error::other(format!("tool broker: {e}")))?;
    }
    app.start_judge()
        .await
        .map_err(|e| std::io::Error::other(format!("judge: {e}")))?;
    app.start_exporter()
        .map_err(|e| std::io::Error::other(format!("verdict export: {e}")))?;
    let background = app::spawn_background(app.clone());

    let router = routes::router(app.clone());
    let mut data_stop = stop_rx.clone();
    let data = tokio::spawn(async move {
        let serve = axum::serve(data_listener, router).with_graceful_shutdown(async move {
            let _ = data_stop.wait_for(|s| *s).await;
        });
        let mut grace_stop = stop_rx.clone();
        tokio::select! {
            r = serve => r,
            _ = async {
                let _ = grace_stop.wait_for(|s| *s).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!("grace period over; closing remaining connections");
                Ok(())
            }
        }
    });

    let admin_app = app.clone();
    let mut admin_stop = stop.subscribe();
    let admin = std::thread::Builder::new()
        .name("warden-admin".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(admin_std)?;
                axum::serve(listener, admin::router(admin_app))
                    .with_graceful_shutdown(async move {
                        let _ = admin_stop.wait_for(|s| *s).await;
                    })
                    .await
            })
        })?;
    Ok(Running {
        bound,
        stop,
        data,
        admin,
        background,
    })
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
