//! Revocation state: reason codes (RFC 5280 §5.3.1) and the revocation index of a PKI
//! directory, kept in OpenSSL's `index.txt` format.

use core::fmt;
use core::str::FromStr;
use std::fs;
use std::path::Path;

use time::OffsetDateTime;

use crate::certificate::Certificate;
use crate::error::Error;

/// Why a certificate was revoked: the CRLReason of RFC 5280 §5.3.1, also used by OCSP's
/// RevokedInfo (RFC 6960 §4.2.1).
///
/// Spelled as OpenSSL spells them (`keyCompromise`, `CACompromise`, ...), case-insensitively.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// unspecified (0). RFC 5280 §5.3.1 prefers leaving the reason out to using this.
    Unspecified,
    /// keyCompromise (1).
    KeyCompromise,
    /// cACompromise (2).
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// certificateHold (6).
    CertificateHold,
    /// removeFromCRL (8): only meaningful in delta CRLs, which Q-TLS does not issue.
    RemoveFromCrl,
    /// privilegeWithdrawn (9). OpenSSL's `ca` and `ocsp -index` do not know this name.
    PrivilegeWithdrawn,
    /// aACompromise (10). OpenSSL's `ca` and `ocsp -index` do not know this name.
    AaCompromise,
}

impl RevocationReason {
    /// Every reason, in code order.
    pub const ALL: [Self; 10] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::CertificateHold,
        Self::RemoveFromCrl,
        Self::PrivilegeWithdrawn,
        Self::AaCompromise,
    ];

    /// The name OpenSSL writes in `index.txt` and prints, e.g. `keyCompromise`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "CACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
            Self::RemoveFromCrl => "removeFromCRL",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
            Self::AaCompromise => "AACompromise",
        }
    }

    /// The CRLReason code (RFC 5280 §5.3.1; 7 is unused).
    pub const fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::CaCompromise => 2,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::CertificateHold => 6,
            Self::RemoveFromCrl => 8,
            Self::PrivilegeWithdrawn => 9,
            Self::AaCompromise => 10,
        }
    }

    /// The reason with CRLReason code `code`, if there is one.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.code() == code)
    }

    pub(crate) fn to_x509(self) -> x509_cert::ext::pkix::CrlReason {
        use x509_cert::ext::pkix::CrlReason as R;
        match self {
            Self::Unspecified => R::Unspecified,
            Self::KeyCompromise => R::KeyCompromise,
            Self::CaCompromise => R::CaCompromise,
            Self::AffiliationChanged => R::AffiliationChanged,
            Self::Superseded => R::Superseded,
            Self::CessationOfOperation => R::CessationOfOperation,
            Self::CertificateHold => R::CertificateHold,
            Self::RemoveFromCrl => R::RemoveFromCRL,
            Self::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
            Self::AaCompromise => R::AaCompromise,
        }
    }

    pub(crate) fn from_x509(reason: x509_cert::ext::pkix::CrlReason) -> Self {
        use x509_cert::ext::pkix::CrlReason as R;
        match reason {
            R::Unspecified => Self::Unspecified,
            R::KeyCompromise => Self::KeyCompromise,
            R::CaCompromise => Self::CaCompromise,
            R::AffiliationChanged => Self::AffiliationChanged,
            R::Superseded => Self::Superseded,
            R::CessationOfOperation => Self::CessationOfOperation,
            R::CertificateHold => Self::CertificateHold,
            R::RemoveFromCRL => Self::RemoveFromCrl,
            R::PrivilegeWithdrawn => Self::PrivilegeWithdrawn,
            R::AaCompromise => Self::AaCompromise,
        }
    }

    /// Refuses removeFromCRL where a certificate is being revoked: RFC 5280 §5.3.1 keeps it
    /// for delta CRLs, where it un-lists a certificate on hold.
    pub(crate) fn check_revocable(self) -> Result<(), Error> {
        if self == Self::RemoveFromCrl {
            return Err(Error::InvalidRevocationReason {
                reason: self.name().into(),
                why: "removeFromCRL un-revokes a certificate on hold in a delta CRL \
                      (RFC 5280 §5.3.1); it cannot revoke one",
            });
        }
        Ok(())
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RevocationReason {
    type Err = Error;

    /// Accepts [`RevocationReason::name`] case-insensitively, with `-` or `_` ignored
    /// (`key-compromise`), and OpenSSL's index pseudo-reasons `keyTime` (keyCompromise),
    /// `CAkeyTime` (cACompromise) and `holdInstruction` (certificateHold).
    fn from_str(s: &str) -> Result<Self, Error> {
        let wanted = s.replace(['-', '_'], "");
        let pseudo = match wanted.to_ascii_lowercase().as_str() {
            "keytime" => Some(Self::KeyCompromise),
            "cakeytime" => Some(Self::CaCompromise),
            "holdinstruction" => Some(Self::CertificateHold),
            _ => None,
        };
        pseudo
            .or_else(|| {
                Self::ALL
                    .into_iter()
                    .find(|reason| reason.name().eq_ignore_ascii_case(&wanted))
            })
            .ok_or_else(|| Error::InvalidRevocationReason {
                reason: s.to_owned(),
                why: "known: unspecified, keyCompromise, CACompromise, affiliationChanged, \
                      superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, \
                      AACompromise",
            })
    }
}

/// One revoked certificate: an entry of a CRL (RFC 5280 §5.1.2.6) or a revoked OCSP status
/// (RFC 6960 §4.2.1 RevokedInfo).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedCertificate {
    /// The serial number's content octets, big-endian, without leading zero octets.
    pub serial: Vec<u8>,
    /// When it was revoked (revocationDate / revocationTime); whole seconds.
    pub revocation_time: OffsetDateTime,
    /// The reasonCode, or `None` when it is left out.
    pub reason: Option<RevocationReason>,
}

