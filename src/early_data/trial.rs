//! Skipping early data the server rejected, by trial decryption ahead of rustls
//! ([RFC 8446 §4.2.10](https://www.rfc-editor.org/rfc/rfc8446#section-4.2.10)).
//!
//! A server that rejects early data "skips past early data by attempting to deprotect
//! received records using the handshake traffic key, discarding records which fail
//! deprotection (up to the configured max_early_data_size). Once a record is deprotected
//! successfully, it is treated as the start of the client's second flight".
//!
//! rustls 0.23 does this itself, with two defects (CONFORMANCE.md §3.1, §3.2):
//! - it marks a record it skipped consumed only when a later record in the same read
//!   decrypts, so every `process_new_packets` call until then skips the same records again
//!   and charges them to the allowance again: a few KiB of early data read in several pieces
//!   end in bad_record_mac;
//! - it goes on trial-decrypting until the client's first *complete* handshake message, and
//!   a record that fails between two fragments of that message ends the connection without
//!   an alert.
//!
//! So a connection whose early data was rejected reads through [`RejectedEarlyData`] until
//! the client's first handshake message is complete. It trial-decrypts each record with the
//! client handshake traffic key, which [`HandshakeSecretCapture`] takes from rustls's
//! [`rustls::KeyLog`] hook, drops those that fail while the allowance lasts, and hands rustls
//! the rest. A record that must fail the handshake (one beyond the allowance, or any after
//! the second flight has begun) reaches rustls as a record longer than rustls's own unspent
//! allowance, so that rustls itself fails it with bad_record_mac under its own keys.

use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::aead;
use rustls::crypto::tls13::{HkdfExpander, OkmBlock, OutputLengthError};
use rustls::{CipherSuite, KeyLog, Tls13CipherSuite};
use zeroize::Zeroizing;

/// A record header: type, legacy_record_version, length (RFC 8446 §5.1).
use crate::gate::RECORD_HEADER as HEADER;

/// Whether rustls reads a record of this legacy_record_version: any 0x03XX, and the other
/// versions it knows (its `read_opaque_message_header` refuses only unknown ones).
fn rustls_accepts_version(version: [u8; 2]) -> bool {
    const SSL_V2: [u8; 2] = [0x00, 0x02];
    const DTLS: [[u8; 2]; 3] = [[0xfe, 0xff], [0xfe, 0xfd], [0xfe, 0xfc]];
    version[0] == 3 || version == SSL_V2 || DTLS.contains(&version)
}

/// The NSS key log label of the client handshake traffic secret (RFC 8446 §7.1).
const CLIENT_HANDSHAKE_TRAFFIC_SECRET: &str = "CLIENT_HANDSHAKE_TRAFFIC_SECRET";

/// rustls refuses a record this long or longer before decrypting it (its `MAX_PAYLOAD`,
/// 2^14 + 2048: the TLS 1.2 limit of RFC 5246 §6.2.3).
const RUSTLS_RECORD_LIMIT: usize = 16384 + 2048;
/// ContentType values (RFC 8446 §5.1; heartbeat from RFC 6520).
const CHANGE_CIPHER_SPEC: u8 = 0x14;
const ALERT: u8 = 0x15;
const HANDSHAKE: u8 = 0x16;
const APPLICATION_DATA: u8 = 0x17;
const HEARTBEAT: u8 = 0x18;

/// A [`KeyLog`] that keeps one connection's client handshake traffic secret until
/// [`Self::opener`] uses it, and passes everything on to the key log it replaced.
pub(crate) struct HandshakeSecretCapture {
    forward: Arc<dyn KeyLog>,
    slot: Mutex<Slot>,
}

enum Slot {
    Waiting,
    Captured(OkmBlock),
    /// Taken (or never to be): later secrets, such as those of the handshake after a
    /// HelloRetryRequest, are not kept.
    Closed,
}

impl core::fmt::Debug for HandshakeSecretCapture {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HandshakeSecretCapture")
            .field("forward", &self.forward)
            .finish_non_exhaustive()
    }
}

impl HandshakeSecretCapture {
    /// Puts a capture in front of `config`'s key log (a per-connection copy of the config).
    pub(crate) fn install(config: &mut rustls::ServerConfig) -> Arc<Self> {
        let capture = Arc::new(Self {
            forward: Arc::clone(&config.key_log),
            slot: Mutex::new(Slot::Waiting),
        });
        config.key_log = Arc::clone(&capture) as Arc<dyn KeyLog>;
        capture
    }

