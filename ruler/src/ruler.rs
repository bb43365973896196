//! The ruler: keeps the rule groups of the rules directory loaded (polled
//! for changes), runs one evaluation task per group it owns on the group's
//! interval, and hands alerts to the notifier and recorded samples to the
//! remote writer. Which groups this ruler owns is decided by a
//! [`GroupOwnership`] (everything, until a ring says otherwise). With
//! object storage the rules directory is a cache of the object store's
//! `rules/` tree, refreshed before each poll (see [`crate::object`]).

mod changes;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sluice_logql::engine::Sample;
use tokio::task::JoinHandle;

use crate::alert::{AlertingState, LabelSet, Notification, TemplateContext};
use crate::config::RulerConfig;
use crate::error::Result;
use crate::notifier::Notifier;
use crate::object::ObjectRules;
use crate::remote_write::{Recorded, RemoteWriter};
use crate::rules::{Group, RuleGroup, RuleKind};
use crate::store::{LocalStore, Signature};
use crate::{metrics, now_ns};

/// Decides which rule groups this ruler evaluates; with several rulers
/// each group must be owned by exactly one of them.
pub trait GroupOwnership: Send + Sync {
    fn owns(&self, tenant: &str, namespace: &str, group: &str) -> bool;
}

/// Owns every group: a single ruler.
pub struct OwnAll;

impl GroupOwnership for OwnAll {
    fn owns(&self, _: &str, _: &str, _: &str) -> bool {
        true
    }
}

/// Owns no group: a ruler shutting down.
struct OwnNothing;

impl GroupOwnership for OwnNothing {
    fn owns(&self, _: &str, _: &str, _: &str) -> bool {
        false
    }
}

/// Runs a rule's expression as an instant query.
#[async_trait::async_trait]
pub trait QueryEngine: Send + Sync {
    async fn instant(&self, tenant: &str, expr: &str, ts_ns: i64) -> Result<Vec<Sample>, String>;
}

