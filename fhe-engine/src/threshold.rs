//! k-of-n threshold decryption of squashed ciphertexts: the trusted-dealer Setup, each key
//! holder's PartDec, and FinDec.
//!
//! The construction is the one of Zama's threshold KMS ("Noah's Ark", Dahl et al. 2023):
//! the 128-bit LWE secret key s that noise squashing produces is Shamir-shared bit by bit over
//! GR(2^128, d) ([`crate::shamir`]); for a squashed block (a, b), party i returns
//! ⟨a, [s]_i⟩ + [E]_i, where [E]_i is its PRSS share of flooding noise ([`crate::prss`])
//! derived from a digest of `a`; any k such shares interpolate to ⟨a, s⟩ + E, and
//! b − ⟨a, s⟩ − E rounds to the message.
//!
//! Security assumptions, stated plainly:
//! - **Dealer.** Setup runs on one trusted machine that erases the secret key and every share
//!   once they are written out ([`Dealt`] holds them only in memory).
//! - **Corruption.** At most t = k − 1 key holders are corrupt (static, may deviate). Fewer
//!   than k shares of s are independent of s; any k decrypt.
//! - **Leakage.** A decryption reveals ⟨a, s⟩ + E, in which E floods the squashed noise with
//!   at most 2^-40 statistical distance per block (about 2^-49.5 for (5, 3)), within a
//!   lifetime budget of distinct blocks per key set ([`crate::params`]). The shares a party
//!   returns are a deterministic function of `a`: asking again, even with another body b,
//!   yields the same share, so repeated requests give an attacker nothing new to average.
//! - **Robustness.** FinDec outputs a value only when at least t + k answers agree on it,
//!   t being the corruption bound (k − 1 unless the caller assumes fewer): such a value is
//!   the honest one, and the answers that disagree with it, and only those, are named.
//!   Otherwise it refuses, naming nobody ([`crate::shamir`] says why: with exactly k
//!   answers one liar shifts the result undetectably, and k − 1 colluders can make a value
//!   of their choice agree with k + … answers). So under the default bound every one of
//!   2k − 1 answers must arrive and agree; a deployment that must decrypt with t holders
//!   down or lying needs n ≥ 2t + k (3t + 1 for t = k − 1), which `fornax fhe keygen` checks.

use crate::params::{delta_log2, squashed_lwe_dimension, ParamSet, ThresholdParams, BLOCK_BITS};
use crate::prss::{self, SetKey};
use crate::ring::{GaloisRing, Gr, MAX_DEGREE};
use crate::shamir::Shamir;
use crate::Error;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use tfhe::integer::ciphertext::SquashedNoiseRadixCiphertext;
use tfhe::safe_serialization::safe_serialize;
use tfhe::zk::CompactPkeCrs;
use tfhe::{ClientKey, CompactPublicKey, CompressedServerKey, Config, ConfigBuilder};

/// Identifies one key set: a digest of its public material.
pub type KeyId = [u8; 32];

/// What the dealer publishes: the keys anyone may hold.
#[derive(Clone)]
pub struct PublicKeySet {
    /// The threshold parameters.
    pub params: ThresholdParams,
    /// Digest of the public material; key shares and partial decryptions name it.
    pub key_id: KeyId,
    /// Encrypts (Encrypt(pk, d)): tfhe-rs's compact public key under the dedicated
    /// encryption parameters ([`ParamSet::encryption`]).
    pub public_key: CompactPublicKey,
    /// The public parameters of the inputs' proofs of knowledge ([`crate::input`]), made at
    /// Setup.
    pub crs: CompactPkeCrs,
    /// Evaluates: the bootstrapping and key-switching keys, and the noise-squashing key that
    /// turns results into 128-bit ciphertexts for threshold decryption.
    pub server_key: CompressedServerKey,
}

