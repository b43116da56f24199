//! TLS for Active Leasequery (RFC 7724 §5.1, §7.2, §8.1): mutually authenticated
//! rustls configurations (ring provider, TLS 1.2 and 1.3), an allow-list of
//! requestor certificates, and test certificates made with rcgen.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("{} holds no {what}", path.display())]
    Empty { path: PathBuf, what: &'static str },
    #[error("TLS configuration: {0}")]
    Config(String),
    #[error("certificate generation: {0}")]
    Generate(String),
    #[error("cannot write {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
}

/// Every certificate in a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            path: path.to_path_buf(),
            what: "certificate",
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn roots(ca: &[CertificateDer<'static>]) -> Result<Arc<RootCertStore>, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in ca {
        store
            .add(cert.clone())
            .map_err(|e| TlsError::Config(format!("CA certificate: {e}")))?;
    }
    Ok(Arc::new(store))
}

/// Client certificates must chain to the CA and, when an allow-list is given,
/// be on it (RFC 7724 §8.1: the server decides from the certificate whether the
/// requestor may use Active Leasequery). A refusal aborts the handshake.
#[derive(Debug)]
struct AllowListVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Option<Vec<CertificateDer<'static>>>,
}

impl ClientCertVerifier for AllowListVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        match &self.allowed {
            Some(list) if !list.iter().any(|c| c.as_ref() == end_entity.as_ref()) => Err(
                rustls::Error::General("requestor certificate is not on the allow-list".into()),
            ),
            _ => Ok(verified),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The TLS versions an endpoint offers: 1.2 and 1.3 unless a reference
/// variant narrows them (RFC 7724 §8.1 asks for TLS 1.2 or later, AMB-11).
pub type Versions = &'static [&'static rustls::SupportedProtocolVersion];

/// TLS 1.2 and 1.3.
pub const ALL_VERSIONS: Versions = rustls::ALL_VERSIONS;

/// Server side: its certificate chain and key, the CA that signs requestor
/// certificates, and an optional allow-list of requestor certificates.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: &[CertificateDer<'static>],
    allowed_clients: Option<Vec<CertificateDer<'static>>>,
    versions: Versions,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let inner = WebPkiClientVerifier::builder_with_provider(roots(client_ca)?, provider())
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let verifier = Arc::new(AllowListVerifier {
        inner,
        allowed: allowed_clients,
    });
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(Arc::new(config))
}

/// A server that asks for no client certificate: not RFC 7724 (mutual
/// authentication is mandatory), only for the reference's deliberate defects.
pub fn server_config_without_client_auth(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    versions: Versions,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(Arc::new(config))
}

/// Requestor side: the CA that signs server certificates, and the requestor's
/// own certificate and key (mutual authentication is mandatory in RFC 7724).
pub fn client_config(
    server_ca: &[CertificateDer<'static>],
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    versions: Versions,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots(server_ca)?)
        .with_client_auth_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(Arc::new(config))
}

/// Accepts any server certificate: only for the reference requestor's
/// deliberate defect (RFC 7724 §7.2 requires validation).
#[derive(Debug)]
struct AcceptAnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A requestor that trusts every server certificate (a deliberate defect).
pub fn client_config_trusting_anyone(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    versions: Versions,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider())))
        .with_client_auth_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(Arc::new(config))
}

/// The name the requestor checks in the server certificate.
pub fn server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(name.to_string())
        .map_err(|e| TlsError::Config(format!("server name '{name}': {e}")))
}

/// A certificate and its key, PEM encoded.
#[derive(Debug, Clone)]
pub struct PemPair {
    pub cert: String,
    pub key: String,
}

impl PemPair {
    pub fn chain(&self) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        CertificateDer::pem_slice_iter(self.cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Config(e.to_string()))
    }

    pub fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsError> {
        PrivateKeyDer::from_pem_slice(self.key.as_bytes())
            .map_err(|e| TlsError::Config(e.to_string()))
    }
}

/// Writes `bytes` to `path` (replacing it) with permission bits `mode`.
fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.write_all(bytes)
}

