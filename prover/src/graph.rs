//! A Groth16 proof as a graph of jobs that a scheduler can place on different devices.
//!
//! ```text
//! witness ─┬─ evaluations ─┬─ intt(a) ─ coset-ntt(a) ─┐
//!          │               ├─ intt(b) ─ coset-ntt(b) ─┼─ h-evals ─ msm(h) ─┐
//!          │               └─ intt(c) ─ coset-ntt(c) ─┘                     │
//!          ├─ msm(a) ─ msm(b1) ─ msm(b2) ─ msm(c) (independent) ────────────┴─ assemble
//! ```
//!
//! Job ids are derived from the task id and the job's role only, so planning the same task
//! twice yields the same ids and a re-run never duplicates work.

use std::fmt;

/// A job's deterministic identifier: `<task>/<role>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub String);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One of the three QAP polynomials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Poly {
    /// ⟨A, w⟩ on the domain.
    A,
    /// ⟨B, w⟩ on the domain.
    B,
    /// A∘B on the domain.
    C,
}

/// Which query of the proving key an MSM runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Query {
    /// A in G1, over the witness.
    A,
    /// B in G1, over the witness.
    B1,
    /// B in G2, over the witness.
    B2,
    /// C in G1, over the private part of the witness.
    C,
    /// H in G1, over the H evaluations.
    H,
}

impl Query {
    /// Every query, the G2 one first (the costliest: the order a scheduler queues a split
    /// proof's parts in, longest first).
    pub const ALL: [Query; 5] = [Query::B2, Query::H, Query::A, Query::B1, Query::C];

    /// The query of an MSM job's role (`msm-a`, `msm-b1`, `msm-b2`, `msm-c`, `msm-h`).
    pub fn from_role(role: &str) -> Option<Query> {
        Query::ALL
            .into_iter()
            .find(|q| JobKind::Msm(*q).role() == role)
    }
}

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Checks the witness against the key.
    Witness,
    /// Evaluates A and B at the witness on the domain and forms C = A∘B.
    Evaluations,
    /// Inverse NTT of one polynomial (evaluations → coefficients).
    Intt(Poly),
    /// Coset NTT of one polynomial (coefficients → evaluations on the odd coset).
    CosetNtt(Poly),
    /// h = a·b − c on the coset.
    HEvals,
    /// One multi-scalar multiplication.
    Msm(Query),
    /// Adds the blinding terms and forms the proof; verifies it.
    Assemble,
}

/// The kind of device a job needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceClass {
    /// Host memory and cores only.
    Host,
    /// A device with NTT kernels.
    Ntt,
    /// A device with G1 MSM kernels.
    MsmG1,
    /// A device with G2 MSM kernels.
    MsmG2,
}

impl JobKind {
    /// The role part of the job id.
    pub fn role(&self) -> String {
        let poly = |p: &Poly| format!("{p:?}").to_lowercase();
        match self {
            JobKind::Witness => "witness".into(),
            JobKind::Evaluations => "evaluations".into(),
            JobKind::Intt(p) => format!("intt-{}", poly(p)),
            JobKind::CosetNtt(p) => format!("coset-ntt-{}", poly(p)),
            JobKind::HEvals => "h-evals".into(),
            JobKind::Msm(q) => format!("msm-{}", format!("{q:?}").to_lowercase()),
            JobKind::Assemble => "assemble".into(),
        }
    }

    /// The device class the job needs.
    pub fn device(&self) -> DeviceClass {
        match self {
            JobKind::Intt(_) | JobKind::CosetNtt(_) => DeviceClass::Ntt,
            JobKind::Msm(Query::B2) => DeviceClass::MsmG2,
            JobKind::Msm(_) => DeviceClass::MsmG1,
            _ => DeviceClass::Host,
        }
    }
}

/// One job of a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Deterministic id.
    pub id: JobId,
    /// What it does.
    pub kind: JobKind,
    /// Jobs whose outputs it reads.
    pub deps: Vec<JobId>,
    /// Working memory it declares, in bytes (for admission control).
    pub memory_bytes: u64,
}

/// The sizes that shape a Groth16 graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Wires, including the constant.
    pub n_vars: usize,
    /// Public signals.
    pub n_public: usize,
    /// Domain size.
    pub domain_size: usize,
}