/// The tfhe-rs configuration of a key set made for `set`: its computation parameters with
/// their noise squashing, and the dedicated encryption key (with its casting key) that
/// inputs are encrypted under with proofs of knowledge ([`crate::input`]).
pub fn config(set: ParamSet) -> Config {
    ConfigBuilder::with_custom_parameters(set.compute())
        .enable_noise_squashing(set.squash())
        .use_dedicated_compact_public_key_parameters((set.encryption(), set.casting()))
        .build()
}

/// One key holder's secret material.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyShare {
    /// The key set it belongs to.
    pub key_id: KeyId,
    /// The threshold parameters.
    pub params: ThresholdParams,
    /// This holder's index, 1-based.
    pub party: usize,
    /// Shares of the squashed secret key's coefficients: `dimension × degree` words, the d
    /// ring coefficients of each key coefficient's share in turn.
    pub key: Vec<u128>,
    /// The PRSS keys of the sets this holder belongs to.
    pub prss: Vec<SetKey>,
}

/// The key shares are overwritten with zeros when a share is dropped (its PRSS keys
/// zero themselves).
impl Drop for KeyShare {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl std::fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyShare")
            .field("key_id", &hex::encode(self.key_id))
            .field("party", &self.party)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// The outcome of Setup(n, k): the public key set and one share per key holder.
pub struct Dealt {
    /// The public material.
    pub public: PublicKeySet,
    /// `shares[i − 1]` is party i's.
    pub shares: Vec<KeyShare>,
}

/// Setup(n, k) by a trusted dealer: fresh keys, the squashed secret key shared among n key
/// holders of whom any k decrypt. The client key never leaves this function.
pub fn setup(
    parties: usize,
    threshold: usize,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Dealt, Error> {
    setup_for(ThresholdParams::new(parties, threshold)?, rng)
}

/// Setup for the parameters `params` (their parameter set included, see
/// [`ThresholdParams::for_set`]).
pub fn setup_for(
    params: ThresholdParams,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Dealt, Error> {
    setup_inner(params, rng).map(|(dealt, _)| dealt)
}

/// Setup that also returns the secret keys. **Insecure**: for tests that compare threshold
/// decryption against the plain secret key.
#[doc(hidden)]
pub fn setup_insecure_keep_secret(
    parties: usize,
    threshold: usize,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Dealt, ClientKey), Error> {
    setup_inner(ThresholdParams::new(parties, threshold)?, rng)
}

/// [`setup_insecure_keep_secret`] for the parameters `params`. **Insecure**, for tests.
#[doc(hidden)]
pub fn setup_insecure_keep_secret_for(
    params: ThresholdParams,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Dealt, ClientKey), Error> {
    setup_inner(params, rng)
}

fn setup_inner(
    params: ThresholdParams,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Dealt, ClientKey), Error> {
    params.check()?;
    let shamir = Shamir::new(params.parties, params.threshold)?;
    let (parties, threshold) = (params.parties, params.threshold);
    let client_key = ClientKey::generate(config(params.pbs));
    let server_key = CompressedServerKey::new(&client_key);
    let public_key =
        CompactPublicKey::try_new(&client_key).map_err(|e| Error::Tfhe(e.to_string()))?;

    let crs = crate::input::crs_for(params.pbs)?;
    let key_id = key_id_of(&params, &public_key, &server_key, &crs)?;
    let secret = squashed_secret_key(&client_key)?;
    debug_assert_eq!(secret.len(), squashed_lwe_dimension());
    let degree = shamir.ring().degree();
    let mut keys: Vec<Vec<u128>> = vec![Vec::with_capacity(secret.len() * degree); parties];
    for &bit in &secret {
        for (party, share) in shamir.share(Gr::constant(bit), rng).into_iter().enumerate() {
            keys[party].extend_from_slice(&share.0[..degree]);
        }
    }
    let sets: Vec<SetKey> = prss::sets(parties, parties - (threshold - 1))
        .into_iter()
        .map(|members| {
            let mut key = [0u8; 32];
            rng.fill_bytes(&mut key);
            SetKey { members, key }
        })
        .collect();
    let shares = keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| KeyShare {
            key_id,
            params,
            party: i + 1,
            key,
            prss: sets
                .iter()
                .filter(|s| s.members & (1 << i) != 0)
                .cloned()
                .collect(),
        })
        .collect();
    let public = PublicKeySet {
        params,
        key_id,
        public_key,
        crs,
        server_key,
    };
    Ok((Dealt { public, shares }, client_key))
}

/// The squashed 128-bit LWE secret key of a client key, coefficient by coefficient.
#[doc(hidden)]
pub fn squashed_secret_key(client_key: &ClientKey) -> Result<Vec<u128>, Error> {
    let (_, _, _, squash_private, ..) = client_key.clone().into_raw_parts();
    let squash_private = squash_private
        .ok_or_else(|| Error::Parameters("the client key has no noise-squashing key".into()))?;
    Ok(squash_private
        .into_raw_parts()
        .post_noise_squashing_lwe_secret_key()
        .as_ref()
        .to_vec())
}

/// The key id: a digest of the parameters and of the public keys' and the CRS's safe
/// serialization.
pub fn key_id_of(
    params: &ThresholdParams,
    public_key: &CompactPublicKey,
    server_key: &CompressedServerKey,
    crs: &CompactPkeCrs,
) -> Result<KeyId, Error> {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"fornax/fhe-key-set/v2");
    hasher.update(&serde_json::to_vec(params).map_err(|e| Error::Serialization(e.to_string()))?);
    let mut bytes = Vec::new();
    safe_serialize(public_key, &mut bytes, crate::io::MAX_KEY_BYTES)
        .map_err(|e| Error::Serialization(e.to_string()))?;
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(&bytes);
    bytes.clear();
    safe_serialize(server_key, &mut bytes, crate::io::MAX_KEY_BYTES)
        .map_err(|e| Error::Serialization(e.to_string()))?;
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(&bytes);
    bytes.clear();
    safe_serialize(crs, &mut bytes, crate::io::MAX_KEY_BYTES)
        .map_err(|e| Error::Serialization(e.to_string()))?;
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(&bytes);
    Ok(*hasher.finalize().as_bytes())
}

/// A key holder ready to answer PartDec: its share, and the PRSS coefficients f_A(α_i)
/// computed once.
pub struct KeyHolder {
    share: KeyShare,
    ring: GaloisRing,
    sets: Vec<(SetKey, Gr)>,
}

/// One party's answer to PartDec for one ciphertext.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartialDecryption {
    /// The key set, hex.
    pub key_id: String,
    /// The party, 1-based.
    pub party: usize,
    /// Digest of the ciphertext it decrypts ([`ciphertext_digest`]), hex.
    pub ciphertext: String,
    /// One ring element per squashed block, its d coefficients as little-endian hex.
    pub blocks: Vec<String>,
}

