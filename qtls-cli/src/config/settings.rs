//! What a `qtls.toml` describes, as the server's settings.

use std::time::Duration;

use qtls::{Acl, Error, StaplingConfig, TlsSettings};

use super::{
    parse_store, parse_tickets, ConfigFile, HsmSection, RevocationDepthSetting, RevocationSetting,
};
use crate::server::{ClientAuth, Limits, ServerSettings};

impl HsmSection {
    /// The server's HSM settings this section describes.
    pub fn settings(&self) -> qtls::hsm::HsmSettings {
        use qtls::hsm::{HsmSettings, HsmToken};
        let mut hsm = HsmSettings::new(
            self.chain.clone(),
            self.key.clone(),
            HsmToken {
                module: self.module.clone(),
                token: self.token.clone(),
                pin_file: self.pin_file.clone(),
            },
        );
        hsm.backup = self.backup.as_ref().map(|backup| HsmToken {
            module: backup.module.clone(),
            token: backup.token.clone(),
            pin_file: backup.pin_file.clone().or_else(|| self.pin_file.clone()),
        });
        if let Some(sessions) = self.sessions {
            hsm.sessions = sessions;
        }
        if let Some(timeout) = self.op_timeout {
            hsm.op_timeout = timeout;
        }
        if let Some(interval) = self.probe_interval {
            hsm.probe_interval = interval;
        }
        if let Some(rotation) = self.ticket_rotation {
            hsm.ticket_rotation = Some(rotation);
        }
        if !self.tickets {
            hsm.ticket_rotation = None;
        }
        hsm.danger_allow_exportable_keys = self.danger_allow_exportable_key;
        hsm
    }
}

impl ConfigFile {
    /// `send_intermediates` of the `[[certificate]]` entries: the server sends every chain
    /// whole or every leaf alone, so entries that say both are refused.
    fn omit_intermediates(&self) -> Result<bool, Error> {
        let mut said = self
            .certificates
            .iter()
            .filter_map(|c| c.send_intermediates);
        let first = said.next();
        if said.any(|send| Some(send) != first) {
            return Err(Error::Config(
                "certificate.send_intermediates must be the same in every [[certificate]]".into(),
            ));
        }
        Ok(first == Some(false))
    }

    fn session_settings(&self) -> Result<crate::server::SessionSettings, String> {
        let Some(sessions) = &self.sessions else {
            return Ok(crate::server::SessionSettings::default());
        };
        let mut store = parse_store(&sessions.store)?;
        if let crate::server::SessionStoreSetting::Redis(target) = &mut store {
            if target.has_password() {
                tracing::warn!(
                    "sessions.store: the Redis URL holds a password; put it in a file named by \
                     sessions.redis_password_file instead"
                );
            }
            if let Some(path) = &sessions.redis_password_file {
                let password = qtls::sessions::read_secret_file(path, "Redis password")
                    .map_err(|e| format!("sessions.redis_password_file: {e}"))?;
                *target = target
                    .with_password(&password)
                    .map_err(|e| format!("sessions.redis_password_file: {e}"))?;
            }
        }
        Ok(crate::server::SessionSettings {
            store,
            tickets: parse_tickets(&sessions.tickets)?,
            fleet_secret: sessions.ticket_key_file.clone(),
            ticket_rotation: sessions.ticket_rotation,
            memory_store_bytes: sessions.memory_bytes,
            queue_store_writes: sessions.queue_store_writes,
            early_data: {
                let mut early_data = qtls::EarlyDataSettings::default();
                early_data.enabled = sessions.early_data;
                if let Some(max) = sessions.max_early_data {
                    early_data = early_data.with_max_size(max);
                }
                if let Some(window) = sessions.early_data_window {
                    early_data = early_data.with_freshness_window(window);
                }
                early_data
            },
        })
    }

    /// The server settings this file describes.
    pub fn server_settings(&self) -> Result<ServerSettings, Error> {
        let mut tls = TlsSettings::default();
        if let Some(preset) = &self.policy.preset {
            tls.preset = preset.parse()?;
        }
        if let Some(backend) = &self.policy.backend {
            tls.backend = backend.parse()?;
        }
        tls.groups = self.policy.groups.clone();
        tls.cipher_suites = self.cipher_suites()?;
        Ok(ServerSettings {
            sessions: self.session_settings().map_err(Error::Config)?,
            tls,
            certificates: self
                .certificates
                .iter()
                .map(|c| (c.chain.clone(), c.key.clone()))
                .collect(),
            omit_intermediates: self.omit_intermediates()?,
            client_auth: self.client_auth.as_ref().map(|auth| ClientAuth {
                ca: auth.ca.clone(),
                required: auth.required,
                revocation: match auth.revocation {
                    RevocationSetting::Off => qtls_verifier::RevocationPolicy::Off,
                    RevocationSetting::SoftFail => qtls_verifier::RevocationPolicy::SoftFail,
                    RevocationSetting::HardFail => qtls_verifier::RevocationPolicy::HardFail,
                },
                revocation_depth: match auth.revocation_depth {
                    RevocationDepthSetting::Chain => qtls_verifier::RevocationDepth::Chain,
                    RevocationDepthSetting::EndEntity => qtls_verifier::RevocationDepth::EndEntity,
                },
                crl_files: auth.crls.clone(),
                ocsp_responder: auth.ocsp_responder.clone(),
                intermediates: auth.intermediates.clone(),
                acl: Acl {
                    allow: auth.allow.clone(),
                },
                deny_with: auth.deny_with,
            }),
            stapling: self
                .ocsp_stapling
                .as_ref()
                .filter(|s| s.enabled)
                .map(|s| StaplingConfig {
                    responder: s.responder_url.clone(),
                    cache_dir: s.cache.dir.clone(),
                    check_interval: if s.background_refresh.enabled {
                        s.background_refresh.interval
                    } else {
                        Duration::MAX / 4
                    },
                    refresh_before: s.cache.refresh_before_expiry,
                    timeout: s.timeout.connect.max(s.timeout.read),
                    on_failure: s.on_failure,
                    stop_serving_revoked: s.stop_serving_revoked,
                }),
            require_post_quantum: self.policy.require_post_quantum_kx,
            require_pq_signatures: self.policy.require_pq_signatures,
            limits: Limits {
                max_connections: self.listen.max_connections,
                max_blocking_handshakes: self.listen.max_blocking_handshakes,
                handshake_timeout: self.listen.handshake_timeout,
                idle_timeout: self.listen.idle_timeout,
                key_update: self.key_update_policy(),
                ..Limits::default()
            },
            hsm: self.hsm.as_ref().map(HsmSection::settings),
            application: crate::server::Application::default(),
        })
    }

    fn key_update_policy(&self) -> qtls::KeyUpdatePolicy {
        let mut policy = qtls::KeyUpdatePolicy::default();
        if let Some(section) = &self.key_update {
            if let Some(bytes) = section.bytes {
                policy.bytes = bytes;
            }
            if let Some(interval) = section.interval {
                policy.interval = interval;
            }
        }
        policy
    }
}
