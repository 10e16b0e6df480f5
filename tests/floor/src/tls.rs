//! The floor of a first request over TLS (`make bench`): the hello world of
//! `bench-floor` that also makes one HTTPS request on its first invoke — a
//! TLS handshake and a `GET /` to `FLOOR_TLS_ADDR` (`host:port`) — trusting
//! the roots `rustls-native-certs` loads (`SSL_CERT_FILE`), as the functions
//! do with `TETHER_TLS_ROOTS=system`. What any Rust function that talks to
//! one HTTPS service costs at least on its cold start.

use lambda_http::{Body, Error, Request, Response, service_fn};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, pki_types::ServerName};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let address = std::env::var("FLOOR_TLS_ADDR")?;
    let host = address
        .rsplit_once(':')
        .map_or("localhost", |(h, _)| h)
        .to_owned();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let connector = TlsConnector::from(Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ));
    let fetched = OnceCell::new();
    let (address, host, connector, fetched) = (&address, &host, &connector, &fetched);
    lambda_http::run(service_fn(move |_: Request| async move {
        fetched
            .get_or_try_init(|| fetch(connector, address, host))
            .await?;
        Ok::<_, Error>(Response::new(Body::from("hello")))
    }))
    .await
}

/// One request over a new TLS connection; the answer's head is enough.
async fn fetch(connector: &TlsConnector, address: &str, host: &str) -> Result<(), Error> {
    let tcp = TcpStream::connect(address).await?;
    tcp.set_nodelay(true)?;
    let mut tls = connector
        .connect(ServerName::try_from(host.to_owned())?, tcp)
        .await?;
    tls.write_all(format!("GET / HTTP/1.1\r\nhost: {host}\r\n\r\n").as_bytes())
        .await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(())
}