impl KeyHolder {
    /// Checks a share against its parameters and prepares it.
    pub fn new(share: KeyShare) -> Result<Self, Error> {
        let params = share.params;
        params.check()?;
        let shamir = Shamir::new(params.parties, params.threshold)?;
        let ring = *shamir.ring();
        let degree = ring.degree();
        if share.party == 0 || share.party > params.parties {
            return Err(Error::KeyShare(format!(
                "party {} is outside 1..={}",
                share.party, params.parties
            )));
        }
        if share.key.len() != squashed_lwe_dimension() * degree {
            return Err(Error::KeyShare(format!(
                "key share holds {} words, expected {}",
                share.key.len(),
                squashed_lwe_dimension() * degree
            )));
        }
        let me = 1u64 << (share.party - 1);
        let expected_sets = prss::sets(params.parties, params.parties - (params.threshold - 1))
            .into_iter()
            .filter(|m| m & me != 0)
            .collect::<Vec<_>>();
        let mine: Vec<u64> = share.prss.iter().map(|s| s.members).collect();
        if mine != expected_sets {
            return Err(Error::KeyShare(
                "PRSS sets do not match the parameters".into(),
            ));
        }
        let sets = share
            .prss
            .iter()
            .map(|s| {
                Ok((
                    s.clone(),
                    prss::set_coefficient(&ring, &shamir, s.members, share.party)?,
                ))
            })
            .collect::<Result<_, Error>>()?;
        Ok(KeyHolder { share, ring, sets })
    }

