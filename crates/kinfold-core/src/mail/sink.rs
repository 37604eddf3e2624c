//! A minimal SMTP receiver on loopback, for tests and `kinfold bench --mail`: it accepts every
//! message and keeps its bytes exactly as sent (dot-unstuffed), except for recipients named
//! `bounce...@` (refused with 550) and `defer...@` (451). Not a mail server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One message as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

pub struct Sink {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    count: Arc<std::sync::atomic::AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sink {
    /// Listens on 127.0.0.1 on a free port. With `keep` false it only counts messages.
    pub async fn start(keep: bool) -> std::io::Result<Sink> {
        Self::start_slow(keep, std::time::Duration::ZERO).await
    }

    /// Like [`Sink::start`], but each message is kept as soon as its data ends and answered
    /// `delay` later: the window in which a sender that dies cannot know it was delivered.
    pub async fn start_slow(keep: bool, delay: std::time::Duration) -> std::io::Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (r, c) = (received.clone(), count.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (r, c) = (r.clone(), c.clone());
                tokio::spawn(async move {
                    let _ = session(stream, r, c, keep, delay).await;
                });
            }
        });
        Ok(Sink {
            addr,
            received,
            count,
            task,
        })
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn count(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }
}

async fn session(
    stream: TcpStream,
    received: Arc<Mutex<Vec<Received>>>,
    count: Arc<std::sync::atomic::AtomicU64>,
    keep: bool,
    delay: std::time::Duration,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 kinfold-sink ready\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = text.get(..4).unwrap_or_default().to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => write.write_all(b"250 kinfold-sink\r\n").await?,
            "MAIL" => {
                from = text.get(10..).unwrap_or_default().to_owned();
                to.clear();
                write.write_all(b"250 ok\r\n").await?;
            }
            // Test addresses: `bounce...@` is refused for good, `defer...@` for now.
            "RCPT" if text.to_ascii_lowercase().contains("<bounce") => {
                write.write_all(b"550 5.1.1 no such mailbox\r\n").await?
            }
            "RCPT" if text.to_ascii_lowercase().contains("<defer") => {
                write.write_all(b"451 4.3.0 try again later\r\n").await?
            }
            "RCPT" => {
                to.push(text.get(8..).unwrap_or_default().to_owned());
                write.write_all(b"250 ok\r\n").await?;
            }
            "DATA" => {
                write.write_all(b"354 go ahead\r\n").await?;
                let mut data = Vec::new();
                loop {
                    line.clear();
                    if lines.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    match line.strip_prefix(b".") {
                        Some(rest) => data.extend_from_slice(rest),
                        None => data.extend_from_slice(&line),
                    }
                }
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if keep {
                    if let Ok(mut r) = received.lock() {
                        r.push(Received {
                            from: from.clone(),
                            to: to.clone(),
                            data,
                        });
                    }
                }
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                write.write_all(b"250 queued\r\n").await?;
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => write.write_all(b"250 ok\r\n").await?,
        }
    }
}
