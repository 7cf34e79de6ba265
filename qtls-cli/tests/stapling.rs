//! OCSP stapling by `qtls server` (RFC 8446 §4.4.2.1) with a real `qtls ocsp-responder` named in
//! the certificate's AIA: the responder up (the client sees a good staple); down at startup
//! with a disk cache (a restarted server still staples); down without a cache (soft-fail
//! serves without a staple, hard-fail refuses handshakes with internal_error, then recovers
//! when the responder comes back); a revoked answer (logged as an error; soft-fail serves
//! without a staple, hard-fail refuses); a refresh before nextUpdate with a short
//! validity, observed in the staples a TLS client receives; and a short-lived staple whose
//! responder goes away: past its nextUpdate it is no longer served (soft-fail) or the
//! certificate is out of service (hard-fail), whatever the check interval.

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qtls_pki::OcspResponse;
use runtime_support::{
    count_lines, expect_line, log_of, run_client, start_responder, start_server, test_pki,
    wait_for_count, PkiSpec, TestPki, RESPONDER_REQUEST,
};
use rustls_pki_types::{CertificateDer, ServerName};
use time::OffsetDateTime;

/// A PKI whose end-entity certificates name an OCSP responder on a port chosen now (nothing
/// listens there until [`start_responder`]).
fn pki_with_responder_port() -> (TestPki, u16) {
    let port = support::free_port();
    let pki = test_pki(PkiSpec {
        ocsp_url: Some(format!("http://127.0.0.1:{port}/")),
        ..PkiSpec::default()
    });
    (pki, port)
}

/// `qtls server` for `pki` with `--ocsp-stapling MODE` and `extra`.
fn stapling_server(pki: &TestPki, mode: &str, extra: &[OsString]) -> support::Server {
    let mut args = pki.server_cert_args();
    args.extend([OsString::from("--ocsp-stapling"), mode.into()]);
    args.extend(extra.iter().cloned());
    start_server(args)
}

fn no_args() -> Vec<OsString> {
    Vec::new()
}

#[test]
fn responder_up_the_client_sees_a_good_staple() {
    let (pki, port) = pki_with_responder_port();
    let responder = start_responder(&pki, port, 3600);
    let server = stapling_server(&pki, "soft-fail", &[]);
    expect_line(&server, &["OCSP staple refreshed"]);
    let run = run_client(server.port, &pki.root(), no_args());
    assert!(run.succeeded(), "{}", run.describe());
    assert_eq!(run.json["ocsp_status"], "good", "{}", run.describe());
    assert!(
        count_lines(&responder, RESPONDER_REQUEST) >= 1,
        "{}",
        log_of(&responder)
    );
}

#[test]
fn responder_down_at_startup_a_restarted_server_staples_from_its_disk_cache() {
    let (pki, port) = pki_with_responder_port();
    let cache = pki.path("ocsp-cache");
    let with_cache = [OsString::from("--ocsp-cache"), cache.clone().into()];
    {
        let _responder = start_responder(&pki, port, 3600);
        let server = stapling_server(&pki, "hard-fail", &with_cache);
        expect_line(&server, &["OCSP staple refreshed"]);
        let run = run_client(server.port, &pki.root(), no_args());
        assert_eq!(run.json["ocsp_status"], "good", "{}", run.describe());
    } // server and responder killed
    let cached: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        cached.len() == 1 && cached[0].ends_with(".ocsp.der"),
        "cache holds {cached:?}"
    );
    assert!(
        !support::wait_for_port(port, Duration::from_millis(200)),
        "the responder is still up"
    );

    // Hard-fail: the restarted server could not serve at all without a valid staple.
    let server = stapling_server(&pki, "hard-fail", &with_cache);
    expect_line(&server, &["stapling the cached OCSP response"]);
    // Less than the default 2 h of validity remain, so it tried the responder, and kept the
    // cached staple when that failed.
    expect_line(
        &server,
        &["OCSP refresh failed, keeping the current staple"],
    );
    let run = run_client(server.port, &pki.root(), no_args());
    assert!(run.succeeded(), "{}\n{}", run.describe(), log_of(&server));
    assert_eq!(run.json["ocsp_status"], "good", "{}", run.describe());
}

