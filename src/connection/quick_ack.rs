//! The TCP stream under an SSH connection, acknowledging at once what it receives while the
//! connection is being set up.
//!
//! sshd leaves Nagle's algorithm on for sessions without a terminal, so it holds a small
//! packet back while an earlier one is not yet acknowledged; Linux, seeing an interactive
//! exchange, delays its acknowledgements by up to 40 ms. After authentication sshd writes
//! its host keys and then the first channel's confirmation: the client waited for the
//! confirmation until its own delayed acknowledgement went out — 40 ms per connection,
//! every host (found with strace; numbers in docs/performance.md). Asking the kernel for an
//! immediate acknowledgement whenever a read finds nothing more to read (`TCP_QUICKACK`,
//! which does not stick, so it is asked again each time) removes that wait.
//!
//! Only until the connection's first command has its answer: after that sshd's answers come
//! in one write each (a command's output and its end lines together), no wait was seen, and
//! at a thousand hosts the extra acknowledgements cost CPU (more, smaller packets and
//! wake-ups: +10 % in the 1,000-host benchmark).
//!
//! Owns: the socket option and when it is set. Must not: read or write anything itself.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A [`TcpStream`] that, whenever a read has to wait, first acknowledges what it has
/// received — until its [`SetUp`] says the connection is set up.
pub(super) struct QuickAck {
    inner: TcpStream,
    on: Arc<AtomicBool>,
}

/// Ends a [`QuickAck`]'s immediate acknowledgements.
pub(super) struct SetUp(Arc<AtomicBool>);

impl SetUp {
    /// The connection is set up: from now on the kernel acknowledges as it sees fit.
    pub(super) fn done(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl QuickAck {
    pub(super) fn new(inner: TcpStream) -> (QuickAck, SetUp) {
        let on = Arc::new(AtomicBool::new(true));
        (
            QuickAck {
                inner,
                on: on.clone(),
            },
            SetUp(on),
        )
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
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if res.is_pending() && self.on.load(Ordering::Relaxed) {
            // About to wait for the peer: acknowledge what has been read, so a write the
            // peer holds back for that acknowledgement comes now. Once per wait, not per read.
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

    fn acks_at_once(s: &TcpStream) -> bool {
        rustix::net::sockopt::tcp_quickack(s).unwrap()
    }

    #[tokio::test]
    async fn waits_acknowledge_at_once_until_the_connection_is_set_up() {
        // Control: a plain socket in this exchange delays its acknowledgements.
        let (mut plain, server) = pair().await;
        assert_eq!(exchange(&mut plain).await, (100..108).collect::<Vec<u8>>());
        assert!(
            !acks_at_once(&plain),
            "the kernel delays acknowledgements here"
        );
        drop(plain);
        server.await.unwrap();

        let (c, server) = pair().await;
        let (mut c, set_up) = QuickAck::new(c);
        assert_eq!(exchange(&mut c).await, (100..108).collect::<Vec<u8>>());
        assert!(
            acks_at_once(&c.inner),
            "while setting up, every wait acknowledges"
        );
        set_up.done();
        assert_eq!(exchange(&mut c).await, (100..108).collect::<Vec<u8>>());
        assert!(
            !acks_at_once(&c.inner),
            "once set up, the kernel decides again"
        );
        drop(c);
        server.await.unwrap();
    }
}