#[async_trait::async_trait]
impl QueryEngine for sluice_querier::Querier {
    async fn instant(&self, tenant: &str, expr: &str, ts_ns: i64) -> Result<Vec<Sample>, String> {
        use sluice_logql::engine::{QueryParams, QueryValue};
        match self.query(tenant, expr, QueryParams::instant(ts_ns)).await {
            Ok(QueryValue::Vector(v)) => Ok(v),
            Ok(QueryValue::Scalar { ts, value }) => Ok(vec![Sample {
                metric: Default::default(),
                ts,
                value,
            }]),
            Ok(other) => Err(format!(
                "rule result is a {}, expected a vector",
                other.result_type()
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A group's identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    pub tenant: String,
    pub namespace: String,
    pub group: String,
}

/// Health of a rule's last evaluation, as Prometheus reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Ok,
    Err,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// What the API shows of a rule.
#[derive(Clone, Debug)]
pub struct RuleStatus {
    pub alerts: AlertingState,
    pub health: Health,
    pub last_error: String,
    pub last_eval: Option<i64>,
    pub eval_seconds: f64,
}

/// What the API shows of a group.
#[derive(Clone, Debug)]
pub struct GroupStatus {
    pub key: GroupKey,
    pub group: Arc<Group>,
    pub interval: Duration,
    pub rules: Vec<RuleStatus>,
    pub last_eval: Option<i64>,
    pub eval_seconds: f64,
    /// Label sets the group's last evaluation remote-wrote: one gone from
    /// the next evaluation gets a staleness marker.
    pub written: BTreeSet<Vec<(String, String)>>,
    /// Evaluations left before the alerts' `for` state is restored
    /// ([`AlertingState::restore`]); `None` once restored or when the
    /// group does not restore. Until then no `ALERTS` series are written,
    /// as in Prometheus.
    pub restore_in: Option<u32>,
}

/// Prometheus restores a group's `for` state after its second evaluation
/// (the first may run before the data it depends on is in).
const RESTORE_AFTER_EVALUATIONS: u32 = 2;

/// Prometheus's staleness marker: the NaN that ends a series at once
/// rather than after the 5-minute lookback.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

struct Running {
    group: Arc<Group>,
    status: Arc<Mutex<GroupStatus>>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Loaded groups by (tenant, namespace).
type Namespaces = BTreeMap<(String, String), Vec<Arc<Group>>>;

/// The ruler service. Cheap to clone.
#[derive(Clone)]
pub struct Ruler {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: RulerConfig,
    store: LocalStore,
    /// With `storage.type: object`: the source of truth `store` caches.
    objects: Option<ObjectRules>,
    engine: Arc<dyn QueryEngine>,
    ownership: Mutex<Arc<dyn GroupOwnership>>,
    notifier: Notifier,
    remote: RemoteWriter,
    tctx: TemplateContext,
    /// Namespaces as last loaded successfully.
    namespaces: Mutex<Namespaces>,
    running: Mutex<BTreeMap<GroupKey, Running>>,
    signature: Mutex<Option<Signature>>,
}

impl Ruler {
    /// A ruler over `rules_dir`; starts the notifier and remote writers,
    /// so it must be called inside a tokio runtime.
    pub fn new(
        cfg: RulerConfig,
        rules_dir: std::path::PathBuf,
        engine: Arc<dyn QueryEngine>,
    ) -> Self {
        Ruler::with_objects(cfg, rules_dir, engine, None)
    }

    /// A ruler whose rule groups live in `objects` (when given), copied
    /// into `rules_dir` as a cache; otherwise as [`Ruler::new`].
    pub fn with_objects(
        cfg: RulerConfig,
        rules_dir: std::path::PathBuf,
        engine: Arc<dyn QueryEngine>,
        objects: Option<sluice_storage::store::Store>,
    ) -> Self {
        let notifier = Notifier::start(&cfg);
        let remote = RemoteWriter::start(
            cfg.remote_write.endpoints(),
            cfg.remote_write.add_org_id_header,
        );
        let tctx = TemplateContext {
            external_labels: cfg.external_labels.clone(),
            external_url: cfg.external_url.clone(),
        };
        Ruler {
            inner: Arc::new(Inner {
                cfg,
                store: LocalStore::new(rules_dir),
                objects: objects.map(ObjectRules::new),
                engine,
                ownership: Mutex::new(Arc::new(OwnAll)),
                notifier,
                remote,
                tctx,
                namespaces: Mutex::new(BTreeMap::new()),
                running: Mutex::new(BTreeMap::new()),
                signature: Mutex::new(None),
            }),
        }
    }

    /// Replaces the ownership rule (e.g. with the ring's) and re-checks
    /// which groups run here.
    pub fn set_ownership(&self, o: Arc<dyn GroupOwnership>) {
        *self.inner.ownership.lock() = o;
        self.reconcile();
    }

    /// Stops evaluating every group (e.g. before leaving the ruler ring on
    /// shutdown, so the groups' next owners are the only evaluators).
    pub fn stop(&self) {
        self.set_ownership(Arc::new(OwnNothing));
    }

    pub fn config(&self) -> &RulerConfig {
        &self.inner.cfg
    }

    pub fn store(&self) -> &LocalStore {
        &self.inner.store
    }

    /// Loads the rules and polls the directory (after copying the object
    /// store's rules into it, with object storage) every `poll_interval`
    /// (ownership is re-checked each time too).
    pub fn start(&self) -> JoinHandle<()> {
        let r = self.clone();
        tokio::spawn(async move {
            let poll = r.inner.cfg.poll_interval.max(Duration::from_millis(100));
            loop {
                r.refresh().await;
                tokio::time::sleep(poll).await;
            }
        })
    }

    /// Reloads the rules directory if it changed (or always, `force`) and
    /// starts, restarts or stops group tasks to match.
    pub fn sync(&self, force: bool) {
        let sig = self.inner.store.signature();
        {
            let mut last = self.inner.signature.lock();
            if !force && last.as_ref() == Some(&sig) {
                drop(last);
                self.reconcile();
                return;
            }
            *last = Some(sig);
        }
        let mut fresh = BTreeMap::new();
        let old = self.inner.namespaces.lock().clone();
        for ns in self.inner.store.load() {
            let key = (ns.tenant, ns.namespace);
            match ns.groups {
                Ok(groups) => {
                    fresh.insert(key, groups.into_iter().map(Arc::new).collect());
                }
                Err(e) => {
                    // a bad file is rejected; what it held before keeps running
                    tracing::error!(tenant = %key.0, namespace = %key.1, error = %e, "rejecting rule file");
                    if let Some(prev) = old.get(&key) {
                        fresh.insert(key, prev.clone());
                    }
                }
            }
        }
        *self.inner.namespaces.lock() = fresh;
        self.reconcile();
    }

    /// Starts tasks for owned groups that are new or changed and stops
    /// the ones no longer owned; call it when the ownership's answers may
    /// have changed (e.g. the ring changed). The poll loop calls it too.
    pub fn reconcile(&self) {
        let wanted: Vec<(GroupKey, Arc<Group>)> = {
            let ns = self.inner.namespaces.lock();
            ns.iter()
                .flat_map(|((tenant, namespace), groups)| {
                    groups.iter().map(move |g| {
                        let key = GroupKey {
                            tenant: tenant.clone(),
                            namespace: namespace.clone(),
                            group: g.name.clone(),
                        };
                        (key, g.clone())
                    })
                })
                .collect()
        };
        let ownership = self.inner.ownership.lock().clone();
        let mut running = self.inner.running.lock();
        // like Loki's per-tenant rule managers, the groups a tenant starts
        // with here restore their alerts' `for` state; groups added later
        // start afresh
        let tenants: BTreeSet<String> = running.keys().map(|k| k.tenant.clone()).collect();
        let mut next = BTreeMap::new();
        let mut started = 0;
        for (key, group) in wanted {
            let owned = self.inner.cfg.tenant_allowed(&key.tenant)
                && ownership.owns(&key.tenant, &key.namespace, &key.group);
            if !owned {
                // another ruler evaluates it: like Loki's ruler, this one
                // just stops (no resolved notifications; the owner sends
                // the alerts from now on) and forgets the group's state
                continue;
            }
            let prev = match running.remove(&key) {
                Some(p) if p.group.source == group.source => {
                    next.insert(key, p);
                    continue;
                }
                prev => prev,
            };
            let restore = prev.is_none() && !tenants.contains(&key.tenant);
            let status = self.new_status(&key, &group, prev.as_ref(), restore);
            let task = Some(self.spawn_group(key.clone(), group.clone(), status.clone()));
            started += 1;
            next.insert(
                key,
                Running {
                    group,
                    status,
                    task,
                },
            );
        }
        if started > 0 || !running.is_empty() {
            tracing::info!(
                evaluated = next.len(),
                started,
                stopped = running.len(),
                "rule groups evaluated here changed"
            );
        }
        // groups no longer wanted or owned are dropped here, which stops
        // their tasks
        *running = next;
    }

    fn interval(&self, g: &Group) -> Duration {
        g.interval
            .unwrap_or(self.inner.cfg.evaluation_interval)
            .max(Duration::from_millis(10))
    }

    /// A fresh status, keeping the alerts of rules that kept their name
    /// and expression (Prometheus's `CopyState`); `restore`: the group
    /// restores its alerts' `for` state (see [`GroupStatus::restore_in`]).
    fn new_status(
        &self,
        key: &GroupKey,
        group: &Arc<Group>,
        prev: Option<&Running>,
        restore: bool,
    ) -> Arc<Mutex<GroupStatus>> {
        let old = prev.map(|p| (p.group.clone(), p.status.lock().clone()));
        // series of rules that went away get their staleness markers
        let written = old
            .as_ref()
            .map(|(_, os)| os.written.clone())
            .unwrap_or_default();
        let rules = group
            .rules
            .iter()
            .map(|r| {
                let kept = old.as_ref().and_then(|(og, os)| {
                    og.rules
                        .iter()
                        .position(|o| o.name == r.name && o.expr == r.expr)
                        .and_then(|i| os.rules.get(i).cloned())
                });
                kept.unwrap_or(RuleStatus {
                    alerts: AlertingState::default(),
                    health: Health::Unknown,
                    last_error: String::new(),
                    last_eval: None,
                    eval_seconds: 0.0,
                })
            })
            .collect();
        Arc::new(Mutex::new(GroupStatus {
            key: key.clone(),
            group: group.clone(),
            interval: self.interval(group),
            rules,
            last_eval: None,
            eval_seconds: 0.0,
            written,
            restore_in: restore.then_some(RESTORE_AFTER_EVALUATIONS),
        }))
    }

    fn spawn_group(
        &self,
        key: GroupKey,
        group: Arc<Group>,
        status: Arc<Mutex<GroupStatus>>,
    ) -> JoinHandle<()> {
        let r = self.clone();
        let interval = self.interval(&group);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                r.eval_group(&key, &group, &status, now_ns()).await;
            }
        })
    }

    /// Evaluates every rule of a group at `ts` (unix ns), in order.
    pub async fn eval_group(
        &self,
        key: &GroupKey,
        group: &Group,
        status: &Mutex<GroupStatus>,
        ts: i64,
    ) {
        let t0 = Instant::now();
        let interval = self.interval(group);
        let valid_for = 4 * interval.max(self.inner.cfg.resend_delay);
        let mut to_send = Vec::new();
        let mut alert_series = Vec::new();
        let mut recorded = Vec::new();
        let mut failed = Vec::new();
        for (i, rule) in group.rules.iter().enumerate() {
            let started = Instant::now();
            metrics::EVALUATIONS.inc();
            let result = self.inner.engine.instant(&key.tenant, &rule.expr, ts).await;
            let outcome = match (&rule.kind, result) {
                (_, Err(e)) => Err(e),
                (RuleKind::Recording, Ok(samples)) => self
                    .record(key, group, rule, samples, ts)
                    .map(|out| recorded.extend(out)),
                (RuleKind::Alerting { .. }, Ok(samples)) => {
                    let mut st = status.lock();
                    let restored = st.restore_in.is_none();
                    match st.rules.get_mut(i) {
                        Some(rs) => {
                            let r =
                                rs.alerts
                                    .eval(rule, ts, samples, group.limit, &self.inner.tctx);
                            if restored {
                                alert_series.extend(rs.alerts.series());
                            }
                            to_send.extend(rs.alerts.due(
                                ts,
                                self.inner.cfg.resend_delay,
                                valid_for,
                            ));
                            r
                        }
                        None => Ok(()),
                    }
                }
            };
            if let Err(e) = &outcome {
                failed.push(rule.name.as_str());
                metrics::EVALUATION_FAILURES.inc();
                tracing::warn!(tenant = %key.tenant, namespace = %key.namespace, group = %key.group, rule = %rule.name, error = %e, "rule evaluation failed");
            }
            let mut st = status.lock();
            if let Some(rs) = st.rules.get_mut(i) {
                rs.health = if outcome.is_ok() {
                    Health::Ok
                } else {
                    Health::Err
                };
                rs.last_error = outcome.err().unwrap_or_default();
                rs.last_eval = Some(ts);
                rs.eval_seconds = started.elapsed().as_secs_f64();
            }
        }
        {
            let mut st = status.lock();
            st.last_eval = Some(ts);
            st.eval_seconds = t0.elapsed().as_secs_f64();
        }
        self.notify(to_send);
        recorded.extend(self.alert_samples(key, alert_series, ts));
        self.write(key, status, recorded, &failed, ts);
        let due = {
            let mut st = status.lock();
            match st.restore_in {
                Some(n) if n > 1 => {
                    st.restore_in = Some(n - 1);
                    false
                }
                Some(_) => true,
                None => false,
            }
        };
        if due {
            self.restore(key, group, status, ts).await;
            status.lock().restore_in = None;
        }
    }

    /// Restores the `for` state of the group's active alerts at `ts`: one
    /// query per alerting rule with active alerts and a `for` of at least
    /// `for_grace_period`, at `ts - for` ([`AlertingState::restore`]).
    async fn restore(&self, key: &GroupKey, group: &Group, status: &Mutex<GroupStatus>, ts: i64) {
        let grace = self.inner.cfg.for_grace_period;
        for (i, rule) in group.rules.iter().enumerate() {
            let RuleKind::Alerting { hold, .. } = &rule.kind else {
                continue;
            };
            let active = status
                .lock()
                .rules
                .get(i)
                .is_some_and(|rs| rs.alerts.state() != crate::alert::AlertState::Inactive);
            if *hold < grace || !active {
                continue;
            }
            let check = ts - hold.as_nanos() as i64;
            match self
                .inner
                .engine
                .instant(&key.tenant, &rule.expr, check)
                .await
            {
                Ok(then) => {
                    if let Some(rs) = status.lock().rules.get_mut(i) {
                        rs.alerts.restore(rule, ts, &then, grace, &self.inner.tctx);
                    }
                }
                Err(e) => {
                    tracing::warn!(tenant = %key.tenant, group = %key.group, rule = %rule.name, error = %e, "restoring the alert state failed")
                }
            }
        }
    }

    /// Remote-writes an evaluation's samples, plus a staleness marker for
    /// every series the previous evaluation wrote and this one did not (as
    /// Prometheus's rule manager does), so a resolved alert's `ALERTS` or a
    /// vanished recorded series ends at once.
    fn write(
        &self,
        key: &GroupKey,
        status: &Mutex<GroupStatus>,
        out: Vec<Recorded>,
        failed: &[&str],
        ts: i64,
    ) {
        // a recorded series names its rule in `__name__`, an alert's in
        // `alertname`
        let kept = |labels: &[(String, String)]| {
            labels
                .iter()
                .any(|(k, v)| (k == "__name__" || k == "alertname") && failed.contains(&v.as_str()))
        };
        let out = {
            let mut st = status.lock();
            with_stale_markers(&mut st.written, out, kept, &key.tenant, ts)
        };
        if !self.inner.remote.is_enabled() {
            if !out.is_empty() {
                tracing::debug!(group = %key.group, "rule results dropped: ruler.remote_write is not enabled");
            }
            return;
        }
        self.inner.remote.push(&out);
    }

    /// The `ALERTS` and `ALERTS_FOR_STATE` samples of the group's active
    /// alerts, as Prometheus (and Loki's ruler) records them.
    fn alert_samples(
        &self,
        key: &GroupKey,
        series: Vec<(LabelSet, f64)>,
        ts: i64,
    ) -> Vec<Recorded> {
        series
            .into_iter()
            .map(|(labels, value)| self.recorded(key, labels.into_iter().collect(), value, ts))
            .collect()
    }

    /// A sample to remote-write: `labels` plus the external labels they
    /// lack, empty values dropped (Prometheus reads them as absent).
    fn recorded(
        &self,
        key: &GroupKey,
        mut labels: BTreeMap<String, String>,
        value: f64,
        ts: i64,
    ) -> Recorded {
        for (k, v) in &self.inner.cfg.external_labels {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Recorded {
            tenant: key.tenant.clone(),
            labels: labels.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
            value,
            timestamp_ms: ts / 1_000_000,
        }
    }

    fn notify(&self, mut alerts: Vec<Notification>) {
        for a in &mut alerts {
            for (k, v) in &self.inner.cfg.external_labels {
                if !a.labels.iter().any(|(n, _)| n == k) {
                    a.labels.push((k.clone(), v.clone()));
                }
            }
            a.labels.sort();
        }
        self.inner.notifier.send(&alerts);
    }

    /// A recording rule's samples as remote-write samples: the result's
    /// labels, the rule's, external labels and `__name__`.
    fn record(
        &self,
        key: &GroupKey,
        group: &Group,
        rule: &crate::rules::Rule,
        samples: Vec<Sample>,
        ts: i64,
    ) -> Result<Vec<Recorded>, String> {
        if group.limit > 0 && samples.len() > group.limit {
            return Err(format!(
                "exceeded limit of {} with {} series",
                group.limit,
                samples.len()
            ));
        }
        let out = samples
            .into_iter()
            .map(|s| {
                let mut labels: BTreeMap<String, String> = s
                    .metric
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                for (k, v) in &rule.raw_labels {
                    labels.insert(k.clone(), v.clone());
                }
                labels.insert("__name__".into(), rule.name.clone());
                self.recorded(key, labels, s.value, ts)
            })
            .collect();
        Ok(out)
    }

    /// Statuses of the tenant's groups this ruler evaluates (owns), sorted
    /// by namespace and group.
    pub fn statuses(&self, tenant: &str) -> Vec<GroupStatus> {
        self.inner
            .running
            .lock()
            .iter()
            .filter(|(k, _)| k.tenant == tenant)
            .map(|(_, r)| r.status.lock().clone())
            .collect()
    }

    /// A tenant's rule groups as stored, by namespace.
    pub fn namespaces(&self, tenant: &str) -> BTreeMap<String, Vec<RuleGroup>> {
        self.inner
            .namespaces
            .lock()
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|((_, ns), groups)| {
                (
                    ns.clone(),
                    groups.iter().map(|g| g.source.clone()).collect(),
                )
            })
            .collect()
    }
}

/// `out` plus a staleness marker at `ts` for each label set of `written`
/// (what the previous evaluation wrote) that `out` lacks, except those
/// `kept` (series of rules whose evaluation failed: Prometheus leaves them
/// alone); `written` becomes `out`'s label sets and the kept ones.
fn with_stale_markers(
    written: &mut BTreeSet<Vec<(String, String)>>,
    mut out: Vec<Recorded>,
    kept: impl Fn(&[(String, String)]) -> bool,
    tenant: &str,
    ts: i64,
) -> Vec<Recorded> {
    let mut now: BTreeSet<Vec<(String, String)>> = out.iter().map(|r| r.labels.clone()).collect();
    now.extend(written.iter().filter(|l| kept(l)).cloned());
    let before = std::mem::replace(written, now);
    for labels in before.difference(written) {
        out.push(Recorded {
            tenant: tenant.to_string(),
            labels: labels.clone(),
            value: f64::from_bits(STALE_NAN),
            timestamp_ms: ts / 1_000_000,
        });
    }
    out
}

#[cfg(test)]
#[path = "ruler_tests.rs"]
mod tests;
