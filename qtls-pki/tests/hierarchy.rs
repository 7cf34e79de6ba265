//! Every profile's hierarchy, generated with a fixed clock: fields and extensions parsed back
//! with x509-cert, and the chains verified with rustls-webpki and qtls-provider's algorithms.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::Duration as StdDuration;

use const_oid::db::rfc5280;
use const_oid::ObjectIdentifier;
use der::Decode;
use qtls_pki::{Certificate, Pki, PkiOptions, Profile};
use rustls_pki_types::{CertificateDer, ServerName, SignatureVerificationAlgorithm, UnixTime};
use time::{Duration, OffsetDateTime};
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage,
    KeyUsages, SubjectAltName,
};

const OCSP_URL: &str = "http://127.0.0.1:8888/ocsp";
const CRL_URL: &str = "http://127.0.0.1:8888/intermediate.crl";

use qtls_test_support::clock::issued as clock;

fn options(profile: Profile) -> PkiOptions {
    let mut options = PkiOptions::new(clock());
    options.profile = profile;
    options.hosts = vec![
        "localhost, *.example.com".into(),
        "127.0.0.1".into(),
        "::1".into(),
    ];
    options.ocsp_url = Some(OCSP_URL.into());
    options.crl_url = Some(CRL_URL.into());
    options.must_staple = true;
    options
}

fn unix(time: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(StdDuration::from_secs(
        u64::try_from(time.unix_timestamp()).unwrap(),
    ))
}

fn algorithms() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
    qtls_provider::hybrid()
        .signature_verification_algorithms
        .all
}

fn signature_oid(profile: Profile) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(match profile {
        Profile::COMPOSITE => "1.3.6.1.5.5.7.6.46",
        Profile::Composite(alg) => return alg.oid(),
        Profile::MlDsa65 => "2.16.840.1.101.3.4.3.18",
        Profile::MlDsa87 => "2.16.840.1.101.3.4.3.19",
        Profile::EcdsaP384 => "1.2.840.10045.4.3.3",
        _ => unreachable!("a profile this test does not know"),
    })
}

/// Verifies `leaf` up to the root of `pki` at `time` for `usage`.
fn verify(
    pki: &Pki,
    leaf: &Certificate,
    time: OffsetDateTime,
    usage: webpki::KeyUsage,
) -> Result<(), webpki::Error> {
    let root_der = pki.root().certificate().to_certificate_der();
    let anchor = webpki::anchor_from_trusted_cert(&root_der).unwrap();
    let intermediates = [pki.intermediate().certificate().to_certificate_der()];
    let leaf_der = leaf.to_certificate_der();
    let end_entity = webpki::EndEntityCert::try_from(&leaf_der).unwrap();
    end_entity
        .verify_for_usage(
            algorithms(),
            &[anchor],
            &intermediates,
            unix(time),
            usage,
            None,
            None,
        )
        .map(|_| ())
}

fn extension<'a, T: Decode<'a> + const_oid::AssociatedOid>(cert: &'a Certificate) -> (bool, T) {
    cert.x509()
        .tbs_certificate
        .get::<T>()
        .unwrap()
        .unwrap_or_else(|| panic!("{} lacks extension {}", cert.subject(), T::OID))
}

