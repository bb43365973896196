//! The HTTP server: routes, start-up (WAL replay behind `/ready`) and
//! graceful shutdown (stop accepting, flush, exit).

use std::sync::Arc;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sluice_distributor::Distributor;
use sluice_ingester::Ingester;
use sluice_querier::http::{error_response, tenant, HttpState};
use sluice_querier::{Querier, QuerierConfig};
use sluice_storage::store::Store;

use crate::config::Config;
use crate::modules::IngesterSlot;

struct App {
    cfg: Config,
    distributor: Distributor,
    ingester: Arc<IngesterSlot>,
}

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let store = Store::new(&cfg.store_config()?).context("opening the object store")?;
    let slot = Arc::new(IngesterSlot::default());
    let (limits, engine_limits) = crate::config::split_limits(&cfg.limits_config)?;
    let distributor = Distributor::new(limits, slot.clone());
    let qcfg = QuerierConfig {
        max_concurrent_fetches: cfg.querier.max_concurrent,
        query_timeout: engine_limits.1,
        engine: engine_limits.0,
    };
    let querier = Querier::new(store.clone(), slot.clone(), qcfg);
    let app = Arc::new(App {
        cfg: cfg.clone(),
        distributor,
        ingester: slot.clone(),
    });
    let router = Router::new()
        .route("/loki/api/v1/push", post(push))
        .route("/api/prom/push", post(push))
        .route("/otlp/v1/logs", post(push_otlp))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/config", get(config))
        .route("/flush", post(flush).get(flush))
        .route("/ingester/flush", post(flush))
        .route("/loki/api/v1/status/buildinfo", get(buildinfo))
        .with_state(app.clone())
        .merge(sluice_querier::http::routes(Arc::new(HttpState {
            querier,
            auth_enabled: cfg.auth_enabled,
            tail: slot.tail(),
        })))
        .fallback(|| async { error_response(404, "404 page not found") })
        .layer(DefaultBodyLimit::max(cfg.server.max_request_body_size));

    let addr = format!(
        "{}:{}",
        cfg.server.http_listen_address, cfg.server.http_listen_port
    );
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
    tracing::info!(%addr, "http server listening");

    // replay the WAL in the background; /ready turns 200 when it is done
    let ing_cfg = cfg.ingester.clone();
    let wal_dir = cfg.wal_dir();
    let replay = tokio::task::spawn_blocking(move || Ingester::open(ing_cfg, wal_dir, store));
    let slot2 = slot.clone();
    tokio::spawn(async move {
        match replay.await {
            Ok(Ok(ing)) => {
                ing.spawn_loops();
                slot2.set(ing);
                tracing::info!("ingester ready");
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "ingester failed to start");
                std::process::exit(1);
            }
            Err(e) => {
                tracing::error!(error = %e, "ingester start-up panicked");
                std::process::exit(1);
            }
        }
    });

    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("http server")?;
    tracing::info!("shutting down: flushing chunks");
    if let Some(ing) = slot.get() {
        ing.shutdown().await.context("flushing on shutdown")?;
    }
    tracing::info!("bye");
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

async fn push(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let tenant = match tenant(&headers, app.cfg.auth_enabled) {
        Ok(t) => t,
        Err((code, msg)) => return error_response(code.as_u16(), &msg),
    };
    let h = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let req = match sluice_distributor::decode_push(
        h(header::CONTENT_TYPE),
        h(header::CONTENT_ENCODING),
        body,
        app.cfg.server.max_request_body_size,
    ) {
        Ok(r) => r,
        Err(e) => return error_response(e.status(), &e.to_string()),
    };
    match app.distributor.push(&tenant, req, now_ns()).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(e.status(), &e.to_string()),
    }
}

/// `POST /otlp/v1/logs`: OTLP/HTTP logs, protobuf or JSON.
async fn push_otlp(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let tenant = match tenant(&headers, app.cfg.auth_enabled) {
        Ok(t) => t,
        Err((code, msg)) => return error_response(code.as_u16(), &msg),
    };
    let h = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let now = now_ns();
    let req = match sluice_distributor::decode_otlp(
        h(header::CONTENT_TYPE),
        h(header::CONTENT_ENCODING),
        body,
        app.cfg.server.max_request_body_size,
        now,
    ) {
        Ok(r) => r,
        Err(e) => return error_response(e.status(), &e.to_string()),
    };
    match app.distributor.push(&tenant, req, now).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(e.status(), &e.to_string()),
    }
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    match app.ingester.get() {
        Some(i) if i.is_ready() => (StatusCode::OK, "ready\n").into_response(),
        Some(_) => error_response(503, "Ingester not ready: shutting down"),
        None => error_response(503, "Ingester not ready: replaying the WAL"),
    }
}

async fn metrics() -> Response {
    let mut buf = String::new();
    let enc = prometheus::TextEncoder::new();
    match enc.encode_utf8(&prometheus::gather(), &mut buf) {
        Ok(()) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], buf).into_response(),
        Err(e) => error_response(500, &e.to_string()),
    }
}

async fn config(State(app): State<Arc<App>>) -> Response {
    match serde_yaml::to_string(&app.cfg) {
        Ok(y) => ([(header::CONTENT_TYPE, "text/yaml; charset=utf-8")], y).into_response(),
        Err(e) => error_response(500, &e.to_string()),
    }
}

async fn flush(State(app): State<Arc<App>>) -> Response {
    let Some(ing) = app.ingester.get() else {
        return error_response(503, "Ingester not ready: replaying the WAL");
    };
    match ing.flush(true).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(500, &format!("flush failed: {e}")),
    }
}

async fn buildinfo() -> Response {
    let body = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": option_env!("SLUICE_REVISION").unwrap_or(""),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
