//! The planner: a program becomes batches of jobs. Nodes of equal depth are independent, so
//! each depth is one batch; its nodes are split into jobs of about equal PBS cost (longest
//! first onto the least loaded), one per worker, so a batch keeps every worker busy. The last
//! batch squashes the outputs' noise. Job ids are derived from the task and the job's nodes,
//! so planning the same task twice gives the same jobs.

use crate::program::{Op, Program};
use serde::{Deserialize, Serialize};

/// What a job does.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum JobKind {
    /// Evaluates program nodes (value indices), in order.
    Nodes(Vec<usize>),
    /// Squashes the noise of these outputs (indices into the program's outputs).
    Squash(Vec<usize>),
}

/// One job: a unit of work for one worker.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Job {
    /// Deterministic id: the task id, the batch and the job's work.
    pub id: String,
    /// What to compute.
    pub kind: JobKind,
    /// The estimated number of KS-PBS (128-bit PBS for a squash).
    pub estimated_pbs: u64,
}

/// Jobs that may run at the same time.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Batch {
    /// Its position: batch i reads only values of batches before it.
    pub index: usize,
    /// The jobs.
    pub jobs: Vec<Job>,
}

/// A program's plan.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Plan {
    /// The batches, in order.
    pub batches: Vec<Batch>,
}

impl Plan {
    /// The estimated KS-PBS of the whole plan.
    pub fn estimated_pbs(&self) -> u64 {
        self.batches
            .iter()
            .flat_map(|b| &b.jobs)
            .map(|j| j.estimated_pbs)
            .sum()
    }

    /// Every job, batch by batch.
    pub fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.batches.iter().flat_map(|b| b.jobs.iter())
    }
}

/// An estimate of the KS-PBS an operation costs on `blocks`-block integers (tfhe-rs's
/// parallel algorithms, roughly); it weighs jobs, it is not a count.
pub fn estimated_pbs(op: &Op, blocks: u64) -> u64 {
    use Op::*;
    let b = blocks;
    let log = 64 - b.leading_zeros() as u64;
    match op {
        Const { .. } | Not { .. } => 0,
        And { .. } | Or { .. } | Xor { .. } | AddConst { .. } | Shl { .. } | Shr { .. } => b + b,
        Add { .. } | Sub { .. } => 3 * b,
        MulConst { .. } => b * log + 2 * b,
        Mul { .. } => b * b + 3 * b,
        Eq { .. } | Ne { .. } => b + log,
        Lt { .. } | Le { .. } | Gt { .. } | Ge { .. } => 2 * b + log,
        Min { .. } | Max { .. } => 4 * b + log,
        Select { .. } => 2 * b,
    }
}

/// Plans `program` for `workers` workers (at least one job per batch each can take).
pub fn plan(program: &Program, task_id: &str, workers: usize) -> Plan {
    let workers = workers.max(1);
    let blocks = program.blocks() as u64;
    let depths = program.depths();
    let max_depth = depths.iter().copied().max().unwrap_or(0);
    let mut batches = Vec::new();
    for depth in 1..=max_depth {
        let mut nodes: Vec<(usize, u64)> = (program.inputs..depths.len())
            .filter(|&v| depths[v] == depth)
            .map(|v| (v, estimated_pbs(&program.nodes[v - program.inputs], blocks)))
            .collect();
        if nodes.is_empty() {
            continue;
        }
        nodes.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        let mut bins: Vec<(u64, Vec<usize>)> = vec![(0, Vec::new()); workers.min(nodes.len())];
        for (v, cost) in nodes {
            let lightest = bins
                .iter_mut()
                .min_by_key(|(load, members)| (*load, members.len()))
                .expect("at least one bin");
            lightest.0 += cost;
            lightest.1.push(v);
        }
        let index = batches.len();
        let jobs = bins
            .into_iter()
            .map(|(cost, mut nodes)| {
                nodes.sort_unstable();
                Job {
                    id: job_id(task_id, index, "nodes", &nodes),
                    kind: JobKind::Nodes(nodes),
                    estimated_pbs: cost,
                }
            })
            .collect();
        batches.push(Batch { index, jobs });
    }
    // Squash: one 128-bit PBS per two blocks, outputs spread like nodes.
    let per_output = blocks.div_ceil(2);
    let outputs: Vec<usize> = (0..program.outputs.len()).collect();
    let chunk = outputs.len().div_ceil(workers);
    let index = batches.len();
    let jobs = outputs
        .chunks(chunk.max(1))
        .map(|c| Job {
            id: job_id(task_id, index, "squash", c),
            kind: JobKind::Squash(c.to_vec()),
            estimated_pbs: per_output * c.len() as u64,
        })
        .collect();
    batches.push(Batch { index, jobs });
    Plan { batches }
}

