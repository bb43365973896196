//! The HTTP server: routes, start-up (WAL replay behind `/ready`) and
//! graceful shutdown (stop accepting, flush, exit).

use std::sync::Arc;

use anyhow::{bail, Context};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sluice_distributor::{Distributor, PushError, ReplicatingPusher};
use sluice_ingester::Ingester;
use sluice_proto::grpc::{pusher_server, ClientConfig};
use sluice_proto::logproto::PushRequest;
use sluice_proto::service::{Code, IngesterRing, Pusher, ReplicaSet, ServiceError};
use sluice_querier::grpc::{ingester_querier_server, ReplicatedRecentData};
use sluice_querier::http::{error_response, tenant, HttpState};
use sluice_querier::tail::TailHub;
use sluice_querier::{Querier, QuerierConfig, RecentData};
use sluice_ring::{KvStore, KvStoreKind, Lifecycler, Operation, ReplicationSet, RingClient};
use sluice_storage::store::Store;

use crate::config::Config;
use crate::modules::IngesterSlot;

mod ruler;
use ruler::start_ruler;

struct App {
    cfg: Config,
    distributor: Option<Distributor>,
    ingester: Option<Arc<IngesterSlot>>,
    /// Set once the ingester has joined the ring (ACTIVE).
    joined: Arc<std::sync::atomic::AtomicBool>,
    /// The ingester ring as this process reads it; a distributor or querier
    /// is ready once it sees an ACTIVE ingester there.
    ring: Option<Arc<RingClient>>,
}

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let targets = cfg.targets()?;
    let ring_cfg = cfg.ring();
    if !targets.all && ring_cfg.kvstore.store == KvStoreKind::Inmemory {
        bail!(
            "-target={} runs modules in separate processes, which must share a ring: \
             set common.ring.kvstore.store to raft and list its members",
            cfg.target
        );
    }
    let store = Store::new(&cfg.store_config()?).context("opening the object store")?;

    // listen first: with port 0 the ring must advertise the port we got
    let http_addr = format!(
        "{}:{}",
        cfg.server.http_listen_address, cfg.server.http_listen_port
    );
    let listener = tokio::net::TcpListener::bind(&http_addr)
        .await
        .with_context(|| format!("listening on {http_addr}"))?;
    let http_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or(http_addr);
    tracing::info!(%addr, "http server listening");
    let grpc_addr = format!(
        "{}:{}",
        cfg.server.grpc_listen_address, cfg.server.grpc_listen_port
    );
    let grpc_listener = tokio::net::TcpListener::bind(&grpc_addr)
        .await
        .with_context(|| format!("grpc: listening on {grpc_addr}"))?;
    let grpc_port = grpc_listener.local_addr().map(|a| a.port()).unwrap_or(0);
    tracing::info!(grpc_port, target = %cfg.target, "grpc server listening");
    let spec = cfg.instance(http_port, grpc_port);

    let kv = KvStore::open(&ring_cfg.kvstore)
        .await
        .context("opening the ring's membership store")?;
    let ring_key = ring_cfg.key("ring");
    let ring = Arc::new(
        RingClient::start(kv.kv(), &ring_key, ring_cfg.clone())
            .await
            .context("reading the ingester ring")?,
    );
    let ring_view: Arc<dyn IngesterRing> = Arc::new(IngesterRingView(ring.clone()));
    let clients = ClientConfig::default();

    let slot = targets.ingester.then(|| Arc::new(IngesterSlot::default()));
    let local = slot.clone().filter(|_| targets.all);
    let (limits, engine_limits) = crate::config::split_limits(&cfg.limits_config)?;
    let distributor = targets.distributor.then(|| {
        let pusher: Arc<dyn Pusher> = match &local {
            Some(s) => s.clone(),
            None => Arc::new(ReplicatingPusher::grpc(ring_view.clone(), clients)),
        };
        Distributor::new(limits, pusher)
    });
    let app = Arc::new(App {
        cfg: cfg.clone(),
        distributor,
        ingester: slot.clone(),
        joined: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        ring: (!targets.all && (targets.distributor || targets.querier || targets.ruler))
            .then(|| ring.clone()),
    });

    let mut router = Router::new()
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/config", get(config))
        .route("/loki/api/v1/status/buildinfo", get(buildinfo));
    if targets.distributor {
        router = router
            .route("/loki/api/v1/push", post(push))
            .route("/api/prom/push", post(push))
            .route("/otlp/v1/logs", post(push_otlp));
    }
    if targets.ingester {
        router = router
            .route("/flush", post(flush).get(flush))
            .route("/ingester/flush", post(flush));
    }
    let mut router = router
        .with_state(app.clone())
        .merge(sluice_ring::status::router(
            kv.kv(),
            &ring_key,
            ring_cfg.heartbeat_timeout,
        ));
    if let Some(r) = kv.router() {
        router = router.merge(r);
    }
    let mut ruler_handle = None;
    if targets.querier || targets.ruler {
        let recent: Arc<dyn RecentData> = match &local {
            Some(s) => s.clone(),
            // a read from ingesters may take as long as the query may
            None => Arc::new(ReplicatedRecentData::grpc(
                ring_view.clone(),
                ClientConfig {
                    timeout: engine_limits.1,
                    ..clients
                },
            )),
        };
        let qcfg = QuerierConfig {
            max_concurrent_fetches: cfg.querier.max_concurrent,
            query_timeout: engine_limits.1,
            engine: engine_limits.0.clone(),
        };
        let querier = Querier::new(store.clone(), recent, qcfg);
        if targets.ruler {
            let spec = spec.clone();
            let (routes, handle) =
                start_ruler(&cfg, &querier, &store, &kv, &ring_cfg, spec).await?;
            router = router.merge(routes);
            ruler_handle = handle;
        }
        if let Some(addr) = cfg
            .frontend_worker
            .frontend_address
            .as_ref()
            .filter(|_| targets.querier)
        {
            // queriers take split and sharded sub-queries from every
            // frontend the address resolves to, over gRPC
            let handler = Arc::new(sluice_query_frontend::LocalHandler::new(querier.clone()));
            sluice_query_frontend::remote::spawn_pullers(
                addr,
                handler,
                cfg.frontend_worker.parallelism,
            );
            tracing::info!(frontend = %addr, "taking queries from the query-frontend");
        }
        if targets.querier {
            let tail = match &local {
                Some(s) => s.tail(),
                None => Arc::new(TailHub::remote(Default::default())),
            };
            router = router.merge(sluice_querier::http::routes(Arc::new(HttpState {
                querier,
                auth_enabled: cfg.auth_enabled,
                tail,
            })));
        }
    }
    let mut pull_svc = None;
    if targets.query_frontend {
        let fcfg = sluice_query_frontend::FrontendConfig {
            frontend: cfg.frontend.clone(),
            query_range: cfg.query_range.clone(),
            limits: engine_limits.0.clone(),
        };
        let (frontend, queue) = sluice_query_frontend::Frontend::queued(fcfg);
        // queriers connect to the gRPC port to take work
        pull_svc = Some(sluice_query_frontend::remote::PullServer::new(
            queue,
            cfg.frontend.pull_timeout,
            cfg.frontend.querier_timeout,
        ));
        // the frontend's routes end in a proxy to `frontend.downstream_url`
        router = router.merge(sluice_query_frontend::http::routes(
            sluice_query_frontend::http::FrontendHttp::new(frontend, cfg.auth_enabled),
        ));
    } else {
        router = router.fallback(|| async { error_response(404, "404 page not found") });
    }
    let router = router.layer(DefaultBodyLimit::max(cfg.server.max_request_body_size));

    let (health, health_svc) = tonic_health::server::health_reporter();
    health
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    let mut grpc_router = tonic::transport::Server::builder().add_service(health_svc);
    if let Some(slot) = &slot {
        grpc_router = grpc_router
            .add_service(pusher_server(slot.clone()))
            .add_service(ingester_querier_server(slot.clone(), Some(slot.tail())));
    }
    if let Some(pull) = pull_svc {
        grpc_router = grpc_router.add_service(pull.service());
    }
    let grpc_incoming = tonic::transport::server::TcpIncoming::from(grpc_listener);
    let grpc = tokio::spawn(async move {
        let served = grpc_router
            .serve_with_incoming_shutdown(grpc_incoming, shutdown_signal())
            .await;
        if let Err(e) = served {
            // like a taken HTTP port, a gRPC port we cannot serve is fatal
            tracing::error!(error = %e, "grpc server failed");
            std::process::exit(1);
        }
    });

    let lifecycler = Arc::new(tokio::sync::Mutex::new(None::<Lifecycler>));
    if let Some(slot) = &slot {
        // replay the WAL in the background, then join the ring; /ready
        // turns 200 when both are done
        let ing_cfg = cfg.ingester.clone();
        let wal_dir = cfg.wal_dir();
        let store = store.clone();
        let replay = tokio::task::spawn_blocking(move || Ingester::open(ing_cfg, wal_dir, store));
        let (slot, app, lifecycler) = (slot.clone(), app.clone(), lifecycler.clone());
        let mut lc_cfg = cfg.ingester.lifecycler.clone();
        lc_cfg.ring = ring_cfg.clone();
        if let Some(p) = lc_cfg.tokens_file_path.as_mut().filter(|p| p.is_relative()) {
            *p = cfg.common.path_prefix.join(&*p);
        }
        let kv = kv.kv();
        tokio::spawn(async move {
            let ing = match replay.await {
                Ok(Ok(ing)) => ing,
                Ok(Err(e)) => fatal(&format!("ingester failed to start: {e}")),
                Err(e) => fatal(&format!("ingester start-up panicked: {e}")),
            };
            ing.spawn_loops();
            slot.set(ing);
            match Lifecycler::start(lc_cfg, spec, &ring_key, kv).await {
                Ok(lc) => *lifecycler.lock().await = Some(lc),
                Err(e) => fatal(&format!("ingester could not join the ring: {e}")),
            }
            app.joined.store(true, std::sync::atomic::Ordering::Release);
            health
                .set_service_status("", tonic_health::ServingStatus::Serving)
                .await;
            tracing::info!("ingester ready");
        });
    } else {
        app.joined.store(true, std::sync::atomic::Ordering::Release);
        health
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
    }

    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("http server")?;
    grpc.abort();
    if let Some(h) = ruler_handle {
        h.leave().await;
    }
    if let Some(ing) = slot.as_ref().and_then(|s| s.get()).cloned() {
        tracing::info!("shutting down: leaving the ring after flushing chunks");
        let flush = || async move { ing.shutdown().await.map_err(|e| e.into()) };
        match lifecycler.lock().await.take() {
            Some(lc) => lc.stop(flush).await.context("leaving the ring")?,
            None => flush()
                .await
                .map_err(|e| anyhow::anyhow!("flushing on shutdown: {e}"))?,
        }
    }
    drop(ring);
    tracing::info!("bye");
    Ok(())
}

