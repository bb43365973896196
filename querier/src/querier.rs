//! The querier service: gathers the chunks a query needs from recent data
//! (ingesters) and the store, then runs the LogQL engine over them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_logql::ast::{Expr, LogExpr, SampleExpr};
use sluice_logql::engine::{self, QueryParams, QueryValue};
use sluice_logql::labels::{Labels, Matcher};
use sluice_logql::stats::QueryStats;
use sluice_storage::chunk::ChunkData;
use sluice_storage::store::Store;

use crate::error::{Error, Result};
use crate::source::PreparedSource;
use crate::tail::PushedStream;

/// One stream's in-memory chunks as an ingester returns them.
pub struct RecentSeries {
    pub labels: Labels,
    pub chunks: Vec<ChunkData>,
}

/// Read access to data not yet (or only just) flushed: the ingesters. In
/// `-target=all` this is the in-process ingester.
#[async_trait::async_trait]
pub trait RecentData: Send + Sync {
    async fn chunks(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<RecentSeries>>;
    async fn series(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<Labels>>;
    /// Names of labels of matching streams, sorted.
    async fn label_names(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<String>> {
        let series = self.series(tenant, matchers, from, through).await?;
        let names: BTreeSet<&str> = series
            .iter()
            .flat_map(|l| l.iter().map(|(k, _)| k))
            .collect();
        Ok(names.into_iter().map(str::to_string).collect())
    }
    /// Values of label `name` over matching streams, sorted.
    async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<String>> {
        let series = self.series(tenant, matchers, from, through).await?;
        let values: BTreeSet<&str> = series.iter().filter_map(|l| l.get(name)).collect();
        Ok(values.into_iter().map(str::to_string).collect())
    }
    /// Chunks, entries and uncompressed bytes per matching stream, for
    /// `/index/stats`, without shipping chunks from a remote source.
    async fn stream_stats(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<RecentStreamStats>> {
        let series = self.chunks(tenant, matchers, from, through).await?;
        Ok(series.iter().map(RecentStreamStats::of).collect())
    }
    /// Entries pushed from now on to streams matching `matchers`, each
    /// batch with the number of entries the source dropped so far for this
    /// tail. Remote sources implement it; the in-process ingester's pushes
    /// reach tails through its `TailHub` instead.
    async fn tail(&self, _tenant: &str, _matchers: &[Matcher]) -> Result<TailFeed> {
        Err(Error::BadRequest(
            "live tail is not available from this recent-data source".into(),
        ))
    }
}

/// One stream's in-memory totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentStreamStats {
    pub labels: Labels,
    pub chunks: u64,
    pub entries: u64,
    /// Uncompressed line bytes.
    pub bytes: u64,
}

impl RecentStreamStats {
    pub fn of(s: &RecentSeries) -> Self {
        let mut st = RecentStreamStats {
            labels: s.labels.clone(),
            chunks: 0,
            entries: 0,
            bytes: 0,
        };
        for c in &s.chunks {
            st.chunks += 1;
            st.entries += c.entry_count() as u64;
            st.bytes += c.blocks().iter().map(|b| b.uncompressed_bytes).sum::<u64>();
        }
        st
    }
}

/// A live tail's feed: pushed stream batches and the source's running
/// total of dropped entries.
pub type TailFeed = futures::stream::BoxStream<'static, Result<(PushedStream, u64)>>;

/// Query limits (`limits_config` keys, Loki's defaults).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuerierConfig {
    /// Longest a query may run before it fails with 504.
    #[serde(with = "secs")]
    pub query_timeout: Duration,
    /// How many chunks are fetched from the store at once.
    pub max_concurrent_fetches: usize,
    /// Engine limits (max entries per query, series, query length, points).
    #[serde(skip)]
    pub engine: engine::Limits,
}

impl Default for QuerierConfig {
    fn default() -> Self {
        QuerierConfig {
            query_timeout: Duration::from_secs(60),
            max_concurrent_fetches: 64,
            engine: engine::Limits::default(),
        }
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}s", d.as_secs()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        sluice_logql::parser::parse_duration(&s)
            .filter(|ns| *ns > 0)
            .map(|ns| Duration::from_nanos(ns as u64))
            .ok_or_else(|| serde::de::Error::custom(format!("invalid duration {s:?}")))
    }
}

#[derive(Clone)]
pub struct Querier {
    pub(crate) store: Store,
    pub(crate) recent: Arc<dyn RecentData>,
    pub(crate) cfg: QuerierConfig,
}

/// Shard `index` of `of`: the streams whose label fingerprint is `index`
/// modulo `of`. The query-frontend runs one sub-query per shard and merges
/// them; a stream always falls in exactly one shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub struct Shard {
    pub index: u32,
    pub of: u32,
}

