//! The embedded default: a node whose jobs go through the in-process queue
//! ([`MemQueue`]) to a worker in the same process, running the same worker code as
//! `fornax worker` on another machine ([`crate::worker`]), with a lane per local device. The node itself proves nothing;
//! this is how a single machine serves tasks without a queue server.

use std::path::PathBuf;
use std::sync::Arc;

use fornax_kernels::DeviceRegistry;

use crate::dispatch::{DispatchConfig, Dispatcher, LocalWorker};
use crate::queue::{MemQueue, QueueSettings};
use crate::scheduler::Scheduler;
use crate::worker::{FheCapability, Worker, WorkerConfig};

/// How the embedded queue and worker run.
pub struct EmbeddedConfig {
    /// Leases, deliveries and backoff of the in-process queue.
    pub settings: QueueSettings,
    /// How jobs are sent out.
    pub dispatch: DispatchConfig,
    /// The devices the worker proves on, each running jobs of its own.
    pub registry: DeviceRegistry,
    /// Memory each device admits jobs against [default: the device's own]; a proof that
    /// needs more than the largest fails with `insufficient_memory`.
    pub memory_bytes: Option<u64>,
    /// Jobs the worker runs at once on each device.
    pub slots: u32,
    /// The store's artifact folder: the queue's artifact store and the worker's cache.
    pub artifacts: PathBuf,
    /// With FHE capability (a node serving FHE): the worker also evaluates FHE tasks.
    pub fhe: Option<FheCapability>,
    /// What a circuit's witness generator may spend.
    pub witness_limits: fornax_prover::witness::Limits,
}

/// The running embedded queue and worker.
pub struct Embedded {
    /// Where the scheduler sends its jobs.
    pub dispatcher: Arc<Dispatcher>,
    /// The worker that runs them.
    pub worker: Arc<Worker>,
}

/// Why the embedded worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The worker's cache folder could not be made.
    #[error("the worker's cache in {0}: {1}")]
    Cache(PathBuf, std::io::Error),
    /// Stored tasks could not be recovered.
    #[error("recovering stored tasks: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// Starts `scheduler` with an in-process queue and worker on `runtime`.
pub fn start(
    scheduler: &Arc<Scheduler>,
    runtime: &tokio::runtime::Handle,
    config: EmbeddedConfig,
) -> Result<Embedded, EmbeddedError> {
    let queue = Arc::new(MemQueue::new(config.settings, &config.artifacts));
    // Devices that do not say how much memory they have admit every proof, as they did
    // before the node had a worker.
    let unknown = config
        .registry
        .backends()
        .iter()
        .any(|b| b.info().memory_bytes == 0);
    let memory_bytes = config.memory_bytes.or(unknown.then_some(u64::MAX));
    let worker = Worker::new(
        queue.clone(),
        WorkerConfig {
            id: Some("in-process".into()),
            registry: config.registry,
            memory_bytes,
            slots: config.slots,
            cache_dir: config.artifacts.clone(),
            fhe: config.fhe,
            witness_limits: config.witness_limits,
        },
    )
    .map_err(|e| EmbeddedError::Cache(config.artifacts, e))?;
    let dispatcher = Dispatcher::new(queue, runtime.clone(), config.dispatch);
    dispatcher.set_local_workers(vec![LocalWorker {
        id: worker.id().to_string(),
        memory_bytes: worker.memory_bytes(),
    }]);
    scheduler.start(Arc::clone(&dispatcher))?;
    runtime.spawn(Arc::clone(&worker).run());
    Ok(Embedded { dispatcher, worker })
}