fn fatal(msg: &str) -> ! {
    tracing::error!("{msg}");
    std::process::exit(1)
}

/// The ingester ring as the distributor and querier read it.
struct IngesterRingView(Arc<RingClient>);

impl IngesterRing for IngesterRingView {
    fn write_set(&self, token: u32) -> Result<ReplicaSet, ServiceError> {
        replica_set(self.0.ring().get(token, Operation::Write))
    }

    fn read_set(&self) -> Result<ReplicaSet, ServiceError> {
        replica_set(self.0.ring().all_healthy(Operation::Read))
    }
}

fn replica_set(r: sluice_ring::Result<ReplicationSet>) -> Result<ReplicaSet, ServiceError> {
    let set = r.map_err(|e| ServiceError::new(Code::Unavailable, e.to_string()))?;
    Ok(ReplicaSet {
        addrs: set.instances.iter().map(|i| i.grpc_addr.clone()).collect(),
        max_errors: set.max_errors,
    })
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
    let Some(distributor) = &app.distributor else {
        return error_response(404, "this process does not run the distributor");
    };
    match distributor.push(&tenant, req, now).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(e.status(), &e.to_string()),
    }
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    if let Some(ring) = &app.ring {
        let ring = ring.ring();
        if !ring
            .instances()
            .iter()
            .any(|i| ring.is_healthy(i, Operation::Write))
        {
            return error_response(503, "not ready: no healthy ACTIVE ingester in the ring yet");
        }
    }
    let Some(slot) = &app.ingester else {
        return (StatusCode::OK, "ready\n").into_response();
    };
    let joined = app.joined.load(std::sync::atomic::Ordering::Acquire);
    match slot.get() {
        Some(i) if i.is_ready() && joined => (StatusCode::OK, "ready\n").into_response(),
        Some(i) if i.is_ready() => error_response(503, "Ingester not ready: joining the ring"),
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
    let Some(ing) = app.ingester.as_ref().and_then(|s| s.get()) else {
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