    /// The share this holder serves.
    pub fn share(&self) -> &KeyShare {
        &self.share
    }

    /// PartDec(c, sk_i): ⟨a, [s]_i⟩ + [E]_i for every squashed block of `ct`.
    pub fn partial_decrypt(
        &self,
        ct: &SquashedNoiseRadixCiphertext,
    ) -> Result<PartialDecryption, Error> {
        let degree = self.ring.degree();
        let dimension = squashed_lwe_dimension();
        check_squashed(ct)?;
        let mut digest = CiphertextDigest::new(ct);
        let blocks = ct
            .packed_blocks()
            .iter()
            .map(|block| {
                let data = block.lwe_ciphertext().as_ref();
                let (mask, body) = data.split_at(dimension);
                let mask_hash = hash_mask(mask);
                digest.block(block, &mask_hash, body[0]);
                let mut y = Gr(inner_product(mask, &self.share.key, degree));
                let context = partdec_context(&self.share.key_id, &mask_hash);
                for (set, coefficient) in &self.sets {
                    let r = prss::noise(&set.key, &context, self.share.params.flood_bits);
                    y = self.ring.add(&y, &self.ring.scale(coefficient, r));
                }
                encode_gr(&y, degree)
            })
            .collect();
        Ok(PartialDecryption {
            key_id: hex::encode(self.share.key_id),
            party: self.share.party,
            ciphertext: hex::encode(digest.finish()),
            blocks,
        })
    }
}

/// ⟨a, [s]_i⟩ in GR: `shares` holds `degree` ring coefficients per key coefficient.
fn inner_product(mask: &[u128], shares: &[u128], degree: usize) -> [u128; MAX_DEGREE] {
    fn fixed<const D: usize>(mask: &[u128], shares: &[u128]) -> [u128; MAX_DEGREE] {
        let mut acc = [0u128; D];
        for (a, share) in mask.iter().zip(shares.chunks_exact(D)) {
            for j in 0..D {
                acc[j] = acc[j].wrapping_add(a.wrapping_mul(share[j]));
            }
        }
        let mut out = [0u128; MAX_DEGREE];
        out[..D].copy_from_slice(&acc);
        out
    }
    match degree {
        2 => fixed::<2>(mask, shares),
        3 => fixed::<3>(mask, shares),
        4 => fixed::<4>(mask, shares),
        5 => fixed::<5>(mask, shares),
        6 => fixed::<6>(mask, shares),
        7 => fixed::<7>(mask, shares),
        _ => fixed::<8>(mask, shares),
    }
}

/// The result of FinDec.
#[derive(Clone, Debug, PartialEq)]
pub struct Decryption {
    /// The plaintext.
    pub value: u128,
    /// Parties whose shares were found wrong and left out.
    pub bad_parties: Vec<usize>,
    /// log2 of the largest noise the decoding met among the blocks, |e − E| (the flooding
    /// dominates): its margin to log2(Δ/2) is what keeps decoding correct.
    pub noise_log2: f64,
}

/// FinDec(pk, s_1 … s_m) under the scheme's corruption bound t = k − 1: see
/// [`combine_bounded`].
pub fn combine(
    public: &PublicKeySet,
    ct: &SquashedNoiseRadixCiphertext,
    partials: &[PartialDecryption],
) -> Result<Decryption, Error> {
    combine_bounded(public, ct, partials, public.params.threshold - 1)
}

