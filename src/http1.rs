//! HTTP/1.1 message heads as a TLS endpoint reading early data needs them: where a head ends,
//! found in time linear in the bytes however a peer cuts them into records, and a strict
//! Content-Length. The client's response reader uses them, and so does the `qtls` CLI's
//! demo HTTP app; the heads themselves are parsed by `httparse`.

/// Finds the empty line that ends an HTTP/1.x head (RFC 9112 §2.1; a bare LF ends a line
/// too, §2.2) in a buffer that grows between calls, looking at each byte once, a `\n` at most
/// three times, however the head is cut into reads.
#[derive(Debug, Default)]
pub struct HeadEnd {
    /// Bytes before this cannot begin the empty line.
    decided: usize,
    /// Bytes looked at here and parsed by the caller ([`HeadEnd::parsed`]).
    scanned: u64,
}

impl HeadEnd {
    /// Where the head in `buffered` ends (just past its empty line), once it is there.
    pub fn find(&mut self, buffered: &[u8]) -> Option<usize> {
        while let Some(&byte) = buffered.get(self.decided) {
            self.scanned += 1;
            if byte == b'\n' {
                match &buffered[self.decided + 1..] {
                    [b'\n', ..] => return Some(self.decided + 2),
                    [b'\r', b'\n', ..] => return Some(self.decided + 3),
                    // What follows has not arrived yet.
                    [] | [b'\r'] => return None,
                    _ => {}
                }
            }
            self.decided += 1;
        }
        None
    }

    /// Counts `bytes` of a head that the caller parsed, in [`HeadEnd::scanned`].
    pub fn parsed(&mut self, bytes: usize) {
        self.scanned += bytes as u64;
    }

    /// Bytes looked at so far, here and by the caller's parser: a bound a caller can test.
    pub fn scanned(&self) -> u64 {
        self.scanned
    }

    /// Starts over for the next head, at the start of the buffer.
    pub fn restart(&mut self) {
        self.decided = 0;
    }
}

/// The body length a head's Content-Length fields give (RFC 9110 §8.6): `None` without one.
/// A value that is not all digits (`+5`, `-1`, `0x5`), that overflows, or fields (or list
/// members) that disagree are an error (RFC 9112 §6.3: 400 and close); identical repeats are
/// one length.
pub fn content_length(headers: &[httparse::Header<'_>]) -> Result<Option<u64>, String> {
    let mut length = None;
    let values = headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case("content-length"))
        .flat_map(|header| header.value.split(|&b| b == b','));
    for value in values {
        let value = value.trim_ascii();
        let parsed = std::str::from_utf8(value)
            .ok()
            .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u64>().ok())
            .ok_or_else(|| {
                format!(
                    "Content-Length {:?} is not a length",
                    String::from_utf8_lossy(value)
                )
            })?;
        if length.is_some_and(|seen| seen != parsed) {
            return Err("Content-Length fields disagree".into());
        }
        length = Some(parsed);
    }
    Ok(length)
}