/// A small PKI for tests and for `alq-harness certs`: a CA; a server certificate
/// for `localhost` and 127.0.0.1; an authorised requestor; a second requestor the
/// CA signed but that is not on the allow-list; and a self-signed requestor no
/// one trusts.
#[derive(Debug, Clone)]
pub struct TestPki {
    pub ca: PemPair,
    pub server: PemPair,
    pub client: PemPair,
    pub other_client: PemPair,
    pub untrusted_client: PemPair,
    /// A self-signed server certificate for `localhost` no one trusts.
    pub untrusted_server: PemPair,
}

fn gen_err(e: rcgen::Error) -> TlsError {
    TlsError::Generate(e.to_string())
}

fn leaf(
    names: &[&str],
    cn: &str,
    issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
) -> Result<PemPair, TlsError> {
    let key = rcgen::KeyPair::generate().map_err(gen_err)?;
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .map_err(gen_err)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params.signed_by(&key, issuer).map_err(gen_err)?;
    Ok(PemPair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

fn self_signed(names: &[&str]) -> Result<PemPair, TlsError> {
    let key = rcgen::KeyPair::generate().map_err(gen_err)?;
    let cert =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .map_err(gen_err)?
            .self_signed(&key)
            .map_err(gen_err)?;
    Ok(PemPair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

impl TestPki {
    pub fn generate() -> Result<Self, TlsError> {
        let ca_key = rcgen::KeyPair::generate().map_err(gen_err)?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "alq-harness test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(gen_err)?;
        let ca = PemPair {
            cert: ca_cert.pem(),
            key: ca_key.serialize_pem(),
        };
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let server = leaf(&["localhost", "127.0.0.1"], "alq-harness server", &issuer)?;
        let client = leaf(
            &["requestor.alq-harness.test"],
            "alq-harness requestor",
            &issuer,
        )?;
        let other_client = leaf(
            &["other.alq-harness.test"],
            "alq-harness other requestor",
            &issuer,
        )?;
        Ok(TestPki {
            ca,
            server,
            client,
            other_client,
            untrusted_client: self_signed(&["untrusted.alq-harness.test"])?,
            untrusted_server: self_signed(&["localhost", "127.0.0.1"])?,
        })
    }

    /// Writes `ca.pem`, `server.pem`, `server.key`, `client.pem`, `client.key`,
    /// `other-client.pem`, `other-client.key`, `untrusted-client.pem` and
    /// `untrusted-client.key` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, TlsError> {
        std::fs::create_dir_all(dir).map_err(|e| TlsError::Write {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let files = [
            ("ca.pem", &self.ca.cert),
            ("server.pem", &self.server.cert),
            ("server.key", &self.server.key),
            ("client.pem", &self.client.cert),
            ("client.key", &self.client.key),
            ("other-client.pem", &self.other_client.cert),
            ("other-client.key", &self.other_client.key),
            ("untrusted-client.pem", &self.untrusted_client.cert),
            ("untrusted-client.key", &self.untrusted_client.key),
        ];
        let mut written = Vec::new();
        for (name, text) in files {
            let path = dir.join(name);
            // Private keys are for their owner only, from the moment they
            // exist; an existing file's mode is set the same.
            let mode = if name.ends_with(".key") { 0o600 } else { 0o644 };
            write_with_mode(&path, text.as_bytes(), mode).map_err(|e| TlsError::Write {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            written.push(path);
        }
        Ok(written)
    }
}

/// The secrets of every TLS session made with a config that logs to it, as
/// NSS key log lines (`CLIENT_RANDOM ...`, `CLIENT_HANDSHAKE_TRAFFIC_SECRET
/// ...`): what Wireshark needs to read a capture of those sessions.
#[derive(Debug, Default)]
pub struct KeyLogLines(std::sync::Mutex<Vec<String>>);

impl KeyLogLines {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl rustls::KeyLog for KeyLogLines {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let line = format!("{label} {} {}", hex(client_random), hex(secret));
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    fn will_log(&self, _label: &str) -> bool {
        true
    }
}
