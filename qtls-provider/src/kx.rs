//! Key-exchange groups: the hybrids rustls lacks, rustls's own where it has them, and the
//! same set on liboqs.

use rustls::crypto::aws_lc_rs::kx_group as rustls_kx;
use rustls::crypto::SupportedKxGroup;
use rustls::NamedGroup;

use crate::backend::Backend;
use crate::error::{Error, NameKind};
use crate::hybrid::{Hybrid, Layout};
use crate::interned::Interned;
use crate::mlkem::{MlKemLevel, MLKEM1024_AWS_LC};

/// SecP384r1MLKEM1024 ([draft-ietf-tls-ecdhe-mlkem](https://datatracker.ietf.org/doc/draft-ietf-tls-ecdhe-mlkem/)): P-384 point ‖ ML-KEM-1024.
pub const SECP384R1MLKEM1024_CODE_POINT: u16 = 0x11ed;
/// The Q-TLS default for X25519 + ML-KEM-1024, from the private-use range 0xFE00-0xFEFF
/// ([RFC 8446 §4.2.7](https://www.rfc-editor.org/rfc/rfc8446#section-4.2.7)); IANA and
/// oqs-provider have no value for it.
pub const X25519MLKEM1024_DEFAULT_CODE_POINT: u16 = 0xfe40;

const X25519_LEN: usize = 32;
#[cfg(feature = "oqs")]
const SECP256R1_LEN: usize = 65;
const SECP384R1_LEN: usize = 97;

const fn layout(classical_share_len: usize, level: MlKemLevel, post_quantum_first: bool) -> Layout {
    Layout {
        classical_share_len,
        post_quantum_client_share_len: level.encapsulation_key_len(),
        post_quantum_server_share_len: level.ciphertext_len(),
        post_quantum_first,
    }
}

/// ECDH first for the NIST curves, ML-KEM first for X25519, as X25519MLKEM768 and
/// SecP256r1MLKEM768 do.
const SECP384R1_MLKEM1024: Layout = layout(SECP384R1_LEN, MlKemLevel::MlKem1024, false);
const X25519_MLKEM1024: Layout = layout(X25519_LEN, MlKemLevel::MlKem1024, true);

const fn x25519_mlkem1024(post_quantum: &'static dyn SupportedKxGroup, code_point: u16) -> Hybrid {
    Hybrid {
        classical: rustls_kx::X25519,
        post_quantum,
        name: NamedGroup::Unknown(code_point),
        layout: X25519_MLKEM1024,
    }
}

/// Key-exchange groups on aws-lc-rs, named as rustls names its own.
pub mod kx_group {
    use super::*;

    /// SecP384r1MLKEM1024 (0x11ED): client share P-384 point (97) ‖ ML-KEM-1024 ek (1568),
    /// server share point (97) ‖ ciphertext (1568), secret ECDH x (48) ‖ K (32).
    pub static SECP384R1MLKEM1024: &dyn SupportedKxGroup = &Hybrid {
        classical: rustls_kx::SECP384R1,
        post_quantum: MLKEM1024_AWS_LC,
        name: NamedGroup::Unknown(SECP384R1MLKEM1024_CODE_POINT),
        layout: SECP384R1_MLKEM1024,
    };

    /// X25519 + ML-KEM-1024 on [`X25519MLKEM1024_DEFAULT_CODE_POINT`]: ek (1568) ‖ X25519
    /// (32), ct (1568) ‖ X25519 (32), secret K ‖ X25519 ss, the layout of X25519MLKEM768.
    /// For another code point use [`x25519_mlkem1024_with_code_point`].
    pub static X25519MLKEM1024: &dyn SupportedKxGroup =
        &x25519_mlkem1024(MLKEM1024_AWS_LC, X25519MLKEM1024_DEFAULT_CODE_POINT);

    pub use rustls_kx::{
        MLKEM1024, MLKEM768, SECP256R1, SECP256R1MLKEM768, SECP384R1, X25519, X25519MLKEM768,
    };

    /// The same groups with ML-KEM on liboqs (ECDH stays on aws-lc-rs).
    #[cfg(feature = "oqs")]
    pub mod oqs {
        use super::super::*;
        use crate::mlkem::MlKemGroup;

