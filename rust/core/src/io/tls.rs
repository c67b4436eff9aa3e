//! TLS with rustls: server configurations from PEM files or bytes,
//! self-signed certificates (rcgen) and client configurations.
//!
//! Every config is built with the `ring` crypto provider passed explicitly,
//! so nothing depends on a process-wide default provider being installed.
//! Both sides offer ALPN `http/1.1` (the WebSocket upgrade is HTTP/1.1).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use sha2::{Digest, Sha256};

/// The ALPN protocol both sides announce.
pub const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// Why a TLS configuration or certificate could not be made. `what` names
/// the source (`certificate file /etc/x.pem`, `private key PEM`, ...).
#[derive(Debug)]
pub enum TlsError {
    /// A PEM file could not be read.
    Read {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    /// Text that is not PEM.
    InvalidPem { what: String, error: String },
    /// No `CERTIFICATE` block.
    NoCertificate { what: String },
    /// No private key block.
    NoPrivateKey { what: String },
    /// The private key does not belong to the certificate.
    KeyMismatch { key: String, cert: String },
    /// rustls refused the key (wrong algorithm, bad encoding).
    UnusableKey { key: String, reason: String },
    /// rustls refused the certificate chain with the key.
    Rejected {
        cert: String,
        key: String,
        error: rustls::Error,
    },
    /// A trusted root certificate rustls cannot use.
    UnusableRoot { what: String, error: rustls::Error },
    /// The crypto provider supports no safe protocol version.
    Setup(rustls::Error),
    /// Neither trusted roots nor `insecure`.
    NoTrustedRoots,
    /// A self-signed certificate needs at least one name.
    NoHostName,
    /// rcgen could not make the certificate (e.g. a name that is not ASCII).
    SelfSigned {
        names: Vec<String>,
        error: rcgen::Error,
    },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TlsError::*;
        match self {
            Read { what, path, error } => {
                write!(f, "cannot read {what} file {}: {error}", path.display())
            }
            InvalidPem { what, error } => write!(f, "{what}: invalid PEM: {error}"),
            NoCertificate { what } => write!(
                f,
                "{what}: no certificate found (expected a PEM \"CERTIFICATE\" block)"
            ),
            NoPrivateKey { what } => write!(
                f,
                "{what}: no private key found (expected a PEM \"PRIVATE KEY\", \
                 \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block)"
            ),
            KeyMismatch { key, cert } => write!(
                f,
                "{key}: the private key does not match the certificate in {cert}"
            ),
            UnusableKey { key, reason } => write!(f, "{key}: unusable private key: {reason}"),
            Rejected { cert, key, error } => write!(f, "{cert} / {key}: {error}"),
            UnusableRoot { what, error } => write!(f, "{what}: unusable certificate: {error}"),
            Setup(e) => write!(f, "TLS setup failed: {e}"),
            NoTrustedRoots => {
                f.write_str("no trusted roots given (pass root certificates or insecure=true)")
            }
            NoHostName => f.write_str("a self-signed certificate needs at least one host name"),
            SelfSigned { names, error } => write!(
                f,
                "cannot make a self-signed certificate for {names:?}: {error}"
            ),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Read { error, .. } => Some(error),
            TlsError::Rejected { error, .. }
            | TlsError::UnusableRoot { error, .. }
            | TlsError::Setup(error) => Some(error),
            TlsError::SelfSigned { error, .. } => Some(error),
            _ => None,
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// All certificates and the first private key found in `pem`; `what` names
/// the source in errors.
fn parse_pem(
    pem: &[u8],
    what: &str,
) -> Result<(Vec<CertificateDer<'static>>, Option<PrivateKeyDer<'static>>), TlsError> {
    let mut certs = Vec::new();
    let mut key = None;
    for item in rustls_pemfile::read_all(&mut &pem[..]) {
        match item.map_err(|e| TlsError::InvalidPem {
            what: what.to_string(),
            error: e.to_string(),
        })? {
            rustls_pemfile::Item::X509Certificate(cert) => certs.push(cert),
            rustls_pemfile::Item::Pkcs1Key(k) if key.is_none() => key = Some(k.into()),
            rustls_pemfile::Item::Pkcs8Key(k) if key.is_none() => key = Some(k.into()),
            rustls_pemfile::Item::Sec1Key(k) if key.is_none() => key = Some(k.into()),
            _ => {}
        }
    }
    Ok((certs, key))
}

/// Certificates of `pem`, at least one; `what` names the source in errors.
fn certs_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let (certs, _) = parse_pem(pem, what)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what: what.to_string(),
        });
    }
    Ok(certs)
}