    /// The opener for the secret with `suite`, if rustls derived it by now; from then on no
    /// secret is kept. Call it (or [`Self::discard`]) as soon as the connection exists, on
    /// every path: the capture lives as long as the connection's config.
    pub(crate) fn opener(&self, suite: Option<&Tls13CipherSuite>) -> Option<RecordOpener> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        // Used where it lies, then dropped (and zeroized) in place: moving it out would leave
        // its bytes behind.
        let opener = match (&*slot, suite) {
            (Slot::Captured(secret), Some(suite)) => RecordOpener::new(suite, secret),
            _ => None,
        };
        *slot = Slot::Closed;
        opener
    }

    /// Drops the secret, if any, and keeps none from now on.
    pub(crate) fn discard(&self) {
        let _ = self.opener(None);
    }
}

impl KeyLog for HandshakeSecretCapture {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        if label == CLIENT_HANDSHAKE_TRAFFIC_SECRET {
            let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            if matches!(*slot, Slot::Waiting) {
                *slot = Slot::Captured(OkmBlock::new(secret));
            }
        }
        if self.forward.will_log(label) {
            self.forward.log(label, client_random, secret);
        }
    }

    fn will_log(&self, label: &str) -> bool {
        label == CLIENT_HANDSHAKE_TRAFFIC_SECRET || self.forward.will_log(label)
    }
}

/// `HKDF-Expand-Label(Secret, Label, "", out.len())`
/// ([RFC 8446 §7.1](https://www.rfc-editor.org/rfc/rfc8446#section-7.1)).
fn expand_label(
    expander: &dyn HkdfExpander,
    label: &[u8],
    out: &mut [u8],
) -> Result<(), OutputLengthError> {
    const PREFIX: &[u8] = b"tls13 ";
    let length = u16::try_from(out.len())
        .map_err(|_| OutputLengthError)?
        .to_be_bytes();
    let label_length = u8::try_from(PREFIX.len() + label.len()).map_err(|_| OutputLengthError)?;
    expander.expand_slice(&[&length, &[label_length], PREFIX, label, &[0]], out)
}

/// The AEAD of an RFC 8446 cipher suite (§B.4) that rustls's aws-lc-rs provider offers.
fn aead_of(suite: &Tls13CipherSuite) -> Option<&'static aead::Algorithm> {
    match suite.common.suite {
        CipherSuite::TLS13_AES_128_GCM_SHA256 => Some(&aead::AES_128_GCM),
        CipherSuite::TLS13_AES_256_GCM_SHA384 => Some(&aead::AES_256_GCM),
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => Some(&aead::CHACHA20_POLY1305),
        _ => None,
    }
}

/// The traffic key and IV of `secret` (RFC 8446 §7.3).
fn traffic_key(
    suite: &Tls13CipherSuite,
    secret: &OkmBlock,
) -> Option<(aead::LessSafeKey, [u8; aead::NONCE_LEN])> {
    let algorithm = aead_of(suite)?;
    let expander = suite.hkdf_provider.expander_for_okm(secret);
    let mut key = Zeroizing::new([0u8; 32]);
    let key = key.get_mut(..algorithm.key_len())?;
    expand_label(expander.as_ref(), b"key", key).ok()?;
    let mut iv = [0u8; aead::NONCE_LEN];
    expand_label(expander.as_ref(), b"iv", &mut iv).ok()?;
    let key = aead::UnboundKey::new(algorithm, key).ok()?;
    Some((aead::LessSafeKey::new(key), iv))
}

/// The per-record nonce: the IV XOR the sequence number (RFC 8446 §5.3).
fn nonce(iv: &[u8; aead::NONCE_LEN], seq: u64) -> aead::Nonce {
    let mut nonce = *iv;
    for (byte, seq_byte) in nonce[aead::NONCE_LEN - 8..]
        .iter_mut()
        .zip(seq.to_be_bytes())
    {
        *byte ^= seq_byte;
    }
    aead::Nonce::assume_unique_for_key(nonce)
}

/// The additional data of a protected record of `length` bytes. rustls uses
/// application_data and TLS 1.2 whatever the header says, not the header as received
/// (RFC 8446 §5.2), so a record decrypts here exactly when it decrypts for rustls.
fn additional_data(length: usize) -> [u8; HEADER] {
    let length = u16::try_from(length).unwrap_or(u16::MAX).to_be_bytes();
    [APPLICATION_DATA, 3, 3, length[0], length[1]]
}

