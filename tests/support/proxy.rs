//! Loopback TCP servers in front of (or instead of) the emulator: the
//! transport faults and timings DynamoDB Local cannot produce itself.

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// Hands every connection accepted on a free loopback port within
/// `lifetime` to `serve`; returns the port's `http://` address.
pub async fn serve_for(
    lifetime: Duration,
    mut serve: impl FnMut(TcpStream) + Send + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let deadline = Instant::now() + lifetime;
        while Instant::now() < deadline {
            let accepted = tokio::time::timeout(Duration::from_secs(1), listener.accept());
            if let Ok(Ok((socket, _))) = accepted.await {
                serve(socket);
            }
        }
    });
    format!("http://{address}")
}

/// A proxy to the emulator for `lifetime`: each connection is joined to one
/// of its own, and each direction copied chunk by chunk through the filters
/// `filters()` makes for that connection — `(requests, answers)` — an answer
/// held `answer_delay` first. A filter answering `false` closes its
/// direction without passing the chunk on.
pub async fn to_emulator<R, A>(
    lifetime: Duration,
    answer_delay: Duration,
    filters: impl Fn() -> (R, A) + Send + 'static,
) -> String
where
    R: FnMut(&[u8]) -> bool + Send + 'static,
    A: FnMut(&[u8]) -> bool + Send + 'static,
{
    let upstream = crate::dynamodb_endpoint()
        .trim_start_matches("http://")
        .to_owned();
    serve_for(lifetime, move |client| {
        let upstream = upstream.clone();
        let (requests, answers) = filters();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                return;
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(pump(client_read, server_write, Duration::ZERO, requests));
            tokio::spawn(pump(server_read, client_write, answer_delay, answers));
        });
    })
    .await
}

/// Copies `from` to `to` chunk by chunk, each held `delay` and then let
/// through while `filter` says so.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Duration,
    mut filter: impl FnMut(&[u8]) -> bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if !filter(&buf[..n]) || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
}
