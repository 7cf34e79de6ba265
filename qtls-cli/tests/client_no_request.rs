//! `qtls client --no-request`: the handshake alone, for servers of any protocol. The client
//! sends close_notify and reads until the server closes, so that the session tickets sent
//! after the handshake arrive and a second connection resumes.

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;

use runtime_support::{run_client, start_server, test_pki, PkiSpec};

#[test]
fn no_request_reports_the_handshake_and_keeps_the_tickets_for_a_resumption() {
    let pki = test_pki(PkiSpec::default());
    // An echo server: anything sent as a request would come back, not an HTTP answer.
    let mut args = pki.server_cert_args();
    args.push("--echo".into());
    let server = start_server(args);

    let run = run_client(server.port, &pki.root(), ["--no-request"]);
    assert!(run.succeeded(), "{}", run.describe());
    assert_eq!(run.json["protocol"], "TLSv1.3", "{}", run.json);
    assert!(run.json["http_status"].is_null(), "{}", run.json);
    assert_eq!(run.json["post_quantum_kx"], true, "{}", run.json);
    assert_eq!(run.json["resumed"], false, "{}", run.json);

    let reconnect = format!("127.0.0.1:{}", server.port);
    let run = run_client(
        server.port,
        &pki.root(),
        ["--no-request", "--reconnect", &reconnect],
    );
    assert!(run.succeeded(), "{}", run.describe());
    assert_eq!(run.json["first"]["resumed"], false, "{}", run.json);
    assert_eq!(
        run.json["second"]["resumed"], true,
        "the first connection read no ticket: {}",
        run.json
    );
}

#[test]
fn no_request_refuses_the_options_of_a_request() {
    for extra in [
        ["--early-data"].as_slice(),
        &["--method", "POST"],
        &["--body-bytes", "3"],
    ] {
        let out = support::run(
            std::process::Command::new(support::qtls_bin())
                .args(["client", "--connect", "127.0.0.1:1", "--ca", "root.pem"])
                .arg("--no-request")
                .args(extra),
            std::time::Duration::from_secs(30),
        );
        assert!(!out.success(), "{extra:?}: {}", out.stdout);
        assert!(
            out.stderr.contains("cannot be used with"),
            "{extra:?}: {}",
            out.stderr
        );
    }
}
