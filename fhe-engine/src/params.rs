//! The parameters of the engine and of threshold decryption, and the bounds they must meet.
//!
//! A key set is made for one of two parameter sets ([`ParamSet`], chosen at key generation
//! and recorded in the key set): tfhe-rs's classic KS-PBS parameters (the default, bit-exact
//! on every device) or its multi-bit KS-PBS parameters for GPUs (grouping factor 4, the
//! fastest on tfhe-rs's CUDA backend). Both have 2-bit messages and 2-bit carries (p_fail ≤
//! 2^-128). Results end with a noise squash into 128-bit LWE ciphertexts (tfhe-rs's
//! noise-squashing parameters for the same set); threshold decryption works on those.
//!
//! The decoding budget, per squashed block: b − ⟨a, s⟩ − E = Δm + e − E must stay within
//! ±Δ/2, with Δ = 2^128 / (2 · message · carry) = 2^123 (a padding bit, 16 values per packed
//! block). e is the squashed noise, bounded by [`squashed_noise_log2_bound`]; E, the flooding
//! noise, is a sum of N = C(n, k − 1) terms uniform in [−2^f, 2^f). f is as wide as the
//! budget allows (N · 2^f within half of Δ/2), and at least 40 bits above e's bound.
//!
//! What a decryption reveals about the secret key: e + E is within statistical distance
//! |e| / 2^(f+1) of E alone, per block ([`ThresholdParams::distance_log2_per_block`]: about
//! 2^-49.5 for (5, 3)). Distances add up over decryptions, so a key set answers at most
//! [`ThresholdParams::block_budget`] distinct blocks, which keeps the total within
//! 2^[`LIFETIME_DISTANCE_LOG2`]; its key holders enforce it.

use crate::shamir::binomial;
use crate::Error;
use serde::{Deserialize, Serialize};
use tfhe::core_crypto::prelude::DynamicDistribution;
use tfhe::shortint::parameters::v1_8::{
    V1_8_PARAM_KEYSWITCH_PKE_TO_SMALL_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128_ZKV2,
    V1_8_PARAM_PKE_TO_SMALL_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128_ZKV2,
};
use tfhe::shortint::parameters::{
    CompactPublicKeyEncryptionParameters, NoiseSquashingParameters, PBSParameters,
    ShortintKeySwitchingParameters,
    NOISE_SQUASHING_PARAM_GPU_MULTI_BIT_GROUP_4_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    NOISE_SQUASHING_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    PARAM_GPU_MULTI_BIT_GROUP_4_KEYSWITCH_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    PARAM_GPU_MULTI_BIT_GROUP_4_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
};

/// The computation parameters of a key set, with the noise squashing that goes with them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParamSet {
    /// tfhe-rs's classic (deterministic) KS-PBS, 2-bit message and carry: results are
    /// bit-identical on every device and run, so digests compare between workers.
    #[default]
    Classic,
    /// tfhe-rs's multi-bit KS-PBS for GPUs (grouping factor 4), 2-bit message and carry:
    /// the fastest set on tfhe-rs's CUDA backend. Results decrypt to the same values, but
    /// the multi-bit bootstrap is not deterministic, so digests do not compare.
    GpuMultiBit,
}

impl ParamSet {
    /// Every set, in the order `fornax fhe keygen --params` lists them.
    pub const ALL: [ParamSet; 2] = [ParamSet::Classic, ParamSet::GpuMultiBit];

    /// The set's name on the command line and in key set files.
    pub fn name(self) -> &'static str {
        match self {
            ParamSet::Classic => "classic",
            ParamSet::GpuMultiBit => "gpu-multi-bit",
        }
    }

    /// The set named `name` ([`ParamSet::name`]).
    pub fn parse(name: &str) -> Result<ParamSet, Error> {
        ParamSet::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                Error::Parameters(format!(
                    "unknown parameter set `{name}` (classic, gpu-multi-bit)"
                ))
            })
    }

    /// The computation parameters.
    pub fn compute(self) -> PBSParameters {
        match self {
            ParamSet::Classic => PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128.into(),
            ParamSet::GpuMultiBit => {
                PARAM_GPU_MULTI_BIT_GROUP_4_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128.into()
            }
        }
    }

    /// The noise-squashing parameters that go with [`ParamSet::compute`].
    pub fn squash(self) -> NoiseSquashingParameters {
        match self {
            ParamSet::Classic => NOISE_SQUASHING_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
            ParamSet::GpuMultiBit => {
                NOISE_SQUASHING_PARAM_GPU_MULTI_BIT_GROUP_4_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128
            }
        }
    }

    /// The dedicated compact public-key encryption parameters inputs are encrypted under,
    /// made for zero-knowledge proofs of knowledge (tfhe-rs's ZK v2 set).
    pub fn encryption(self) -> CompactPublicKeyEncryptionParameters {
        V1_8_PARAM_PKE_TO_SMALL_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128_ZKV2
    }

    /// The key switch that casts an input from the encryption key to the computation key
    /// (to its small LWE key, as tfhe-rs's meta-parameters pair them).
    pub fn casting(self) -> ShortintKeySwitchingParameters {
        match self {
            ParamSet::Classic => {
                V1_8_PARAM_KEYSWITCH_PKE_TO_SMALL_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128_ZKV2
            }
            ParamSet::GpuMultiBit => {
                PARAM_GPU_MULTI_BIT_GROUP_4_KEYSWITCH_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128
            }
        }
    }

    /// The tfhe-rs parameter names, for records.
    pub fn description(self) -> &'static str {
        match self {
            ParamSet::Classic => {
                "PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 + NOISE_SQUASHING_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128"
            }
            ParamSet::GpuMultiBit => {
                "PARAM_GPU_MULTI_BIT_GROUP_4_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 + NOISE_SQUASHING_PARAM_GPU_MULTI_BIT_GROUP_4_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128"
            }
        }
    }
}

