//! The queue on NATS JetStream, for workers on many machines.
//!
//! | what | JetStream |
//! |---|---|
//! | jobs | stream `FORNAX_JOBS` (work-queue retention, file storage), subjects `fornax.jobs.<kind>.<class>.m<tier>`; one durable pull consumer per subject, shared by the workers that fit it; the job id is the message id (publisher deduplication) |
//! | outcomes | stream `FORNAX_OUTCOMES`, consumer `scheduler` |
//! | jobs out of deliveries | the server's `MAX_DELIVERIES` advisories, kept in stream `FORNAX_ADVISORIES` so a scheduler that was down still sees them |
//! | workers | KV bucket `fornax-workers`: one key per worker, put at each heartbeat |
//! | settings | KV bucket `fornax-config`, key `queue`: written by the scheduler, read by workers when they join |
//! | artifacts | object store `fornax-artifacts`, content-addressed names |
//!
//! Every stream is on disk, so a restarted nats-server keeps its jobs and outcomes; the
//! client reconnects by itself and callers retry what failed meanwhile.
//!
//! Jobs carry private witnesses and outcomes are trusted only after the node checks them,
//! but whoever reaches an open NATS reads every witness: a deployment gives NATS users
//! ([`NatsAuth`]: user and password, or a credentials file) and TLS (a root certificate the
//! server's must chain to).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_nats::jetstream::{
    self, consumer::PullConsumer, message::PublishMessage as Publish, AckKind,
};
use futures_util::StreamExt;

use super::{
    memory_tier, tiers_within, Admission, BoxFuture, Delivery, Depths, JobSpec, Outcome,
    OutcomeDelivery, Queue, QueueError, QueueSettings, WorkerInfo,
};

const JOBS: &str = "FORNAX_JOBS";
const OUTCOMES: &str = "FORNAX_OUTCOMES";
const ADVISORIES: &str = "FORNAX_ADVISORIES";
const WORKERS: &str = "fornax-workers";
const CONFIG: &str = "fornax-config";
const ARTIFACTS: &str = "fornax-artifacts";

/// How a node or worker authenticates to NATS and checks the server: from
/// `FORNAX_NATS_USER` and `FORNAX_NATS_PASSWORD`, `--nats-creds` and `--nats-ca`. `Debug`
/// does not print the password.
#[derive(Clone, Default)]
pub struct NatsAuth {
    /// User and password.
    pub user_password: Option<(String, String)>,
    /// A NATS credentials file (a user JWT and its nkey seed).
    pub creds_file: Option<std::path::PathBuf>,
    /// A root certificate (PEM) the server's TLS certificate must chain to; with it, TLS is
    /// required.
    pub tls_ca: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsAuth")
            .field("user", &self.user_password.as_ref().map(|(u, _)| u))
            .field("creds_file", &self.creds_file)
            .field("tls_ca", &self.tls_ca)
            .finish()
    }
}