fn check_profile(profile: Profile) {
    let pki = Pki::generate(&options(profile)).unwrap();
    let root = pki.root().certificate();
    let intermediate = pki.intermediate().certificate();
    let server = pki.server().certificate();
    let client = pki.client().certificate();
    let ocsp = pki.ocsp_responder().certificate();
    let all = [root, intermediate, server, client, ocsp];

    // Names, chain linkage and common fields.
    assert_eq!(root.subject(), "CN=Q-TLS Root CA,O=Q-TLS");
    assert_eq!(intermediate.subject(), "CN=Q-TLS Intermediate CA,O=Q-TLS");
    assert_eq!(server.subject(), "CN=localhost,O=Q-TLS");
    assert_eq!(client.subject(), "CN=qtls-client,O=Q-TLS");
    assert_eq!(ocsp.subject(), "CN=Q-TLS OCSP Responder,O=Q-TLS");
    assert!(root.is_self_issued());
    assert_eq!(root.issuer(), root.subject());
    assert_eq!(intermediate.issuer(), root.subject());
    for leaf in [server, client, ocsp] {
        assert_eq!(leaf.issuer(), intermediate.subject());
    }
    for cert in all {
        let parsed = x509_cert::Certificate::from_der(cert.der()).unwrap();
        let tbs = &parsed.tbs_certificate;
        assert_eq!(tbs.version, x509_cert::certificate::Version::V3);
        assert_eq!(tbs.signature, parsed.signature_algorithm);
        assert_eq!(
            tbs.signature.oid,
            signature_oid(profile),
            "{}",
            cert.subject()
        );
        assert!(tbs.signature.parameters.is_none(), "{}", cert.subject());
        assert_eq!(cert.serial().len(), 16);
        assert_eq!(cert.serial()[0] & 0xc0, 0x40, "positive 16-octet serial");
        let ski = cert.subject_key_identifier().unwrap();
        let sha1 = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            cert.public_key(),
        );
        assert_eq!(ski, sha1.as_ref(), "SKI of {}", cert.subject());
        assert_eq!(cert.public_key(), pki_key_of(&pki, cert));
    }
    // The TLS keys use the profile's leaf algorithm (a PKCS#1 v1.5 composite's PSS twin).
    for (pair, algorithm) in [
        (pki.root(), profile.key_algorithm()),
        (pki.intermediate(), profile.key_algorithm()),
        (pki.ocsp_responder(), profile.key_algorithm()),
        (pki.server(), profile.leaf_key_algorithm()),
        (pki.client(), profile.leaf_key_algorithm()),
    ] {
        assert_eq!(
            pair.key().algorithm(),
            algorithm,
            "{}",
            pair.certificate().subject()
        );
    }
    assert_eq!(root.authority_key_identifier(), None);
    assert_eq!(
        intermediate.authority_key_identifier(),
        root.subject_key_identifier()
    );
    for leaf in [server, client, ocsp] {
        assert_eq!(
            leaf.authority_key_identifier(),
            intermediate.subject_key_identifier()
        );
    }
    let serials: std::collections::HashSet<_> = all.iter().map(|c| c.serial()).collect();
    assert_eq!(serials.len(), all.len(), "serials are distinct");

    // Validity: exactly the clock window.
    for ca in [root, intermediate] {
        assert_eq!(ca.not_before(), clock());
        assert_eq!(ca.not_after(), clock() + Duration::days(3650));
    }
    for leaf in [server, client, ocsp] {
        assert_eq!(leaf.not_before(), clock());
        assert_eq!(leaf.not_after(), clock() + Duration::days(90));
    }

    // BasicConstraints, KeyUsage, ExtendedKeyUsage.
    let (critical, bc) = extension::<BasicConstraints>(root);
    assert!(critical && bc.ca && bc.path_len_constraint.is_none());
    let (critical, bc) = extension::<BasicConstraints>(intermediate);
    assert!(critical && bc.ca);
    assert_eq!(bc.path_len_constraint, Some(0));
    assert_eq!(intermediate.path_len(), Some(0));
    for leaf in [server, client, ocsp] {
        let (critical, bc) = extension::<BasicConstraints>(leaf);
        assert!(critical && !bc.ca);
        assert!(!leaf.is_ca());
    }
    for ca in [root, intermediate] {
        let (critical, usage) = extension::<KeyUsage>(ca);
        assert!(critical);
        assert_eq!(usage.0, KeyUsages::KeyCertSign | KeyUsages::CRLSign);
        assert!(ca.extension(&rfc5280::ID_CE_EXT_KEY_USAGE).is_none());
    }
    for (leaf, purpose) in [
        (server, rfc5280::ID_KP_SERVER_AUTH),
        (client, rfc5280::ID_KP_CLIENT_AUTH),
        (ocsp, rfc5280::ID_KP_OCSP_SIGNING),
    ] {
        let (critical, usage) = extension::<KeyUsage>(leaf);
        assert!(critical);
        assert_eq!(
            usage.0,
            der::flagset::FlagSet::from(KeyUsages::DigitalSignature)
        );
        let (critical, eku) = extension::<ExtendedKeyUsage>(leaf);
        assert!(!critical);
        assert_eq!(eku.0, vec![purpose]);
    }

    // SubjectAltName: DNS, wildcard DNS, IPv4, IPv6.
    let (critical, san) = extension::<SubjectAltName>(server);
    assert!(!critical);
    let ip = |s: &str| GeneralName::from(s.parse::<IpAddr>().unwrap());
    let dns = |s: &str| GeneralName::DnsName(der::asn1::Ia5String::new(s).unwrap());
    assert_eq!(
        san.0,
        vec![
            dns("localhost"),
            dns("*.example.com"),
            ip("127.0.0.1"),
            ip("::1")
        ]
    );
    assert!(client.extension(&rfc5280::ID_CE_SUBJECT_ALT_NAME).is_none());

    // AuthorityInfoAccess, CRLDistributionPoints: on server and client only.
    let uri =
        |s: &str| GeneralName::UniformResourceIdentifier(der::asn1::Ia5String::new(s).unwrap());
    for leaf in [server, client] {
        let (critical, aia) = extension::<AuthorityInfoAccessSyntax>(leaf);
        assert!(!critical);
        assert_eq!(aia.0.len(), 1);
        assert_eq!(aia.0[0].access_method, rfc5280::ID_AD_OCSP);
        assert_eq!(aia.0[0].access_location, uri(OCSP_URL));
        let (critical, dps) = extension::<CrlDistributionPoints>(leaf);
        assert!(!critical);
        assert_eq!(
            dps.0[0].distribution_point,
            Some(DistributionPointName::FullName(vec![uri(CRL_URL)]))
        );
    }
    for other in [root, intermediate, ocsp] {
        assert!(other
            .extension(&rfc5280::ID_PE_AUTHORITY_INFO_ACCESS)
            .is_none());
        assert!(other
            .extension(&rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS)
            .is_none());
    }

    // Must-staple on the server, ocsp-nocheck on the responder.
    assert_eq!(
        server.extension(&qtls_pki::ID_PE_TLS_FEATURE),
        Some((false, &[0x30, 0x03, 0x02, 0x01, 0x05][..]))
    );
    assert!(client.extension(&qtls_pki::ID_PE_TLS_FEATURE).is_none());
    assert_eq!(
        ocsp.extension(&qtls_pki::ID_PKIX_OCSP_NOCHECK),
        Some((false, &[0x05, 0x00][..]))
    );
    assert!(server.extension(&qtls_pki::ID_PKIX_OCSP_NOCHECK).is_none());

    // Signatures and paths, with rustls-webpki.
    let day_later = clock() + Duration::days(1);
    verify(&pki, server, day_later, webpki::KeyUsage::server_auth()).unwrap();
    verify(&pki, client, day_later, webpki::KeyUsage::client_auth()).unwrap();
    // id-kp-OCSPSigning, 1.3.6.1.5.5.7.3.9, as DER contents.
    const OCSP_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x09];
    verify(
        &pki,
        ocsp,
        day_later,
        webpki::KeyUsage::required_if_present(OCSP_SIGNING),
    )
    .unwrap();
    assert!(matches!(
        verify(&pki, ocsp, day_later, webpki::KeyUsage::server_auth()),
        Err(webpki::Error::RequiredEkuNotFoundContext(_))
    ));
    assert!(matches!(
        verify(&pki, client, day_later, webpki::KeyUsage::server_auth()),
        Err(webpki::Error::RequiredEkuNotFoundContext(_))
    ));

    let server_der = server.to_certificate_der();
    let end_entity = webpki::EndEntityCert::try_from(&server_der).unwrap();
    for name in ["localhost", "foo.example.com", "127.0.0.1", "::1"] {
        let name = ServerName::try_from(name).unwrap();
        end_entity.verify_is_valid_for_subject_name(&name).unwrap();
    }
    for name in ["example.com", "a.b.example.com", "other.test", "127.0.0.2"] {
        let server_name = ServerName::try_from(name).unwrap();
        assert!(
            end_entity
                .verify_is_valid_for_subject_name(&server_name)
                .is_err(),
            "{name} must not match"
        );
    }

    // Outside the validity window.
    let after = server.not_after() + Duration::seconds(1);
    assert!(matches!(
        verify(&pki, server, after, webpki::KeyUsage::server_auth()),
        Err(webpki::Error::CertExpired { .. })
    ));
    let before = clock() - Duration::seconds(1);
    assert!(matches!(
        verify(&pki, server, before, webpki::KeyUsage::server_auth()),
        Err(webpki::Error::CertNotValidYet { .. })
    ));

    // A flipped bit in the signature is caught.
    let mut tampered = server.der().to_vec();
    let last = tampered.len() - 10;
    tampered[last] ^= 0x01;
    let tampered = Certificate::from_der(tampered).unwrap();
    assert!(
        matches!(
            verify(&pki, &tampered, day_later, webpki::KeyUsage::server_auth()),
            Err(webpki::Error::InvalidSignatureForPublicKey)
        ),
        "tampered signature accepted for {profile}"
    );
}