        /// SecP384r1MLKEM1024 with ML-KEM on liboqs.
        pub static SECP384R1MLKEM1024: &dyn SupportedKxGroup = &Hybrid {
            classical: rustls_kx::SECP384R1,
            post_quantum: MLKEM1024,
            name: NamedGroup::Unknown(SECP384R1MLKEM1024_CODE_POINT),
            layout: SECP384R1_MLKEM1024,
        };
        /// X25519MLKEM1024 (default code point) with ML-KEM on liboqs.
        pub static X25519MLKEM1024: &dyn SupportedKxGroup =
            &x25519_mlkem1024(MLKEM1024, X25519MLKEM1024_DEFAULT_CODE_POINT);
        /// X25519MLKEM768 with ML-KEM on liboqs.
        pub static X25519MLKEM768: &dyn SupportedKxGroup = &Hybrid {
            classical: rustls_kx::X25519,
            post_quantum: MLKEM768,
            name: NamedGroup::X25519MLKEM768,
            layout: layout(X25519_LEN, MlKemLevel::MlKem768, true),
        };
        /// SecP256r1MLKEM768 with ML-KEM on liboqs.
        pub static SECP256R1MLKEM768: &dyn SupportedKxGroup = &Hybrid {
            classical: rustls_kx::SECP256R1,
            post_quantum: MLKEM768,
            name: NamedGroup::secp256r1MLKEM768,
            layout: layout(SECP256R1_LEN, MlKemLevel::MlKem768, false),
        };
        /// Pure ML-KEM-768 on liboqs.
        pub static MLKEM768: &dyn SupportedKxGroup = &MlKemGroup {
            level: MlKemLevel::MlKem768,
            backend: Backend::Oqs,
            name: NamedGroup::MLKEM768,
        };
        /// Pure ML-KEM-1024 on liboqs.
        pub static MLKEM1024: &dyn SupportedKxGroup = &MlKemGroup {
            level: MlKemLevel::MlKem1024,
            backend: Backend::Oqs,
            name: NamedGroup::MLKEM1024,
        };
    }
}

/// X25519MLKEM1024 on another code point. Each distinct (code point, backend) is built once
/// and kept for the life of the process, because rustls takes groups as `&'static`.
pub fn x25519_mlkem1024_with_code_point(
    code_point: u16,
    backend: Backend,
) -> Result<&'static dyn SupportedKxGroup, Error> {
    static GROUPS: Interned<(u16, Backend), Hybrid> = Interned::new();

    let post_quantum = match backend.ensure_available()? {
        #[cfg(feature = "oqs")]
        Backend::Oqs => kx_group::oqs::MLKEM1024,
        _ => MLKEM1024_AWS_LC,
    };
    if let Some(existing) = group_display_name(NamedGroup::from(code_point)) {
        if code_point != X25519MLKEM1024_DEFAULT_CODE_POINT {
            return Err(Error::CodePointTaken {
                code_point,
                existing: existing.to_owned(),
            });
        }
    }
    Ok(GROUPS.get_or_leak((code_point, backend), || {
        x25519_mlkem1024(post_quantum, code_point)
    }))
}

/// Groups by OpenSSL name, on `backend`.
pub(crate) fn groups_of(
    backend: Backend,
) -> Result<[(&'static str, &'static dyn SupportedKxGroup); 9], Error> {
    Ok(match backend.ensure_available()? {
        #[cfg(feature = "oqs")]
        Backend::Oqs => [
            ("SecP384r1MLKEM1024", kx_group::oqs::SECP384R1MLKEM1024),
            ("X25519MLKEM1024", kx_group::oqs::X25519MLKEM1024),
            ("X25519MLKEM768", kx_group::oqs::X25519MLKEM768),
            ("SecP256r1MLKEM768", kx_group::oqs::SECP256R1MLKEM768),
            ("MLKEM1024", kx_group::oqs::MLKEM1024),
            ("MLKEM768", kx_group::oqs::MLKEM768),
            ("X25519", kx_group::X25519),
            ("secp256r1", kx_group::SECP256R1),
            ("secp384r1", kx_group::SECP384R1),
        ],
        _ => [
            ("SecP384r1MLKEM1024", kx_group::SECP384R1MLKEM1024),
            ("X25519MLKEM1024", kx_group::X25519MLKEM1024),
            ("X25519MLKEM768", kx_group::X25519MLKEM768),
            ("SecP256r1MLKEM768", kx_group::SECP256R1MLKEM768),
            ("MLKEM1024", kx_group::MLKEM1024),
            ("MLKEM768", kx_group::MLKEM768),
            ("X25519", kx_group::X25519),
            ("secp256r1", kx_group::SECP256R1),
            ("secp384r1", kx_group::SECP384R1),
        ],
    })
}

/// The names [`group_by_name`] accepts, in OpenSSL's spelling.
pub const GROUP_NAMES: [&str; 9] = [
    "SecP384r1MLKEM1024",
    "X25519MLKEM1024",
    "X25519MLKEM768",
    "SecP256r1MLKEM768",
    "MLKEM1024",
    "MLKEM768",
    "X25519",
    "secp256r1",
    "secp384r1",
];

/// Looks a group up by its OpenSSL name (case-insensitive; `P-256`/`P-384` also accepted).
/// An unknown name is an error that lists the known ones.
pub fn group_by_name(name: &str, backend: Backend) -> Result<&'static dyn SupportedKxGroup, Error> {
    let wanted = match name.to_ascii_lowercase().as_str() {
        "p-256" | "prime256v1" => "secp256r1".to_string(),
        "p-384" => "secp384r1".to_string(),
        other => other.to_string(),
    };
    groups_of(backend)?
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&wanted))
        .map(|(_, group)| group)
        .ok_or_else(|| Error::UnknownName {
            kind: NameKind::Group,
            name: name.to_owned(),
            known: &GROUP_NAMES,
        })
}

