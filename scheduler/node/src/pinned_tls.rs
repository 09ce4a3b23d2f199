//! Mutual TLS between the node and its key holders, pinned to their Ed25519 identities.
//!
//! The node and every key holder already have an Ed25519 identity (`node.key`, each
//! holder's `holder.key`), and each side already pins the other's public key: key holders
//! take the node's as `--node-key`, the node reads the holders' from the key set's
//! `holders.json`. TLS reuses exactly those keys, so there is no certificate authority and no
//! certificate file to hand out or renew:
//!
//! - each side presents a self-signed certificate made at start from its identity key
//!   ([`identity_certificate`]);
//! - each side accepts the peer only when the TLS 1.3 handshake signature (CertificateVerify,
//!   which covers the whole handshake transcript) verifies under the **pinned** key. The
//!   certificate's contents are not trusted for anything: whoever presents another key, or
//!   somebody else's certificate without its private key, fails the handshake.
//!
//! Only TLS 1.3 and Ed25519 are offered. The handshake signature is made under TLS 1.3's own
//! context string ("TLS 1.3, server/client CertificateVerify" after 64 spaces), which no
//! request or answer signature of [`crate::keyholders`] (domain-tagged `fornax/…`) can
//! collide with, so one key serves both.

use std::sync::Arc;

use ed25519_dalek::{SigningKey, VerifyingKey};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// The DER prefix of a PKCS #8 v1 Ed25519 private key (RFC 8410), before its 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The name in the certificates; peers are recognised by key, not by name.
pub const CERTIFICATE_NAME: &str = "fornax-keyholder";

/// A self-signed X.509 certificate for `identity` and its private key in PKCS #8, as a TLS
/// stack takes them.
pub fn identity_certificate(
    identity: &SigningKey,
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), String> {
    let mut pkcs8 = PKCS8_ED25519_PREFIX.to_vec();
    pkcs8.extend_from_slice(&identity.to_bytes());
    let pkcs8 = zeroize::Zeroizing::new(pkcs8);
    let key_der = PrivatePkcs8KeyDer::from(pkcs8.as_slice());
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&key_der, &rcgen::PKCS_ED25519)
        .map_err(|e| format!("identity key for TLS: {e}"))?;
    let cert = rcgen::CertificateParams::new(vec![CERTIFICATE_NAME.to_string()])
        .and_then(|params| params.self_signed(&key_pair))
        .map_err(|e| format!("self-signed certificate: {e}"))?;
    Ok((
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec())),
    ))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS configuration of a key holder: it presents `identity` and admits only a client
/// that proves `node` (the pinned node key).
pub fn server_config(
    identity: &SigningKey,
    node: VerifyingKey,
) -> Result<rustls::ServerConfig, String> {
    let (cert, key) = identity_certificate(identity)?;
    rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(Arc::new(Pinned { key: node }))
        .with_single_cert(vec![cert], key)
        .map_err(|e| format!("key holder TLS: {e}"))
}

/// The TLS configuration the node uses towards one key holder: it presents `identity` (the
/// node key) and accepts only a server that proves `holder` (that party's pinned key).
pub fn client_config(
    identity: &SigningKey,
    holder: VerifyingKey,
) -> Result<rustls::ClientConfig, String> {
    let (cert, key) = identity_certificate(identity)?;
    rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { key: holder }))
        .with_client_auth_cert(vec![cert], key)
        .map_err(|e| format!("node TLS: {e}"))
}

/// A peer is whoever signs the handshake under this key.
#[derive(Debug)]
struct Pinned {
    key: VerifyingKey,
}

impl Pinned {
    fn verify(
        &self,
        message: &[u8],
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let bad = || rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature);
        if dss.scheme != SignatureScheme::ED25519 {
            return Err(bad());
        }
        let signature = ed25519_dalek::Signature::from_slice(dss.signature()).map_err(|_| bad())?;
        self.key
            .verify_strict(message, &signature)
            .map_err(|_| bad())?;
        Ok(HandshakeSignatureValid::assertion())
    }
}

fn no_tls12() -> rustls::Error {
    rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered)
}

impl ServerCertVerifier for Pinned {
    /// The certificate itself proves nothing; the handshake signature is checked against the
    /// pinned key ([`Self::verify_tls13_signature`]).
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        _cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify(message, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for Pinned {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    /// As for the server: only the handshake signature under the pinned key counts.
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        _cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify(message, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{ClientConnection, ServerConnection};

    /// Runs a handshake in memory; the first error either side raises.
    fn handshake(
        client: rustls::ClientConfig,
        server: rustls::ServerConfig,
    ) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(CERTIFICATE_NAME).expect("a DNS name");
        let mut c = ClientConnection::new(Arc::new(client), name)?;
        let mut s = ServerConnection::new(Arc::new(server))?;
        for _ in 0..16 {
            let mut wire = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut wire).expect("writes to memory");
            }
            let mut read = wire.as_slice();
            while !read.is_empty() {
                s.read_tls(&mut read).expect("reads from memory");
                s.process_new_packets()?;
            }
            let mut wire = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut wire).expect("writes to memory");
            }
            let mut read = wire.as_slice();
            while !read.is_empty() {
                c.read_tls(&mut read).expect("reads from memory");
                c.process_new_packets()?;
            }
            if !c.is_handshaking() && !s.is_handshaking() && !c.wants_write() {
                return Ok(());
            }
        }
        panic!("the handshake did not finish");
    }

    #[test]
    fn only_the_pinned_keys_complete_a_handshake() {
        let (node, holder, other) = (
            crate::keyholders::generate_key(),
            crate::keyholders::generate_key(),
            crate::keyholders::generate_key(),
        );
        let server = |identity: &SigningKey, pinned_node: &SigningKey| {
            server_config(identity, pinned_node.verifying_key()).unwrap()
        };
        let client = |identity: &SigningKey, pinned_holder: &SigningKey| {
            client_config(identity, pinned_holder.verifying_key()).unwrap()
        };
        // The node and the holder it pins.
        handshake(client(&node, &holder), server(&holder, &node)).unwrap();
        // Another key posing as the node: the key holder refuses it.
        let refused = handshake(client(&other, &holder), server(&holder, &node)).unwrap_err();
        assert!(
            matches!(refused, rustls::Error::InvalidCertificate(_)),
            "{refused:?}"
        );
        // Another key posing as the key holder: the node refuses it.
        let refused = handshake(client(&node, &holder), server(&other, &node)).unwrap_err();
        assert!(
            matches!(refused, rustls::Error::InvalidCertificate(_)),
            "{refused:?}"
        );
        // A client without a certificate is refused.
        let anonymous = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                key: holder.verifying_key(),
            }))
            .with_no_client_auth();
        assert!(handshake(anonymous, server(&holder, &node)).is_err());
    }
}