/// A task's jobs in a topological order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobGraph {
    /// The task the jobs belong to.
    pub task: String,
    /// The jobs; every job comes after its dependencies.
    pub jobs: Vec<Job>,
}

impl JobGraph {
    /// The Groth16 graph of `task` for a key of the given shape.
    pub fn groth16(task: &str, shape: Shape) -> Self {
        let id = |k: JobKind| JobId(format!("{task}/{}", k.role()));
        let fr = 32u64;
        let n = shape.domain_size as u64;
        let vars = shape.n_vars as u64;
        let mut jobs = Vec::new();
        let mut add = |kind: JobKind, deps: Vec<JobKind>, memory_bytes: u64| {
            jobs.push(Job {
                id: id(kind),
                kind,
                deps: deps.into_iter().map(id).collect(),
                memory_bytes,
            });
        };
        add(JobKind::Witness, vec![], vars * fr);
        add(JobKind::Evaluations, vec![JobKind::Witness], 3 * n * fr);
        for q in [Query::A, Query::B1, Query::B2, Query::C] {
            // Digits plus a window's scratch, per concurrently processed window.
            add(
                JobKind::Msm(q),
                vec![JobKind::Witness],
                vars * (64 + 2 * 80),
            );
        }
        for p in [Poly::A, Poly::B, Poly::C] {
            add(JobKind::Intt(p), vec![JobKind::Evaluations], n * fr);
            add(JobKind::CosetNtt(p), vec![JobKind::Intt(p)], n * fr);
        }
        add(
            JobKind::HEvals,
            vec![
                JobKind::CosetNtt(Poly::A),
                JobKind::CosetNtt(Poly::B),
                JobKind::CosetNtt(Poly::C),
            ],
            n * fr,
        );
        add(
            JobKind::Msm(Query::H),
            vec![JobKind::HEvals],
            n * (64 + 2 * 80),
        );
        add(
            JobKind::Assemble,
            [Query::A, Query::B1, Query::B2, Query::C, Query::H]
                .into_iter()
                .map(JobKind::Msm)
                .collect(),
            0,
        );
        JobGraph {
            task: task.to_string(),
            jobs,
        }
    }

    /// The part of this graph that `target` needs: the job and its ancestors, in order. The
    /// graph of one part of a proof that a worker computes on its own (e.g. `msm-b2`, or
    /// `msm-h` with the evaluations and NTTs under it).
    pub fn upto(&self, target: JobKind) -> JobGraph {
        let mut needed: std::collections::HashSet<&JobId> = std::collections::HashSet::new();
        for job in self.jobs.iter().rev() {
            if job.kind == target || needed.contains(&job.id) {
                needed.insert(&job.id);
                needed.extend(job.deps.iter());
            }
        }
        JobGraph {
            task: self.task.clone(),
            jobs: self
                .jobs
                .iter()
                .filter(|j| needed.contains(&j.id))
                .cloned()
                .collect(),
        }
    }

    /// The job with this id.
    pub fn get(&self, id: &JobId) -> Option<&Job> {
        self.jobs.iter().find(|j| &j.id == id)
    }

    /// Checks ids are unique and every dependency comes earlier.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for job in &self.jobs {
            if let Some(d) = job.deps.iter().find(|d| !seen.contains(*d)) {
                return Err(format!(
                    "job {} depends on {d}, which does not come before it",
                    job.id
                ));
            }
            if !seen.insert(job.id.clone()) {
                return Err(format!("job id {} appears twice", job.id));
            }
        }
        Ok(())
    }

    /// The graph's jobs grouped in waves: every job's dependencies lie in earlier waves.
    pub fn waves(&self) -> Vec<Vec<&Job>> {
        let mut level: std::collections::HashMap<&JobId, usize> = std::collections::HashMap::new();
        let mut waves: Vec<Vec<&Job>> = Vec::new();
        for job in &self.jobs {
            let l = job.deps.iter().map(|d| level[d] + 1).max().unwrap_or(0);
            level.insert(&job.id, l);
            if waves.len() <= l {
                waves.resize_with(l + 1, Vec::new);
            }
            waves[l].push(job);
        }
        waves
    }
}