/// The state of one certificate in a [`RevocationIndex`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexStatus {
    /// `V`: issued and not revoked.
    Valid,
    /// `R`: revoked at `time`, for `reason` if one was given.
    Revoked {
        /// The revocation time.
        time: OffsetDateTime,
        /// The reason, or `None` when none was given.
        reason: Option<RevocationReason>,
    },
    /// `E`: marked expired (by `openssl ca -updatedb`); not revoked.
    Expired,
}

/// One line of a [`RevocationIndex`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// Valid, revoked or expired.
    pub status: IndexStatus,
    /// The certificate's notAfter.
    pub expires: OffsetDateTime,
    /// The serial number's content octets, big-endian, without leading zero octets.
    pub serial: Vec<u8>,
    /// The subject in OpenSSL's one-line form, e.g. `/O=Q-TLS/CN=localhost`.
    pub subject: String,
}

/// The certificates a CA issued and which of them are revoked: the revocation database of a
/// PKI directory (`revoked.txt`), which the CRL ([`CrlBuilder`](crate::CrlBuilder)) and the
/// OCSP responder ([`OcspResponder`](crate::OcspResponder)) are made from.
///
/// # File format
///
/// OpenSSL's `index.txt` (the database of `openssl ca`), so `openssl ocsp -index revoked.txt`
/// and `openssl ca` read the same file. One certificate per line, six fields separated by
/// one TAB each, LF line ends:
///
/// | # | field | example |
/// |---|---|---|
/// | 1 | status: `V` valid, `R` revoked, `E` expired | `R` |
/// | 2 | notAfter, UTCTime `YYMMDDHHMMSSZ` (GeneralizedTime `YYYYMMDDHHMMSSZ` from 2050) | `260401000000Z` |
/// | 3 | empty unless `R`: revocation time as in field 2, then `,reason` if one was given | `260102030405Z,keyCompromise` |
/// | 4 | serial number, upper-case hex, even number of digits, no leading `00` octets | `4F1C…9A` |
/// | 5 | certificate file name; always `unknown` | `unknown` |
/// | 6 | subject, OpenSSL one-line form | `/O=Q-TLS/CN=localhost` |
///
/// Reasons are [`RevocationReason::name`]s. When reading, a third comma-separated part
/// (OpenSSL's hold instruction or compromise time) is accepted and ignored, as are blank
/// lines. OpenSSL reads revocation times only as UTCTime (through 2049) and does not know
/// `privilegeWithdrawn` or `AACompromise`; `openssl ocsp` then answers revoked without a
/// reason. With OpenSSL's default `unique_subject = yes`, two `V` lines may not share a
/// subject.
///
/// ```
/// use qtls_pki::{IndexStatus, RevocationIndex, RevocationReason};
///
/// let text = "V\t260401000000Z\t\t4F1C\tunknown\t/O=Q-TLS/CN=localhost\n";
/// let mut index: RevocationIndex = text.parse()?;
/// let at = time::OffsetDateTime::from_unix_timestamp(1_767_225_600)?; // 2026-01-01
/// index.revoke(&[0x4f, 0x1c], Some(RevocationReason::KeyCompromise), at)?;
/// assert_eq!(
///     index.to_string(),
///     "R\t260401000000Z\t260101000000Z,keyCompromise\t4F1C\tunknown\t/O=Q-TLS/CN=localhost\n"
/// );
/// assert!(matches!(index.get(&[0x4f, 0x1c]).unwrap().status, IndexStatus::Revoked { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevocationIndex {
    entries: Vec<IndexEntry>,
}

