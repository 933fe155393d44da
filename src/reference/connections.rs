//! The `closes-connections` fault: a listener whose connections answer one request and then
//! close under the next one without a word (no `Connection: close`), the way servers behind
//! some load balancers drop idle keep-alive connections. A client that sends a second request
//! on such a connection sees it reset before any answer.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Accepts TCP connections that serve one response each.
pub struct OneResponseListener(pub TcpListener);

impl axum::serve::Listener for OneResponseListener {
    type Io = OneResponse;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (OneResponse, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    return (
                        OneResponse {
                            stream,
                            wrote: false,
                            answered: false,
                        },
                        addr,
                    )
                }
                // Out of file descriptors and the like: wait, as axum's own listener does.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// A connection that, once a response has been written and flushed, reads the next request's
/// bytes as the end of the stream: the server then closes it with the request unread.
pub struct OneResponse {
    stream: TcpStream,
    wrote: bool,
    answered: bool,
}

impl AsyncRead for OneResponse {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.answered {
            return Pin::new(&mut self.stream).poll_read(cx, buf);
        }
        // Wait for the client's next bytes, then report the end of the stream instead of them.
        let mut scratch = [0u8; 1024];
        let mut sink = ReadBuf::new(&mut scratch);
        match Pin::new(&mut self.stream).poll_read(cx, &mut sink) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

impl AsyncWrite for OneResponse {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.wrote = true;
        Pin::new(&mut self.stream).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.stream).poll_flush(cx);
        if flushed.is_ready() && self.wrote {
            self.answered = true;
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