impl Shard {
    /// Whether the stream with these labels belongs to this shard (`of == 0`
    /// holds everything).
    pub fn contains(&self, labels: &Labels) -> bool {
        self.of == 0 || labels.fingerprint() % u64::from(self.of) == u64::from(self.index)
    }
}

/// A query's value and what evaluating it read.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub value: QueryValue,
    pub stats: QueryStats,
}

/// A stream selection a query reads: matchers over `[from, through)`.
struct Selection {
    matchers: Vec<Matcher>,
    from: i64,
    through: i64,
}

impl Querier {
    pub fn new(store: Store, recent: Arc<dyn RecentData>, cfg: QuerierConfig) -> Self {
        Querier { store, recent, cfg }
    }

    pub fn config(&self) -> &QuerierConfig {
        &self.cfg
    }

    /// Live entries for `matchers` from the recent-data source (ingesters).
    pub async fn tail_feed(&self, tenant: &str, matchers: &[Matcher]) -> Result<TailFeed> {
        self.recent.tail(tenant, matchers).await
    }

    /// Parses and runs a query.
    pub async fn query(
        &self,
        tenant: &str,
        query: &str,
        params: QueryParams,
    ) -> Result<QueryValue> {
        Ok(self.query_shard(tenant, query, params, None).await?.value)
    }