/// FinDec(pk, s_1 … s_m) assuming at most `max_corrupt` wrong answers: reconstructs
/// ⟨a, s⟩ + E from the partial decryptions when at least `max_corrupt` + k of them agree
/// (naming those that disagree), and decodes the plaintext of `ct`. Shares for another key
/// set or another ciphertext, or malformed ones, count as wrong. `max_corrupt` above k − 1
/// is refused.
pub fn combine_bounded(
    public: &PublicKeySet,
    ct: &SquashedNoiseRadixCiphertext,
    partials: &[PartialDecryption],
    max_corrupt: usize,
) -> Result<Decryption, Error> {
    if max_corrupt >= public.params.threshold {
        return Err(Error::Parameters(format!(
            "a corruption bound of {max_corrupt} is at least k = {}: k − 1 corrupt holders is the most the scheme tolerates",
            public.params.threshold
        )));
    }
    let params = public.params;
    let shamir = Shamir::new(params.parties, params.threshold)?;
    let degree = shamir.ring().degree();
    check_squashed(ct)?;
    let key_id = hex::encode(public.key_id);
    let digest = hex::encode(ciphertext_digest(ct));
    let blocks = ct.packed_blocks().len();
    let mut malformed = Vec::new();
    let mut shares: Vec<(usize, Vec<Gr>)> = Vec::new();
    for p in partials {
        let decoded: Option<Vec<Gr>> =
            (p.key_id == key_id && p.ciphertext == digest && p.blocks.len() == blocks)
                .then(|| p.blocks.iter().map(|b| decode_gr(b, degree)).collect())
                .flatten();
        match decoded {
            Some(v)
                if p.party >= 1
                    && p.party <= params.parties
                    && !shares.iter().any(|(q, _)| *q == p.party) =>
            {
                shares.push((p.party, v))
            }
            _ => malformed.push(p.party),
        }
    }
    let reconstruction = shamir.reconstruct(&shares, max_corrupt)?;
    let delta_bits = delta_log2();
    let squash = public.params.pbs.squash();
    let values_per_block = squash.message_modulus().0 * squash.carry_modulus().0;
    let bits_per_block = values_per_block.ilog2();
    let mut value: u128 = 0;
    let mut noise_log2 = 0f64;
    for (i, (block, masked)) in ct
        .packed_blocks()
        .iter()
        .zip(&reconstruction.values)
        .enumerate()
    {
        let body = *block
            .lwe_ciphertext()
            .as_ref()
            .last()
            .expect("an LWE ciphertext has a body");
        let noisy = body.wrapping_sub(*masked);
        let rounded = noisy.wrapping_add(1u128 << (delta_bits - 1)) >> delta_bits;
        let noise = noisy.wrapping_sub(rounded << delta_bits) as i128;
        noise_log2 = noise_log2.max((noise.unsigned_abs() as f64).log2());
        let m = rounded % u128::from(values_per_block);
        if i as u32 * bits_per_block < 128 {
            value |= m << (i as u32 * bits_per_block);
        }
    }
    let bits = ct.original_block_count() as u32 * BLOCK_BITS;
    if bits < 128 {
        value &= (1u128 << bits) - 1;
    }
    let mut bad_parties = reconstruction.bad_parties;
    bad_parties.extend(malformed);
    bad_parties.sort_unstable();
    bad_parties.dedup();
    Ok(Decryption {
        value,
        bad_parties,
        noise_log2,
    })
}

pub(crate) fn check_squashed(ct: &SquashedNoiseRadixCiphertext) -> Result<(), Error> {
    let dimension = squashed_lwe_dimension();
    for block in ct.packed_blocks() {
        if block.lwe_ciphertext().as_ref().len() != dimension + 1 {
            return Err(Error::Ciphertext(format!(
                "squashed block of dimension {}, expected {dimension}",
                block.lwe_ciphertext().as_ref().len().saturating_sub(1)
            )));
        }
        // The same moduli for every parameter set (tested in `params`).
        let squash = ParamSet::Classic.squash();
        if block.message_modulus() != squash.message_modulus()
            || block.carry_modulus() != squash.carry_modulus()
        {
            return Err(Error::Ciphertext("squashed block with other moduli".into()));
        }
    }
    let expected = ct.original_block_count().div_ceil(2);
    if ct.packed_blocks().len() != expected || ct.original_block_count() > 64 {
        return Err(Error::Ciphertext(format!(
            "{} packed blocks for {} original ones",
            ct.packed_blocks().len(),
            ct.original_block_count()
        )));
    }
    Ok(())
}