/// Makes `ring` the process's TLS crypto provider, once. The build links two providers
/// (`ring` and `aws-lc-rs`, through different dependencies), and rustls then refuses to guess;
/// every TLS client of the process (NATS, HTTPS) uses this one.
pub fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err only when a provider is installed already: that one stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl NatsAuth {
    /// The connection options these credentials make.
    async fn options(&self) -> Result<async_nats::ConnectOptions, QueueError> {
        install_tls_provider();
        let mut options = match &self.creds_file {
            Some(path) => async_nats::ConnectOptions::with_credentials_file(path.clone())
                .await
                .map_err(|e| {
                    QueueError::Transport(format!("NATS credentials {}: {e}", path.display()))
                })?,
            None => async_nats::ConnectOptions::new(),
        };
        if let Some((user, password)) = &self.user_password {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if let Some(ca) = &self.tls_ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        Ok(options)
    }
}

/// Connects to `url` once (no retries) and asks JetStream for the account's state, for
/// `fornax doctor`: the server's version and the account's streams and consumers.
pub async fn probe(url: &str, auth: &NatsAuth) -> Result<String, QueueError> {
    let client = auth
        .options()
        .await?
        .name("fornax-doctor")
        .connect(url)
        .await
        .map_err(t)?;
    let version = client.server_info().version;
    let account = jetstream::new(client)
        .query_account()
        .await
        .map_err(|e| QueueError::Transport(format!("JetStream: {e} (is it enabled: -js?)")))?;
    Ok(format!(
        "nats-server {version}, JetStream with {} streams and {} consumers",
        account.streams, account.consumers
    ))
}

/// The queue over a NATS server with JetStream.
pub struct JetStreamQueue {
    js: jetstream::Context,
    settings: QueueSettings,
    workers: jetstream::kv::Store,
    artifacts: jetstream::object_store::ObjectStore,
    /// Job consumers by name, created on first use.
    consumers: Mutex<HashMap<String, PullConsumer>>,
    /// The consumer that last had a job: asked first next time.
    last_hit: Mutex<Option<String>>,
    /// The scheduler's consumers (outcomes, advisories); `None` on a worker.
    scheduler: Option<(PullConsumer, PullConsumer)>,
    /// Outcomes fetched and not yet handed out.
    outcomes: Mutex<std::collections::VecDeque<jetstream::Message>>,
    /// When the advisories were last looked at.
    advisories_seen: Mutex<Instant>,
    client: async_nats::Client,
}

/// Whose side of the queue a connection is.
pub enum Role {
    /// The scheduler: sets the cluster's queue settings and reads outcomes.
    Scheduler(QueueSettings),
    /// A worker: reads the settings the scheduler set (waiting for it if it is not up).
    Worker,
}

fn t<E: std::fmt::Display>(e: E) -> QueueError {
    QueueError::transport(e)
}

impl JetStreamQueue {
    /// Connects to `url` (`nats://host:4222`), creating the streams, buckets and
    /// consumers its role needs.
    pub async fn connect(
        url: &str,
        name: &str,
        role: Role,
        auth: &NatsAuth,
    ) -> Result<Self, QueueError> {
        let client = auth
            .options()
            .await?
            .name(name)
            .retry_on_initial_connect()
            .connect(url)
            .await
            .map_err(t)?;
        let js = jetstream::new(client.clone());
        let config_kv = js
            .create_or_update_key_value(jetstream::kv::Config {
                bucket: CONFIG.into(),
                history: 1,
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(t)?;
        let settings = match &role {
            Role::Scheduler(settings) => {
                let json = serde_json::to_vec(settings).expect("serialisable");
                config_kv.put("queue", json.into()).await.map_err(t)?;
                settings.clone()
            }
            Role::Worker => {
                let mut warned = false;
                loop {
                    if let Some(v) = config_kv.get("queue").await.map_err(t)? {
                        break serde_json::from_slice(&v)
                            .map_err(|e| QueueError::Decode(format!("queue settings: {e}")))?;
                    }
                    if !warned {
                        tracing::info!(url = %url, "waiting for a scheduler to set up the queue");
                        warned = true;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        };
        let file = jetstream::stream::StorageType::File;
        js.create_or_update_stream(jetstream::stream::Config {
            name: JOBS.into(),
            subjects: vec!["fornax.jobs.>".into()],
            retention: jetstream::stream::RetentionPolicy::WorkQueue,
            storage: file,
            duplicate_window: settings.duplicate_window,
            ..Default::default()
        })
        .await
        .map_err(t)?;
        js.create_or_update_stream(jetstream::stream::Config {
            name: OUTCOMES.into(),
            subjects: vec!["fornax.outcomes.>".into()],
            storage: file,
            max_age: Duration::from_secs(7 * 24 * 3600),
            duplicate_window: settings.duplicate_window,
            ..Default::default()
        })
        .await
        .map_err(t)?;
        js.create_or_update_stream(jetstream::stream::Config {
            name: ADVISORIES.into(),
            subjects: vec![format!(
                "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{JOBS}.>"
            )],
            retention: jetstream::stream::RetentionPolicy::WorkQueue,
            storage: file,
            ..Default::default()
        })
        .await
        .map_err(t)?;
        let workers = js
            .create_or_update_key_value(jetstream::kv::Config {
                bucket: WORKERS.into(),
                history: 1,
                // Entries of workers nobody removed (a scheduler that was down) age out.
                max_age: Duration::from_secs(24 * 3600),
                storage: file,
                ..Default::default()
            })
            .await
            .map_err(t)?;
        let artifacts = match js.get_object_store(ARTIFACTS).await {
            Ok(store) => store,
            Err(_) => js
                .create_object_store(jetstream::object_store::Config {
                    bucket: ARTIFACTS.into(),
                    storage: file,
                    ..Default::default()
                })
                .await
                .map_err(t)?,
        };
        let scheduler = match role {
            Role::Scheduler(_) => {
                let consumer = |stream: &'static str| {
                    let js = js.clone();
                    async move {
                        js.get_stream(stream)
                            .await
                            .map_err(t)?
                            .create_consumer(jetstream::consumer::pull::Config {
                                durable_name: Some("scheduler".into()),
                                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                                ack_wait: Duration::from_secs(30),
                                ..Default::default()
                            })
                            .await
                            .map_err(t)
                    }
                };
                Some((consumer(OUTCOMES).await?, consumer(ADVISORIES).await?))
            }
            Role::Worker => None,
        };
        Ok(JetStreamQueue {
            js,
            settings,
            workers,
            artifacts,
            consumers: Mutex::new(HashMap::new()),
            last_hit: Mutex::new(None),
            scheduler,
            outcomes: Mutex::new(Default::default()),
            advisories_seen: Mutex::new(Instant::now()),
            client,
        })
    }

    /// The routing subject of a job.
    fn subject(job: &JobSpec) -> Result<String, QueueError> {
        let tier = memory_tier(job.memory_bytes).ok_or_else(|| {
            QueueError::Decode(format!(
                "job {} needs {} bytes, more than any worker can hold",
                job.id, job.memory_bytes
            ))
        })?;
        Ok(format!("fornax.jobs.{}.{}.m{tier}", job.kind, job.class))
    }

    /// The consumers a worker with this admission pulls from, the last productive first.
    async fn consumers_for(
        &self,
        admit: &Admission,
    ) -> Result<Vec<(String, PullConsumer)>, QueueError> {
        let mut classes = vec!["any".to_string()];
        classes.extend(admit.classes.iter().filter(|c| *c != "any").cloned());
        let mut wanted = Vec::new();
        for kind in &admit.kinds {
            for tier in tiers_within(admit.memory_bytes) {
                for class in &classes {
                    wanted.push((
                        format!("jobs-{kind}-{class}-m{tier}"),
                        format!("fornax.jobs.{kind}.{class}.m{tier}"),
                    ));
                }
            }
        }
        let mut out = Vec::new();
        for (name, subject) in wanted {
            let cached = self
                .consumers
                .lock()
                .expect("consumers lock")
                .get(&name)
                .cloned();
            let consumer = match cached {
                Some(c) => c,
                None => {
                    let c: PullConsumer = self
                        .js
                        .get_stream(JOBS)
                        .await
                        .map_err(t)?
                        .create_consumer(jetstream::consumer::pull::Config {
                            durable_name: Some(name.clone()),
                            filter_subject: subject,
                            ack_policy: jetstream::consumer::AckPolicy::Explicit,
                            ack_wait: self.settings.ack_wait,
                            max_deliver: self.settings.max_deliveries as i64,
                            ..Default::default()
                        })
                        .await
                        .map_err(t)?;
                    self.consumers
                        .lock()
                        .expect("consumers lock")
                        .insert(name.clone(), c.clone());
                    c
                }
            };
            out.push((name, consumer));
        }
        if let Some(hit) = self.last_hit.lock().expect("hit lock").as_ref() {
            if let Some(i) = out.iter().position(|(n, _)| n == hit) {
                let first = out.remove(i);
                out.insert(0, first);
            }
        }
        Ok(out)
    }

    fn delivery(&self, name: &str, message: jetstream::Message) -> Result<JsDelivery, QueueError> {
        let job: JobSpec = serde_json::from_slice(&message.payload)
            .map_err(|e| QueueError::Decode(format!("job: {e}")))?;
        let info = message.info().map_err(t)?;
        let (seq, delivered) = (info.stream_sequence, info.delivered.max(1) as u32);
        *self.last_hit.lock().expect("hit lock") = Some(name.to_string());
        Ok(JsDelivery {
            message,
            job,
            seq,
            delivered,
        })
    }

    /// Publishes `payload` with message id `id` (the server drops a second one within the
    /// duplicate window) and waits until the stream has it.
    async fn publish(&self, subject: String, payload: Vec<u8>, id: &str) -> Result<(), QueueError> {
        self.js
            .send_publish(
                subject,
                Publish::build().payload(payload.into()).message_id(id),
            )
            .await
            .map_err(t)?
            .await
            .map_err(t)?;
        Ok(())
    }

    /// The job at `seq`, if it is still in the stream.
    async fn job_at(&self, seq: u64) -> Result<Option<JobSpec>, QueueError> {
        let stream = self.js.get_stream(JOBS).await.map_err(t)?;
        match stream.get_raw_message(seq).await {
            Ok(m) => Ok(serde_json::from_slice(&m.payload).ok()),
            Err(_) => Ok(None),
        }
    }
}

struct JsDelivery {
    message: jetstream::Message,
    job: JobSpec,
    seq: u64,
    delivered: u32,
}

impl Delivery for JsDelivery {
    fn job(&self) -> &JobSpec {
        &self.job
    }

    fn delivered(&self) -> u32 {
        self.delivered
    }

    fn queue_seq(&self) -> u64 {
        self.seq
    }

    fn progress(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.message.ack_with(AckKind::Progress).await.map_err(t) })
    }

    fn ack(&self) -> BoxFuture<'_, ()> {
        // Not waiting for the server's confirmation: the outcome is already stored, so a
        // lost ack costs one more run whose outcome is ignored. (A draining worker flushes
        // its connection before it leaves.)
        Box::pin(async move { self.message.ack().await.map_err(t) })
    }

    fn nak(&self, delay: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.message
                .ack_with(AckKind::Nak(Some(delay)))
                .await
                .map_err(t)
        })
    }

    fn term(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.message.ack_with(AckKind::Term).await.map_err(t) })
    }
}

