//! Session-ticket encryption with AES-256-GCM keys that live in the token.

use core::fmt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use rustls::server::ProducesTickets;

use crate::error::Error;
use crate::hsm::Hsm;
use crate::pool::Pool;

/// The first byte of every ticket: the format (3: the issue time is authenticated; 2 had
/// none, so its tickets are refused).
const VERSION: u8 = 3;
const KEY_ID_LEN: usize = 8;
const ISSUED_LEN: usize = 8;
const NONCE_LEN: usize = 12;
/// The authenticated header: version, key id and issue time.
const AAD_LEN: usize = 1 + KEY_ID_LEN + ISSUED_LEN;
const HEADER_LEN: usize = AAD_LEN + NONCE_LEN;
const TAG_LEN: usize = 16;
/// RFC 8446 §4.6.1: ticket lifetimes are at most seven days.
const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
const KEY_LABEL: &[u8] = b"qtls-ticket-key";

/// A rustls [`ProducesTickets`] whose AES-256-GCM keys are generated in the token and never
/// leave it (CKM_AES_KEY_GEN, then CKM_AES_GCM for every ticket).
///
/// A ticket is `version (1, = 3) ‖ key id (8) ‖ issued (8, u64 BE; Unix seconds) ‖ nonce
/// (12) ‖ AES-256-GCM(plaintext) ‖ tag (16)`, version, key id and issue time authenticated
/// as additional data (the nonce is authenticated by GCM itself); the key id says which key
/// made it. The nonce is the IV the token used: ours, or the one a token that generates its
/// own IVs (in FIPS mode, for instance) wrote back into CK_GCM_PARAMS ([PKCS #11 v3.1
/// §2.15.5 CKM_AES_GCM](https://docs.oasis-open.org/pkcs11/pkcs11-spec/v3.1/os/pkcs11-spec-v3.1-os.html)).
///
/// A new key is made every rotation period (default 24 h), which is also the lifetime
/// announced with every ticket. The previous key is kept for one more period, so that a
/// ticket issued just before a rotation still resumes, but a ticket is accepted only for
/// its announced lifetime after its issue time, as [RFC 8446
/// §4.6.1](https://www.rfc-editor.org/rfc/rfc8446#section-4.6.1) has clients use it, never
/// for the up to two periods its key lives. The age is checked before the token is asked,
/// so an expired ticket costs no token operation. Tickets of format 2 (without the issue
/// time) are refused: after an upgrade their clients make one full handshake.
///
/// A ticket that does not decrypt (expired, unknown key, tampered, or the token failed)
/// yields `None`, which rustls answers with a full handshake, never an error to the client;
/// [`HsmTicketer::stats`] counts why. A decryption that fails or times out takes
/// the token out of service only when the token says it is gone (removed, session closed):
/// the ticket's bytes, and how many tickets arrive, are the peer's to choose.
///
/// The keys are session objects of the active token: after a failover or a restart, tickets
/// of the old keys no longer resume (full handshakes), and no stale keys pile up in the token.
pub struct HsmTicketer {
    hsm: Hsm,
    rotation: Duration,
    random: SystemRandom,
    /// Keys per session pool (a token's keys vanish with its pool's sessions).
    keys: Mutex<HashMap<u64, PoolKeys>>,
    counters: Counters,
}

/// What an [`HsmTicketer`] did since it was built: tickets issued, tickets that resumed and
/// why the others did not.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HsmTicketStats {
    /// Tickets issued.
    pub issued: u64,
    /// Tickets that decrypted (resumptions).
    pub decrypted: u64,
    /// Tickets not in this format (too short, another version).
    pub malformed: u64,
    /// Tickets whose key the active token does not hold: two or more periods old, from
    /// before a restart or a failover, or made up.
    pub unknown_key: u64,
    /// Tickets issued longer ago than the lifetime announced with them (the rotation
    /// period), refused even while their key is still kept.
    pub expired: u64,
    /// Tickets the token did not decrypt: tampered with (authentication failed), or the
    /// token call failed or timed out.
    pub failed: u64,
}

impl HsmTicketStats {
    /// Tickets that did not decrypt.
    pub fn rejected(&self) -> u64 {
        self.malformed + self.unknown_key + self.expired + self.failed
    }
}

#[derive(Default)]
struct Counters {
    issued: AtomicU64,
    decrypted: AtomicU64,
    malformed: AtomicU64,
    unknown_key: AtomicU64,
    expired: AtomicU64,
    failed: AtomicU64,
}

