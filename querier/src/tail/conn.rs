//! `GET /loki/api/v1/tail`: one WebSocket connection.
//!
//! The query is checked before upgrading (a bad one gets a plain-text
//! 400, like Loki's `WriteError`). After the upgrade the connection
//! subscribes to the hub first, then sends the back-fill (the last
//! `limit` entries since `start`, read backward, sent oldest first), then
//! live entries through the query's pipeline, at most 100 per frame. An
//! entry both in the back-fill and pushed while it was read is sent once.
//! A ping goes out every second.
//!
//! `delay_for` (whole seconds, at most 5) holds live entries back until
//! their timestamp plus the delay has passed and sends them in timestamp
//! order ([`super::delay`]), as Loki's tailer does.
//!
//! Loki never closes a slow tail: it drops entries and reports them. Here
//! a client that loses more than `max_dropped_entries` entries is closed
//! as too slow right away, even while a send to it is blocked, so a
//! reader that stopped reading cannot pin a connection; so is one that
//! leaves a frame unread for [`SEND_TIMEOUT`]. Both, a tail older than
//! `max_duration`, and a failed back-fill query close with code 1011 and
//! a reason.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;

use axum::response::{IntoResponse, Response};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use sluice_logql::ast::Expr;
use sluice_logql::engine::{QueryParams, QueryValue};
use sluice_logql::labels::Labels;
use sluice_logql::pipeline::{Pipeline, StreamPipeline};
use sluice_logql::source::{Direction, Entry};

use super::delay::DelayBuffer;
use super::frame::{EntryLabels, FrameBuilder};
use super::{PushedStream, Queued, Subscription, TailLimits};
use crate::error::{Error, Result};
use crate::http::{error_response, HttpState, Req};
use crate::params::Params;
use crate::querier::Querier;

/// Longest a frame may wait for the client to take it. Generous: memory is
/// bounded by the per-connection budget anyway, and a reader on a loaded
/// machine must not be mistaken for a stuck one.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing client gets to take the close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);
const NS: i64 = 1_000_000_000;
/// Per-stream pipelines kept per connection before the cache starts over.
const MAX_PIPELINES: usize = 4096;

/// A validated tail request.
struct Plan {
    query: String,
    pipeline: Pipeline,
    matchers: Vec<sluice_logql::labels::Matcher>,
    limit: u32,
    start: i64,
    delay_for: Duration,
}

fn plan(p: &Params, max_limit: u32, now: i64) -> Result<Plan> {
    let query = p.get("query").unwrap_or("").to_string();
    let log = match sluice_logql::parser::parse_expr(&query)? {
        Expr::Log(l) => l,
        Expr::Sample(_) => {
            return Err(Error::BadRequest(
                "tailing is only supported for log queries, not metric queries".into(),
            ))
        }
    };
    let pipeline = Pipeline::new(&log.pipeline)?;
    let limit = p.limit()?;
    if max_limit > 0 && limit > max_limit {
        return Err(Error::BadRequest(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {max_limit})"
        )));
    }
    let mut delay_for = Duration::ZERO;
    if let Some(d) = p.get("delay_for") {
        match d.parse::<i64>() {
            Ok(n) if (0..=5).contains(&n) => delay_for = Duration::from_secs(n as u64),
            Ok(_) => {
                return Err(Error::BadRequest(
                    "delay_for can't be greater than 5".into(),
                ))
            }
            Err(_) => {
                return Err(Error::BadRequest(format!(
                    "invalid delay_for {d:?}: must be a whole number of seconds"
                )))
            }
        }
    }
    Ok(Plan {
        query,
        pipeline,
        matchers: log.selector,
        limit,
        start: p.time("start", now - 3600 * NS)?,
        delay_for,
    })
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The route handler.
pub(crate) async fn tail_handler(
    State(st): State<Arc<HttpState>>,
    ws: std::result::Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    req: Req,
) -> Response {
    let max_limit = st.querier.config().engine.max_entries_limit_per_query;
    let plan = match plan(&req.params, max_limit, now_ns()) {
        Ok(p) => p,
        Err(e) => return error_response(e.status(), &e.to_string()),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rej) => return rej.into_response(),
    };
    let querier = st.querier.clone();
    let shared = st.tail.clone();
    ws.on_upgrade(move |socket| async move {
        // without a local ingester, this connection gets a hub of its own
        // fed by the ingesters' tail streams
        let (hub, feed) = if shared.is_remote() {
            let hub = Arc::new(super::TailHub::new(shared.limits()));
            let feed = remote_feed(&querier, &req.tenant, &plan.matchers, hub.clone()).await;
            (hub, Some(feed))
        } else {
            (shared, None)
        };
        let sub = hub.subscribe(&req.tenant, plan.matchers.clone());
        let (sink, stream) = socket.split();
        let mut t = Tailer {
            sink,
            overflow: sub.overflow_signal(),
            sub: Some(sub),
            delay: (!plan.delay_for.is_zero()).then(|| DelayBuffer::new(plan.delay_for)),
            frame: FrameBuilder::new(req.categorize),
            pipeline: plan.pipeline.clone(),
            pipelines: HashMap::new(),
            seen: HashSet::new(),
            backfill_end: now_ns(),
            limits: hub.limits(),
        };
        let (gone_tx, gone_rx) = tokio::sync::oneshot::channel::<()>();
        let reader = tokio::spawn(async move {
            let mut stream = stream;
            while let Some(Ok(m)) = stream.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
            let _ = gone_tx.send(());
        });
        let (end, task) = match feed {
            Some(Err(e)) => (error("ingester", e.to_string()), None),
            Some(Ok(task)) => (
                t.run(&querier, &req.tenant, &plan, gone_rx).await,
                Some(task),
            ),
            None => (t.run(&querier, &req.tenant, &plan, gone_rx).await, None),
        };
        t.finish(end).await;
        reader.abort();
        if let Some(task) = task {
            task.abort();
        }
    })
}

