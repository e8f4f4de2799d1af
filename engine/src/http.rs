//! The HTTP client the notifier and the archive use: ureq, answers of any
//! status returned (not errors), HTTPS with rustls on the aws-lc-rs crypto
//! provider, the one rumqttc's TLS already brings (a second provider would
//! leave rustls unable to pick a default for MQTT).

use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

/// An agent with an overall time-out per request.
pub fn agent(timeout: Duration) -> ureq::Agent {
    let crypto = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .tls_config(
            TlsConfig::builder()
                .provider(TlsProvider::Rustls)
                .root_certs(RootCerts::WebPki)
                .unversioned_rustls_crypto_provider(crypto)
                .build(),
        )
        .build()
        .into()
}