#[test]
fn responder_down_without_cache_soft_fail_serves_without_a_staple() {
    let (pki, _port) = pki_with_responder_port();
    let server = stapling_server(&pki, "soft-fail", &[]);
    expect_line(&server, &["WARN", "serving without an OCSP staple"]);
    let run = run_client(server.port, &pki.root(), no_args());
    assert!(run.succeeded(), "{}", run.describe());
    assert_eq!(run.json["ocsp_status"], "none", "{}", run.describe());
}

#[test]
fn responder_down_without_cache_hard_fail_refuses_with_internal_error_until_it_returns() {
    let (pki, port) = pki_with_responder_port();
    let server = stapling_server(
        &pki,
        "hard-fail",
        &[OsString::from("--ocsp-check-interval"), "1s".into()],
    );
    expect_line(&server, &["ERROR", "refusing handshakes (hard-fail)"]);
    let run = run_client(server.port, &pki.root(), no_args());
    assert!(!run.succeeded(), "{}", run.describe());
    assert_eq!(
        run.alert(),
        (Some("internal_error"), Some("received")),
        "{}",
        run.describe()
    );
    expect_line(&server, &["connection failed", "refused (internal_error)"]);

    // The responder comes back: the background refresh fetches a staple and the
    // certificate is served again.
    let _responder = start_responder(&pki, port, 3600);
    expect_line(&server, &["OCSP staple refreshed"]);
    let run = run_client(server.port, &pki.root(), no_args());
    assert!(run.succeeded(), "{}\n{}", run.describe(), log_of(&server));
    assert_eq!(run.json["ocsp_status"], "good", "{}", run.describe());
}

/// Revokes the server certificate in `pki`'s index with `qtls pki revoke`.
fn revoke_server(pki: &TestPki) {
    support::run(
        runtime_support::qtls()
            .args(["pki", "revoke", "--dir"])
            .arg(pki.dir.path())
            .arg("--cert")
            .arg(pki.path("server.pem"))
            .args(["--reason", "keyCompromise"]),
        Duration::from_secs(20),
    )
    .expect_success("qtls pki revoke");
}

#[test]
fn revoked_answer_is_an_error_soft_fail_serves_without_staple_hard_fail_refuses() {
    let (pki, port) = pki_with_responder_port();
    revoke_server(&pki);
    let _responder = start_responder(&pki, port, 3600);

    let soft = stapling_server(&pki, "soft-fail", &[]);
    expect_line(
        &soft,
        &[
            "ERROR",
            "the OCSP responder says this certificate is REVOKED",
        ],
    );
    let run = run_client(soft.port, &pki.root(), no_args());
    assert!(run.succeeded(), "{}", run.describe());
    assert_eq!(run.json["ocsp_status"], "none", "{}", run.describe());

    let hard = stapling_server(&pki, "hard-fail", &[]);
    expect_line(
        &hard,
        &[
            "ERROR",
            "the OCSP responder says this certificate is REVOKED",
        ],
    );
    let run = run_client(hard.port, &pki.root(), no_args());
    assert!(!run.succeeded(), "{}\n{}", run.describe(), log_of(&hard));
    assert_eq!(
        run.alert(),
        (Some("internal_error"), Some("received")),
        "{}",
        run.describe()
    );
}

// The refresh.

