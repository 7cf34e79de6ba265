//! What a verifier already knows about a chain's revocation, without asking anyone: for
//! sessions resumed without a certificate (RFC 8446 §4.6.1), whose chain was verified, and
//! its revocation checked, when the session was made.

use rustls_pki_types::{CertificateDer, UnixTime};

use super::{sha256, ChainVerifier, RevocationStatus};
use crate::cert::ParsedCert;
use crate::error::{Error, StatusSource};
use crate::ocsp::OcspStatus;

impl ChainVerifier {
    /// The revocation status of `chain` (end entity first) from what this verifier holds,
    /// never from the network: the online OCSP answers and fetched CRLs it cached, and the
    /// CRLs it was configured with (RFC 6960, RFC 5280 §6.3).
    ///
    /// [`Error::Revoked`] when any of them revokes a certificate of the chain (a revocation
    /// is final, so an answer or CRL past its nextUpdate still counts); otherwise the end
    /// entity's status: good from a current OCSP answer or CRL, else unknown. The cost is a
    /// parse and a hash per certificate and a scan of the cached CRLs' entries.
    pub fn cached_revocation_status(
        &self,
        chain: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<RevocationStatus, Error> {
        let mut end_entity_good = None;
        for (index, der) in chain.iter().enumerate() {
            let cert = ParsedCert::from_der(der.as_ref())?;
            let revoked = |source| Error::Revoked {
                subject: cert.subject(),
                source,
            };
            let answer = self
                .inner
                .ocsp_cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&sha256(der.as_ref()))
                .copied();
            if let Some(answer) = answer {
                match answer.status {
                    OcspStatus::Revoked => return Err(revoked(StatusSource::OnlineOcsp)),
                    OcspStatus::Good
                        if index == 0 && answer.valid_until.as_secs() > now.as_secs() =>
                    {
                        end_entity_good = Some(StatusSource::OnlineOcsp);
                    }
                    _ => {}
                }
            }
            let issuer = &cert.cert.tbs_certificate.issuer;
            let mut current_crl = false;
            let mut check = |crl: &super::Crl| {
                if crl.issuer != *issuer {
                    return false;
                }
                if crl
                    .revoked_serials
                    .iter()
                    .any(|serial| serial.as_slice() == cert.serial())
                {
                    return true;
                }
                current_crl |= crl.next_update.is_some_and(|next| next > now.as_secs());
                false
            };
            let in_configured = self.configured_crls().iter().any(&mut check);
            let in_cached = !in_configured
                && self
                    .inner
                    .crl_cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .any(&mut check);
            if in_configured || in_cached {
                return Err(revoked(StatusSource::Crl));
            }
            if index == 0 && current_crl && end_entity_good.is_none() {
                end_entity_good = Some(StatusSource::Crl);
            }
        }
        Ok(match end_entity_good {
            Some(source) => RevocationStatus::Good(source),
            None => RevocationStatus::Unknown {
                attempts: vec!["no cached OCSP answer or CRL (resumption asks no one)".into()],
            },
        })
    }
}