fn build_server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_what: &str,
    key_what: &str,
) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = certs_from_pem(cert_pem, cert_what)?;
    let (_, key) = parse_pem(key_pem, key_what)?;
    let key = key.ok_or_else(|| TlsError::NoPrivateKey {
        what: key_what.to_string(),
    })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::KeyMismatch {
                    key: key_what.to_string(),
                    cert: cert_what.to_string(),
                }
            }
            rustls::Error::General(reason) => TlsError::UnusableKey {
                key: key_what.to_string(),
                reason,
            },
            error => TlsError::Rejected {
                cert: cert_what.to_string(),
                key: key_what.to_string(),
                error,
            },
        })?;
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Ok(Arc::new(config))
}

/// Build a rustls `ServerConfig` from a PEM certificate chain file (leaf
/// first) and a PEM private key file (PKCS#8, PKCS#1 or SEC1; the first key
/// in the file is used). Both may be the same file. Errors name the file and
/// what was wrong: missing or unreadable file, invalid PEM, no certificate,
/// no key, unusable key, key not matching the certificate.
pub fn server_config_from_pem_files(
    cert_path: &Path,
    key_path: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let read = |path: &Path, what: &'static str| {
        std::fs::read(path).map_err(|error| TlsError::Read {
            what,
            path: path.to_path_buf(),
            error,
        })
    };
    let cert_pem = read(cert_path, "certificate")?;
    let key_pem = read(key_path, "private key")?;
    build_server_config(
        &cert_pem,
        &key_pem,
        &format!("certificate file {}", cert_path.display()),
        &format!("private key file {}", key_path.display()),
    )
}

/// Same as [`server_config_from_pem_files`] from in-memory PEM bytes.
pub fn server_config_from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<ServerConfig>, TlsError> {
    build_server_config(cert_pem, key_pem, "certificate PEM", "private key PEM")
}

/// A self-signed certificate and its private key.
#[derive(Clone)]
pub struct SelfSigned {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (ECDSA P-256, PKCS#8), PEM.
    pub key_pem: String,
    /// SHA-256 of the DER certificate as uppercase hex pairs joined by `:`
    /// (`AB:CD:...`), the form browsers and `openssl x509 -fingerprint` show.
    pub sha256_fingerprint: String,
}

impl std::fmt::Debug for SelfSigned {
    /// Never prints the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSigned")
            .field("sha256_fingerprint", &self.sha256_fingerprint)
            .finish_non_exhaustive()
    }
}

/// `AB:CD:...` uppercase hex SHA-256 of `der`.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A self-signed certificate made with rcgen for the given host names and IP
/// addresses (e.g. `["localhost", "127.0.0.1", "::1"]`; IP literals become IP
/// subject alternative names). The first name is also the common name.
pub fn self_signed(names: &[String]) -> Result<SelfSigned, TlsError> {
    let first = names.first().ok_or(TlsError::NoHostName)?;
    let fail = |error: rcgen::Error| TlsError::SelfSigned {
        names: names.to_vec(),
        error,
    };
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(fail)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, first.as_str());
    let key_pair = rcgen::KeyPair::generate().map_err(fail)?;
    let cert = params.self_signed(&key_pair).map_err(fail)?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: key_pair.serialize_pem(),
        sha256_fingerprint: sha256_fingerprint(cert.der()),
    })
}

/// Client configs for the tests (and only the tests): trusting given roots,
/// or any certificate at all. Not part of the production crate.
#[cfg(test)]
pub(crate) mod test_client {
    use super::*;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{ServerName, UnixTime};
    use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