/// Starts copying the ingesters' tail of `matchers` into `hub`.
async fn remote_feed(
    querier: &crate::Querier,
    tenant: &str,
    matchers: &[sluice_logql::labels::Matcher],
    hub: Arc<super::TailHub>,
) -> crate::Result<tokio::task::JoinHandle<()>> {
    let mut feed = querier.tail_feed(tenant, matchers).await?;
    let tenant = tenant.to_string();
    Ok(tokio::spawn(async move {
        while let Some(Ok((stream, _dropped))) = feed.next().await {
            hub.publish(&tenant, std::slice::from_ref(&stream));
        }
    }))
}

/// Why a tail ended.
enum End {
    /// The client closed or the socket failed: nothing more to send.
    Gone,
    /// The hub signalled too many dropped entries while a send waited.
    Overflow,
    /// Close with 1011 and `reason`; `kind` labels the metric.
    Error { kind: &'static str, reason: String },
}

fn error(kind: &'static str, reason: impl Into<String>) -> End {
    End::Error {
        kind,
        reason: reason.into(),
    }
}

struct Tailer {
    sink: SplitSink<WebSocket, Message>,
    sub: Option<Subscription>,
    /// Signalled by the hub when the connection lost too many entries.
    overflow: Arc<Notify>,
    /// Entries waiting out `delay_for`, if one was asked for.
    delay: Option<DelayBuffer>,
    frame: FrameBuilder,
    pipeline: Pipeline,
    pipelines: HashMap<u64, StreamPipeline>,
    /// (ts, line hash, labels fingerprint) of back-filled entries.
    seen: HashSet<(i64, u64, u64)>,
    backfill_end: i64,
    limits: TailLimits,
}

fn seen_key(ts: i64, line: &[u8], all: &Labels) -> (i64, u64, u64) {
    let mut h = DefaultHasher::new();
    line.hash(&mut h);
    (ts, h.finish(), all.fingerprint())
}

impl Tailer {
    async fn run(
        &mut self,
        querier: &Querier,
        tenant: &str,
        plan: &Plan,
        mut gone: tokio::sync::oneshot::Receiver<()>,
    ) -> End {
        if let Err(end) = self.backfill(querier, tenant, plan).await {
            return end;
        }
        let mut ping = tokio::time::interval(Duration::from_secs(1));
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let deadline = tokio::time::sleep(self.limits.max_duration);
        tokio::pin!(deadline);
        let overflow = self.overflow.clone();
        loop {
            let next_release = self.delay.as_ref().and_then(DelayBuffer::next_release);
            let Some(sub) = self.sub.as_mut() else {
                return End::Gone;
            };
            tokio::select! {
                biased;
                _ = &mut gone => return End::Gone,
                _ = &mut deadline => {
                    return error("max_duration", "reached tail max duration limit")
                }
                _ = overflow.notified() => return self.too_slow(),
                _ = sleep_until_some(next_release), if next_release.is_some() => {
                    if let Err(end) = self.release_due().await {
                        return end;
                    }
                }
                _ = ping.tick() => {
                    if let Err(end) = self.send(Message::Ping(Default::default())).await {
                        return end;
                    }
                }
                batch = sub.recv() => {
                    let Some(batch) = batch else {
                        return error("error", "tail hub closed");
                    };
                    if let Err(end) = self.live(batch).await {
                        return end;
                    }
                }
            }
        }
    }

