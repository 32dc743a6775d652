//! The TCP stream under an SSH connection, acknowledging at once what it receives.
//!
//! sshd leaves Nagle's algorithm on for sessions without a terminal, so it holds a small
//! packet back while an earlier one is not yet acknowledged; Linux, seeing an interactive
//! exchange, delays its acknowledgements by up to 40 ms. When sshd answers with two writes
//! in a row (after authentication it sends its host keys, then the channel's confirmation)
//! the client waits for the second one until its own delayed acknowledgement goes out: 40 ms
//! per connection, every host, measured with strace (see docs/performance.md). Asking the
//! kernel for an immediate acknowledgement after every read (`TCP_QUICKACK`, which does not
//! stick, so it is set again each time) removes that wait.
//!
//! Owns: the socket option and when it is set. Must not: read or write anything itself.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A [`TcpStream`] that asks for an immediate acknowledgement after each read that
/// returned data.
pub(super) struct QuickAck {
    inner: TcpStream,
}

impl QuickAck {
    pub(super) fn new(inner: TcpStream) -> QuickAck {
        QuickAck { inner }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn ack_now(&self) {
        // Best effort: a socket that refuses the option just keeps the kernel's timing.
        let _ = rustix::net::sockopt::set_tcp_quickack(&self.inner, true);
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn ack_now(&self) {}
}

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.ack_now();
        }
        res
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A request/response exchange, as SSH's: the kernel then delays acknowledgements
    /// (its "pingpong" mode, read back as TCP_QUICKACK off).
    async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Vec<u8> {
        let mut got = Vec::new();
        for i in 0..8u8 {
            s.write_all(&[i]).await.unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.unwrap();
            got.push(b[0]);
        }
        got
    }

    async fn pair() -> (TcpStream, tokio::task::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut b = [0u8; 1];
            while s.read_exact(&mut b).await.is_ok() {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                if s.write_all(&[b[0] + 100]).await.is_err() {
                    break;
                }
            }
        });
        let c = TcpStream::connect(addr).await.unwrap();
        (c, server)
    }

    #[tokio::test]
    async fn every_read_asks_for_an_immediate_acknowledgement() {
        let (plain, server) = pair().await;
        let mut plain = plain;
        assert_eq!(exchange(&mut plain).await, (100..108).collect::<Vec<u8>>());
        let plain_quick = rustix::net::sockopt::tcp_quickack(&plain).unwrap();
        drop(plain);
        server.await.unwrap();

        let (c, server) = pair().await;
        let mut c = QuickAck::new(c);
        assert_eq!(exchange(&mut c).await, (100..108).collect::<Vec<u8>>());
        let quick = rustix::net::sockopt::tcp_quickack(&c.inner).unwrap();
        drop(c);
        server.await.unwrap();
        eprintln!("plain {plain_quick} quick {quick}");
        assert!(
            quick,
            "after a read through QuickAck the socket acknowledges at once"
        );
        assert!(
            !plain_quick,
            "a plain socket in the same exchange delays (control)"
        );
    }
}