/// Deprotects records with the client handshake traffic key.
pub(crate) struct RecordOpener {
    key: aead::LessSafeKey,
    iv: Zeroizing<[u8; aead::NONCE_LEN]>,
}

impl RecordOpener {
    /// The opener of `suite` for the client handshake traffic `secret`; `None` for a suite
    /// other than RFC 8446's AES-GCM and ChaCha20-Poly1305 ones.
    pub(crate) fn new(suite: &Tls13CipherSuite, secret: &OkmBlock) -> Option<Self> {
        let (key, iv) = traffic_key(suite, secret)?;
        Some(Self {
            key,
            iv: Zeroizing::new(iv),
        })
    }

    /// The content type and content of `record` (header included) at sequence number
    /// `seq`, or `None` when it fails deprotection. The content type is 0 when the
    /// TLSInnerPlaintext has none (RFC 8446 §5.2: all padding).
    fn open(&self, record: &[u8], seq: u64) -> Option<(u8, Vec<u8>)> {
        let mut payload = record.get(HEADER..)?.to_vec();
        let aad = aead::Aad::from(additional_data(payload.len()));
        let length = self
            .key
            .open_in_place(nonce(&self.iv, seq), aad, &mut payload)
            .ok()?
            .len();
        payload.truncate(length);
        while payload.last() == Some(&0) {
            payload.pop();
        }
        let content_type = payload.pop().unwrap_or(0);
        Some((content_type, payload))
    }
}

/// Seals records as a client does with its handshake traffic key, and opens them: for tests
/// and fuzzing.
#[doc(hidden)]
pub struct RecordSealer(RecordOpener);

impl RecordSealer {
    /// The sealer of `suite` for the client handshake traffic `secret`.
    pub fn new(suite: &Tls13CipherSuite, secret: &[u8]) -> Option<Self> {
        RecordOpener::new(suite, &OkmBlock::new(secret)).map(Self)
    }

    /// A protected record of `content` of `content_type` at sequence number `seq`.
    pub fn seal(&self, content_type: u8, content: &[u8], seq: u64) -> Vec<u8> {
        let RecordOpener { key, iv } = &self.0;
        let mut payload = content.to_vec();
        payload.push(content_type);
        let length = payload.len() + key.algorithm().tag_len();
        let aad = aead::Aad::from(additional_data(length));
        // Sealing cannot fail for a record-sized payload.
        if key
            .seal_in_place_append_tag(nonce(iv, seq), aad, &mut payload)
            .is_err()
        {
            return Vec::new();
        }
        let mut record = additional_data(payload.len()).to_vec();
        record.extend(payload);
        record
    }

    /// The content type and content of `record` at sequence number `seq`, as the filter
    /// deprotects it; `None` when it fails.
    pub fn open(&self, record: &[u8], seq: u64) -> Option<(u8, Vec<u8>)> {
        self.0.open(record, seq)
    }
}

/// Whether [`RejectedEarlyData`] goes on filtering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filtering {
    /// More records are to be judged.
    Continue,
    /// Everything from here on is rustls's.
    Done,
}

/// Where the client is.
#[derive(Debug)]
enum Phase {
    /// Sending early data, which fails deprotection with the handshake key.
    SkippingEarlyData,
    /// In its second flight, which began with the record of sequence number 0 (RFC 8446
    /// §4.2.10: "Once a record is deprotected successfully, it is treated as the start of
    /// the client's second flight"), before its first handshake message is complete; `seq`
    /// is the next record's sequence number.
    SecondFlight { seq: u64, message: FirstMessage },
}

/// How much of the client's first handshake message has arrived, and what rustls holds of it.
#[derive(Debug, Default)]
struct FirstMessage {
    /// Its first four bytes (type and length), as far as they have arrived.
    header: Vec<u8>,
    received: usize,
    /// The bytes of the records passed to rustls since the second flight began: what rustls
    /// may be holding while it joins the message.
    passed: usize,
}

impl FirstMessage {
    /// Adds a fragment; whether the message is complete.
    fn add(&mut self, fragment: &[u8]) -> bool {
        let missing = 4usize.saturating_sub(self.header.len());
        self.header
            .extend_from_slice(&fragment[..missing.min(fragment.len())]);
        self.received = self.received.saturating_add(fragment.len());
        match self.header[..] {
            [_, a, b, c] => {
                let length = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
                self.received >= 4 + length
            }
            _ => false,
        }
    }

