//! What a quote's 64-byte report data says: that this identity key, for this chain and
//! registry, asked for a quote after this block.

use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use alloy_sol_types::SolValue;
use sha2::{Digest, Sha256};

/// The domain tag of the binding (also in `WorkerRegistry.sol`).
pub const DOMAIN: &str = "fornax.tee.identity";
/// The binding's format version (also in `WorkerRegistry.sol`).
pub const VERSION: u16 = 1;

/// Where and when a worker attests: the chain, its registry, and a recent block's hash as
/// the nonce, so a quote cannot be made ahead of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindingContext {
    /// The chain id.
    pub chain_id: u64,
    /// The WorkerRegistry's address.
    pub registry: Address,
    /// The hash of a recent block (the nonce).
    pub nonce: B256,
}

/// The report data binding `public_key` (64 bytes, `x ‖ y`) in `ctx`:
/// `keccak256(m) ‖ sha256(m)` with `m = abi.encode(DOMAIN, VERSION, chain id, registry,
/// public key, nonce)`. Both halves are computable in the EVM (keccak256 and the sha256
/// precompile), so the registry checks the binding on chain as well.
pub fn report_data(ctx: &BindingContext, public_key: &[u8; 64]) -> [u8; 64] {
    let message = (
        DOMAIN.to_string(),
        VERSION,
        U256::from(ctx.chain_id),
        ctx.registry,
        Bytes::copy_from_slice(public_key),
        ctx.nonce,
    )
        .abi_encode_params();
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(keccak256(&message).as_slice());
    out[32..].copy_from_slice(&Sha256::digest(&message));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_changes_the_binding() {
        let ctx = BindingContext {
            chain_id: 31337,
            registry: Address::repeat_byte(7),
            nonce: B256::repeat_byte(9),
        };
        let key = [3u8; 64];
        let base = report_data(&ctx, &key);
        assert_eq!(base, report_data(&ctx, &key), "deterministic");
        let mut other_key = key;
        other_key[63] ^= 1;
        for changed in [
            report_data(&BindingContext { chain_id: 1, ..ctx }, &key),
            report_data(
                &BindingContext {
                    registry: Address::repeat_byte(8),
                    ..ctx
                },
                &key,
            ),
            report_data(
                &BindingContext {
                    nonce: B256::repeat_byte(1),
                    ..ctx
                },
                &key,
            ),
            report_data(&ctx, &other_key),
        ] {
            assert_ne!(changed[..32], base[..32]);
            assert_ne!(changed[32..], base[32..]);
        }
    }
}