    /// Like `query`, reading only the streams of `shard` (the
    /// query-frontend's sharding hook; `None` reads all), with the read
    /// statistics.
    pub async fn query_shard(
        &self,
        tenant: &str,
        query: &str,
        params: QueryParams,
        shard: Option<Shard>,
    ) -> Result<Answer> {
        let expr = sluice_logql::parser::parse_expr(query)?;
        let fut = self.eval(tenant, expr, params, shard);
        match tokio::time::timeout(self.cfg.query_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout),
        }
    }

    async fn eval(
        &self,
        tenant: &str,
        expr: Expr,
        params: QueryParams,
        shard: Option<Shard>,
    ) -> Result<Answer> {
        let mut sels = Vec::new();
        selections(&expr, params.start, params.end, &mut sels);
        let source = self.prepare(tenant, &sels, shard).await?;
        let limits = self.cfg.engine.clone();
        tokio::task::spawn_blocking(move || -> Result<Answer> {
            let value = engine::evaluate(&expr, &source, &params, &limits)?;
            Ok(Answer {
                value,
                stats: source.read_stats(),
            })
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
    }

    /// Fetches every chunk the selections need: ingesters first, then the
    /// store, so a chunk flushed in between is seen twice (and de-duplicated)
    /// rather than missed.
    async fn prepare(
        &self,
        tenant: &str,
        sels: &[Selection],
        shard: Option<Shard>,
    ) -> Result<PreparedSource> {
        let in_shard = |l: &Labels| shard.is_none_or(|s| s.contains(l));
        let mut src = PreparedSource::default();
        for s in sels {
            for r in self
                .recent
                .chunks(tenant, &s.matchers, s.from, s.through)
                .await?
                .into_iter()
                .filter(|r| in_shard(&r.labels))
            {
                src.add(r.labels, r.chunks);
            }
        }
        for s in sels {
            let series = self
                .store
                .series(tenant, &s.matchers, s.from, s.through)
                .await?;
            let refs: Vec<(Labels, sluice_storage::index::ChunkRef)> = series
                .into_iter()
                .filter(|(l, _)| in_shard(l))
                .flat_map(|(l, refs)| refs.into_iter().map(move |r| (l.clone(), r)))
                .collect();
            let (labels, refs): (Vec<Labels>, Vec<_>) = refs.into_iter().unzip();
            let fetched = self
                .store
                .get_chunks(tenant, &refs, self.cfg.max_concurrent_fetches)
                .await?;
            for (l, c) in labels.into_iter().zip(fetched) {
                src.add(l, vec![c]);
            }
        }
        Ok(src)
    }

    /// Label sets of streams matching `matchers` in `[from, through]`.
    pub async fn series(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<Labels>> {
        let mut set: BTreeSet<Labels> = self
            .recent
            .series(tenant, matchers, from, through)
            .await?
            .into_iter()
            .collect();
        for (l, _) in self.store.series(tenant, matchers, from, through).await? {
            set.insert(l);
        }
        Ok(set.into_iter().collect())
    }

    pub async fn label_names(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<String>> {
        let mut names = BTreeSet::new();
        if matchers.is_empty() {
            names.extend(self.store.label_names(tenant, from, through).await?);
            names.extend(self.recent.label_names(tenant, &[], from, through).await?);
        } else {
            for l in self.series(tenant, matchers, from, through).await? {
                names.extend(l.iter().map(|(k, _)| k.to_string()));
            }
        }
        Ok(names.into_iter().collect())
    }

    pub async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<String>> {
        let mut values: BTreeSet<String> = self
            .store
            .label_values(tenant, name, matchers, from, through)
            .await?
            .into_iter()
            .collect();
        values.extend(
            self.recent
                .label_values(tenant, name, matchers, from, through)
                .await?,
        );
        Ok(values.into_iter().collect())
    }

    /// Streams, chunks, entries and uncompressed bytes matching, for
    /// `/index/stats`.
    pub async fn stats(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<IndexStats> {
        let mut st = IndexStats::default();
        let mut streams = BTreeSet::new();
        for r in self
            .recent
            .stream_stats(tenant, matchers, from, through)
            .await?
        {
            st.chunks += r.chunks;
            st.entries += r.entries;
            st.bytes += r.bytes;
            streams.insert(r.labels);
        }
        for (l, refs) in self.store.series(tenant, matchers, from, through).await? {
            streams.insert(l);
            for r in refs {
                st.chunks += 1;
                st.entries += u64::from(r.entries);
                st.bytes += r.uncompressed_bytes;
            }
        }
        st.streams = streams.len() as u64;
        Ok(st)
    }
}

#[derive(Debug, Default, Serialize)]
pub struct IndexStats {
    pub streams: u64,
    pub chunks: u64,
    pub bytes: u64,
    pub entries: u64,
}

/// Collects the stream selections of a query, widened by each range and
/// offset.
fn selections(expr: &Expr, start: i64, end: i64, out: &mut Vec<Selection>) {
    match expr {
        Expr::Log(l) => out.push(log_sel(l, start, end.saturating_add(1))),
        Expr::Sample(s) => sample_sels(s, start, end, out),
    }
}

fn log_sel(l: &LogExpr, from: i64, through: i64) -> Selection {
    Selection {
        matchers: l.selector.clone(),
        from,
        through,
    }
}

fn sample_sels(s: &SampleExpr, start: i64, end: i64, out: &mut Vec<Selection>) {
    match s {
        SampleExpr::RangeAgg(r) => {
            let lr = &r.range;
            out.push(log_sel(
                &lr.log,
                start - lr.range - lr.offset,
                end - lr.offset + 1,
            ));
        }
        SampleExpr::VectorAgg(v) => sample_sels(&v.expr, start, end, out),
        SampleExpr::Binary(b) => {
            sample_sels(&b.lhs, start, end, out);
            sample_sels(&b.rhs, start, end, out);
        }
        SampleExpr::LabelReplace(l) => sample_sels(&l.expr, start, end, out),
        SampleExpr::Paren(p) => sample_sels(p, start, end, out),
        SampleExpr::Literal(_) | SampleExpr::Vector(_) => {}
    }
}
