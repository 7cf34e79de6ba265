//! Root → intermediate → leaf PKIs made by qtls-pki on the fixed clock ([`crate::clock`]).

use qtls_pki::{Certificate, CertificateBuilder, CertifiedKeyPair, Usage};
use qtls_provider::{Backend, KeyAlgorithm, KeyPair};
use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::clock::issued;

/// A root, an intermediate and leaves, all of one algorithm.
pub struct TestPki {
    /// The algorithm of every key.
    pub algorithm: KeyAlgorithm,
    /// The self-signed root.
    pub root: CertifiedKeyPair,
    /// The intermediate that signs the leaves (`pathLen` 0).
    pub intermediate: CertifiedKeyPair,
}

impl TestPki {
    /// A PKI whose root is "Test Root".
    pub fn new(algorithm: KeyAlgorithm) -> Self {
        Self::with_root_name(algorithm, "Test Root")
    }

    /// A PKI whose root has the common name `root_name`.
    pub fn with_root_name(algorithm: KeyAlgorithm, root_name: &str) -> Self {
        let root = ca(algorithm, Usage::RootCa, root_name, None);
        let intermediate = ca(
            algorithm,
            Usage::IntermediateCa { path_len: Some(0) },
            "Test Intermediate",
            Some(&root),
        );
        Self {
            algorithm,
            root,
            intermediate,
        }
    }

    /// The root, as a trust anchor list.
    pub fn roots(&self) -> Vec<CertificateDer<'static>> {
        vec![self.root.certificate().to_certificate_der()]
    }

    /// A server leaf for `localhost` valid for a year from issuance.
    pub fn server_leaf(&self) -> CertifiedKeyPair {
        self.leaf(self.leaf_builder(Usage::ServerLeaf, "localhost"))
    }

    /// A leaf builder for `name` (also its DNS name), valid for a year from issuance.
    pub fn leaf_builder(&self, usage: Usage, name: &str) -> CertificateBuilder {
        CertificateBuilder::new(usage, name)
            .validity(issued(), issued() + time::Duration::days(365))
            .dns_names([name])
    }

    /// Issues `builder` under the intermediate for a new key of the PKI's algorithm.
    pub fn leaf(&self, builder: CertificateBuilder) -> CertifiedKeyPair {
        let key = KeyPair::generate(self.algorithm, Backend::AwsLc).unwrap();
        let cert = builder.signed_by(&key, &self.intermediate).unwrap();
        CertifiedKeyPair::new(cert, key).unwrap()
    }

    /// Leaf, intermediate: what a peer presents.
    pub fn chain(&self, leaf: &Certificate) -> Vec<CertificateDer<'static>> {
        vec![
            leaf.to_certificate_der(),
            self.intermediate.certificate().to_certificate_der(),
        ]
    }

    /// A `localhost` server leaf as DER: the root, the chain and the PKCS#8 key.
    pub fn server_identity(&self) -> ServerIdentity {
        let leaf = self.server_leaf();
        ServerIdentity {
            root: self.root.certificate().to_certificate_der(),
            chain: self.chain(leaf.certificate()),
            key: leaf.key().to_pkcs8_der().unwrap().to_vec(),
        }
    }
}

/// A `localhost` server identity under a new [`TestPki`] of `algorithm`.
pub fn server_identity(algorithm: KeyAlgorithm) -> ServerIdentity {
    TestPki::new(algorithm).server_identity()
}

/// A server's certificate chain and key with the root that trusts it, as DER.
pub struct ServerIdentity {
    /// The root certificate.
    pub root: CertificateDer<'static>,
    /// Leaf, intermediate.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key, PKCS#8.
    pub key: Vec<u8>,
}

/// A CA certificate valid for ten years from issuance, self-signed without `issuer`.
pub fn ca(
    algorithm: KeyAlgorithm,
    usage: Usage,
    name: &str,
    issuer: Option<&CertifiedKeyPair>,
) -> CertifiedKeyPair {
    let validity = (issued(), issued() + time::Duration::days(3650));
    ca_valid(algorithm, usage, name, issuer, validity)
}

/// A CA certificate valid from `validity.0` until `validity.1` (for PKIs on the real clock),
/// self-signed without `issuer`.
pub fn ca_valid(
    algorithm: KeyAlgorithm,
    usage: Usage,
    name: &str,
    issuer: Option<&CertifiedKeyPair>,
    (from, until): (OffsetDateTime, OffsetDateTime),
) -> CertifiedKeyPair {
    let key = KeyPair::generate(algorithm, Backend::AwsLc).unwrap();
    let builder = CertificateBuilder::new(usage, name).validity(from, until);
    let cert = match issuer {
        Some(issuer) => builder.signed_by(&key, issuer).unwrap(),
        None => builder.self_signed(&key).unwrap(),
    };
    CertifiedKeyPair::new(cert, key).unwrap()
}