    /// The last `limit` entries since `start`, oldest first.
    async fn backfill(&mut self, querier: &Querier, tenant: &str, plan: &Plan) -> Result<(), End> {
        let params = QueryParams {
            start: plan.start,
            end: self.backfill_end,
            step: 0,
            direction: Direction::Backward,
            limit: plan.limit,
        };
        if params.start >= params.end {
            return Ok(());
        }
        let streams = match querier.query(tenant, &plan.query, params).await {
            Ok(QueryValue::Streams(s)) => s,
            Ok(_) => return Ok(()),
            Err(e) => return Err(error("error", e.to_string())),
        };
        let mut all: Vec<(&Labels, &sluice_logql::engine::StreamEntry)> = streams
            .iter()
            .flat_map(|s| s.entries.iter().map(move |e| (&s.labels, e)))
            .collect();
        all.sort_by_key(|(_, e)| e.ts);
        for (labels, e) in all {
            self.seen.insert(seen_key(e.ts, &e.line, labels));
            self.frame.push(
                &EntryLabels {
                    all: labels,
                    stream: &e.stream_labels,
                    structured_metadata: &e.structured_metadata,
                    parsed: &e.parsed,
                },
                e.ts,
                &e.line,
            );
            if self.frame.is_full() {
                self.flush().await?;
            }
        }
        if !self.frame.is_empty() {
            self.flush().await?;
        }
        Ok(())
    }

    /// Runs a batch and whatever else is queued through the pipeline and
    /// sends it; with `delay_for`, holds them instead.
    async fn live(&mut self, first: Queued) -> Result<(), End> {
        let mut next = Some(first);
        while let Some(q) = next.take() {
            if let Some(delay) = self.delay.as_mut() {
                delay.push(q.stream, q.arrived, tokio::time::Instant::now(), now_ns());
            } else {
                self.process(&q.stream).await?;
                if let Some(sub) = &self.sub {
                    sub.release(&q.stream);
                }
            }
            next = self.sub.as_mut().and_then(|s| s.try_recv());
        }
        if self.delay.is_some() {
            return self.release_due().await;
        }
        self.end_round().await
    }

    /// Sends the held entries that are due, oldest first.
    async fn release_due(&mut self) -> Result<(), End> {
        let now = tokio::time::Instant::now();
        while let Some(h) = self.delay.as_mut().and_then(|d| d.pop_due(now)) {
            self.process_entries(&h.labels, std::slice::from_ref(&h.entry))
                .await?;
            if let Some(sub) = &self.sub {
                sub.release_bytes(h.cost);
            }
        }
        self.end_round().await
    }

    /// Sends what is left of the frame; closes a client that lost too
    /// many entries.
    async fn end_round(&mut self) -> Result<(), End> {
        if !self.frame.is_empty() {
            self.flush().await?;
        }
        let dropped = self.sub.as_ref().map_or(0, |s| s.dropped_total());
        if dropped > self.limits.max_dropped_entries {
            return Err(self.too_slow());
        }
        Ok(())
    }

    fn too_slow(&self) -> End {
        let dropped = self.sub.as_ref().map_or(0, |s| s.dropped_total());
        error(
            "too_slow",
            format!(
                "tail connection too slow: {dropped} entries dropped, more than max_dropped_entries ({})",
                self.limits.max_dropped_entries
            ),
        )
    }

    async fn process(&mut self, batch: &PushedStream) -> Result<(), End> {
        self.process_entries(&batch.labels, &batch.entries).await
    }

