//! What the server sent, recorded by the objects a probe hands rustls: the certificate
//! verifier, the client-certificate resolver and the session store.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, ResolvesClientCert, Tls12ClientSessionValue,
    Tls13ClientSessionValue,
};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{DigitallySignedStruct, NamedGroup, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// Records what the server sent: the scanner reports, it does not decide trust (the chain
/// is verified afterwards against --ca); the handshake signature is verified, so a scheme
/// counts as accepted only when the server really signed with it.
#[derive(Debug)]
pub(super) struct Recorder {
    pub(super) offered: Vec<SignatureScheme>,
    pub(super) algorithms: WebPkiSupportedAlgorithms,
    pub(super) seen: Mutex<Seen>,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Seen {
    pub(super) certs: Vec<CertificateDer<'static>>,
    pub(super) ocsp: Vec<u8>,
    pub(super) scheme: Option<SignatureScheme>,
    pub(super) signature_len: usize,
}

impl Recorder {
    fn record_signature(&self, dss: &DigitallySignedStruct) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.scheme = Some(dss.scheme);
        seen.signature_len = dss.signature().len();
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.certs = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        seen.ocsp = ocsp_response.to_vec();
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.record_signature(dss);
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.record_signature(dss);
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.offered.clone()
    }
}

/// Records a CertificateRequest (RFC 8446 §4.3.2) and answers it with no certificate.
#[derive(Debug, Default)]
pub(super) struct Requested(pub(super) Mutex<Option<CertificateRequestSeen>>);

/// The CertificateRequest's certificate_authorities (DER names) and signature schemes.
pub(super) type CertificateRequestSeen = (Vec<Vec<u8>>, Vec<SignatureScheme>);

impl ResolvesClientCert for Requested {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((
            root_hint_subjects.iter().map(|s| s.to_vec()).collect(),
            sigschemes.to_vec(),
        ));
        None
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A session store that also notes what the server issued.
#[derive(Debug)]
pub(super) struct Store {
    inner: ClientSessionMemoryCache,
    tickets: Mutex<Vec<u32>>,
    tls12: Mutex<u32>,
}

impl Store {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: ClientSessionMemoryCache::new(8),
            tickets: Mutex::new(Vec::new()),
            tls12: Mutex::new(0),
        })
    }

    pub(super) fn tickets(&self) -> Vec<u32> {
        self.tickets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ClientSessionStore for Store {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.inner.set_kx_hint(server_name, group);
    }
    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.inner.kx_hint(server_name)
    }
    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        *self.tls12.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.inner.set_tls12_session(server_name, value);
    }
    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }
    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name);
    }
    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.tickets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(value.max_early_data_size());
        self.inner.insert_tls13_ticket(server_name, value);
    }
    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(server_name)
    }
}
