//! The HTTP server: routes, start-up (WAL replay behind `/ready`) and
//! graceful shutdown (stop accepting, flush, exit).

use std::sync::Arc;

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sluice_distributor::{Distributor, PushError};
use sluice_ingester::Ingester;
use sluice_proto::logproto::PushRequest;
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
    let ruler = start_ruler(&cfg, &querier);
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
        .merge(ruler)
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

    let grpc_addr: std::net::SocketAddr = format!(
        "{}:{}",
        cfg.server.grpc_listen_address, cfg.server.grpc_listen_port
    )
    .parse()
    .with_context(|| "server.grpc_listen_address/port is not a valid socket address".to_string())?;
    let (health, health_svc) = tonic_health::server::health_reporter();
    health
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    let grpc = tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .add_service(health_svc)
            .serve_with_shutdown(grpc_addr, shutdown_signal())
            .await;
        if let Err(e) = served {
            // like a taken HTTP port, a gRPC port we cannot serve is fatal
            tracing::error!(error = %e, addr = %grpc_addr, "grpc server failed");
            std::process::exit(1);
        }
    });
    tracing::info!(addr = %grpc_addr, "grpc server starting");

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
                health
                    .set_service_status("", tonic_health::ServingStatus::Serving)
                    .await;
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
    grpc.abort();
    if let Some(ing) = slot.get() {
        ing.shutdown().await.context("flushing on shutdown")?;
    }
    tracing::info!("bye");
    Ok(())
}

/// The ruler over `ruler.storage.local.directory` (default
/// `<path_prefix>/rules`), evaluating with the querier; returns its API
/// routes (none when `ruler.enabled` or `ruler.enable_api` is false).
fn start_ruler(cfg: &Config, querier: &Querier) -> Router {
    if !cfg.ruler.enabled {
        return Router::new();
    }
    let dir = cfg.ruler.rules_dir(&cfg.common.path_prefix);
    let ruler = sluice_ruler::Ruler::new(cfg.ruler.clone(), dir, Arc::new(querier.clone()));
    ruler.start();
    if !cfg.ruler.enable_api {
        return Router::new();
    }
    sluice_ruler::api::routes(Arc::new(sluice_ruler::api::ApiState {
        ruler,
        auth_enabled: cfg.auth_enabled,
    }))
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

/// Reads a request body of at most `limit` bytes: a larger declared
/// `Content-Length` is refused with 413 before anything is read, and so is
/// a body that turns out larger while it streams in.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Response> {
    let too_large = |size: String| {
        error_response(
            413,
            &format!("request body too large: {size} bytes, limit: {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > limit as u64) {
        return Err(too_large(n.to_string()));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
        {
            too_large(format!("more than {limit}"))
        } else {
            error_response(400, &format!("reading the request body: {e}"))
        }
    })
}

async fn push(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    ingest(&app, &headers, body, |ct, ce, body, limit, _| {
        sluice_distributor::decode_push(ct, ce, body, limit)
    })
    .await
}

/// `POST /otlp/v1/logs`: OTLP/HTTP logs, protobuf or JSON.
async fn push_otlp(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    ingest(&app, &headers, body, sluice_distributor::decode_otlp).await
}

type Decoder = fn(Option<&str>, Option<&str>, Bytes, usize, i64) -> Result<PushRequest, PushError>;

/// The push path shared by Loki's and OTLP's endpoints: tenant, bounded
/// body, decode, then the distributor (validation, limits, ingester).
async fn ingest(app: &App, headers: &HeaderMap, body: Body, decode: Decoder) -> Response {
    let tenant = match tenant(headers, app.cfg.auth_enabled) {
        Ok(t) => t,
        Err((code, msg)) => return error_response(code.as_u16(), &msg),
    };
    let limit = app.cfg.server.max_request_body_size;
    let body = match read_body(headers, body, limit).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let h = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let now = now_ns();
    let req = match decode(
        h(header::CONTENT_TYPE),
        h(header::CONTENT_ENCODING),
        body,
        limit,
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