/// The public key of the key pair `cert` was issued for.
fn pki_key_of<'a>(pki: &'a Pki, cert: &Certificate) -> &'a [u8] {
    [
        pki.root(),
        pki.intermediate(),
        pki.server(),
        pki.client(),
        pki.ocsp_responder(),
    ]
    .into_iter()
    .find(|pair| pair.certificate() == cert)
    .map(|pair| pair.key().public_key())
    .unwrap()
}

#[test]
fn composite_hierarchy() {
    check_profile(Profile::COMPOSITE);
}

/// One hierarchy per family of traditional component: the design's RSA-4096 (PSS, and
/// PKCS#1 v1.5 CAs over PSS leaves), P-521, brainpool, Ed25519, Ed448.
#[test]
fn composite_hierarchies_of_every_traditional_family() {
    for name in [
        "mldsa65-rsa4096-pss",
        "mldsa65-rsa4096-pkcs15",
        "mldsa87-ecdsa-p521",
        "mldsa65-ecdsa-bp256",
        "mldsa44-ed25519",
        "mldsa87-ed448",
    ] {
        check_profile(name.parse().unwrap());
    }
}

#[test]
fn mldsa65_hierarchy() {
    check_profile(Profile::MlDsa65);
}

#[test]
fn mldsa87_hierarchy() {
    check_profile(Profile::MlDsa87);
}