/// Why a ticket did not decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Miss {
    Malformed,
    UnknownKey,
    Expired,
    Failed,
}

/// Seconds since the Unix epoch (0 for a clock before it).
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Default)]
struct PoolKeys {
    /// Newest first; at most two (current and previous).
    keys: Vec<TicketKey>,
}

#[derive(Clone, Copy)]
struct TicketKey {
    id: [u8; KEY_ID_LEN],
    handle: ObjectHandle,
    created: Instant,
}

/// Builds an [`HsmTicketer`]; see [`HsmTicketer::builder`].
#[derive(Debug)]
pub struct HsmTicketerBuilder {
    hsm: Hsm,
    rotation: Duration,
}

impl HsmTicketerBuilder {
    /// Sets how long a key makes new tickets, and the lifetime announced with (and enforced
    /// on) each ticket; the key is kept for as long again for tickets issued before it
    /// retired. At most seven days, the longest ticket lifetime TLS 1.3 allows.
    pub fn rotation_period(mut self, period: Duration) -> Self {
        self.rotation = period;
        self
    }

    /// Makes the first key in the active token: fails when the token lacks AES-GCM.
    pub fn build(self) -> Result<Arc<HsmTicketer>, Error> {
        if self.rotation.is_zero() || self.rotation > MAX_LIFETIME {
            return Err(Error::InvalidConfig(format!(
                "ticket key rotation period {:?} is not between 0 and 7 days",
                self.rotation
            )));
        }
        let ticketer = HsmTicketer {
            hsm: self.hsm,
            rotation: self.rotation,
            random: SystemRandom::new(),
            keys: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        };
        ticketer.current_key(false)?;
        Ok(Arc::new(ticketer))
    }
}

impl HsmTicketer {
    /// The default rotation period: 24 hours.
    pub const DEFAULT_ROTATION: Duration = Duration::from_secs(24 * 3600);

    /// Starts a ticketer over the tokens of `hsm`.
    pub fn builder(hsm: &Hsm) -> HsmTicketerBuilder {
        HsmTicketerBuilder {
            hsm: hsm.clone(),
            rotation: Self::DEFAULT_ROTATION,
        }
    }

    /// The counters since this ticketer was built.
    pub fn stats(&self) -> HsmTicketStats {
        let c = &self.counters;
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        HsmTicketStats {
            issued: get(&c.issued),
            decrypted: get(&c.decrypted),
            malformed: get(&c.malformed),
            unknown_key: get(&c.unknown_key),
            expired: get(&c.expired),
            failed: get(&c.failed),
        }
    }

    /// Makes a new key now: it encrypts from now on, the current one becomes the previous
    /// (still decrypting), and the previous one is destroyed.
    pub fn rotate(&self) -> Result<(), Error> {
        self.current_key(true).map(|_| ())
    }

    /// The key new tickets use in the active token, made when missing, expired or `force`d.
    fn current_key(&self, force: bool) -> Result<(Arc<Pool>, TicketKey), Error> {
        let (pool, _) = self.hsm.active()?;
        let mut all = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let keys = all.entry(pool.id()).or_default();
        if let Some(current) = keys.keys.first() {
            if !force && current.created.elapsed() < self.rotation {
                return Ok((pool, *current));
            }
        }
        let mut id = [0u8; KEY_ID_LEN];
        self.random
            .fill(&mut id)
            .map_err(|_| Error::InvalidConfig("no randomness for a ticket key id".into()))?;
        let handle = self
            .hsm
            .run_on(&pool, "generating a ticket key", move |session, name| {
                let template = [
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    // A session object: it lives as long as the pool's sessions, in the token.
                    Attribute::Token(false),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Label(KEY_LABEL.to_vec()),
                    Attribute::Id(id.to_vec()),
                ];
                session
                    .generate_key(&Mechanism::AesKeyGen, &template)
                    .map_err(|e| Error::pkcs11(name, "C_GenerateKey (AES-256 ticket key)", e))
            })?;
        let key = TicketKey {
            id,
            handle,
            created: Instant::now(),
        };
        keys.keys.insert(0, key);
        let retired: Vec<TicketKey> = keys.keys.drain(2.min(keys.keys.len())..).collect();
        // Pools that are gone took their keys with them. Pool ids only grow, and at most two
        // tokens are in use: the few newest pools are all that can still be alive.
        let mut ids: Vec<u64> = all.keys().copied().collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        for stale in ids.into_iter().skip(4) {
            all.remove(&stale);
        }
        drop(all);
        for old in retired {
            // Best effort: a key that cannot be destroyed is still never used again.
            let _ = self
                .hsm
                .run_on(&pool, "destroying a ticket key", move |session, name| {
                    session
                        .destroy_object(old.handle)
                        .map_err(|e| Error::pkcs11(name, "C_DestroyObject", e))
                });
        }
        tracing::info!(token = %pool.name(), key_id = %crate::key::hex(&id), "new ticket key");
        Ok((pool, key))
    }

    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, Error> {
        let (pool, key) = self.current_key(false)?;
        let aad = header(&key.id, unix_now());
        let mut iv = [0u8; NONCE_LEN];
        self.random
            .fill(&mut iv)
            .map_err(|_| Error::InvalidConfig("no randomness for a ticket nonce".into()))?;
        let plain = plain.to_vec();
        self.hsm
            .run_on(&pool, "encrypting a ticket", move |session, name| {
                seal_with(&aad, iv, |iv, aad| {
                    let params = GcmParams::new(iv, aad, 128.into())
                        .map_err(|e| Error::pkcs11(name, "CK_GCM_PARAMS", e))?;
                    session
                        .encrypt(&Mechanism::AesGcm(params), key.handle, &plain)
                        .map_err(|e| Error::pkcs11(name, "C_Encrypt (CKM_AES_GCM)", e))
                })
            })
    }