/// An outcome from the stream, or the queue's verdict made from an advisory.
struct JsOutcome {
    message: jetstream::Message,
    outcome: Outcome,
}

impl OutcomeDelivery for JsOutcome {
    fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    fn ack(&self) -> BoxFuture<'_, ()> {
        // A lost ack redelivers an outcome that was applied: it changes nothing.
        Box::pin(async move { self.message.ack().await.map_err(t) })
    }
}

/// Up to `n` messages the consumer has now, without waiting.
async fn pull_now(c: &PullConsumer, n: usize) -> Result<Vec<jetstream::Message>, QueueError> {
    let batch = c.fetch().max_messages(n).messages().await.map_err(t)?;
    // An error item ends the batch (no messages, or a status): what came before stands.
    Ok(batch
        .take_while(|m| std::future::ready(m.is_ok()))
        .filter_map(|m| std::future::ready(m.ok()))
        .collect()
        .await)
}

/// The next message of the consumer, waiting up to `expires` for one.
async fn pull_one_within(
    c: &PullConsumer,
    expires: Duration,
) -> Result<Option<jetstream::Message>, QueueError> {
    let mut batch = c
        .batch()
        .max_messages(1)
        .expires(expires)
        .messages()
        .await
        .map_err(t)?;
    Ok(batch.next().await.and_then(Result::ok))
}