/// A digest of a block's mask `a` (the part of a ciphertext that PartDec's noise depends on).
fn hash_mask(mask: &[u128]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"fornax/lwe-mask/v1");
    hash_words(&mut hasher, mask);
    *hasher.finalize().as_bytes()
}

/// The PRSS context of a block: the key set and the digest of the block's mask `a` only.
fn partdec_context(key_id: &KeyId, mask_hash: &[u8; 32]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"fornax/partdec-context/v1");
    hasher.update(key_id);
    hasher.update(mask_hash);
    *hasher.finalize().as_bytes()
}

/// Feeds `words` to `hasher` as little-endian bytes, in large pieces (blake3 hashes long
/// inputs with SIMD across chunks; word-sized updates would forgo that).
fn hash_words(hasher: &mut blake3::Hasher, words: &[u128]) {
    let mut buf = [0u8; 16 * 1024];
    for piece in words.chunks(buf.len() / 16) {
        for (dst, w) in buf.chunks_exact_mut(16).zip(piece) {
            dst.copy_from_slice(&w.to_le_bytes());
        }
        hasher.update(&buf[..piece.len() * 16]);
    }
}

/// A canonical digest of a squashed ciphertext: the original block count, and per block its
/// moduli, length, the digest of its mask and its body. Two bit-identical results have the
/// same digest.
pub fn ciphertext_digest(ct: &SquashedNoiseRadixCiphertext) -> [u8; 32] {
    let mut digest = CiphertextDigest::new(ct);
    for block in ct.packed_blocks() {
        let data = block.lwe_ciphertext().as_ref();
        let (mask, body) = data.split_at(data.len().saturating_sub(1));
        digest.block(block, &hash_mask(mask), body.first().copied().unwrap_or(0));
    }
    digest.finish()
}

/// [`ciphertext_digest`] built block by block (PartDec hashes each mask once for both uses).
struct CiphertextDigest(blake3::Hasher);

impl CiphertextDigest {
    fn new(ct: &SquashedNoiseRadixCiphertext) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"fornax/squashed-ciphertext/v2");
        hasher.update(&(ct.original_block_count() as u64).to_le_bytes());
        CiphertextDigest(hasher)
    }

    fn block(
        &mut self,
        block: &tfhe::shortint::ciphertext::SquashedNoiseCiphertext,
        mask_hash: &[u8; 32],
        body: u128,
    ) {
        self.0.update(&block.message_modulus().0.to_le_bytes());
        self.0.update(&block.carry_modulus().0.to_le_bytes());
        self.0
            .update(&(block.lwe_ciphertext().as_ref().len() as u64).to_le_bytes());
        self.0.update(mask_hash);
        self.0.update(&body.to_le_bytes());
    }

    fn finish(self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

fn encode_gr(x: &Gr, degree: usize) -> String {
    let mut bytes = Vec::with_capacity(16 * degree);
    for c in &x.0[..degree] {
        bytes.extend_from_slice(&c.to_le_bytes());
    }
    hex::encode(bytes)
}

fn decode_gr(s: &str, degree: usize) -> Option<Gr> {
    let bytes = hex::decode(s).ok()?;
    if bytes.len() != 16 * degree {
        return None;
    }
    let mut x = Gr::ZERO;
    for (c, chunk) in x.0.iter_mut().zip(bytes.chunks_exact(16)) {
        *c = u128::from_le_bytes(chunk.try_into().ok()?);
    }
    Some(x)
}