    /// [`ProducesTickets::decrypt`], saying why a ticket does not decrypt.
    fn open(&self, ticket: &[u8]) -> Result<Vec<u8>, Miss> {
        let (aad, iv, sealed) = split_ticket(ticket).ok_or(Miss::Malformed)?;
        // Checked on the unauthenticated header before the token is asked: a ticket whose
        // issue time was moved forward fails authentication in the token.
        let issued = u64::from_be_bytes(
            aad[1 + KEY_ID_LEN..]
                .try_into()
                .map_err(|_| Miss::Malformed)?,
        );
        if unix_now().saturating_sub(issued) > self.rotation.as_secs() {
            return Err(Miss::Expired);
        }
        let (pool, _) = self.hsm.active().map_err(|_| Miss::Failed)?;
        let key = {
            let all = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            all.get(&pool.id())
                .and_then(|keys| {
                    keys.keys
                        .iter()
                        .find(|k| k.id == aad[1..1 + KEY_ID_LEN])
                        .filter(|k| k.created.elapsed() < self.rotation * 2)
                        .copied()
                })
                .ok_or(Miss::UnknownKey)?
        };
        let sealed = sealed.to_vec();
        self.hsm.count_operation();
        let opened = pool.run("decrypting a ticket", move |session, name| {
            let mut iv = iv;
            let params = GcmParams::new(&mut iv, &aad, 128.into())
                .map_err(|e| Error::pkcs11(name, "CK_GCM_PARAMS", e))?;
            session
                .decrypt(&Mechanism::AesGcm(params), key.handle, &sealed)
                .map_err(|e| Error::pkcs11(name, "C_Decrypt (CKM_AES_GCM)", e))
        });
        match opened {
            Ok(plain) => Ok(plain),
            Err(e) if e.pkcs11_code().is_some_and(token_is_gone) => {
                self.hsm.report_failure(&pool, &e);
                Err(Miss::Failed)
            }
            Err(e) => {
                // The peer chose these bytes, and how many of them to send: a wrong tag
                // (CKR_ENCRYPTED_DATA_INVALID in Kryoptic, CKR_GENERAL_ERROR in SoftHSM2), a
                // queue full of its tickets (Busy) or a call it made slow (Timeout) must not
                // take the token out of service. A token that really failed is marked down by
                // the next operation on our own data: the full handshake that follows signs
                // or encrypts new tickets there.
                tracing::debug!(error = %e, "ticket did not decrypt; full handshake");
                Err(Miss::Failed)
            }
        }
    }
}

/// The authenticated header of a ticket made with key `id` at `issued` (Unix seconds).
fn header(id: &[u8; KEY_ID_LEN], issued: u64) -> [u8; AAD_LEN] {
    let mut aad = [0u8; AAD_LEN];
    aad[0] = VERSION;
    aad[1..1 + KEY_ID_LEN].copy_from_slice(id);
    aad[1 + KEY_ID_LEN..].copy_from_slice(&issued.to_be_bytes());
    aad
}

