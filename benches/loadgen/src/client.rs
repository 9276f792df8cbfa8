//! One HTTP/1.1 keep-alive connection to the server, reopened after a failure.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What went wrong below HTTP (no status to report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transport {
    /// The TCP connection or the HTTP handshake failed.
    Connect,
    /// The request did not complete within the timeout.
    Timeout,
    /// The connection broke while sending or reading.
    Io,
}

impl Transport {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Connect => "connect",
            Transport::Timeout => "timeout",
            Transport::Io => "io",
        }
    }
}

/// A connection that reconnects when it has to.
pub struct Conn {
    addr: SocketAddr,
    timeout: Duration,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// A connection to `addr` (opened on first use).
    pub fn new(addr: SocketAddr, timeout: Duration) -> Conn {
        Conn {
            addr,
            timeout,
            sender: None,
        }
    }

    async fn open(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, Transport> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.sender = None;
            let stream = TcpStream::connect(self.addr)
                .await
                .map_err(|_| Transport::Connect)?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|_| Transport::Connect)?;
            tokio::spawn(async move {
                // Ends when the connection closes; its errors show up on the sender.
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        self.sender.as_mut().ok_or(Transport::Connect)
    }

    async fn exchange(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), Transport> {
        let sender = self.open().await?;
        sender.ready().await.map_err(|_| Transport::Io)?;
        let response = sender.send_request(req).await.map_err(|_| Transport::Io)?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|_| Transport::Io)?
            .to_bytes();
        Ok((status, body))
    }

    /// Sends one request and reads the whole answer, within the timeout. After a
    /// failure the connection is dropped and the next request opens a new one.
    pub async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), Transport> {
        let result = match tokio::time::timeout(self.timeout, self.exchange(req)).await {
            Ok(r) => r,
            Err(_) => Err(Transport::Timeout),
        };
        if result.is_err() {
            self.sender = None;
        }
        result
    }
}