/// Whether `group` carries a post-quantum (ML-KEM) component.
pub fn is_post_quantum_group(group: NamedGroup, code_points: &crate::CodePoints) -> bool {
    matches!(
        group,
        NamedGroup::MLKEM512
            | NamedGroup::MLKEM768
            | NamedGroup::MLKEM1024
            | NamedGroup::X25519MLKEM768
            | NamedGroup::secp256r1MLKEM768
    ) || u16::from(group) == SECP384R1MLKEM1024_CODE_POINT
        || u16::from(group) == code_points.x25519_mlkem1024
}

/// OpenSSL's name for a group, where Q-TLS knows it (default code points).
pub fn group_display_name(group: NamedGroup) -> Option<&'static str> {
    Some(match u16::from(group) {
        SECP384R1MLKEM1024_CODE_POINT => "SecP384r1MLKEM1024",
        X25519MLKEM1024_DEFAULT_CODE_POINT => "X25519MLKEM1024",
        0x11ec => "X25519MLKEM768",
        0x11eb => "SecP256r1MLKEM768",
        0x0200 => "MLKEM512",
        0x0201 => "MLKEM768",
        0x0202 => "MLKEM1024",
        0x001d => "X25519",
        0x0017 => "secp256r1",
        0x0018 => "secp384r1",
        0x0019 => "secp521r1",
        0x001e => "X448",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rustls::{PeerMisbehaved, ProtocolVersion};

    use super::*;

    fn hybrids() -> Vec<(&'static dyn SupportedKxGroup, &'static dyn SupportedKxGroup)> {
        let mut groups: Vec<(&'static dyn SupportedKxGroup, &'static dyn SupportedKxGroup)> = vec![
            (kx_group::SECP384R1MLKEM1024, rustls_kx::SECP384R1),
            (kx_group::X25519MLKEM1024, rustls_kx::X25519),
        ];
        #[cfg(feature = "oqs")]
        groups.extend([
            (
                kx_group::oqs::SECP384R1MLKEM1024,
                rustls_kx::SECP384R1 as &'static dyn SupportedKxGroup,
            ),
            (kx_group::oqs::X25519MLKEM1024, rustls_kx::X25519),
            (kx_group::oqs::X25519MLKEM768, rustls_kx::X25519),
            (kx_group::oqs::SECP256R1MLKEM768, rustls_kx::SECP256R1),
        ]);
        groups
    }

    #[test]
    fn hybrids_agree_and_refuse_shares_of_the_wrong_length() {
        let invalid = rustls::Error::PeerMisbehaved(PeerMisbehaved::InvalidKeyShare);
        for (group, classical) in hybrids() {
            assert!(group.usable_for_version(ProtocolVersion::TLSv1_3));
            assert!(!group.usable_for_version(ProtocolVersion::TLSv1_2));
            let client = group.start().unwrap();
            assert_eq!(client.group(), group.name());
            let (component, share) = client.hybrid_component().unwrap();
            assert_eq!(component, classical.name());
            assert!(client.pub_key().ends_with(share) || client.pub_key().starts_with(share));
            let server = group.start_and_complete(client.pub_key()).unwrap();
            assert_eq!(server.group, group.name());
            let too_long = [server.pub_key.as_slice(), &[0]].concat();
            let client_secret = client.complete(&server.pub_key).unwrap();
            assert_eq!(
                client_secret.secret_bytes(),
                server.secret.secret_bytes(),
                "{:?}",
                group.name()
            );
            let client = group.start().unwrap();
            assert_eq!(client.complete(&too_long).err(), Some(invalid.clone()));
            let short = &group.start().unwrap().pub_key()[1..].to_vec();
            assert_eq!(group.start_and_complete(short).err(), Some(invalid.clone()));
        }
    }

    #[test]
    fn a_hybrid_is_fips_when_its_first_part_is() {
        // SP 800-56C Rev. 2: the first secret of Z ‖ T decides, as rustls decides.
        assert_eq!(
            kx_group::SECP384R1MLKEM1024.fips(),
            rustls_kx::SECP384R1.fips()
        );
        assert_eq!(
            kx_group::X25519MLKEM1024.fips(),
            rustls_kx::MLKEM1024.fips()
        );
        assert_eq!(kx_group::X25519MLKEM768.fips(), rustls_kx::MLKEM768.fips());
        #[cfg(feature = "oqs")]
        assert!(!kx_group::oqs::X25519MLKEM1024.fips());
    }

    #[test]
    fn custom_code_points_are_built_once_and_checked() {
        let a = x25519_mlkem1024_with_code_point(0xfe41, Backend::AwsLc).unwrap();
        let b = x25519_mlkem1024_with_code_point(0xfe41, Backend::AwsLc).unwrap();
        assert!(core::ptr::addr_eq(a, b));
        assert_eq!(u16::from(a.name()), 0xfe41);
        assert_eq!(
            x25519_mlkem1024_with_code_point(0x001d, Backend::AwsLc).err(),
            Some(Error::CodePointTaken {
                code_point: 0x001d,
                existing: "X25519".into()
            })
        );
    }
}