#[test]
fn ecdsa_p384_hierarchy() {
    check_profile(Profile::EcdsaP384);
}

#[test]
fn write_and_load_round_trip() {
    let pki = Pki::generate(&options(Profile::COMPOSITE)).unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("qtls-pki-round-trip");
    let _ = std::fs::remove_dir_all(&dir);
    let written = pki.write_to_dir(&dir).unwrap();
    let expected: Vec<_> = Pki::FILE_NAMES.iter().map(|name| dir.join(name)).collect();
    assert_eq!(written, expected);
    let mut on_disk: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    // And the directory's lock file (empty), which write_to_dir holds while it writes.
    let mut names = Pki::FILE_NAMES.to_vec();
    names.push(qtls_pki::PkiDirLock::FILE_NAME);
    names.sort();
    assert_eq!(on_disk, names);

    #[cfg(unix)]
    for path in &written {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        if path.extension().is_some_and(|ext| ext == "key") {
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }

    let chain = Certificate::read_pem_file(&dir.join("server-chain.pem")).unwrap();
    assert_eq!(
        chain
            .iter()
            .map(Certificate::to_certificate_der)
            .collect::<Vec<_>>(),
        pki.server_chain()
    );
    let chain = Certificate::read_pem_file(&dir.join("client-chain.pem")).unwrap();
    assert_eq!(
        chain
            .iter()
            .map(Certificate::to_certificate_der)
            .collect::<Vec<_>>(),
        pki.client_chain()
    );
    let key_pem = std::fs::read_to_string(dir.join("server.key")).unwrap();
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));

    let loaded = Pki::load_from_dir(&dir, qtls_pki::Backend::AwsLc).unwrap();
    for (a, b) in [
        (pki.root(), loaded.root()),
        (pki.intermediate(), loaded.intermediate()),
        (pki.server(), loaded.server()),
        (pki.client(), loaded.client()),
        (pki.ocsp_responder(), loaded.ocsp_responder()),
    ] {
        assert_eq!(a.certificate(), b.certificate());
        assert_eq!(a.key().public_key(), b.key().public_key());
    }

    // Overwriting keeps the key files private even if they were widened meanwhile.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.join("root.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        pki.write_to_dir(&dir).unwrap();
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn loaded_key_signs_verifiable_certificates() {
    // A CA loaded from disk can keep issuing.
    let pki = Pki::generate(&options(Profile::MlDsa65)).unwrap();
    let pem = pki.intermediate().key().to_pkcs8_pem().unwrap();
    let key = qtls_pki::KeyPair::from_pem(pem.as_bytes(), qtls_pki::Backend::AwsLc).unwrap();
    let intermediate =
        qtls_pki::CertifiedKeyPair::new(pki.intermediate().certificate().clone(), key).unwrap();
    let leaf_key =
        qtls_pki::KeyPair::generate(Profile::MlDsa65.key_algorithm(), qtls_pki::Backend::AwsLc)
            .unwrap();
    let leaf = qtls_pki::CertificateBuilder::new(qtls_pki::Usage::ServerLeaf, "second")
        .hosts(["second.test"])
        .validity(clock(), clock() + Duration::days(7))
        .serial([0x01, 0x02])
        .signed_by(&leaf_key, &intermediate)
        .unwrap();
    assert_eq!(leaf.serial(), &[0x01, 0x02]);
    assert_eq!(leaf.subject(), "CN=second");
    verify(&pki, &leaf, clock(), webpki::KeyUsage::server_auth()).unwrap();
    let _: CertificateDer<'_> = leaf.to_certificate_der();
}