/// Handshakes with 127.0.0.1:`port`, requiring a valid staple; returns it parsed.
fn staple_of(port: u16, roots: &[CertificateDer<'static>]) -> OcspResponse {
    let provider = Arc::new(qtls_provider::hybrid());
    let inner = qtls_verifier::ServerVerifierBuilder::new(roots.to_vec(), &provider)
        .revocation_policy(qtls_verifier::RevocationPolicy::HardFail)
        .revocation_depth(qtls_verifier::RevocationDepth::EndEntity)
        .online_ocsp(false)
        .fetch_crls(false)
        .build()
        .unwrap();
    // qtls-verifier's server verifier (staple required and checked), keeping the staple.
    let catcher = Arc::new(qtls_test_support::handshake::Recording::new(inner));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(catcher.clone())
        .with_no_client_auth();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let mut tls = tokio::time::timeout(
            Duration::from_secs(10),
            connector.connect(ServerName::try_from("localhost").unwrap(), tcp),
        )
        .await
        .unwrap()
        .unwrap();
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
    });
    let der = catcher.staple.lock().unwrap().clone();
    assert!(!der.is_empty(), "no staple");
    OcspResponse::from_der(der).unwrap()
}

fn times(response: &OcspResponse) -> (OffsetDateTime, OffsetDateTime) {
    let single = &response.responses()[0];
    (response.produced_at().unwrap(), single.next_update.unwrap())
}