    /// A client config that trusts the certificates in `roots_pem`, or, with
    /// `insecure`, any server certificate at all (for tests and benchmarks
    /// against self-signed servers; handshake signatures are still checked, and
    /// `roots_pem` is ignored). Without roots and without `insecure` there is
    /// nothing to trust, which is an error.
    pub(crate) fn client_config(
        roots_pem: Option<&[u8]>,
        insecure: bool,
    ) -> Result<Arc<ClientConfig>, TlsError> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?;
        let mut config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert { provider }))
                .with_no_client_auth()
        } else {
            let pem = roots_pem.ok_or(TlsError::NoTrustedRoots)?;
            let mut roots = RootCertStore::empty();
            for cert in certs_from_pem(pem, "trusted roots PEM")? {
                roots.add(cert).map_err(|error| TlsError::UnusableRoot {
                    what: "trusted roots PEM".to_string(),
                    error,
                })?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        Ok(Arc::new(config))
    }

    /// Accepts every server certificate, but still verifies the handshake
    /// signatures with the provider's algorithms (so the peer must hold the key
    /// of the certificate it sent).
    #[derive(Debug)]
    pub(crate) struct AcceptAnyServerCert {
        pub(crate) provider: Arc<CryptoProvider>,
    }

    impl ServerCertVerifier for AcceptAnyServerCert {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_client::{client_config, AcceptAnyServerCert};
    use super::*;
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, ServerConnection};
    use std::io::{Read, Write};

    fn names() -> Vec<String> {
        ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec()
    }

    /// Bytes received in plaintext by each end.
    #[derive(Default)]
    struct Received {
        client: Vec<u8>,
        server: Vec<u8>,
    }

    /// Feed `records` to `conn` in whatever pieces it takes, processing them
    /// and collecting the plaintext as it goes.
    fn deliver<D>(
        conn: &mut rustls::ConnectionCommon<D>,
        mut records: &[u8],
        plain: &mut Vec<u8>,
    ) -> Result<(), rustls::Error> {
        while !records.is_empty() {
            conn.read_tls(&mut records).unwrap();
            conn.process_new_packets()?;
            read_plain(&mut conn.reader(), plain);
        }
        Ok(())
    }

    /// Move TLS records between the two ends until neither has anything to
    /// say. Returns the first error either side reports.
    fn pump(
        client: &mut ClientConnection,
        server: &mut ServerConnection,
        received: &mut Received,
    ) -> Result<(), rustls::Error> {
        for _ in 0..1000 {
            let mut moved = false;
            let mut buf = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut buf).unwrap();
            }
            if !buf.is_empty() {
                moved = true;
                deliver(server, &buf, &mut received.server)?;
            }
            let mut buf = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut buf).unwrap();
            }
            if !buf.is_empty() {
                moved = true;
                deliver(client, &buf, &mut received.client)?;
            }
            if !moved {
                return Ok(());
            }
        }
        panic!("TLS pump did not settle");
    }

    fn read_plain(conn: &mut dyn Read, into: &mut Vec<u8>) {
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => into.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Full handshake plus application data both ways.
    fn handshake_and_talk(
        server_config: Arc<ServerConfig>,
        client_config: Arc<ClientConfig>,
        server_name: &str,
    ) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(server_name.to_string()).unwrap();
        let mut client = ClientConnection::new(client_config, name).unwrap();
        let mut server = ServerConnection::new(server_config).unwrap();
        let mut received = Received::default();
        pump(&mut client, &mut server, &mut received)?;
        assert!(!client.is_handshaking());
        assert!(!server.is_handshaking());
        assert_eq!(client.alpn_protocol(), Some(ALPN_HTTP_1_1));
        assert_eq!(server.alpn_protocol(), Some(ALPN_HTTP_1_1));

        let request = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
        client.writer().write_all(request).unwrap();
        pump(&mut client, &mut server, &mut received)?;
        assert_eq!(received.server, request);

        // More than rustls buffers at once: write and pump in turns.
        let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let mut rest = &big[..];
        while !rest.is_empty() {
            let n = server.writer().write(rest).unwrap();
            assert!(n > 0);
            rest = &rest[n..];
            pump(&mut client, &mut server, &mut received)?;
        }
        assert_eq!(received.client, big);
        Ok(())
    }

    #[test]
    fn self_signed_certificate() {
        let ss = self_signed(&names()).unwrap();
        assert!(ss.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(ss.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        // 32 bytes: 64 uppercase hex digits and 31 colons.
        let fp = &ss.sha256_fingerprint;
        assert_eq!(fp.len(), 95);
        assert!(fp
            .split(':')
            .all(|p| p.len() == 2 && p.chars().all(|c| matches!(c, '0'..='9' | 'A'..='F'))));
        let der = certs_from_pem(ss.cert_pem.as_bytes(), "t").unwrap();
        assert_eq!(sha256_fingerprint(&der[0]), *fp);
        assert!(!format!("{ss:?}").contains("PRIVATE"));
        // Each call makes a new key.
        assert_ne!(self_signed(&names()).unwrap().sha256_fingerprint, *fp);

        let config = server_config_from_pem(ss.cert_pem.as_bytes(), ss.key_pem.as_bytes()).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);

        assert!(matches!(self_signed(&[]), Err(TlsError::NoHostName)));
        assert!(self_signed(&["bücher.example".to_string()]).is_err());
    }

    #[test]
    fn handshake_with_trusted_root() {
        let ss = self_signed(&names()).unwrap();
        let server = server_config_from_pem(ss.cert_pem.as_bytes(), ss.key_pem.as_bytes()).unwrap();
        let client = client_config(Some(ss.cert_pem.as_bytes()), false).unwrap();
        for name in ["localhost", "127.0.0.1", "::1"] {
            handshake_and_talk(server.clone(), client.clone(), name).unwrap();
        }
        // A name the certificate does not cover is refused.
        let err = handshake_and_talk(server, client, "example.com").unwrap_err();
        assert!(
            matches!(err, rustls::Error::InvalidCertificate(_)),
            "{err:?}"
        );
    }

    #[test]
    fn untrusted_certificate_is_refused() {
        let ss = self_signed(&names()).unwrap();
        let other = self_signed(&names()).unwrap();
        let server = server_config_from_pem(ss.cert_pem.as_bytes(), ss.key_pem.as_bytes()).unwrap();
        let client = client_config(Some(other.cert_pem.as_bytes()), false).unwrap();
        let err = handshake_and_talk(server, client, "localhost").unwrap_err();
        assert!(
            matches!(err, rustls::Error::InvalidCertificate(_)),
            "{err:?}"
        );
    }

    #[test]
    fn insecure_client_accepts_anything() {
        let ss = self_signed(&names()).unwrap();
        let server = server_config_from_pem(ss.cert_pem.as_bytes(), ss.key_pem.as_bytes()).unwrap();
        let client = client_config(None, true).unwrap();
        handshake_and_talk(server.clone(), client.clone(), "localhost").unwrap();
        handshake_and_talk(server, client, "not-the-name.example").unwrap();
        // Roots are ignored when insecure.
        assert!(client_config(Some(b"garbage"), true).is_ok());
    }

    #[test]
    fn tls12_handshake() {
        // The insecure verifier must also check TLS 1.2 signatures.
        let provider = provider();
        let mut config = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert { provider }))
            .with_no_client_auth();
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        let client = Arc::new(config);
        let ss = self_signed(&names()).unwrap();
        for (cert, key) in [
            (ss.cert_pem.as_str(), ss.key_pem.as_str()),
            (fixtures::RSA_CERT, fixtures::RSA_PKCS1_KEY),
        ] {
            let server = server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
            handshake_and_talk(server, client.clone(), "localhost").unwrap();
        }
    }

    #[test]
    fn client_config_errors() {
        let err = client_config(None, false).unwrap_err().to_string();
        assert!(err.contains("no trusted roots"), "{err}");
        let err = client_config(Some(b"nothing here"), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no certificate found"), "{err}");
        let ss = self_signed(&names()).unwrap();
        let err = client_config(Some(ss.key_pem.as_bytes()), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no certificate found"), "{err}");
    }

    #[test]
    fn pkcs1_and_sec1_keys() {
        let client = client_config(None, true).unwrap();
        for (cert, key) in [
            (fixtures::RSA_CERT, fixtures::RSA_PKCS1_KEY),
            (fixtures::EC_CERT, fixtures::EC_SEC1_KEY),
        ] {
            let server = server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
            handshake_and_talk(server, client.clone(), "localhost").unwrap();
        }
        // Certificate and key concatenated in one PEM work for both roles.
        let both = format!("{}{}", fixtures::EC_SEC1_KEY, fixtures::EC_CERT);
        server_config_from_pem(both.as_bytes(), both.as_bytes()).unwrap();
    }

    #[test]
    fn bad_pem_is_explained() {
        let ss = self_signed(&names()).unwrap();
        let other = self_signed(&names()).unwrap();
        let cert = ss.cert_pem.as_bytes();
        let key = ss.key_pem.as_bytes();

        let err = server_config_from_pem(b"", key).unwrap_err().to_string();
        assert!(
            err.contains("certificate PEM: no certificate found"),
            "{err}"
        );
        let err = server_config_from_pem(key, key).unwrap_err().to_string();
        assert!(err.contains("no certificate found"), "{err}");
        let err = server_config_from_pem(cert, cert).unwrap_err().to_string();
        assert!(
            err.contains("private key PEM: no private key found"),
            "{err}"
        );
        let err = server_config_from_pem(
            cert,
            b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("private key PEM: invalid PEM"), "{err}");
        let err = server_config_from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA", key)
            .unwrap_err()
            .to_string();
        assert!(err.contains("certificate PEM: invalid PEM"), "{err}");
        let err = server_config_from_pem(cert, other.key_pem.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not match the certificate"), "{err}");
        assert!(matches!(
            server_config_from_pem(cert, other.key_pem.as_bytes()),
            Err(TlsError::KeyMismatch { .. })
        ));
        assert!(matches!(
            server_config_from_pem(cert, cert),
            Err(TlsError::NoPrivateKey { .. })
        ));
        // Well-formed PEM around bytes that are not a key.
        let err = server_config_from_pem(
            cert,
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("private key PEM"), "{err}");
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new() -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "scanbridge-tls-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn config_from_files() {
        let dir = TempDir::new();
        let ss = self_signed(&names()).unwrap();
        let cert_path = dir.0.join("cert.pem");
        let key_path = dir.0.join("key.pem");
        std::fs::write(&cert_path, &ss.cert_pem).unwrap();
        std::fs::write(&key_path, &ss.key_pem).unwrap();
        let server = server_config_from_pem_files(&cert_path, &key_path).unwrap();
        let client = client_config(Some(ss.cert_pem.as_bytes()), false).unwrap();
        handshake_and_talk(server, client, "localhost").unwrap();

        let missing = dir.0.join("missing.pem");
        let err = server_config_from_pem_files(&missing, &key_path)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot read certificate file"), "{err}");
        assert!(err.contains("missing.pem"), "{err}");
        let err = server_config_from_pem_files(&cert_path, &missing)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot read private key file"), "{err}");

        assert!(matches!(
            server_config_from_pem_files(&missing, &key_path),
            Err(TlsError::Read {
                what: "certificate",
                ..
            })
        ));
        // Swapped files: the error names the file that lacks what it should hold.
        let err = server_config_from_pem_files(&key_path, &cert_path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("key.pem"), "{err}");
        assert!(err.contains("no certificate found"), "{err}");
    }

    /// Test-only keys and certificates made with `openssl` (valid until
    /// 2126), for the key formats rcgen does not produce.
    mod fixtures {
        pub const RSA_PKCS1_KEY: &str = "\
-----BEGIN RSA PRIVATE KEY-----\n\
MIIEowIBAAKCAQEAvOivvypfMIjhJMcOYcPUemZ2AvbqUXzWEXhdQxBhjaZbK6Ci\n\
nsspMJgaal1aiouZGKJZB/Ge+JePodIJ4b7YaM9zIpNuOo/fs9B/uZCfBTRlXWRI\n\
Z1zYZv54B6gLLo91SUJ5sH9/FD8IHV6ansN6t3u3Zavlit7AoByQu+8slM4t38B2\n\
A1vovM/p1BLQc08vRmbrDjGQEmswvGKP6wLpxKWNQITJ9NgIgqGThJNW97Qo9CDd\n\
bQHRDa4f2CrQEZs+4A6qlKLTPU2UecMp0Zz+qW9jjl//eX+5+H9H8Xc/imxkpsc+\n\
rBL7O4TN4RgLKTl/AOF4E4j9yJL/EjeGmBlvfQIDAQABAoIBABVjM2aYHv/T4h2e\n\
VcVW0mBrPPLX+VkcIkZcaL6rhPKbF4OzI5uJJ9LYcwErgZE2/dsj96LRGxeiXSt2\n\
fWeWtPykzrBm8wS5U5vm6qxb2yJ6jKa2sFssz/6qfR9syfCjDaXWMLMoCX9a0DSM\n\
Xe1vTJ5SaPCfYL/IuWlHN/xht0aUy+X5+BGC5WZKwUzecMqiTPRJEpfHg4+Wyu9q\n\
KBP1pH75zFI+No7XHeBrjvoIcMtoqxeTAVSIH8m2RA/MwzaCwEmcZl/45jmtB05k\n\
ocp9DQv/vI/JuWQbj3+LcpfVxX1TcPYcqeofteDHg2yKhUdk59WYhfj6VmB9KGna\n\
pM03SxcCgYEA8jWtP3hcvLbDV11Za0jdrfikzKCFcrzyGU5yaAel1N8s7ICVBatc\n\
KUFwBKTzQ5GOx7ys6m9FRj/soZrpD2M4bb4hm0iBaphVF+qhgctrUKWei51bJZ1S\n\
wopnCIswPc70ec9R/f0/slmKCdkigI8YwI8bfIoppcgKjjU3nNsDWUsCgYEAx6og\n\
KUt5TRH22ZAHaRLOZiXJYUgIVqlOhVQsYShcOHm48O5nbU4rjh8kaR0SGA/edepO\n\
/rWH52hHCSAUcfd37vVn83hXXP9SrPxMXo8sRfAB7qSdml1dYX9Y/2TifDG4mVKh\n\
zLv+vXRKIAd0fJdlV/BGSbCLblS5AwCal5mC5VcCgYBz6RIe1Lf0q7Xx4j9/oyBL\n\
ODmNn6gdT6TATZVciYRnyeHS0HoAe5AgQiucXV/5Tvg4R+esTVGmm8LfV6X+8im4\n\
AwxMJregToQybNubpMCXmJq2D7jl2FMZvGgwY4PToG3IuVlwpjhMXqM7sUjcox5i\n\
UFoEEI57wq6ifX8+tmT03wKBgEv+hJ8zCsg6vimwmCF19vkKCMvuDr5tUmWM1Bdm\n\
tTMJoUqScus3hXxifglD908ROyrGM6rejQuWtPLUMvPtrMhWv2n7s8TBqUYOAUM8\n\
Wy2DXDjojtPiFVi2j7klPM7oXcp9mPfD1gFl8ZCfRcbmGLyPxzDk8SzdMk3iPPTW\n\
iOuhAoGBAM13PbSofBvu9goEcb81k9w1zTiwCEAJih6ufyW1QeE2iQXfR+6TpXoO\n\
tAlQzxXK1FHseXSsytsH6XL0WnrgpuQGW+TxjeeV9YWPDo0DSHTRUbeXqa5v/Mew\n\
b9AT+GtTZ0lPSz4jgNYz7rXf1y0WYU3LDTlkTbNcv5Bo/aGLzwjF\n\
-----END RSA PRIVATE KEY-----\n\
";

        pub const RSA_CERT: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIDITCCAgmgAwIBAgIUNrQpQuI/mRyy27mF2VTErT0nBMIwDQYJKoZIhvcNAQEL\n\
BQAwFDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMTIzMzE1NVoYDzIxMjYx\n\
MDI4MjMzMTU1WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwggEiMA0GCSqGSIb3DQEB\n\
AQUAA4IBDwAwggEKAoIBAQC86K+/Kl8wiOEkxw5hw9R6ZnYC9upRfNYReF1DEGGN\n\
plsroKKeyykwmBpqXVqKi5kYolkH8Z74l4+h0gnhvthoz3Mik246j9+z0H+5kJ8F\n\
NGVdZEhnXNhm/ngHqAsuj3VJQnmwf38UPwgdXpqew3q3e7dlq+WK3sCgHJC77yyU\n\
zi3fwHYDW+i8z+nUEtBzTy9GZusOMZASazC8Yo/rAunEpY1AhMn02AiCoZOEk1b3\n\
tCj0IN1tAdENrh/YKtARmz7gDqqUotM9TZR5wynRnP6pb2OOX/95f7n4f0fxdz+K\n\
bGSmxz6sEvs7hM3hGAspOX8A4XgTiP3Ikv8SN4aYGW99AgMBAAGjaTBnMB0GA1Ud\n\
DgQWBBSBv4edizPuVLYr/E8FRq64SXdAQTAfBgNVHSMEGDAWgBSBv4edizPuVLYr\n\
/E8FRq64SXdAQTAPBgNVHRMBAf8EBTADAQH/MBQGA1UdEQQNMAuCCWxvY2FsaG9z\n\
dDANBgkqhkiG9w0BAQsFAAOCAQEAfBE6eDSpHrQ+ehE21uZdHQGe5zbORJUML5pQ\n\
Sof4TxqX4n0xVALJSpwF5AlCMQClLtBERIlqbReThX2pQ7GARJKP1YRAVOJw9U+E\n\
0Rh0YaTV/xUgp/90ZPo4y6zw4yB85d9EiJmDbu+CE4iRYi2eAiEp6CtGS0LGOFju\n\
h3ALoB2usObVOneT57W7LMBJYDeTNIHoFeU3wS0xqPqOUPxbVioFG4UolZxRpLaE\n\
voqnMkEWv/ov7Zq0ivSt5l7PTwkI3JtdPf4GZ67uc45D+AEe1HZOzKO9c0KETTT5\n\
Y6FSggrdKLyhqg3wdSNbAC1bf+6uqysOQm4ziKqaZ/sfoDf82A==\n\
-----END CERTIFICATE-----\n\
";

        pub const EC_SEC1_KEY: &str = "\
-----BEGIN EC PRIVATE KEY-----\n\
MHcCAQEEIDb8aEwZC9jae+JwtOkCgVyMOUo9zSepZhbPqSWXiOkvoAoGCCqGSM49\n\
AwEHoUQDQgAEz72A5ytXN6LHfARVIFsddDsrSu9TvZIWl/qgZAFUDp3wgSvpgF45\n\
TRi8IF1eKT6AgNHYsCopliMoeljeBKI2jg==\n\
-----END EC PRIVATE KEY-----\n\
";

        pub const EC_CERT: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBlTCCATugAwIBAgIUNIeoETak20w61UBinS7IOfWZ26MwCgYIKoZIzj0EAwIw\n\
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMTIzMzE1NVoYDzIxMjYxMDI4\n\
MjMzMTU1WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO\n\
PQMBBwNCAATPvYDnK1c3osd8BFUgWx10OytK71O9khaX+qBkAVQOnfCBK+mAXjlN\n\
GLwgXV4pPoCA0diwKimWIyh6WN4EojaOo2kwZzAdBgNVHQ4EFgQUwxBZt3KMAjwD\n\
mxNx2OLxakfe+RgwHwYDVR0jBBgwFoAUwxBZt3KMAjwDmxNx2OLxakfe+RgwDwYD\n\
VR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglsb2NhbGhvc3QwCgYIKoZIzj0EAwID\n\
SAAwRQIhAKEuVKyz9ZK2riUXMoxlRDulDAW5m3IQYL0diOCtRIkzAiA9tx1MOSi0\n\
L/WutUiz05xPDVyZjsD4j46aqMo5BrZ6Ow==\n\
-----END CERTIFICATE-----\n\
";
    }
}
