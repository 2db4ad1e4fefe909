//! A real SMTP server on loopback for tests (enabled by the `testing`
//! feature; never in the server binary): it accepts every message and
//! keeps its raw DATA.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Every message the sink accepted, as raw DATA; `delay` holds the answer
/// to each DATA this long (a slow server).
#[derive(Clone, Default)]
pub struct Inbox(Arc<Mutex<Vec<String>>>, Duration);

impl Inbox {
    pub fn messages(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

async fn serve_smtp(listener: TcpListener, inbox: Inbox) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let inbox = inbox.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read);
            let _ = write.write_all(b"220 sink ESMTP\r\n").await;
            let mut line = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" | "HELO" => b"250 sink\r\n",
                    "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
                    "DATA" => {
                        let _ = write.write_all(b"354 end with .\r\n").await;
                        let mut data = String::new();
                        loop {
                            let mut l = String::new();
                            if lines.read_line(&mut l).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if l == ".\r\n" {
                                break;
                            }
                            data.push_str(&l);
                        }
                        tokio::time::sleep(inbox.1).await;
                        inbox.0.lock().unwrap_or_else(|e| e.into_inner()).push(data);
                        b"250 queued\r\n"
                    }
                    "QUIT" => {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    }
                    _ => b"502 not implemented\r\n",
                };
                if write.write_all(reply).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The decoded body of the MIME part with `content_type`.
pub fn part(message: &str, content_type: &str) -> String {
    let start = message
        .find(&format!("Content-Type: {content_type}"))
        .unwrap_or_else(|| panic!("no {content_type} part in {message}"));
    let rest = &message[start..];
    let body_start = rest.find("\r\n\r\n").expect("part headers end") + 4;
    let body: String = rest[body_start..]
        .lines()
        .take_while(|l| !l.starts_with("--"))
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .expect("base64 body");
    String::from_utf8(bytes).expect("UTF-8 body")
}

/// Starts a sink on a free loopback port: its inbox, port and task.
/// `delay` holds each DATA answer that long (a slow server).
pub async fn sink(delay: Duration) -> (Inbox, u16, tokio::task::JoinHandle<()>) {
    sink_on(0, delay).await
}

/// A sink on `port` of 127.0.0.1 (0 picks a free one).
pub async fn sink_on(port: u16, delay: Duration) -> (Inbox, u16, tokio::task::JoinHandle<()>) {
    let inbox = Inbox(Arc::default(), delay);
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("sink binds");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(serve_smtp(listener, inbox.clone()));
    (inbox, port, task)
}