fn job_id(task_id: &str, batch: usize, kind: &str, items: &[usize]) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(task_id.as_bytes());
    hasher.update(&(batch as u64).to_le_bytes());
    hasher.update(kind.as_bytes());
    for i in items {
        hasher.update(&(*i as u64).to_le_bytes());
    }
    format!("{task_id}/b{batch}/{}", &hasher.finalize().to_hex()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn plans_cover_every_node_once_in_dependency_order() {
        let seed: u64 = rand::random();
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        for _ in 0..100 {
            let p = Program::random(16, 3, 25, &mut rng);
            let workers = rand::Rng::gen_range(&mut rng, 1..6);
            let plan = plan(&p, "task-1", workers);
            let mut done = vec![false; p.inputs + p.nodes.len()];
            done[..p.inputs].iter_mut().for_each(|d| *d = true);
            let (squash, compute) = plan.batches.split_last().unwrap();
            for batch in compute {
                assert!(batch.jobs.len() <= workers);
                let mut in_batch = Vec::new();
                for job in &batch.jobs {
                    let JobKind::Nodes(nodes) = &job.kind else {
                        panic!("squash before the end")
                    };
                    for &v in nodes {
                        for a in p.nodes[v - p.inputs].args() {
                            assert!(done[a], "node {v} reads {a} before it is computed");
                        }
                        in_batch.push(v);
                    }
                }
                for v in in_batch {
                    assert!(!done[v], "node {v} planned twice");
                    done[v] = true;
                }
            }
            assert!(done.iter().all(|d| *d), "a node was not planned");
            let squashed: Vec<usize> = squash
                .jobs
                .iter()
                .flat_map(|j| match &j.kind {
                    JobKind::Squash(o) => o.clone(),
                    JobKind::Nodes(_) => panic!("nodes in the squash batch"),
                })
                .collect();
            assert_eq!(squashed, (0..p.outputs.len()).collect::<Vec<_>>());
            // Same task, same plan, same ids; another task, other ids.
            assert_eq!(super::plan(&p, "task-1", workers), plan);
            let other = super::plan(&p, "task-2", workers);
            assert!(other.jobs().zip(plan.jobs()).all(|(a, b)| a.id != b.id));
        }
    }

    #[test]
    fn a_wide_batch_is_balanced_across_workers() {
        // 8 independent multiplications and 8 additions over 4 workers: every job gets two
        // multiplications' worth of work.
        let mut p = Program {
            bits: 16,
            inputs: 2,
            nodes: vec![],
            outputs: vec![],
        };
        for _ in 0..8 {
            p.nodes.push(Op::Mul { a: 0, b: 1 });
            p.nodes.push(Op::Add { a: 0, b: 1 });
        }
        p.outputs = vec![2];
        let plan = plan(&p, "t", 4);
        let loads: Vec<u64> = plan.batches[0]
            .jobs
            .iter()
            .map(|j| j.estimated_pbs)
            .collect();
        assert_eq!(loads.len(), 4);
        assert!(loads.iter().all(|&l| l == loads[0]), "{loads:?}");
    }
}