impl RevocationIndex {
    /// The file name of the index in a PKI directory.
    pub const FILE_NAME: &'static str = "revoked.txt";

    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the index format; `source_name` (a file name) goes into error messages.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, Error> {
        let mut entries: Vec<IndexEntry> = Vec::new();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let invalid = |reason: String| Error::InvalidIndex {
                source_name: source_name.to_owned(),
                line: number + 1,
                reason,
            };
            let fields: Vec<&str> = line.split('\t').collect();
            let [status, expires, revoked, serial, _file, subject] = fields[..] else {
                return Err(invalid(format!(
                    "{} TAB-separated fields, expected 6",
                    fields.len()
                )));
            };
            let expires = parse_index_time(expires)
                .map_err(|why| invalid(format!("expiry date {expires:?}: {why}")))?;
            let status = match status {
                "V" => IndexStatus::Valid,
                "E" => IndexStatus::Expired,
                "R" => {
                    let mut parts = revoked.split(',');
                    let time_text = parts.next().unwrap_or_default();
                    let time = parse_index_time(time_text)
                        .map_err(|why| invalid(format!("revocation date {time_text:?}: {why}")))?;
                    let reason = parts
                        .next()
                        .map(|name| {
                            name.parse::<RevocationReason>()
                                .map_err(|e| invalid(e.to_string()))
                        })
                        .transpose()?;
                    IndexStatus::Revoked { time, reason }
                }
                other => return Err(invalid(format!("status {other:?}, expected V, R or E"))),
            };
            let serial = parse_serial(serial).map_err(|e| invalid(e.to_string()))?;
            if entries.iter().any(|entry| entry.serial == serial) {
                return Err(invalid(format!(
                    "serial {} is listed twice",
                    serial_hex(&serial)
                )));
            }
            entries.push(IndexEntry {
                status,
                expires,
                serial,
                subject: subject.to_owned(),
            });
        }
        Ok(Self { entries })
    }

    /// Reads an index file.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Writes the index to `path`, replacing it atomically (a temporary file beside it,
    /// then a rename), so a responder re-reading it never sees half a file.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        crate::files::write_atomic(path, self.to_string().as_bytes(), false)
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// The entry for serial number `serial` (big-endian; leading zero octets ignored).
    pub fn get(&self, serial: &[u8]) -> Option<&IndexEntry> {
        let serial = normalize_serial(serial);
        self.entries.iter().find(|entry| entry.serial == serial)
    }

    /// Records `certificate` as issued and valid, unless its serial is already listed.
    /// Returns whether it was added.
    pub fn add_issued(&mut self, certificate: &Certificate) -> bool {
        let serial = normalize_serial(certificate.serial());
        if self.get(&serial).is_some() {
            return false;
        }
        self.entries.push(IndexEntry {
            status: IndexStatus::Valid,
            expires: certificate.not_after(),
            serial,
            subject: one_line_name(&certificate.x509().tbs_certificate.subject),
        });
        true
    }

    /// Marks the certificate with serial number `serial` revoked at `time` (whole seconds)
    /// for `reason`, and returns its entry.
    ///
    /// Fails when the serial is not in the index (this CA did not issue it), the certificate
    /// is already revoked, or the reason is removeFromCRL.
    pub fn revoke(
        &mut self,
        serial: &[u8],
        reason: Option<RevocationReason>,
        time: OffsetDateTime,
    ) -> Result<&IndexEntry, Error> {
        if let Some(reason) = reason {
            reason.check_revocable()?;
        }
        let serial = normalize_serial(serial);
        let entry = self
            .entries
            .iter_mut()
            .find(|entry| entry.serial == serial)
            .ok_or_else(|| Error::UnknownSerial {
                serial: serial_hex(&serial),
            })?;
        if let IndexStatus::Revoked { time, .. } = entry.status {
            return Err(Error::AlreadyRevoked {
                serial: serial_hex(&serial),
                revoked_at: time,
            });
        }
        entry.status = IndexStatus::Revoked {
            time: time.replace_nanosecond(0).unwrap_or(time),
            reason,
        };
        Ok(entry)
    }

    /// The revoked certificates, in file order.
    pub fn revoked(&self) -> Vec<RevokedCertificate> {
        self.entries
            .iter()
            .filter_map(|entry| match entry.status {
                IndexStatus::Revoked { time, reason } => Some(RevokedCertificate {
                    serial: entry.serial.clone(),
                    revocation_time: time,
                    reason,
                }),
                _ => None,
            })
            .collect()
    }
}