/// Statistical security of the noise flooding, in bits: the least gap between the flooding
/// width and the squashed noise's bound.
pub const STATISTICAL_SECURITY_BITS: u32 = 40;

/// log2 of the statistical distance all of a key set's decryptions together may reach: its
/// block budget is this over the distance per block.
pub const LIFETIME_DISTANCE_LOG2: f64 = -20.0;

/// Bits kept between the largest total noise and Δ/2 when the flooding width is chosen.
const NOISE_MARGIN_BITS: f64 = 1.0;

/// The most key holders a set-up may have (PRSS keys grow as C(n, k − 1)).
pub const MAX_PARTIES: usize = 20;

/// Message bits per original block.
pub const BLOCK_BITS: u32 = 2;

/// Bits of the squashed ciphertexts' scaling factor Δ (a packed block holds message · carry =
/// 16 values, plus the padding bit). The same for every [`ParamSet`] (tested).
pub fn delta_log2() -> u32 {
    let squash = ParamSet::Classic.squash();
    let values = squash.message_modulus().0 * squash.carry_modulus().0;
    128 - 1 - values.ilog2()
}

/// The dimension of the squashed LWE secret key (glwe dimension · polynomial size). The same
/// for every [`ParamSet`] (tested).
pub fn squashed_lwe_dimension() -> usize {
    let squash = ParamSet::Classic.squash();
    squash.glwe_dimension().0 * squash.polynomial_size().0
}

fn distribution_variance_log2(d: DynamicDistribution<u128>) -> f64 {
    match d {
        // T-uniform with bound 2^b: values in [−2^b, 2^b], variance (2^(2b+1) + 1) / 6.
        DynamicDistribution::TUniform(t) => (2 * t.bound_log2() + 1) as f64 - 6f64.log2(),
        DynamicDistribution::Gaussian(g) => (g.std * 2f64.powi(128)).log2() * 2.0,
    }
}

/// An upper bound on log2 |e| of a squashed ciphertext's noise for the parameter set, with
/// failure probability about 2^-128: the output variance of the squashing bootstrap.
///
/// A classic PBS is n CMUXes, each an external product with one GGSW of the bootstrapping
/// key: n · [ l (k+1) N (B² + 2)/12 · σ²_bsk + (1 + kN/2) (q²/B^{2l}) / 12 ], with n the input
/// dimension, k, N the GLWE dimension and size, B = 2^base_log, l levels, and the GLWE key
/// binary. A multi-bit PBS with grouping factor g does n/g external products, each with a
/// GGSW combined from the group's 2^g − 1 keys: the key term counts 2^g times (one more than
/// the keys, for margin) and the decomposition term once per group. 13.3 standard deviations
/// cover a 2^-128 tail.
pub fn squashed_noise_log2_bound(set: ParamSet) -> f64 {
    let squash = set.squash();
    let n = set.compute().lwe_dimension().0 as f64;
    let (products, keys_per_product) = match squash {
        NoiseSquashingParameters::Classic(_) => (n, 1.0),
        NoiseSquashingParameters::MultiBit(p) => {
            let g = p.grouping_factor.0 as f64;
            ((n / g).ceil(), 2f64.powf(g))
        }
    };
    let k = squash.glwe_dimension().0 as f64;
    let big_n = squash.polynomial_size().0 as f64;
    let base_log = squash.decomp_base_log().0 as f64;
    let levels = squash.decomp_level_count().0 as f64;
    let bsk_var = 2f64.powf(distribution_variance_log2(squash.glwe_noise_distribution()));
    let b2 = 2f64.powf(2.0 * base_log);
    let key_term = levels * (k + 1.0) * big_n * (b2 + 2.0) / 12.0 * bsk_var;
    let rounding = 2f64.powf(2.0 * (128.0 - base_log * levels)) / 12.0;
    let decomposition_term = (1.0 + k * big_n / 2.0) * rounding;
    let variance = products * (keys_per_product * key_term + decomposition_term);
    variance.log2() / 2.0 + 13.3f64.log2()
}

