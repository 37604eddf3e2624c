//! `kinfold bench --mail`: messages composed, signed with both keys and delivered over SMTP to a
//! loopback sink, per second, beside raw RSA-2048 signatures per second, in one process on one
//! core (the caller pins it).

use std::time::{Duration, Instant, SystemTime};

use kinfold_crypto::keyring::{Key, MasterKey};

use super::compose::{compose, Outgoing};
use super::dkim::{self, Signer};
use super::sink::Sink;
use super::transport::Transport;
use super::MailError;

const SENDERS: u32 = 128;

#[derive(Debug, Clone, Copy)]
pub struct MailFigures {
    pub rsa_signs_per_sec: f64,
    pub messages_per_sec: f64,
    pub messages: u64,
}

pub async fn run(seconds: f64) -> Result<MailFigures, MailError> {
    let master = MasterKey::from_key(Key::generate());
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0);
    let new = dkim::generate("bench.kinfold.test", &master, now_ms)?;
    let signer = Signer::open(&new.stored, &master)?;
    let span = Duration::from_secs_f64(seconds);

    // The baseline: RSA-2048 PKCS#1 v1.5 SHA-256 signatures with the same key, through ring.
    let der = dkim::rsa_pkcs8(&new.stored, &master)?;
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der)
        .map_err(|_| MailError::KeyGeneration("RSA key for the bench"))?;
    let rng = ring::rand::SystemRandom::new();
    let mut sig = vec![0u8; pair.public().modulus_len()];
    let (start, mut signs) = (Instant::now(), 0u64);
    while start.elapsed() < span {
        pair.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &rng,
            b"v=1; a=rsa-sha256; the DKIM header hash input",
            &mut sig,
        )
        .map_err(|_| MailError::Sign("RSA".into()))?;
        signs += 1;
    }
    let rsa_signs_per_sec = signs as f64 / start.elapsed().as_secs_f64();

    // End to end: compose, sign twice, deliver. Each SMTP exchange waits on the network: lettre
    // writes a message's body and its final `.` separately, so Nagle's algorithm and the
    // receiver's delayed ACK hold every message about 40 ms on its connection. 128 senders,
    // on the one core, keep the CPU busy meanwhile.
    let sink = Sink::start(false)
        .await
        .map_err(|e| MailError::Transport(e.to_string()))?;
    let smtp = std::sync::Arc::new(Transport::smtp_pooled(&sink.url(), SENDERS)?);
    let signer = std::sync::Arc::new(signer);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..SENDERS {
        let (smtp, signer) = (smtp.clone(), signer.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while start.elapsed() < span {
                let to = format!("parent{s}-{n}@example.org");
                let id = format!("{s}.{n}.bench@bench.kinfold.test");
                let raw = compose(
                    &Outgoing {
                        from_name: "Bench Center",
                        from_address: "no-reply@bench.kinfold.test",
                        reply_to: Some("office@bench.example"),
                        to: &to,
                        subject: "Ana was checked in",
                        text: "Ana was checked in at 08:02 by Pat Rivera.\n".into(),
                        html: "<p>Ana was checked in at 08:02 by Pat Rivera.</p>".into(),
                        message_id: &id,
                        unsubscribe_url: "https://kinfold.example/u/bench",
                    },
                    SystemTime::now(),
                )?;
                let signed = signer.sign(&raw)?;
                smtp.send("no-reply@bench.kinfold.test", &to, &id, &signed)
                    .await?;
                n += 1;
            }
            Ok::<u64, MailError>(n)
        }));
    }
    for t in tasks {
        t.await
            .map_err(|_| MailError::Transport("a sender stopped".into()))??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok(MailFigures {
        rsa_signs_per_sec,
        messages_per_sec: sink.count() as f64 / elapsed,
        messages: sink.count(),
    })
}