impl FromStr for RevocationIndex {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s, "index text")
    }
}

impl fmt::Display for RevocationIndex {
    /// The file format (see the type's documentation).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for entry in &self.entries {
            let (status, revoked) = match entry.status {
                IndexStatus::Valid => ("V", String::new()),
                IndexStatus::Expired => ("E", String::new()),
                IndexStatus::Revoked { time, reason } => (
                    "R",
                    match reason {
                        Some(reason) => format!("{},{reason}", index_time(time)),
                        None => index_time(time),
                    },
                ),
            };
            writeln!(
                f,
                "{status}\t{}\t{revoked}\t{}\tunknown\t{}",
                index_time(entry.expires),
                serial_hex(&entry.serial),
                entry.subject
            )?;
        }
        Ok(())
    }
}

/// Parses a serial number written in hex, as OpenSSL prints them: optional `0x`, optional
/// `:` separators, either case (`4F:1C`, `0x4f1c`). Returns the big-endian octets without
/// leading zero octets.
pub fn parse_serial(text: &str) -> Result<Vec<u8>, Error> {
    let invalid = |reason| Error::InvalidSerial {
        serial: text.to_owned(),
        reason,
    };
    let trimmed = text.trim();
    let digits: String = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed)
        .chars()
        .filter(|c| *c != ':')
        .collect();
    if digits.is_empty() {
        return Err(invalid("it is empty"));
    }
    if !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(invalid("it is not hexadecimal"));
    }
    let padded = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits
    };
    let bytes: Vec<u8> = (0..padded.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&padded[i..i + 2], 16).ok())
        .collect();
    let serial = normalize_serial(&bytes);
    if serial.len() > 20 {
        return Err(invalid("it is longer than 20 octets (RFC 5280 §4.1.2.2)"));
    }
    Ok(serial)
}