    async fn process_entries(
        &mut self,
        labels: &Arc<Labels>,
        entries: &[Entry],
    ) -> Result<(), End> {
        if self.pipelines.len() >= MAX_PIPELINES {
            self.pipelines.clear();
        }
        let fp = labels.fingerprint();
        let sp = self
            .pipelines
            .entry(fp)
            .or_insert_with(|| self.pipeline.for_stream(labels));
        for e in entries {
            let Some(p) = sp.process(e.ts, &e.line, &e.metadata) else {
                continue;
            };
            if e.ts < self.backfill_end
                && !self.seen.is_empty()
                && self.seen.contains(&seen_key(e.ts, p.line, &p.labels.all))
            {
                continue;
            }
            self.frame.push(
                &EntryLabels {
                    all: &p.labels.all,
                    stream: &p.labels.stream,
                    structured_metadata: &p.labels.structured_metadata,
                    parsed: &p.labels.parsed,
                },
                e.ts,
                p.line,
            );
            if self.frame.is_full() {
                let dropped = self.sub.as_ref().map(|s| s.take_dropped().0);
                let text = self.frame.finish(dropped.as_deref().unwrap_or(&[]));
                send_timed(&mut self.sink, Message::Text(text.into()), &self.overflow).await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), End> {
        let dropped = self.sub.as_ref().map(|s| s.take_dropped().0);
        let text = self.frame.finish(dropped.as_deref().unwrap_or(&[]));
        self.send(Message::Text(text.into())).await
    }

    async fn send(&mut self, m: Message) -> Result<(), End> {
        match send_timed(&mut self.sink, m, &self.overflow).await {
            Err(End::Overflow) => Err(self.too_slow()),
            r => r,
        }
    }

    /// Ends the connection: on an error, stop taking entries at once, then
    /// give the client time to read the close frame and its reason.
    async fn finish(mut self, end: End) {
        let end = match end {
            End::Overflow => self.too_slow(),
            end => end,
        };
        self.sub = None;
        self.delay = None;
        self.pipelines.clear();
        self.seen.clear();
        match end {
            End::Gone => {
                super::metrics::CLOSED.with_label_values(&["client"]).inc();
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.sink.close()).await;
            }
            // turned into `End::Error` above
            End::Overflow => {}
            End::Error { kind, reason } => {
                super::metrics::CLOSED.with_label_values(&[kind]).inc();
                tracing::info!(%reason, kind, "closing tail connection");
                let frame = CloseFrame {
                    code: close_code::ERROR,
                    reason: truncate(&reason, 123).into(),
                };
                let _ = tokio::time::timeout(
                    CLOSE_TIMEOUT,
                    self.sink.send(Message::Close(Some(frame))),
                )
                .await;
            }
        }
    }
}

/// Waits until `at` (never called with `None`: the branch is disabled).
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// Sends `m` unless the client leaves it unread for [`SEND_TIMEOUT`] or
/// the hub signals `overflow` meanwhile.
async fn send_timed(
    sink: &mut SplitSink<WebSocket, Message>,
    m: Message,
    overflow: &Notify,
) -> Result<(), End> {
    let sent = tokio::select! {
        r = tokio::time::timeout(SEND_TIMEOUT, sink.send(m)) => r,
        _ = overflow.notified() => return Err(End::Overflow),
    };
    match sent {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Gone),
        Err(_) => Err(error(
            "send_timeout",
            format!(
                "the client did not read a frame for {}s: too slow, closing the tail",
                SEND_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// At most `max` bytes of `s`, cut at a character boundary (a close
/// frame's reason is limited to 123 bytes).
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn params(q: &str) -> Params {
        Params::parse(Some(q), b"")
    }

    #[test]
    fn validates_before_upgrading() {
        let now = 100 * 3600 * NS;
        let p = plan(
            &params("query=%7Bapp%3D%22a%22%7D+%7C%3D+%22x%22"),
            5000,
            now,
        )
        .unwrap();
        assert_eq!(p.limit, 100);
        assert_eq!(p.start, now - 3600 * NS);
        assert_eq!(p.matchers.len(), 1);
        assert_eq!(p.delay_for, Duration::ZERO);
        let p = plan(&params("query=%7Bapp%3D%22a%22%7D&delay_for=2"), 5000, now).unwrap();
        assert_eq!(p.delay_for, Duration::from_secs(2));
        for (q, want) in [
            ("query=%7Bapp%3D", "parse error"),
            (
                "query=count_over_time(%7Ba%3D%22b%22%7D%5B1m%5D)",
                "only supported for log",
            ),
            ("query=%7Ba%3D%22b%22%7D&limit=6000", "max entries limit"),
            (
                "query=%7Ba%3D%22b%22%7D&delay_for=6",
                "delay_for can't be greater than 5",
            ),
            ("query=%7Ba%3D%22b%22%7D&start=yesterday", "invalid start"),
        ] {
            let e = plan(&params(q), 5000, now).err().unwrap();
            assert_eq!(e.status(), 400, "{q}");
            assert!(e.to_string().contains(want), "{q}: {e}");
        }
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("aé", 2), "a");
    }
}
