//! Handshakes that block (client-certificate verification that fetches OCSP, keys in a
//! token) never hold the server's runtime workers, and are bounded:
//!
//! - two mTLS clients whose certificates point at an OCSP responder that accepts and never
//!   answers (a local listener) do not stop a third, plain client from being served while
//!   they wait (on a 2-core machine the runtime has two workers);
//! - `--max-blocking-handshakes 1` lets one such verification run at a time: the other
//!   handshake waits for a slot.

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;

use std::ffi::OsString;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use runtime_support::{run_client, start_server, test_pki, PkiSpec, TestPki};

/// A listener that accepts connections, counts them, and never answers (held open until the
/// process ends).
struct SilentResponder {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl SilentResponder {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                held.lock().unwrap().push(stream);
            }
        });
        Self { port, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits until `n` connections came in (the fetches are under way).
    fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.accepted() < n {
            assert!(
                Instant::now() < deadline,
                "the responder got {} connections, not {n}",
                self.accepted()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn pki_pointing_at(responder: &SilentResponder) -> TestPki {
    test_pki(PkiSpec {
        ocsp_url: Some(format!("http://127.0.0.1:{}/ocsp", responder.port)),
        ..PkiSpec::default()
    })
}

fn mtls_server(pki: &TestPki, extra: &[&str]) -> support::Server {
    let mut args: Vec<OsString> = pki.server_cert_args();
    args.push("--client-ca".into());
    args.push(pki.root().into());
    args.extend(extra.iter().map(OsString::from));
    start_server(args)
}

/// Starts an mTLS client in a thread; its handle says when it is done.
fn mtls_client(port: u16, pki: &TestPki) -> thread::JoinHandle<bool> {
    let root = pki.root();
    let args = pki.client_cert_args();
    thread::spawn(move || run_client(port, &root, args).succeeded())
}

#[test]
fn clients_waiting_for_a_silent_ocsp_responder_do_not_stop_other_clients() {
    let responder = SilentResponder::start();
    let pki = pki_pointing_at(&responder);
    let server = mtls_server(&pki, &[]);
    let waiting = [
        mtls_client(server.port, &pki),
        mtls_client(server.port, &pki),
    ];
    // Both verifications are now blocked on the responder (5 s read timeout each).
    responder.wait_for(2);
    let plain = run_client(server.port, &pki.root(), Vec::<OsString>::new());
    let still_waiting = waiting.iter().filter(|c| !c.is_finished()).count();
    assert!(plain.succeeded(), "plain client: {}", plain.describe());
    assert_eq!(
        still_waiting, 2,
        "the plain client was served only after the mTLS clients' verifications ended"
    );
    for client in waiting {
        // Soft-fail: admitted once the fetch times out.
        assert!(client.join().unwrap());
    }
}

#[test]
fn blocking_handshakes_take_turns_beyond_the_bound() {
    let responder = SilentResponder::start();
    let pki = pki_pointing_at(&responder);
    let server = mtls_server(&pki, &["--max-blocking-handshakes", "1"]);
    let first = mtls_client(server.port, &pki);
    responder.wait_for(1);
    let second = mtls_client(server.port, &pki);
    // The second handshake waits for the first one's slot: no second fetch meanwhile.
    thread::sleep(Duration::from_secs(2));
    assert_eq!(
        responder.accepted(),
        1,
        "two verifications ran at once despite --max-blocking-handshakes 1"
    );
    assert!(!second.is_finished());
    assert!(first.join().unwrap());
    assert!(second.join().unwrap());
}
