//! `Server::bind` refuses the out-of-range settings that qtls.toml and the CLI refuse
//! (early-data window over 60 s, early data outside 1 byte to 16 MiB, a zero handshake
//! timeout), with the same messages: both go through the checks in `qtls::bounds`.

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use qtls::bounds::{
    check_early_data_window, check_handshake_timeout, check_max_early_data, MAX_EARLY_DATA_SIZE,
    MAX_EARLY_DATA_WINDOW,
};
use qtls::{EarlyDataSettings, Error};
use qtls_cli::{Limits, Server, ServerSettings};
use runtime_support::{test_pki, PkiSpec, TestPki};

fn settings(pki: &TestPki) -> ServerSettings {
    ServerSettings {
        certificates: vec![(pki.server_chain(), pki.server_key())],
        ..ServerSettings::default()
    }
}

async fn bind(settings: ServerSettings) -> Result<Server, Error> {
    Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), settings).await
}

#[tokio::test]
async fn out_of_range_settings_are_refused_with_the_cli_messages() {
    let pki = test_pki(PkiSpec::default());
    let early = |data: EarlyDataSettings| {
        let mut s = settings(&pki);
        s.sessions.early_data = data;
        s
    };
    let window = |w: Duration| EarlyDataSettings::enabled().with_freshness_window(w);
    let size = |n: u32| EarlyDataSettings::enabled().with_max_size(n);
    let cases = [
        (
            ServerSettings {
                limits: Limits {
                    handshake_timeout: Duration::ZERO,
                    ..Limits::default()
                },
                ..settings(&pki)
            },
            check_handshake_timeout("limits.handshake_timeout", Duration::ZERO),
        ),
        (
            early(window(MAX_EARLY_DATA_WINDOW + Duration::from_secs(1))),
            check_early_data_window(
                "sessions.early_data.freshness_window",
                MAX_EARLY_DATA_WINDOW + Duration::from_secs(1),
            ),
        ),
        // Out of range even while early data is off, as `--early-data-window` alone is.
        (
            early(EarlyDataSettings::default().with_freshness_window(Duration::from_secs(600))),
            check_early_data_window(
                "sessions.early_data.freshness_window",
                Duration::from_secs(600),
            ),
        ),
        (
            early(size(0)),
            check_max_early_data("sessions.early_data.max_size", 0),
        ),
        (
            early(size(MAX_EARLY_DATA_SIZE + 1)),
            check_max_early_data("sessions.early_data.max_size", MAX_EARLY_DATA_SIZE + 1),
        ),
    ];
    let mut wrong = Vec::new();
    for (i, (settings, expected)) in cases.into_iter().enumerate() {
        let expected = expected.unwrap_err();
        match bind(settings).await {
            Err(Error::Config(message)) if message == expected => {}
            Err(other) => wrong.push(format!("case {i}: {other:?} instead of {expected:?}")),
            Ok(_) => wrong.push(format!("case {i}: bound despite {expected:?}")),
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");

    // The bounds themselves are accepted.
    for data in [
        window(MAX_EARLY_DATA_WINDOW),
        size(1),
        size(MAX_EARLY_DATA_SIZE),
    ] {
        bind(early(data)).await.unwrap();
    }
    bind(ServerSettings {
        limits: Limits {
            handshake_timeout: Duration::from_millis(1),
            ..Limits::default()
        },
        ..settings(&pki)
    })
    .await
    .unwrap();
}