/// A serial number as OpenSSL writes it in `index.txt`: upper-case hex of the unsigned value,
/// two digits per octet, `00` for zero.
pub fn serial_hex(serial: &[u8]) -> String {
    normalize_serial(serial)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// Strips leading zero octets (a DER INTEGER's sign octet included); zero stays `[0]`.
pub(crate) fn normalize_serial(serial: &[u8]) -> Vec<u8> {
    let start = serial
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(serial.len().saturating_sub(1));
    serial.get(start..).unwrap_or_default().to_vec()
}

/// OpenSSL's one-line Name form: `/type=value` per attribute, most significant RDN first.
fn one_line_name(name: &x509_cert::name::Name) -> String {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .map(|atv| format!("/{atv}"))
        .collect()
}

/// `YYMMDDHHMMSSZ` before 2050, `YYYYMMDDHHMMSSZ` from 2050 (RFC 5280 §4.1.2.5's rule,
/// which OpenSSL follows in its index).
fn index_time(time: OffsetDateTime) -> String {
    let year = time.year();
    let rest = format!(
        "{:02}{:02}{:02}{:02}{:02}Z",
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    );
    if (1950..2050).contains(&year) {
        format!("{:02}{rest}", year % 100)
    } else {
        format!("{year:04}{rest}")
    }
}

fn parse_index_time(text: &str) -> Result<OffsetDateTime, String> {
    let digits = text.strip_suffix('Z').ok_or("it does not end in Z (UTC)")?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("it is not YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ".into());
    }
    let number = |range: core::ops::Range<usize>| -> u32 {
        digits
            .get(range)
            .and_then(|s| s.parse().ok())
            .unwrap_or_default()
    };
    let (year, rest) = match digits.len() {
        // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY.
        12 => {
            let yy = number(0..2) as i32;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        14 => (number(0..4) as i32, 4),
        _ => return Err("it is not YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ".into()),
    };
    let field = |i: usize| number(rest + 2 * i..rest + 2 * i + 2) as u8;
    let month = time::Month::try_from(field(0)).map_err(|e| e.to_string())?;
    let date = time::Date::from_calendar_date(year, month, field(1)).map_err(|e| e.to_string())?;
    let clock = time::Time::from_hms(field(2), field(3), field(4)).map_err(|e| e.to_string())?;
    Ok(date.with_time(clock).assume_utc())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn reasons_round_trip_through_names_and_codes() {
        for reason in RevocationReason::ALL {
            assert_eq!(reason.name().parse::<RevocationReason>().unwrap(), reason);
            assert_eq!(
                reason
                    .name()
                    .to_ascii_uppercase()
                    .parse::<RevocationReason>()
                    .unwrap(),
                reason
            );
            assert_eq!(RevocationReason::from_code(reason.code()), Some(reason));
            assert_eq!(RevocationReason::from_x509(reason.to_x509()), reason);
        }
        assert_eq!(
            "key-compromise".parse::<RevocationReason>().unwrap(),
            RevocationReason::KeyCompromise
        );
        assert_eq!(
            "CAkeyTime".parse::<RevocationReason>().unwrap(),
            RevocationReason::CaCompromise
        );
        assert_eq!(RevocationReason::from_code(7), None);
        let error = "stolen"
            .parse::<RevocationReason>()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("\"stolen\"") && error.contains("keyCompromise"),
            "{error}"
        );
    }

    #[test]
    fn index_times_follow_openssl() {
        let t = at(1_767_225_600 + 3_723); // 2026-01-01T01:02:03Z
        assert_eq!(index_time(t), "260101010203Z");
        assert_eq!(parse_index_time("260101010203Z").unwrap(), t);
        let late = at(2_524_608_000); // 2050-01-01T00:00:00Z
        assert_eq!(index_time(late), "20500101000000Z");
        assert_eq!(parse_index_time("20500101000000Z").unwrap(), late);
        assert_eq!(parse_index_time("991231235959Z").unwrap().year(), 1999);
        for bad in [
            "260101010203",
            "2601010102Z",
            "261301000000Z",
            "26010101020xZ",
        ] {
            assert!(parse_index_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serials_parse_like_openssl_prints_them() {
        assert_eq!(parse_serial("4F:1C").unwrap(), [0x4f, 0x1c]);
        assert_eq!(parse_serial("0x00ab").unwrap(), [0xab]);
        assert_eq!(parse_serial("abc").unwrap(), [0x0a, 0xbc]);
        assert_eq!(parse_serial("00").unwrap(), [0]);
        assert!(parse_serial("").is_err());
        assert!(parse_serial("xyz").is_err());
        assert!(parse_serial(&"ab".repeat(21)).is_err());
        assert_eq!(serial_hex(&[0, 0x80, 1]), "8001");
        assert_eq!(serial_hex(&[0]), "00");
        assert_eq!(serial_hex(&[]), "");
    }

    #[test]
    fn index_parses_writes_and_revokes() {
        let text = "V\t260401000000Z\t\t4F1C\tunknown\t/O=Q-TLS/CN=localhost\n\
                    \n\
                    R\t260401000000Z\t260102000000Z,certificateHold,holdInstructionReject\t01\tunknown\t/CN=a\n\
                    R\t260401000000Z\t260102000000Z\t02\tunknown\t/CN=b\n\
                    E\t250401000000Z\t\t03\tunknown\t/CN=c\n";
        let mut index = RevocationIndex::parse(text, "index.txt").unwrap();
        assert_eq!(index.entries().len(), 4);
        assert_eq!(
            index.get(&[0, 1]).unwrap().status,
            IndexStatus::Revoked {
                time: at(1_767_312_000),
                reason: Some(RevocationReason::CertificateHold)
            }
        );
        assert_eq!(index.revoked().len(), 2);
        assert_eq!(index.revoked()[1].reason, None);

        let error = index
            .revoke(&[1], Some(RevocationReason::KeyCompromise), at(0))
            .unwrap_err();
        assert!(matches!(error, Error::AlreadyRevoked { .. }), "{error}");
        let error = index.revoke(&[9], None, at(0)).unwrap_err();
        assert!(
            error.to_string().contains("09"),
            "names the serial: {error}"
        );
        let error = index
            .revoke(&[0x4f, 0x1c], Some(RevocationReason::RemoveFromCrl), at(0))
            .unwrap_err();
        assert!(
            matches!(error, Error::InvalidRevocationReason { .. }),
            "{error}"
        );
        index
            .revoke(
                &[0x4f, 0x1c],
                Some(RevocationReason::Superseded),
                at(1_767_225_600),
            )
            .unwrap();
        let written = index.to_string();
        assert!(
            written.starts_with("R\t260401000000Z\t260101000000Z,superseded\t4F1C\tunknown\t"),
            "{written}"
        );
        // The hold instruction is not kept; everything else round-trips.
        assert_eq!(RevocationIndex::parse(&written, "again").unwrap(), index);
    }

    #[test]
    fn bad_index_lines_are_named() {
        for (text, expected) in [
            ("V\t260401000000Z\t\t01\tunknown\n", "5 TAB-separated fields"),
            ("X\t260401000000Z\t\t01\tunknown\t/CN=a\n", "status \"X\""),
            ("V\t2604010000Z\t\t01\tunknown\t/CN=a\n", "expiry date"),
            ("R\t260401000000Z\tsoon\t01\tunknown\t/CN=a\n", "revocation date"),
            ("R\t260401000000Z\t260401000000Z,lost\t01\tunknown\t/CN=a\n", "\"lost\""),
            ("V\t260401000000Z\t\tzz\tunknown\t/CN=a\n", "hexadecimal"),
            (
                "V\t260401000000Z\t\t01\tunknown\t/CN=a\nV\t260401000000Z\t\t0001\tunknown\t/CN=b\n",
                "listed twice",
            ),
        ] {
            let error = RevocationIndex::parse(text, "idx").unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
            assert!(error.starts_with("idx line "), "{error}");
        }
    }
}
