//! The plaintext hellos on the wire: their sizes, key shares (RFC 8446 §4.2.8) and PSK
//! identities (RFC 8446 §4.2.11).

/// What a ClientHello or ServerHello carried.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Hello {
    /// The handshake message with its 4-byte header.
    pub(super) message_len: usize,
    /// (group, key_exchange length) of each key share.
    pub(super) key_shares: Vec<(u16, usize)>,
    /// The length of the first PSK identity (the ticket a client offers).
    pub(super) psk_identity_len: Option<usize>,
}

const HANDSHAKE: u8 = 22;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const KEY_SHARE: u16 = 51;
const PRE_SHARED_KEY: u16 = 41;

/// The first handshake message in `records` (TLS records as written or read), if it is of
/// type `kind` and complete: its header and body.
fn first_message(records: &[u8], kind: u8) -> Option<(usize, Vec<u8>)> {
    let mut payload = Vec::new();
    let mut rest = records;
    while rest.len() >= 5 && rest[0] == HANDSHAKE {
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        let record = rest.get(5..5 + len)?;
        payload.extend_from_slice(record);
        rest = &rest[5 + len..];
        if payload.len() >= 4 {
            let body_len = u32::from_be_bytes([0, payload[1], payload[2], payload[3]]) as usize;
            if payload.len() >= 4 + body_len {
                return (payload[0] == kind)
                    .then(|| (4 + body_len, payload[4..4 + body_len].to_vec()));
            }
        }
    }
    None
}

/// A cursor over a hello's body; `None` on anything short.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

/// (type, data) of each extension in `block`.
fn extensions(block: &[u8]) -> Option<Vec<(u16, &[u8])>> {
    let mut reader = Reader(block);
    let mut out = Vec::new();
    while !reader.0.is_empty() {
        let kind = reader.u16()? as u16;
        out.push((kind, reader.vec16()?));
    }
    Some(out)
}

/// The ClientHello at the start of what a client wrote.
pub(super) fn client_hello(sent: &[u8]) -> Option<Hello> {
    let (message_len, body) = first_message(sent, CLIENT_HELLO)?;
    let mut reader = Reader(&body);
    reader.take(2 + 32)?;
    reader.vec8()?; // legacy_session_id
    reader.vec16()?; // cipher_suites
    reader.vec8()?; // legacy_compression_methods
    let mut hello = Hello {
        message_len,
        ..Hello::default()
    };
    for (kind, data) in extensions(reader.vec16()?)? {
        match kind {
            KEY_SHARE => {
                let mut shares = Reader(Reader(data).vec16()?);
                while !shares.0.is_empty() {
                    let group = shares.u16()? as u16;
                    hello.key_shares.push((group, shares.vec16()?.len()));
                }
            }
            PRE_SHARED_KEY => {
                let mut identities = Reader(Reader(data).vec16()?);
                hello.psk_identity_len = Some(identities.vec16()?.len());
            }
            _ => {}
        }
    }
    Some(hello)
}

/// The ServerHello at the start of what a client read (a HelloRetryRequest's key_share
/// holds a group alone and gives no share).
pub(super) fn server_hello(received: &[u8]) -> Option<Hello> {
    let (message_len, body) = first_message(received, SERVER_HELLO)?;
    let mut reader = Reader(&body);
    reader.take(2 + 32)?;
    reader.vec8()?; // legacy_session_id_echo
    reader.take(2 + 1)?; // cipher_suite, legacy_compression_method
    let mut hello = Hello {
        message_len,
        ..Hello::default()
    };
    for (kind, data) in extensions(reader.vec16()?)? {
        if kind == KEY_SHARE && data.len() > 2 {
            let mut share = Reader(data);
            let group = share.u16()? as u16;
            hello.key_shares.push((group, share.vec16()?.len()));
        }
    }
    Some(hello)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(message: &[u8]) -> Vec<u8> {
        let mut out = vec![HANDSHAKE, 3, 1];
        out.extend_from_slice(&(message.len() as u16).to_be_bytes());
        out.extend_from_slice(message);
        out
    }

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn key_shares_and_psk_identity_of_a_client_hello() {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0; 32]);
        body.extend_from_slice(&[0]); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]);
        body.extend_from_slice(&[1, 0]);
        let mut exts = Vec::new();
        // key_share: X25519 (32 bytes), 0x11ed (1665 bytes)
        let mut shares = Vec::new();
        for (group, len) in [(0x001d_u16, 32_usize), (0x11ed, 1665)] {
            shares.extend_from_slice(&group.to_be_bytes());
            shares.extend_from_slice(&(len as u16).to_be_bytes());
            shares.extend(std::iter::repeat_n(7, len));
        }
        let mut data = (shares.len() as u16).to_be_bytes().to_vec();
        data.extend_from_slice(&shares);
        exts.extend_from_slice(&KEY_SHARE.to_be_bytes());
        exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
        exts.extend_from_slice(&data);
        // pre_shared_key: one 32-byte identity, then its age and binders
        let mut ids = 32_u16.to_be_bytes().to_vec();
        ids.extend_from_slice(&[9; 32]);
        ids.extend_from_slice(&[0; 4]);
        let mut data = (ids.len() as u16).to_be_bytes().to_vec();
        data.extend_from_slice(&ids);
        data.extend_from_slice(&[0, 33, 32]);
        data.extend_from_slice(&[0; 32]);
        exts.extend_from_slice(&PRE_SHARED_KEY.to_be_bytes());
        exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
        exts.extend_from_slice(&data);
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let msg = message(CLIENT_HELLO, &body);
        // Split over two records, as a ClientHello larger than a record would be.
        let (a, b) = msg.split_at(100);
        let mut wire = record(a);
        wire.extend_from_slice(&record(b));
        wire.extend_from_slice(&[23, 3, 3, 0, 1, 0]);
        let hello = client_hello(&wire).expect("a ClientHello");
        assert_eq!(hello.message_len, msg.len());
        assert_eq!(hello.key_shares, [(0x001d, 32), (0x11ed, 1665)]);
        assert_eq!(hello.psk_identity_len, Some(32));
        assert_eq!(server_hello(&wire), None, "not a ServerHello");
        assert_eq!(client_hello(&wire[..wire.len() - 20]), None, "truncated");
    }
}