/// A key set's decryption budget ([`ThresholdParams::decryption_budget`]).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct DecryptionBudget {
    /// log2 of the statistical distance one decrypted block adds.
    pub distance_log2_per_block: f64,
    /// log2 of the distance all decryptions together may reach.
    pub lifetime_distance_log2: f64,
    /// Distinct blocks the key set may decrypt in its life.
    pub blocks: u64,
}

/// The parameters of one threshold set-up.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ThresholdParams {
    /// n, the number of key holders.
    pub parties: usize,
    /// k, how many of them decrypt together (t = k − 1 may be corrupt).
    pub threshold: usize,
    /// log2 of each PRSS noise term's bound.
    pub flood_bits: u32,
    /// The computation parameters the key set was made for (key sets written before the
    /// choice existed are classic).
    #[serde(default)]
    pub pbs: ParamSet,
}

impl ThresholdParams {
    /// Checks (n, k) against the bounds and derives the flooding width, for the classic set.
    pub fn new(parties: usize, threshold: usize) -> Result<Self, Error> {
        Self::for_set(parties, threshold, ParamSet::Classic)
    }

    /// Checks (n, k) against the bounds of parameter set `pbs` and derives its flooding
    /// width.
    pub fn for_set(parties: usize, threshold: usize, pbs: ParamSet) -> Result<Self, Error> {
        if parties == 0 || parties > MAX_PARTIES {
            return Err(Error::Parameters(format!(
                "n = {parties} key holders: supported are 1..={MAX_PARTIES}"
            )));
        }
        if threshold == 0 || threshold > parties {
            return Err(Error::Parameters(format!(
                "k = {threshold} must be in 1..={parties}"
            )));
        }
        let mut params = ThresholdParams {
            parties,
            threshold,
            flood_bits: 0,
            pbs,
        };
        // As wide as the decoding budget allows: N · 2^f ≤ 2^(Δ/2 bits − margin); `check`
        // refuses a width less than STATISTICAL_SECURITY_BITS above the squashed noise.
        let terms = params.noise_terms() as f64;
        let room = (delta_log2() - 1) as f64 - NOISE_MARGIN_BITS - terms.log2();
        params.flood_bits = room.floor().clamp(0.0, 126.0) as u32;
        params.check()?;
        Ok(params)
    }

    /// What the key set's flooding allows decryption, as the node and key holders report it.
    pub fn decryption_budget(&self) -> DecryptionBudget {
        DecryptionBudget {
            distance_log2_per_block: self.distance_log2_per_block(),
            lifetime_distance_log2: LIFETIME_DISTANCE_LOG2,
            blocks: self.block_budget(),
        }
    }

    /// log2 of the statistical distance between what one decrypted block reveals (e + E)
    /// and flooding noise alone (E): at most |e| / 2^(f+1), from one of E's uniform terms.
    pub fn distance_log2_per_block(&self) -> f64 {
        squashed_noise_log2_bound(self.pbs) - (self.flood_bits as f64 + 1.0)
    }

    /// How many distinct blocks the key set may decrypt in its life: their distances add up
    /// to at most 2^[`LIFETIME_DISTANCE_LOG2`]. (Decrypting the same ciphertext again reveals
    /// nothing new: the flooding noise is a function of the ciphertext.)
    pub fn block_budget(&self) -> u64 {
        let log2 = LIFETIME_DISTANCE_LOG2 - self.distance_log2_per_block();
        if log2 >= 63.0 {
            u64::MAX
        } else {
            2f64.powf(log2).floor() as u64
        }
    }

    /// The number of PRSS sets, C(n, k − 1): one noise term each.
    pub fn noise_terms(&self) -> u64 {
        binomial(self.parties as u64, (self.threshold - 1) as u64)
    }

    /// log2 of the largest |e − E| a decryption can meet.
    pub fn total_noise_log2(&self) -> f64 {
        let flood = self.noise_terms() as f64 * 2f64.powi(self.flood_bits as i32);
        (flood + 2f64.powf(squashed_noise_log2_bound(self.pbs))).log2()
    }