/// An outcome message decoded, or `None` (terminated) if it is not one.
async fn decode_outcome(
    m: jetstream::Message,
) -> Result<Option<Box<dyn OutcomeDelivery>>, QueueError> {
    match serde_json::from_slice::<Outcome>(&m.payload) {
        Ok(outcome) => Ok(Some(Box::new(JsOutcome {
            message: m,
            outcome,
        }) as Box<dyn OutcomeDelivery>)),
        Err(e) => {
            // Not ours to apply; drop it rather than see it forever.
            tracing::warn!(error = %e, "dropping an undecodable outcome");
            m.ack_with(AckKind::Term).await.map_err(t)?;
            Ok(None)
        }
    }
}

/// The part of the server's max-deliveries advisory we read.
#[derive(serde::Deserialize)]
struct MaxDeliveries {
    stream_seq: u64,
    deliveries: u32,
}

impl Queue for JetStreamQueue {
    fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    fn submit<'a>(&'a self, job: &'a JobSpec) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let payload = serde_json::to_vec(job).expect("serialisable");
            self.publish(Self::subject(job)?, payload, &job.id).await
        })
    }

    fn take<'a>(
        &'a self,
        admit: &'a Admission,
        wait: Duration,
    ) -> BoxFuture<'a, Option<Box<dyn Delivery>>> {
        Box::pin(async move {
            let consumers = self.consumers_for(admit).await?;
            if consumers.is_empty() {
                tokio::time::sleep(wait).await;
                return Ok(None);
            }
            let deadline = Instant::now() + wait;
            loop {
                // What is there now, in any tier this worker can hold...
                for (name, c) in &consumers {
                    if let Some(m) = pull_now(c, 1).await?.pop() {
                        return Ok(Some(Box::new(self.delivery(name, m)?) as Box<dyn Delivery>));
                    }
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                // ...else wait on the tier that had work last.
                let (name, c) = &consumers[0];
                let expires = left.clamp(Duration::from_millis(100), Duration::from_secs(1));
                if let Some(m) = pull_one_within(c, expires).await? {
                    return Ok(Some(Box::new(self.delivery(name, m)?) as Box<dyn Delivery>));
                }
            }
        })
    }

    fn report<'a>(&'a self, outcome: &'a Outcome) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let payload = serde_json::to_vec(outcome).expect("serialisable");
            let id = format!("{}#{}#{}", outcome.job, outcome.delivered, outcome.worker);
            self.publish(format!("fornax.outcomes.{}", outcome.task), payload, &id)
                .await
        })
    }

    fn next_outcome(&self, wait: Duration) -> BoxFuture<'_, Option<Box<dyn OutcomeDelivery>>> {
        Box::pin(async move {
            let Some((outcomes, advisories)) = &self.scheduler else {
                return Err(QueueError::Transport(
                    "only the scheduler reads outcomes".into(),
                ));
            };
            // Jobs the server gave up on, now and then: each becomes the queue's verdict.
            let look = {
                let mut last = self.advisories_seen.lock().expect("advisory lock");
                let due = last.elapsed() >= Duration::from_millis(500);
                if due {
                    *last = Instant::now();
                }
                due
            };
            if look {
                if let Some(m) = pull_now(advisories, 1).await?.pop() {
                    let advisory: Option<MaxDeliveries> = serde_json::from_slice(&m.payload).ok();
                    let job = match &advisory {
                        Some(a) => self.job_at(a.stream_seq).await?,
                        None => None,
                    };
                    match (advisory, job) {
                        (Some(a), Some(job)) => {
                            let outcome =
                                super::mem::max_deliveries(&job, a.stream_seq, a.deliveries);
                            return Ok(Some(Box::new(JsOutcome {
                                message: m,
                                outcome,
                            })
                                as Box<dyn OutcomeDelivery>));
                        }
                        // The job is gone already (its task ended): nothing to report.
                        _ => m.double_ack().await.map_err(t)?,
                    }
                }
            }
            // Outcomes already here, up to a batch at once...
            let buffered = self.outcomes.lock().expect("outcomes lock").pop_front();
            if let Some(m) = buffered {
                return decode_outcome(m).await;
            }
            let fetched = pull_now(outcomes, 64).await?;
            self.outcomes.lock().expect("outcomes lock").extend(fetched);
            let buffered = self.outcomes.lock().expect("outcomes lock").pop_front();
            if let Some(m) = buffered {
                return decode_outcome(m).await;
            }
            // ...else wait for the next one.
            let expires = wait.clamp(Duration::from_millis(100), Duration::from_secs(5));
            match pull_one_within(outcomes, expires).await? {
                Some(m) => decode_outcome(m).await,
                None => Ok(None),
            }
        })
    }

    fn remove(&self, queue_seq: u64) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let stream = self.js.get_stream(JOBS).await.map_err(t)?;
            // Already gone (acknowledged meanwhile) is fine.
            let _ = stream.delete_message(queue_seq).await;
            Ok(())
        })
    }

    fn depth(&self) -> BoxFuture<'_, Depths> {
        Box::pin(async move {
            use futures_util::TryStreamExt as _;
            let stream = self.js.get_stream(JOBS).await.map_err(t)?;
            let mut subjects = stream
                .info_with_subjects("fornax.jobs.>")
                .await
                .map_err(t)?;
            // Subjects are `fornax.jobs.<kind>.<class>.m<tier>` (see `subject`).
            let mut depths = Depths::new();
            while let Some((subject, count)) = subjects.try_next().await.map_err(t)? {
                if let Some(kind) = subject.split('.').nth(2) {
                    *depths.entry(kind.to_string()).or_default() += count as u64;
                }
            }
            Ok(depths)
        })
    }

    fn put_artifact<'a>(&'a self, name: &'a str, path: &'a Path) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if self.artifacts.info(name).await.is_ok() {
                return Ok(());
            }
            let mut file = tokio::fs::File::open(path).await.map_err(t)?;
            self.artifacts.put(name, &mut file).await.map_err(t)?;
            Ok(())
        })
    }

    fn get_artifact<'a>(&'a self, name: &'a str, dest: &'a Path) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut object = match self.artifacts.get(name).await {
                Ok(o) => o,
                Err(e) if matches!(e.kind(), jetstream::object_store::GetErrorKind::NotFound) => {
                    return Err(QueueError::MissingArtifact(name.to_string()))
                }
                Err(e) => return Err(t(e)),
            };
            let mut file = tokio::fs::File::create(dest).await.map_err(t)?;
            tokio::io::copy(&mut object, &mut file).await.map_err(t)?;
            file.sync_all().await.map_err(t)?;
            Ok(())
        })
    }

    fn heartbeat<'a>(&'a self, worker: &'a WorkerInfo) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let json = serde_json::to_vec(worker).expect("serialisable");
            self.workers.put(&worker.id, json.into()).await.map_err(t)?;
            Ok(())
        })
    }

    fn forget_worker<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.workers.purge(id).await.map_err(t)?;
            // Whatever is still buffered (acknowledgements) leaves before we do.
            self.client.flush().await.map_err(t)
        })
    }

    fn workers(&self) -> BoxFuture<'_, Vec<WorkerInfo>> {
        Box::pin(async move {
            let mut keys = self.workers.keys().await.map_err(t)?;
            let mut ids = Vec::new();
            while let Some(k) = keys.next().await {
                ids.push(k.map_err(t)?);
            }
            let mut out = Vec::new();
            for id in ids {
                if let Some(v) = self.workers.get(&id).await.map_err(t)? {
                    if let Ok(w) = serde_json::from_slice(&v) {
                        out.push(w);
                    }
                }
            }
            Ok(out)
        })
    }
}