/// Encrypts with `encrypt(iv, aad)` and makes the ticket, with the IV `encrypt` left in `iv`:
/// a token that generates its own IV writes it into CK_GCM_PARAMS' pIv, which is `iv`.
fn seal_with<E>(aad: &[u8; AAD_LEN], mut iv: [u8; NONCE_LEN], encrypt: E) -> Result<Vec<u8>, Error>
where
    E: FnOnce(&mut [u8], &[u8]) -> Result<Vec<u8>, Error>,
{
    let sealed = encrypt(&mut iv, aad)?;
    Ok([aad.as_slice(), &iv, &sealed].concat())
}

/// A ticket's additional data, IV and ciphertext with tag, if it has our format.
fn split_ticket(ticket: &[u8]) -> Option<([u8; AAD_LEN], [u8; NONCE_LEN], &[u8])> {
    if ticket.len() < HEADER_LEN + TAG_LEN || ticket[0] != VERSION {
        return None;
    }
    let (header, sealed) = ticket.split_at(HEADER_LEN);
    let (aad, iv) = header.split_at(AAD_LEN);
    Some((aad.try_into().ok()?, iv.try_into().ok()?, sealed))
}

/// Whether a decryption's `code` says the token or our session on it is gone: nothing a
/// ticket's bytes or the number of tickets can cause, so the token is taken out of service
/// at once. (Not CKR_KEY_HANDLE_INVALID: a key retired by a rotation while a decryption
/// was under way gives it too.)
fn token_is_gone(code: RvError) -> bool {
    matches!(
        code,
        RvError::DeviceRemoved
            | RvError::TokenNotPresent
            | RvError::TokenNotRecognized
            | RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::UserNotLoggedIn
            | RvError::CryptokiNotInitialized
    )
}

impl ProducesTickets for HsmTicketer {
    fn enabled(&self) -> bool {
        true
    }

    /// The rotation period (at most 7 days): a ticket is accepted for that long after it
    /// was issued, and no longer.
    fn lifetime(&self) -> u32 {
        u32::try_from(self.rotation.as_secs().max(1)).unwrap_or(u32::MAX)
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        // No ticket is better than a failed handshake: rustls then just sends none.
        let ticket = self
            .seal(plain)
            .map_err(|e| tracing::warn!(error = %e, "no session ticket issued"))
            .ok()?;
        self.counters.issued.fetch_add(1, Ordering::Relaxed);
        Some(ticket)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let c = &self.counters;
        let (counter, plain) = match self.open(cipher) {
            Ok(plain) => (&c.decrypted, Some(plain)),
            Err(miss) => {
                tracing::debug!("ticket not accepted: {miss:?}");
                let counter = match miss {
                    Miss::Malformed => &c.malformed,
                    Miss::UnknownKey => &c.unknown_key,
                    Miss::Expired => &c.expired,
                    Miss::Failed => &c.failed,
                };
                (counter, None)
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
        plain
    }
}

impl fmt::Debug for HsmTicketer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HsmTicketer")
            .field("rotation", &self.rotation)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

    use super::*;

    /// Neither Kryoptic nor SoftHSM2 generates the IV of a single-part C_Encrypt, so a token
    /// that does is played by aws-lc-rs: it ignores the IV it is given, encrypts under its
    /// own, and writes that one back, as such a token does into CK_GCM_PARAMS.
    #[test]
    fn a_ticket_carries_the_iv_a_token_generated() {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).unwrap());
        let aad = header(&[1, 2, 3, 4, 5, 6, 7, 8], unix_now());
        let generated = [0x5a; NONCE_LEN];
        let ticket = seal_with(&aad, [0; NONCE_LEN], |iv, aad| {
            iv.copy_from_slice(&generated);
            let mut data = b"session state".to_vec();
            key.seal_in_place_append_tag(
                Nonce::assume_unique_for_key(generated),
                Aad::from(aad),
                &mut data,
            )
            .unwrap();
            Ok(data)
        })
        .unwrap();
        // Opened the way `open` does: IV and additional data from the ticket.
        let (aad, iv, sealed) = split_ticket(&ticket).unwrap();
        assert_eq!(iv, generated);
        let mut data = sealed.to_vec();
        let plain = key
            .open_in_place(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut data)
            .unwrap();
        assert_eq!(plain, b"session state");
    }

    #[test]
    fn only_tickets_of_this_format_are_split() {
        assert!(split_ticket(&[VERSION; HEADER_LEN + TAG_LEN - 1]).is_none());
        assert!(split_ticket(&[1; HEADER_LEN + TAG_LEN]).is_none());
        // Format 2 (no issue time) is refused.
        assert!(split_ticket(&[2; HEADER_LEN + TAG_LEN]).is_none());
        assert!(split_ticket(&[VERSION; HEADER_LEN + TAG_LEN]).is_some());
    }
}
