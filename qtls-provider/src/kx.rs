//! Key-exchange groups: the hybrids rustls lacks, rustls's own where it has them, and the
//! same set on liboqs.

use std::sync::Mutex;

use rustls::crypto::aws_lc_rs::kx_group as rustls_kx;
use rustls::crypto::SupportedKxGroup;
use rustls::NamedGroup;

use crate::backend::Backend;
use crate::error::Error;
use crate::hybrid::{Hybrid, Layout, Order};
use crate::mlkem::{MlKemGroup, MlKemLevel};

/// SecP384r1MLKEM1024 (draft-ietf-tls-ecdhe-mlkem): P-384 point ‖ ML-KEM-1024.
pub const SECP384R1MLKEM1024_CODE_POINT: u16 = 0x11ed;
/// The Q-TLS default for X25519 + ML-KEM-1024, from the private-use range 0xFE00-0xFEFF
/// (no IANA or oqs-provider value exists; see standards.md §1).
pub const X25519MLKEM1024_DEFAULT_CODE_POINT: u16 = 0xfe40;

const X25519_LEN: usize = 32;
#[cfg(feature = "oqs")]
const SECP256R1_LEN: usize = 65;
const SECP384R1_LEN: usize = 97;

const fn secp384r1_mlkem1024(backend: Backend) -> Hybrid {
    Hybrid {
        classical: rustls_kx::SECP384R1,
        ml_kem: MlKemGroup {
            level: MlKemLevel::MlKem1024,
            backend,
            name: NamedGroup::MLKEM1024,
        },
        layout: Layout {
            name: NamedGroup::Unknown(SECP384R1MLKEM1024_CODE_POINT),
            openssl_name: "SecP384r1MLKEM1024",
            classical_len: SECP384R1_LEN,
            level: MlKemLevel::MlKem1024,
            order: Order::EcdhFirst,
        },
    }
}

const fn x25519_mlkem1024(backend: Backend, code_point: u16) -> Hybrid {
    Hybrid {
        classical: rustls_kx::X25519,
        ml_kem: MlKemGroup {
            level: MlKemLevel::MlKem1024,
            backend,
            name: NamedGroup::MLKEM1024,
        },
        layout: Layout {
            name: NamedGroup::Unknown(code_point),
            openssl_name: "X25519MLKEM1024",
            classical_len: X25519_LEN,
            level: MlKemLevel::MlKem1024,
            order: Order::MlKemFirst,
        },
    }
}

#[cfg(feature = "oqs")]
const fn x25519_mlkem768(backend: Backend) -> Hybrid {
    Hybrid {
        classical: rustls_kx::X25519,
        ml_kem: MlKemGroup {
            level: MlKemLevel::MlKem768,
            backend,
            name: NamedGroup::MLKEM768,
        },
        layout: Layout {
            name: NamedGroup::X25519MLKEM768,
            openssl_name: "X25519MLKEM768",
            classical_len: X25519_LEN,
            level: MlKemLevel::MlKem768,
            order: Order::MlKemFirst,
        },
    }
}

#[cfg(feature = "oqs")]
const fn secp256r1_mlkem768(backend: Backend) -> Hybrid {
    Hybrid {
        classical: rustls_kx::SECP256R1,
        ml_kem: MlKemGroup {
            level: MlKemLevel::MlKem768,
            backend,
            name: NamedGroup::MLKEM768,
        },
        layout: Layout {
            name: NamedGroup::secp256r1MLKEM768,
            openssl_name: "SecP256r1MLKEM768",
            classical_len: SECP256R1_LEN,
            level: MlKemLevel::MlKem768,
            order: Order::EcdhFirst,
        },
    }
}

/// Key-exchange groups on aws-lc-rs, named as rustls names its own.
pub mod kx_group {
    use super::*;

    /// SecP384r1MLKEM1024 (0x11ED): client share P-384 point (97) ‖ ML-KEM-1024 ek (1568),
    /// server share point (97) ‖ ciphertext (1568), secret ECDH x (48) ‖ K (32).
    pub static SECP384R1MLKEM1024: &dyn SupportedKxGroup = &secp384r1_mlkem1024(Backend::AwsLc);

    /// X25519 + ML-KEM-1024 on [`X25519MLKEM1024_DEFAULT_CODE_POINT`]: ek (1568) ‖ X25519
    /// (32), ct (1568) ‖ X25519 (32), secret K ‖ X25519 ss, the layout of X25519MLKEM768.
    /// For another code point use [`x25519_mlkem1024_with_code_point`].
    pub static X25519MLKEM1024: &dyn SupportedKxGroup =
        &x25519_mlkem1024(Backend::AwsLc, X25519MLKEM1024_DEFAULT_CODE_POINT);

    pub use rustls_kx::{
        MLKEM1024, MLKEM768, SECP256R1, SECP256R1MLKEM768, SECP384R1, X25519, X25519MLKEM768,
    };

    /// The same groups with ML-KEM on liboqs (ECDH stays on aws-lc-rs).
    #[cfg(feature = "oqs")]
    pub mod oqs {
        use super::super::*;

        /// SecP384r1MLKEM1024 with ML-KEM on liboqs.
        pub static SECP384R1MLKEM1024: &dyn SupportedKxGroup = &secp384r1_mlkem1024(Backend::Oqs);
        /// X25519MLKEM1024 (default code point) with ML-KEM on liboqs.
        pub static X25519MLKEM1024: &dyn SupportedKxGroup =
            &x25519_mlkem1024(Backend::Oqs, X25519MLKEM1024_DEFAULT_CODE_POINT);
        /// X25519MLKEM768 with ML-KEM on liboqs.
        pub static X25519MLKEM768: &dyn SupportedKxGroup = &x25519_mlkem768(Backend::Oqs);
        /// SecP256r1MLKEM768 with ML-KEM on liboqs.
        pub static SECP256R1MLKEM768: &dyn SupportedKxGroup = &secp256r1_mlkem768(Backend::Oqs);
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
    static GROUPS: Mutex<Vec<(u16, Backend, &'static Hybrid)>> = Mutex::new(Vec::new());

    let backend = backend.ensure_available()?;
    if let Some(known) = group_display_name(NamedGroup::from(code_point)) {
        if code_point != X25519MLKEM1024_DEFAULT_CODE_POINT {
            return Err(Error::Config(format!(
                "code point {code_point:#06x} is already {known}"
            )));
        }
    }
    let mut groups = GROUPS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, _, group)) = groups
        .iter()
        .find(|(cp, b, _)| *cp == code_point && *b == backend)
    {
        return Ok(*group);
    }
    let group: &'static Hybrid = Box::leak(Box::new(x25519_mlkem1024(backend, code_point)));
    groups.push((code_point, backend, group));
    Ok(group)
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
        .ok_or_else(|| {
            Error::Config(format!(
                "unknown group {name:?}; known groups: {}",
                GROUP_NAMES.join(", ")
            ))
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