    /// Whether part of the message has arrived: rustls then reads a record between its
    /// fragments as interleaved (RFC 8446 §5.1).
    fn started(&self) -> bool {
        self.received > 0
    }
}

/// What becomes of one record.
enum Judgement {
    /// Early data within the allowance: dropped.
    Skip,
    /// rustls's to process; filtering goes on.
    Pass,
    /// rustls's to process, and everything after it.
    PassAndStop,
    /// Must fail the handshake.
    Fail,
}

/// rustls's buffer for a handshake message it is joining (its `MAX_HANDSHAKE_SIZE`); between
/// messages it holds one record.
const RUSTLS_JOINING_BUFFER: usize = 0xffff;

/// The records of a connection whose early data was rejected, on their way to rustls: see
/// the module documentation. Sans I/O: bytes go in as they arrive, and what rustls is to
/// read comes out. Holds at most one record and what arrived with it.
pub struct RejectedEarlyData {
    opener: RecordOpener,
    /// What the client may still have skipped.
    allowance: usize,
    /// rustls's own trial-decryption allowance. It is never spent, since rustls gets no
    /// record that fails deprotection but the one that is to fail the handshake.
    rustls_allowance: usize,
    phase: Phase,
    unparsed: Vec<u8>,
}

impl core::fmt::Debug for RejectedEarlyData {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RejectedEarlyData")
            .field("allowance", &self.allowance)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl RejectedEarlyData {
    /// The filter of a connection that skips at most `allowance` bytes of early data, which
    /// must be rustls's own allowance too (the configured `max_early_data_size`, or 16 KiB
    /// when that is 0).
    pub(crate) fn new(opener: RecordOpener, allowance: usize) -> Self {
        Self {
            opener,
            allowance,
            rustls_allowance: allowance,
            phase: Phase::SkippingEarlyData,
            unparsed: Vec::new(),
        }
    }

    /// Judges the records completed by `arrived` and appends to `to_rustls` what rustls is to
    /// read; at [`Filtering::Done`] that includes everything received so far.
    pub fn push(&mut self, arrived: &[u8], to_rustls: &mut Vec<u8>) -> Filtering {
        let mut unparsed = std::mem::take(&mut self.unparsed);
        unparsed.extend_from_slice(arrived);
        let mut at = 0;
        let filtering = loop {
            let rest = &unparsed[at..];
            let Some(header) = rest.get(..HEADER) else {
                break Filtering::Continue;
            };
            let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
            let acceptable_header = (CHANGE_CIPHER_SPEC..=HEARTBEAT).contains(&header[0])
                && rustls_accepts_version([header[1], header[2]])
                && length < RUSTLS_RECORD_LIMIT
                && (length > 0 || header[0] == APPLICATION_DATA);
            if !acceptable_header {
                // rustls refuses it with its own alert.
                break Filtering::Done;
            }
            let Some(record) = rest.get(..HEADER + length) else {
                break Filtering::Continue;
            };
            at += record.len();
            match self.judge(record) {
                Judgement::Skip => {}
                Judgement::Pass => to_rustls.extend_from_slice(record),
                Judgement::PassAndStop => {
                    to_rustls.extend_from_slice(record);
                    break Filtering::Done;
                }
                Judgement::Fail => {
                    to_rustls.extend(self.unaffordable());
                    break Filtering::Done;
                }
            }
        };
        match filtering {
            Filtering::Done => to_rustls.extend_from_slice(&unparsed[at..]),
            Filtering::Continue => {
                unparsed.drain(..at);
                self.unparsed = unparsed;
            }
        }
        filtering
    }

    /// At the end of the stream: what is left for rustls.
    pub fn finish(self, to_rustls: &mut Vec<u8>) {
        to_rustls.extend_from_slice(&self.unparsed);
    }

    fn judge(&mut self, record: &[u8]) -> Judgement {
        let Phase::SecondFlight { seq, message } = &mut self.phase else {
            return self.judge_early(record);
        };
        // In the second flight every record must decrypt, but a change_cipher_spec between
        // handshake messages: rustls drops that one unprotected (RFC 8446 §5), at most twice.
        // Inside a handshake message it is interleaved (RFC 8446 §5.1).
        let decrypted = match record[0] {
            CHANGE_CIPHER_SPEC if !message.started() => None,
            _ => match self.opener.open(record, *seq) {
                Some(opened) => Some(opened),
                None => return Judgement::Fail,
            },
        };
        Self::pass_in_second_flight(seq, message, record, decrypted)
    }

    /// Passes a record of the second flight to rustls: `decrypted` at `seq`, or a
    /// change_cipher_spec between handshake messages.
    fn pass_in_second_flight(
        seq: &mut u64,
        message: &mut FirstMessage,
        record: &[u8],
        decrypted: Option<(u8, Vec<u8>)>,
    ) -> Judgement {
        message.passed = message.passed.saturating_add(record.len());
        match decrypted {
            Some((HANDSHAKE, content)) if message.add(&content) => {
                // rustls ends its trial decryption here too.
                return Judgement::PassAndStop;
            }
            Some(_) => *seq += 1,
            None => {}
        }
        Judgement::Pass
    }

    /// A record while the client may still be sending early data.
    fn judge_early(&mut self, record: &[u8]) -> Judgement {
        let content_type = record[0];
        let length = record.len() - HEADER;
        if content_type == CHANGE_CIPHER_SPEC || (content_type == ALERT && length <= 2) {
            // rustls drops a change_cipher_spec unprotected (RFC 8446 §5), at most twice,
            // and reads a short unprotected alert as one until it has decrypted a record (a
            // warning it ignores, a fatal one ends the connection).
            return Judgement::Pass;
        }
        let Some(decrypted) = self.opener.open(record, 0) else {
            // No protected record is shorter than its tag and content type; a record of
            // nothing still costs a byte, so that skipping is bounded in records too.
            let cost = length.max(1);
            if cost > self.allowance {
                return Judgement::Fail;
            }
            self.allowance -= cost;
            return Judgement::Skip;
        };
        // The second flight begins with this record.
        let (mut seq, mut message) = (0, FirstMessage::default());
        let judgement =
            Self::pass_in_second_flight(&mut seq, &mut message, record, Some(decrypted));
        self.phase = Phase::SecondFlight { seq, message };
        judgement
    }

    /// The record rustls is to fail the handshake on: an application_data record one byte
    /// longer than rustls's unspent allowance, which it answers with bad_record_mac. When
    /// that is longer than rustls takes (an allowance of 18,431 bytes or more), or than it
    /// can buffer beside the part of a handshake message it holds, the header of a record
    /// over its length limit, which it answers with decode_error.
    fn unaffordable(&self) -> Vec<u8> {
        let length = self.rustls_allowance + 1;
        let held = match &self.phase {
            Phase::SecondFlight { message, .. } => message.passed,
            Phase::SkippingEarlyData => 0,
        };
        // When even a header does not fit beside what rustls holds (a first message of more
        // than 65,530 bytes, cut off), rustls ends with "message buffer full" and no alert.
        if length >= RUSTLS_RECORD_LIMIT || held + HEADER + length > RUSTLS_JOINING_BUFFER {
            return additional_data(RUSTLS_RECORD_LIMIT).to_vec();
        }
        let mut unaffordable = additional_data(length).to_vec();
        unaffordable.resize(HEADER + length, 0);
        unaffordable
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SECRET: [u8; 48] = [7; 48];

    fn suite() -> &'static Tls13CipherSuite {
        rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384
            .tls13()
            .unwrap()
    }

    fn filter(allowance: usize) -> RejectedEarlyData {
        let opener = RecordOpener::new(suite(), &OkmBlock::new(&SECRET)).unwrap();
        RejectedEarlyData::new(opener, allowance)
    }

    fn sealer() -> RecordSealer {
        RecordSealer::new(suite(), &SECRET).unwrap()
    }

    fn junk(length: usize) -> Vec<u8> {
        let mut record = additional_data(length).to_vec();
        record.resize(HEADER + length, 0xee);
        record
    }

    /// A client Finished (SHA-384) in `pieces` records from sequence number 0.
    fn finished(pieces: usize) -> Vec<Vec<u8>> {
        let mut message = vec![20, 0, 0, 48];
        message.extend([0x5a; 48]);
        let size = message.len().div_ceil(pieces);
        message
            .chunks(size)
            .enumerate()
            .map(|(seq, chunk)| sealer().seal(HANDSHAKE, chunk, seq as u64))
            .collect()
    }

    fn run(filter: &mut RejectedEarlyData, input: &[u8]) -> (Vec<u8>, Filtering) {
        let mut out = Vec::new();
        let filtering = filter.push(input, &mut out);
        (out, filtering)
    }

    #[test]
    fn early_data_within_the_allowance_is_dropped_and_the_second_flight_passed_whole() {
        let finished = finished(1).concat();
        let after = b"\x17\x03\x03\x00\x02ab".to_vec();
        let input = [junk(10_000), junk(6_384), finished.clone(), after.clone()].concat();
        let (out, filtering) = run(&mut filter(16_384), &input);
        assert_eq!(filtering, Filtering::Done);
        assert_eq!(out, [finished, after].concat());
    }

    #[test]
    fn bytes_arriving_one_at_a_time_are_judged_the_same() {
        let finished = finished(1).concat();
        let ccs = vec![0x14, 3, 3, 0, 1, 1];
        let input = [junk(1_000), ccs.clone(), junk(2_000), finished.clone()].concat();
        let mut filter = filter(3_000);
        let mut out = Vec::new();
        let mut done_at = None;
        for (i, byte) in input.iter().enumerate() {
            if filter.push(&[*byte], &mut out) == Filtering::Done {
                done_at = Some(i);
                break;
            }
        }
        assert_eq!(done_at, Some(input.len() - 1));
        assert_eq!(out, [ccs, finished].concat());
    }

    #[test]
    fn early_data_beyond_the_allowance_becomes_a_record_rustls_cannot_skip() {
        let (out, filtering) = run(&mut filter(16_384), &[junk(16_000), junk(385)].concat());
        assert_eq!(filtering, Filtering::Done);
        assert_eq!(out.len(), HEADER + 16_385);
        assert_eq!(out[..HEADER], [0x17, 3, 3, 0x40, 0x01]);
    }

    #[test]
    fn an_undecryptable_record_after_the_second_flight_began_fails_it() {
        let [first, second] = <[Vec<u8>; 2]>::try_from(finished(2)).unwrap();
        let mut filter = filter(16_384);
        let (out, filtering) = run(&mut filter, &first);
        assert_eq!((out, filtering), (first, Filtering::Continue));
        // Well within the allowance, but the second flight has begun.
        let (out, filtering) = run(&mut filter, &[junk(64), second.clone()].concat());
        assert_eq!(filtering, Filtering::Done);
        let (unaffordable, rest) = out.split_at(HEADER + 16_385);
        assert_eq!(unaffordable[..HEADER], [0x17, 3, 3, 0x40, 0x01]);
        assert_eq!(rest, second, "everything after it is rustls's");
    }

    #[test]
    fn the_first_message_in_three_records_completes_with_the_third() {
        let records = finished(3);
        let mut filter = filter(100);
        for (i, record) in records.iter().enumerate() {
            let (out, filtering) = run(&mut filter, record);
            assert_eq!(&out, record);
            let expected = match i {
                2 => Filtering::Done,
                _ => Filtering::Continue,
            };
            assert_eq!(filtering, expected, "record {i}");
        }
    }

    #[test]
    fn a_record_of_the_wrong_sequence_number_fails() {
        let records = finished(2);
        let mut filter = filter(16_384);
        let _ = run(&mut filter, &records[0]);
        let replayed = run(&mut filter, &records[0]).0;
        assert_eq!(replayed.len(), HEADER + 16_385);
    }

    #[test]
    fn warning_alerts_plain_or_protected_keep_filtering() {
        // user_canceled, unprotected: rustls ignores it and goes on skipping; so does the filter.
        let alert = vec![0x15, 3, 3, 0, 2, 1, 90];
        let mut filter = filter(1_000);
        let (out, filtering) = run(&mut filter, &[junk(600), alert.clone()].concat());
        assert_eq!((out, filtering), (alert, Filtering::Continue));
        let (out, filtering) = run(&mut filter, &junk(401));
        assert_eq!(filtering, Filtering::Done, "the allowance is 1,000 in all");
        assert_eq!(out.len(), HEADER + 1_001);

        // Protected, it begins the second flight: a failing record after it fails.
        let protected = sealer().seal(ALERT, &[1, 90], 0);
        let mut second_flight = self::filter(16_384);
        let (out, filtering) = run(&mut second_flight, &protected);
        assert_eq!((out, filtering), (protected, Filtering::Continue));
        let (out, filtering) = run(&mut second_flight, &junk(64));
        assert_eq!((out.len(), filtering), (HEADER + 16_385, Filtering::Done));
    }

    #[test]
    fn records_of_every_version_rustls_reads_are_skipped_too() {
        let versions = [
            [3, 1],
            [3, 3],
            [3, 0x7f],
            [0, 2],
            [0xfe, 0xff],
            [0xfe, 0xfd],
            [0xfe, 0xfc],
        ];
        for version in versions {
            let mut record = junk(100);
            record[1..3].copy_from_slice(&version);
            let mut filter = filter(200);
            let (out, filtering) = run(&mut filter, &[record.clone(), record].concat());
            assert_eq!(
                (out.len(), filtering),
                (0, Filtering::Continue),
                "{version:02x?}"
            );
        }
    }

    #[test]
    fn a_header_rustls_refuses_ends_filtering_with_everything_passed() {
        let bad_header = b"\x17\x04\x03\x00\x01x".to_vec();
        let (out, filtering) = run(&mut filter(16_384), &bad_header);
        assert_eq!((out, filtering), (bad_header, Filtering::Done));
    }

    #[test]
    fn a_change_cipher_spec_passes_between_messages_and_fails_inside_one() {
        let ccs = vec![0x14, 3, 3, 0, 1, 1];
        let [first, second] = <[Vec<u8>; 2]>::try_from(finished(2)).unwrap();
        let mut filter = filter(16_384);
        let (out, filtering) = run(&mut filter, &[ccs.clone(), first.clone()].concat());
        assert_eq!(
            (out, filtering),
            ([ccs.clone(), first].concat(), Filtering::Continue)
        );
        let (out, filtering) = run(&mut filter, &[ccs, second.clone()].concat());
        assert_eq!(filtering, Filtering::Done);
        let (unaffordable, rest) = out.split_at(HEADER + 16_385);
        assert_eq!(
            unaffordable[..HEADER],
            [0x17, 3, 3, 0x40, 0x01],
            "interleaved"
        );
        assert_eq!(rest, second);
    }

    #[test]
    fn empty_records_cost_a_byte_each() {
        let mut filter = filter(3);
        let (out, filtering) = run(&mut filter, &[junk(0), junk(0), junk(0)].concat());
        assert_eq!((out.len(), filtering), (0, Filtering::Continue));
        let (out, filtering) = run(&mut filter, &junk(0));
        assert_eq!((out.len(), filtering), (HEADER + 4, Filtering::Done));
    }

    /// The header of a record over rustls's length limit: decode_error from rustls.
    const TOO_LONG: [u8; HEADER] = [0x17, 3, 3, 0x48, 0x00];

    #[test]
    fn an_allowance_too_large_to_exceed_in_one_record_fails_with_a_record_too_long() {
        let mut filter = filter(20_000);
        let (out, _) = run(&mut filter, &junk(16_000));
        assert!(out.is_empty());
        let (out, filtering) = run(&mut filter, &junk(16_000));
        assert_eq!(filtering, Filtering::Done);
        assert!(out == TOO_LONG, "{} bytes", out.len());
    }

    #[test]
    fn a_failing_record_inside_a_large_first_message_fails_with_a_record_too_long() {
        // A 60,000-byte Certificate in records of 10,000: rustls holds 50,000 bytes of it
        // when the failing record comes, too many to add a record of 16 KiB beside them.
        let mut content = vec![11, 0, 0xea, 0x5c];
        content.resize(4 + 60_000, 0x33);
        let mut filter = filter(16_384);
        for (seq, piece) in content.chunks(10_000).take(5).enumerate() {
            let record = sealer().seal(HANDSHAKE, piece, seq as u64);
            let (out, filtering) = run(&mut filter, &record);
            assert!(
                out == record && filtering == Filtering::Continue,
                "record {seq}"
            );
        }
        let (out, filtering) = run(&mut filter, &junk(64));
        assert_eq!(filtering, Filtering::Done);
        assert!(out == TOO_LONG, "{} bytes", out.len());
    }

    #[test]
    fn records_rustls_seals_open_here_for_every_suite() {
        use rustls::crypto::cipher::{OutboundChunks, OutboundPlainMessage};
        use rustls::internal::{derive_traffic_iv, derive_traffic_key};
        use rustls::{ContentType, ProtocolVersion};
        for suite in [
            rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256,
            rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384,
            rustls::crypto::aws_lc_rs::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        ] {
            let suite = suite.tls13().unwrap();
            let secret = OkmBlock::new(&SECRET[..suite.common.hash_provider.output_len()]);
            // rustls's own key schedule and record protection (test-only internal API).
            let expander = suite.hkdf_provider.expander_for_okm(&secret);
            let mut encrypter = suite.aead_alg.encrypter(
                derive_traffic_key(expander.as_ref(), suite.aead_alg),
                derive_traffic_iv(expander.as_ref()),
            );
            let opener = RecordOpener::new(suite, &secret).unwrap();
            for seq in [0, 1, 7] {
                let content = [20, 0, 0, 2, 0xab, seq as u8];
                let plain = OutboundPlainMessage {
                    typ: ContentType::Handshake,
                    version: ProtocolVersion::TLSv1_2,
                    payload: OutboundChunks::Single(&content),
                };
                let record = encrypter.encrypt(plain, seq).unwrap().encode();
                let name = suite.common.suite;
                assert_eq!(
                    opener.open(&record, seq),
                    Some((HANDSHAKE, content.to_vec())),
                    "{name:?} seq {seq}"
                );
                assert_eq!(opener.open(&record, seq + 1), None, "{name:?} seq {seq}");
                assert_eq!(
                    RecordSealer::new(suite, secret.as_ref())
                        .unwrap()
                        .seal(HANDSHAKE, &content, seq),
                    record,
                    "{name:?}: the test sealer seals as rustls does"
                );
            }
        }
    }

    #[test]
    fn a_partial_record_waits_and_finish_hands_it_over() {
        let mut filter = filter(16_384);
        let record = junk(100);
        let (out, filtering) = run(&mut filter, &record[..50]);
        assert_eq!((out.len(), filtering), (0, Filtering::Continue));
        let mut out = Vec::new();
        filter.finish(&mut out);
        assert_eq!(out, record[..50]);
    }

    #[test]
    fn the_key_schedule_gives_rfc_8448s_client_handshake_key_and_iv() {
        // RFC 8448 §3 (simple 1-RTT handshake), client handshake traffic secret, with
        // TLS_AES_128_GCM_SHA256: "write key" and "write iv" of the client's handshake keys.
        let secret = hex("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21");
        let suite = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256
            .tls13()
            .unwrap();
        let expander = suite
            .hkdf_provider
            .expander_for_okm(&OkmBlock::new(&secret));
        let mut key = [0u8; 16];
        expand_label(expander.as_ref(), b"key", &mut key).unwrap();
        let mut iv = [0u8; 12];
        expand_label(expander.as_ref(), b"iv", &mut iv).unwrap();
        assert_eq!(key.to_vec(), hex("dbfaa693d1762c5b666af5d950258d01"));
        assert_eq!(iv.to_vec(), hex("5bd3c71b836e0b76bb73265f"));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_capture_keeps_the_first_client_handshake_secret_and_forwards_everything() {
        #[derive(Debug, Default)]
        struct Recorder(Mutex<Vec<String>>);
        impl KeyLog for Recorder {
            fn log(&self, label: &str, _: &[u8], _: &[u8]) {
                self.0.lock().unwrap().push(label.to_owned());
            }
            fn will_log(&self, label: &str) -> bool {
                label != "EXPORTER_SECRET"
            }
        }
        let recorder = Arc::new(Recorder::default());
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(rustls::server::ResolvesServerCertUsingSni::new()));
        config.key_log = Arc::clone(&recorder) as Arc<dyn KeyLog>;
        let capture = HandshakeSecretCapture::install(&mut config);
        assert!(config.key_log.will_log(CLIENT_HANDSHAKE_TRAFFIC_SECRET));
        assert!(!config.key_log.will_log("EXPORTER_SECRET"));
        config
            .key_log
            .log(CLIENT_HANDSHAKE_TRAFFIC_SECRET, &[0; 32], &[1; 48]);
        config
            .key_log
            .log(CLIENT_HANDSHAKE_TRAFFIC_SECRET, &[0; 32], &[2; 48]);
        config
            .key_log
            .log("SERVER_HANDSHAKE_TRAFFIC_SECRET", &[0; 32], &[3; 48]);
        // The first secret, [1; 48], is the one the opener uses.
        let opener = capture.opener(Some(suite())).unwrap();
        let sealed = RecordSealer::new(suite(), &[1; 48])
            .unwrap()
            .seal(HANDSHAKE, b"x", 0);
        assert!(opener.open(&sealed, 0).is_some());
        assert!(capture.opener(Some(suite())).is_none(), "taken once");
        config
            .key_log
            .log(CLIENT_HANDSHAKE_TRAFFIC_SECRET, &[0; 32], &[4; 48]);
        assert!(
            capture.opener(Some(suite())).is_none(),
            "nothing kept after the take"
        );
        assert_eq!(recorder.0.lock().unwrap().len(), 4);
    }
}