/// Responses valid for 6 s; the server checks every second and refreshes when 4 s or less
/// remain: the staple clients receive changes (a later producedAt) before the previous one
/// reaches its nextUpdate, and the responder is asked again.
#[test]
fn staple_is_refreshed_before_next_update() {
    let (pki, port) = pki_with_responder_port();
    let responder = start_responder(&pki, port, 6);
    let server = stapling_server(
        &pki,
        "hard-fail",
        &[
            OsString::from("--ocsp-check-interval"),
            "1s".into(),
            "--ocsp-refresh-before".into(),
            "4s".into(),
        ],
    );
    let roots = qtls::read_certificates(&pki.root()).unwrap();
    let first = staple_of(server.port, &roots);
    let (first_produced, first_next_update) = times(&first);
    assert_eq!(
        first_next_update - first_produced,
        time::Duration::seconds(6)
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    let (second_produced, _) = loop {
        let (produced, next_update) = times(&staple_of(server.port, &roots));
        if produced > first_produced {
            break (produced, next_update);
        }
        assert!(
            Instant::now() < deadline,
            "the staple was not refreshed\n{}",
            log_of(&server)
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        second_produced < first_next_update,
        "refreshed at {second_produced}, after the previous staple's nextUpdate {first_next_update}"
    );
    assert!(
        wait_for_count(&server, "OCSP staple refreshed", 2),
        "{}",
        log_of(&server)
    );
    assert!(
        count_lines(&responder, RESPONDER_REQUEST) >= 2,
        "{}",
        log_of(&responder)
    );
    // Never a gap: hard-fail would have refused a handshake without a valid staple.
    assert_eq!(count_lines(&server, "refusing"), 0, "{}", log_of(&server));
}

// Expiry while the responder is away.

/// How long the short-lived responses below are valid.
const SHORT_VALIDITY: u32 = 6;

/// Waits (at most nextUpdate plus `slack`) for a line with every one of `needles`.
fn expect_line_after_expiry(server: &support::Server, needles: &[&str], slack: u64) -> String {
    runtime_support::wait_for_line(
        server,
        needles,
        Duration::from_secs(u64::from(SHORT_VALIDITY) + slack),
    )
    .unwrap_or_else(|| panic!("no log line with all of {needles:?}\n{}", log_of(server)))
}

/// Responses valid for 6 s, the default hourly check and 2 h refresh margin; the responder
/// goes away after the first fetch. The failed refresh at nextUpdate drops the staple:
/// clients are served without one within a generous bound of nextUpdate, not an hour later.
#[test]
fn staple_past_next_update_is_no_longer_served_soft_fail() {
    let (pki, port) = pki_with_responder_port();
    let responder = start_responder(&pki, port, SHORT_VALIDITY);
    let server = stapling_server(&pki, "soft-fail", &[]);
    expect_line(&server, &["OCSP staple refreshed"]);
    let run = run_client(server.port, &pki.root(), no_args());
    assert_eq!(run.json["ocsp_status"], "good", "{}", run.describe());
    drop(responder);

    expect_line_after_expiry(&server, &["WARN", "serving without an OCSP staple"], 15);
    let run = run_client(server.port, &pki.root(), no_args());
    assert!(run.succeeded(), "{}\n{}", run.describe(), log_of(&server));
    assert_eq!(run.json["ocsp_status"], "none", "{}", run.describe());
}

/// As above under hard-fail: past nextUpdate the certificate is out of service and clients
/// get internal_error.
#[test]
fn staple_past_next_update_takes_the_certificate_out_of_service_hard_fail() {
    let (pki, port) = pki_with_responder_port();
    let responder = start_responder(&pki, port, SHORT_VALIDITY);
    let server = stapling_server(&pki, "hard-fail", &[]);
    expect_line(&server, &["OCSP staple refreshed"]);
    let run = run_client(server.port, &pki.root(), no_args());
    assert_eq!(run.json["ocsp_status"], "good", "{}", run.describe());
    drop(responder);

    expect_line_after_expiry(&server, &["ERROR", "refusing handshakes (hard-fail)"], 15);
    let run = run_client(server.port, &pki.root(), no_args());
    assert!(!run.succeeded(), "{}\n{}", run.describe(), log_of(&server));
    assert_eq!(
        run.alert(),
        (Some("internal_error"), Some("received")),
        "{}",
        run.describe()
    );
}

/// The serving path itself: a [`qtls::Stapler`] whose background task never runs (a timer
/// as late as can be) still never hands out a staple past its nextUpdate; under hard-fail
/// the certificate is no longer selected.
#[test]
fn serving_path_drops_a_staple_past_next_update_without_the_refresh_task() {
    let (pki, port) = pki_with_responder_port();
    let _responder = start_responder(&pki, port, SHORT_VALIDITY);
    let settings = qtls::TlsSettings::default();
    let provider = settings.provider().unwrap();
    let identity = qtls::Identity::from_pem_files(
        &pki.server_chain(),
        &pki.server_key(),
        &provider,
        &settings,
    )
    .unwrap();
    let chain = qtls::read_certificates(&pki.server_chain()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut served = Vec::new();
    for policy in [
        qtls::StapleFailurePolicy::SoftFail,
        qtls::StapleFailurePolicy::HardFail,
    ] {
        let certificate = Arc::new(qtls::ServedCertificate::new(
            "server",
            Arc::clone(&identity.certified_key),
            identity.scheme,
            &settings.code_points,
        ));
        let stapler = Arc::new(
            qtls::Stapler::new(
                Arc::clone(&certificate),
                &chain,
                &provider,
                qtls::StaplingConfig {
                    on_failure: policy,
                    ..qtls::StaplingConfig::default()
                },
            )
            .unwrap(),
        );
        runtime.block_on(stapler.initialize());
        assert!(stapler.has_valid_staple(), "{:?}", stapler.state());
        served.push((policy, certificate, stapler));
    }
    let schemes = [identity.scheme.unwrap()];
    let mut next_update = 0;
    for (policy, certificate, stapler) in &served {
        let staple = certificate.certified_key().ocsp.clone();
        assert!(staple.is_some(), "{policy:?}: no staple");
        let qtls::StapleState::Valid { valid_until, .. } = stapler.state() else {
            panic!("{policy:?}: {:?}", stapler.state());
        };
        next_update = next_update.max(valid_until);
        let set = qtls::CertificateSet::new(vec![Arc::clone(certificate)], false);
        assert!(
            set.select(Some("localhost"), &schemes).is_some(),
            "{policy:?}"
        );
    }

    // Past nextUpdate (whole seconds since the Unix epoch), with nothing refreshing.
    let epoch = std::time::UNIX_EPOCH + Duration::from_secs(next_update);
    if let Ok(left) = epoch.duration_since(std::time::SystemTime::now()) {
        std::thread::sleep(left + Duration::from_millis(200));
    }
    for (policy, certificate, _) in &served {
        assert!(
            certificate.certified_key().ocsp.is_none(),
            "{policy:?}: a staple past its nextUpdate is still handed out"
        );
        let set = qtls::CertificateSet::new(vec![Arc::clone(certificate)], false);
        let selected = set.select(Some("localhost"), &schemes);
        match policy {
            qtls::StapleFailurePolicy::SoftFail => assert!(selected.is_some()),
            _ => assert!(
                selected.is_none(),
                "hard-fail: the certificate is still selected without a valid staple"
            ),
        }
    }
}

/// Serves one TLS connection on 127.0.0.1 with `pki`'s server certificate and `staple` as its
/// OCSP staple (whatever it says: `qtls server` staples only good answers), answering any
/// request with 200; returns the port.
fn serve_once_with_staple(pki: &TestPki, staple: Vec<u8>) -> (u16, std::thread::JoinHandle<()>) {
    #[derive(Debug)]
    struct Fixed(Arc<rustls::sign::CertifiedKey>);
    impl rustls::server::ResolvesServerCert for Fixed {
        fn resolve(
            &self,
            _: rustls::server::ClientHello<'_>,
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(Arc::clone(&self.0))
        }
    }
    let settings = qtls::TlsSettings::default();
    let provider = settings.provider().unwrap();
    let identity = qtls::Identity::from_pem_files(
        &pki.server_chain(),
        &pki.server_key(),
        &provider,
        &settings,
    )
    .unwrap();
    let mut key = (*identity.certified_key).clone();
    key.ocsp = Some(staple);
    let config =
        Arc::new(qtls::server_config(&settings, Arc::new(Fixed(Arc::new(key))), None).unwrap());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let connection = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(connection, tcp);
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let _ =
            tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        tls.conn.send_close_notify();
        let _ = tls.flush();
    });
    (port, thread)
}

/// Issue #12 item 8: a staple saying "unknown" was reported as "good" by `qtls client`.
#[test]
fn client_reports_an_unknown_staple_as_unknown() {
    let pki = test_pki(PkiSpec::default());
    let ca = pki.pki.intermediate().certificate();
    let now = OffsetDateTime::now_utc() - time::Duration::minutes(5);
    let id = qtls_pki::OcspCertId::for_certificate(
        qtls_pki::OcspHash::Sha1,
        ca,
        pki.pki.server().certificate(),
    )
    .unwrap();
    let unknown = qtls_pki::OcspResponseBuilder::new(now)
        .next_update(now + time::Duration::hours(1))
        .status(id.clone(), qtls_pki::OcspCertStatus::Unknown)
        .build(ca, pki.pki.ocsp_responder())
        .unwrap();
    let (port, server) = serve_once_with_staple(&pki, unknown.into_der());
    let run = run_client(port, &pki.root(), no_args());
    server.join().unwrap();
    assert!(run.succeeded(), "{}", run.describe());
    assert_eq!(run.json["ocsp_status"], "unknown", "{}", run.describe());

    // The same server stapling "good" is reported as good, and the text output says so too.
    let good = qtls_pki::OcspResponseBuilder::new(now)
        .next_update(now + time::Duration::hours(1))
        .status(id, qtls_pki::OcspCertStatus::Good)
        .build(ca, pki.pki.ocsp_responder())
        .unwrap();
    let (port, server) = serve_once_with_staple(&pki, good.into_der());
    let out = support::run(
        runtime_support::qtls()
            .args(["client", "--connect", &format!("127.0.0.1:{port}")])
            .arg("--ca")
            .arg(pki.root())
            .args(["--servername", "localhost"]),
        runtime_support::CLIENT_TIMEOUT,
    );
    server.join().unwrap();
    assert!(out.success(), "{out:?}");
    assert!(
        out.stdout
            .lines()
            .any(|line| line.starts_with("OCSP staple:") && line.ends_with(" good")),
        "{}",
        out.stdout
    );
}
