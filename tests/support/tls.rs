//! A TLS terminator on loopback in front of a plain-HTTP server (DynamoDB
//! Local), so a benchmark can measure what a real first request pays: the
//! handshake with an HTTPS endpoint, as against AWS. Its certificate is made
//! here (a throwaway CA and a leaf for `127.0.0.1`/`localhost`, RSA-2048
//! like the certificates of AWS's endpoints); clients trust it through
//! `SSL_CERT_FILE` (the functions with `TETHER_TLS_ROOTS=system`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A running terminator.
pub struct Terminator {
    /// Where it listens (`127.0.0.1:<port>`).
    pub address: SocketAddr,
    /// The PEM file of the CA that signed its certificate.
    pub ca_file: PathBuf,
}

impl Terminator {
    /// `https://<address>`, for `AWS_ENDPOINT_URL_DYNAMODB`.
    pub fn url(&self) -> String {
        format!("https://{}", self.address)
    }
}

fn key_pair() -> rcgen::KeyPair {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("generate an RSA-2048 key")
}

/// Starts a terminator forwarding each connection to `upstream`
/// (`host:port`, plain TCP) on the current tokio runtime; the CA's PEM is
/// written into `dir`.
pub async fn start(upstream: String, dir: &Path) -> Terminator {
    let ca_key = key_pair();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Tether bench CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).expect("self-sign the CA");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = key_pair();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .expect("sign the leaf");
    std::fs::create_dir_all(dir).unwrap();
    let ca_file = dir.join("bench-ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();

    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .expect("a server configuration");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                let _ = client.set_nodelay(true);
                let Ok(mut tls) = acceptor.accept(client).await else {
                    return;
                };
                let Ok(mut server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = server.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
            });
        }
    });
    Terminator { address, ca_file }
}