/// `PkiOptions::flat`: the root issues the leaves, chains are the leaf alone, the files keep
/// their names (the issuing CA's are the root's) and a reload knows it is flat.
#[test]
fn flat_hierarchy_issues_leaves_from_the_root() {
    let mut flat = options(Profile::COMPOSITE);
    flat.flat = true;
    let pki = Pki::generate(&flat).unwrap();
    assert!(pki.is_flat());
    assert_eq!(pki.intermediate().certificate(), pki.root().certificate());
    let chain = pki.server_chain();
    assert_eq!(chain.len(), 1, "the leaf alone");
    verify(
        &pki,
        pki.server().certificate(),
        clock(),
        webpki::KeyUsage::server_auth(),
    )
    .unwrap();
    assert_eq!(pki.client_chain().len(), 1);

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("qtls-pki-flat");
    let _ = std::fs::remove_dir_all(&dir);
    pki.write_to_dir(&dir).unwrap();
    let written = std::fs::read_to_string(dir.join("server-chain.pem")).unwrap();
    assert_eq!(written.matches("BEGIN CERTIFICATE").count(), 1);
    let loaded = Pki::load_from_dir(&dir, Default::default()).unwrap();
    assert!(loaded.is_flat());
    assert_eq!(loaded.server_chain(), chain);

    // Its root signs everything, so it cannot also be kept offline; an intermediate's CRL
    // URL has no intermediate to go in.
    let mut offline = qtls_pki::PkiWriteOptions::new();
    offline.root_key_dir = Some(dir.join("offline"));
    assert!(pki.write_to_dir_with(&dir, &offline).is_err());
    flat.ca_crl_url = Some(CRL_URL.into());
    assert!(Pki::generate(&flat).is_err());
}
