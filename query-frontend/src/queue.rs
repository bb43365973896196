//! Per-tenant fair queues of sub-queries.
//!
//! Each tenant has its own FIFO, bounded by `max_outstanding_per_tenant`
//! (past it, enqueueing fails with 429 "too many outstanding requests").
//! Workers (in-process tasks or remote queriers connected over gRPC) take one
//! job at a time round-robin across tenants, so a tenant with thousands of
//! queued sub-queries cannot starve one with a single query.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use sluice_querier::Answer;
use tokio::sync::{oneshot, Notify};

use crate::error::{Error, Result};
use crate::handler::{QueryHandler, SubQuery};

/// A queued sub-query and where its answer goes.
pub struct Job {
    pub request: SubQuery,
    reply: oneshot::Sender<Result<Answer>>,
}

impl Job {
    /// Sends the answer back to the waiting frontend query (a no-op when
    /// that query was cancelled).
    pub fn reply(self, r: Result<Answer>) {
        let _ = self.reply.send(r);
    }

    /// Completes once the waiting frontend query gave up on this job
    /// (failed, cancelled or timed out): its answer is no longer wanted.
    pub async fn abandoned(&mut self) {
        self.reply.closed().await;
    }
}

#[derive(Default)]
struct State {
    /// Tenants with queued jobs, in round-robin order.
    order: VecDeque<String>,
    queues: HashMap<String, VecDeque<Job>>,
    stopped: bool,
}

pub struct RequestQueue {
    state: Mutex<State>,
    notify: Notify,
    max_outstanding: usize,
}

impl RequestQueue {
    pub fn new(max_outstanding_per_tenant: usize) -> Arc<Self> {
        Arc::new(RequestQueue {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            max_outstanding: max_outstanding_per_tenant,
        })
    }

    /// Queues `request`; the receiver yields its answer.
    pub fn enqueue(&self, request: SubQuery) -> Result<oneshot::Receiver<Result<Answer>>> {
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.state.lock();
            if st.stopped {
                return Err(Error::Stopping);
            }
            let tenant = request.tenant.clone();
            let q = st.queues.entry(tenant.clone()).or_default();
            if q.len() >= self.max_outstanding {
                // jobs of queries that gave up no longer count
                let before = q.len();
                q.retain(|j| !j.reply.is_closed());
                crate::metrics::QUEUE_LENGTH.sub((before - q.len()) as i64);
            }
            if q.len() >= self.max_outstanding {
                crate::metrics::DISCARDED.inc();
                return Err(Error::TooManyOutstanding);
            }
            let was_empty = q.is_empty();
            q.push_back(Job { request, reply: tx });
            crate::metrics::QUEUE_LENGTH.inc();
            if was_empty {
                st.order.push_back(tenant);
            }
        }
        self.notify.notify_one();
        Ok(rx)
    }

    /// Sub-queries queued for `tenant`.
    pub fn queued(&self, tenant: &str) -> usize {
        self.state
            .lock()
            .queues
            .get(tenant)
            .map_or(0, VecDeque::len)
    }

    fn try_dequeue(&self) -> Option<Job> {
        let mut st = self.state.lock();
        while let Some(tenant) = st.order.pop_front() {
            let Some(q) = st.queues.get_mut(&tenant) else {
                continue;
            };
            // skip jobs whose query already gave up (failed or cancelled)
            let mut job = q.pop_front();
            while job.as_ref().is_some_and(|j| j.reply.is_closed()) {
                crate::metrics::QUEUE_LENGTH.dec();
                job = q.pop_front();
            }
            if job.is_some() {
                crate::metrics::QUEUE_LENGTH.dec();
            }
            if q.is_empty() {
                st.queues.remove(&tenant);
            } else {
                st.order.push_back(tenant);
            }
            if job.is_some() {
                return job;
            }
        }
        None
    }

    /// The next job, round-robin across tenants; waits while the queue is
    /// empty, `None` once stopped.
    pub async fn dequeue(&self) -> Option<Job> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.state.lock().stopped {
                return None;
            }
            if let Some(job) = self.try_dequeue() {
                // wake another worker if more work is waiting
                if !self.state.lock().order.is_empty() {
                    self.notify.notify_one();
                }
                return Some(job);
            }
            notified.await;
        }
    }

    /// Fails every queued job with 503 and wakes all workers to exit.
    pub fn stop(&self) {
        let jobs: Vec<Job> = {
            let mut st = self.state.lock();
            st.stopped = true;
            st.order.clear();
            st.queues.drain().flat_map(|(_, q)| q).collect()
        };
        crate::metrics::QUEUE_LENGTH.sub(jobs.len() as i64);
        for j in jobs {
            j.reply(Err(Error::Stopping));
        }
        self.notify.notify_waiters();
    }
}

/// A `QueryHandler` that queues sub-queries for workers and waits for the
/// answer.
#[derive(Clone)]
pub struct QueueHandler {
    queue: Arc<RequestQueue>,
}

impl QueueHandler {
    pub fn new(queue: Arc<RequestQueue>) -> Self {
        QueueHandler { queue }
    }
}

#[async_trait::async_trait]
impl QueryHandler for QueueHandler {
    async fn run(&self, req: SubQuery) -> Result<Answer> {
        let rx = self.queue.enqueue(req)?;
        rx.await.map_err(|_| Error::Query {
            status: 503,
            message: "the querier running this sub-query went away".into(),
        })?
    }
}

/// Starts `n` in-process workers that pull jobs from `queue` and run them
/// on `handler` until the queue stops.
pub fn spawn_workers(
    queue: Arc<RequestQueue>,
    handler: Arc<dyn QueryHandler>,
    n: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..n.max(1))
        .map(|_| {
            let queue = queue.clone();
            let handler = handler.clone();
            tokio::spawn(async move {
                while let Some(job) = queue.dequeue().await {
                    let r = handler.run(job.request.clone()).await;
                    job.reply(r);
                }
            })
        })
        .collect()
}