    /// Verifies the bounds of the module documentation: flooding at least
    /// [`STATISTICAL_SECURITY_BITS`] above the squashed noise, and the total noise below Δ/2.
    pub fn check(&self) -> Result<(), Error> {
        if self.parties == 0
            || self.parties > MAX_PARTIES
            || self.threshold == 0
            || self.threshold > self.parties
        {
            return Err(Error::Parameters(format!(
                "(n, k) = ({}, {}) out of range",
                self.parties, self.threshold
            )));
        }
        let squash = squashed_noise_log2_bound(self.pbs);
        if (self.flood_bits as f64) < squash + STATISTICAL_SECURITY_BITS as f64 {
            return Err(Error::Parameters(format!(
                "flooding 2^{} is less than 2^{} above the squashed noise 2^{squash:.1}",
                self.flood_bits, STATISTICAL_SECURITY_BITS
            )));
        }
        let margin = (delta_log2() - 1) as f64;
        let total = self.total_noise_log2();
        if total >= margin {
            return Err(Error::Parameters(format!(
                "(n, k) = ({}, {}) needs {} noise terms: total noise 2^{total:.1} exceeds Δ/2 = 2^{margin}",
                self.parties,
                self.threshold,
                self.noise_terms()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_set_squashes_into_the_same_shape_within_its_budget() {
        for set in ParamSet::ALL {
            let squash = set.squash();
            assert_eq!(
                squash.glwe_dimension().0 * squash.polynomial_size().0,
                squashed_lwe_dimension()
            );
            assert_eq!(squash.message_modulus().0 * squash.carry_modulus().0, 16);
            assert_eq!(ParamSet::parse(set.name()).unwrap(), set);
            let bound = squashed_noise_log2_bound(set);
            println!("{}: squashed noise bound 2^{bound:.2}", set.name());
            assert!(bound > 60.0 && bound < 80.0, "{bound}");
            for (n, k) in [(1, 1), (3, 2), (5, 3), (7, 4), (13, 5)] {
                let p = ThresholdParams::for_set(n, k, set).unwrap();
                assert_eq!(p.pbs, set);
                assert!(p.total_noise_log2() < 122.0);
            }
        }
        assert!(ParamSet::parse("fast").is_err());
        // A key set file from before the choice is classic.
        let old: ThresholdParams =
            serde_json::from_str(r#"{"parties":5,"threshold":3,"flood_bits":109}"#).unwrap();
        assert_eq!(old.pbs, ParamSet::Classic);
    }

    #[test]
    fn the_noise_budget_holds_for_usual_sizes_and_is_refused_beyond() {
        let squash = squashed_noise_log2_bound(ParamSet::Classic);
        println!("squashed noise bound 2^{squash:.2}, Δ = 2^{}", delta_log2());
        assert!(squash > 60.0 && squash < 80.0, "{squash}");
        assert_eq!(delta_log2(), 123);
        assert_eq!(squashed_lwe_dimension(), 4096);
        for (n, k) in [(1, 1), (3, 2), (5, 3), (7, 4), (10, 4), (13, 5)] {
            let p = ThresholdParams::new(n, k).unwrap();
            assert!(p.total_noise_log2() < 122.0);
            assert!(p.flood_bits as f64 >= squash + 40.0);
            // The widest flooding the margin allows: one bit more would not fit.
            let wider = ThresholdParams {
                flood_bits: p.flood_bits + 1,
                ..p
            };
            assert!(wider.total_noise_log2() >= 121.0, "({n}, {k})");
            let per_block = p.distance_log2_per_block();
            assert!(per_block <= -41.0, "({n}, {k}): 2^{per_block:.1}");
            // The budget keeps the lifetime distance within 2^-20, and no more than that.
            let budget = p.block_budget() as f64;
            assert!(budget.log2() + per_block <= LIFETIME_DISTANCE_LOG2);
            assert!((budget + 1.0).log2() + per_block > LIFETIME_DISTANCE_LOG2);
        }
        let p = ThresholdParams::new(5, 3).unwrap();
        println!(
            "(5, 3): flooding 2^{}, 2^{:.1} per block, budget {} blocks",
            p.flood_bits,
            p.distance_log2_per_block(),
            p.block_budget()
        );
        assert_eq!(p.flood_bits, 117);
        assert!(p.block_budget() > 1 << 28);
        // C(20, 9) = 167960 terms leave no room for flooding 40 bits above the noise.
        assert!(matches!(
            ThresholdParams::new(20, 10),
            Err(Error::Parameters(_))
        ));
        assert!(ThresholdParams::new(21, 3).is_err());
        assert!(ThresholdParams::new(5, 6).is_err());
        let mut weak = ThresholdParams::new(5, 3).unwrap();
        weak.flood_bits = 80;
        assert!(weak.check().is_err());
    }
}
