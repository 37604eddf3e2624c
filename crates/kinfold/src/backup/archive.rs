//! A backup archive's one data part: the snapshot, compressed (zstd) and encrypted with a
//! streaming AEAD (the STREAM construction over XChaCha20-Poly1305, from RustCrypto), so a
//! snapshot of any size is sealed and opened in fixed memory and never written in plaintext.
//!
//! Layout: `KINFOLDB` (8 bytes), a format byte, the 19-byte random nonce prefix, then the
//! ciphertext in chunks of [`CHUNK`] plaintext bytes plus a 16-byte tag each; the last chunk
//! is sealed as the last, so a cut at a chunk boundary fails as surely as a flipped byte. The
//! header is every chunk's associated data.

use std::io::{self, Read, Write};

use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::{KeyInit, Payload};
use chacha20poly1305::XChaCha20Poly1305;
use kinfold_crypto::keyring::Key;
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"KINFOLDB";
/// The format byte: the plaintext was compressed with zstd before sealing...
const ZSTD: u8 = 1;
/// ...or sealed as it is (a SQLite snapshot, whose pages are encrypted already and gain
/// nothing from compression).
const RAW: u8 = 2;
const NONCE: usize = 19;
const HEADER: usize = MAGIC.len() + 1 + NONCE;
/// Plaintext bytes per sealed chunk.
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;

/// What went wrong opening an archive, for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a Kinfold backup archive (bad header)")]
    NotAnArchive,
    #[error("the archive was changed, cut short, or sealed by another deployment's key (chunk {0} does not authenticate)")]
    Tampered(u64),
    #[error("the archive's compressed stream is damaged: {0}")]
    Decompress(io::Error),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Counts and hashes what passes through to `inner`.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Seals plaintext written to it, chunk by chunk.
struct Sealing<W: Write> {
    out: Hashing<W>,
    enc: Option<EncryptorBE32<XChaCha20Poly1305>>,
    header: [u8; HEADER],
    buf: Vec<u8>,
}

fn aead_error(_: chacha20poly1305::aead::Error) -> io::Error {
    io::Error::other("sealing failed")
}

impl<W: Write> Sealing<W> {
    fn new(key: &Key, out: W, format: u8) -> io::Result<Self> {
        let prefix: [u8; NONCE] = rand::random();
        let mut header = [0u8; HEADER];
        let fields = MAGIC
            .iter()
            .copied()
            .chain([format])
            .chain(prefix.iter().copied());
        for (slot, byte) in header.iter_mut().zip(fields) {
            *slot = byte;
        }
        let aead = XChaCha20Poly1305::new(key.expose().into());
        let enc = EncryptorBE32::from_aead(aead, prefix.as_ref().into());
        let mut out = Hashing {
            inner: out,
            hash: Sha256::new(),
            bytes: 0,
        };
        out.write_all(&header)?;
        Ok(Self {
            out,
            enc: Some(enc),
            header,
            buf: Vec::with_capacity(CHUNK),
        })
    }

    fn seal_full_chunks(&mut self) -> io::Result<()> {
        while self.buf.len() > CHUNK {
            let rest = self.buf.split_off(CHUNK);
            let enc = self
                .enc
                .as_mut()
                .ok_or_else(|| io::Error::other("sealed already"))?;
            let sealed = enc
                .encrypt_next(Payload {
                    msg: &self.buf,
                    aad: &self.header,
                })
                .map_err(aead_error)?;
            self.out.write_all(&sealed)?;
            self.buf = rest;
        }
        Ok(())
    }

    /// Seals the last chunk; returns the sink, the archive's bytes and its SHA-256.
    fn finish(mut self) -> io::Result<(W, u64, [u8; 32])> {
        self.seal_full_chunks()?;
        let enc = self
            .enc
            .take()
            .ok_or_else(|| io::Error::other("sealed already"))?;
        let sealed = enc
            .encrypt_last(Payload {
                msg: &self.buf,
                aad: &self.header,
            })
            .map_err(aead_error)?;
        self.out.write_all(&sealed)?;
        self.out.flush()?;
        let Hashing { inner, hash, bytes } = self.out;
        Ok((inner, bytes, hash.finalize().into()))
    }
}

impl<W: Write> Write for Sealing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        // Keep at least one byte back, so that the last chunk is never empty unless the whole
        // input is.
        self.seal_full_chunks()?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What sealing wrote.
#[derive(Debug, Clone, Copy)]
pub struct Sealed {
    /// Bytes read from the snapshot.
    pub content_bytes: u64,
    /// Bytes of the archive part.
    pub bytes: u64,
    pub sha256: [u8; 32],
}

/// Compresses and seals everything `input` yields into `out`.
pub fn seal<R: Read, W: Write>(key: &Key, input: R, out: W) -> io::Result<(W, Sealed)> {
    seal_with(key, input, out, Some(3))
}

/// Seals everything `input` yields into `out`, compressed at zstd `level`, or as it is with
/// `None` (the format byte says which, and [`open`] reads both).
pub fn seal_with<R: Read, W: Write>(
    key: &Key,
    mut input: R,
    out: W,
    level: Option<i32>,
) -> io::Result<(W, Sealed)> {
    let format = if level.is_some() { ZSTD } else { RAW };
    let mut sealing = Sealing::new(key, out, format)?;
    let content_bytes = match level {
        Some(level) => {
            let mut z = zstd::stream::write::Encoder::new(sealing, level)?;
            let n = io::copy(&mut input, &mut z)?;
            sealing = z.finish()?;
            n
        }
        None => io::copy(&mut input, &mut sealing)?,
    };
    let (out, bytes, sha256) = sealing.finish()?;
    Ok((
        out,
        Sealed {
            content_bytes,
            bytes,
            sha256,
        },
    ))
}

/// Passes at most `limit` bytes on, and fails past them: opening an archive writes no more
/// than its manifest says the snapshot holds, so a crafted stream cannot fill the disk.
pub struct Limited<W> {
    inner: W,
    left: u64,
}

impl<W> Limited<W> {
    pub fn new(inner: W, limit: u64) -> Self {
        Self { inner, left: limit }
    }
}

impl<W: Write> Write for Limited<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(io::Error::other(
                "the archive holds more than its manifest says",
            ));
        }
        let n = self.inner.write(buf)?;
        self.left -= n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads exactly `buf.len()` bytes unless the input ends first; returns how many it read.
fn fill<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while let Some(rest) = buf.get_mut(n..).filter(|r| !r.is_empty()) {
        match r.read(rest) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What opening read: the content's bytes, and the archive's bytes and SHA-256.
#[derive(Debug, Clone, Copy)]
pub struct Opened {
    pub content_bytes: u64,
    pub bytes: u64,
    pub sha256: [u8; 32],
}

/// Authenticates, decrypts and decompresses `archive` into `out`. Nothing unauthenticated
/// reaches `out`: each chunk is checked before its bytes are passed on.
/// Where opened plaintext goes: through zstd, or straight on.
enum Plain<'a, W: Write> {
    Zstd(zstd::stream::write::Decoder<'static, &'a mut W>),
    Raw(&'a mut W),
}

impl<W: Write> Plain<'_, W> {
    fn put(&mut self, plain: &[u8]) -> Result<(), ArchiveError> {
        match self {
            Plain::Zstd(z) => z.write_all(plain).map_err(ArchiveError::Decompress),
            Plain::Raw(w) => Ok(w.write_all(plain)?),
        }
    }

    fn finish(self) -> Result<(), ArchiveError> {
        match self {
            Plain::Zstd(mut z) => z.flush().map_err(ArchiveError::Decompress),
            Plain::Raw(w) => Ok(w.flush()?),
        }
    }
}

pub fn open<R: Read, W: Write>(key: &Key, archive: R, out: W) -> Result<Opened, ArchiveError> {
    let mut hash = Sha256::new();
    let mut archive = archive;
    let mut header = [0u8; HEADER];
    let read = fill(&mut archive, &mut header)?;
    let prefix = match (
        header.get(..MAGIC.len()),
        header.get(MAGIC.len()),
        header.get(MAGIC.len() + 1..),
    ) {
        (Some(m), Some(&f), Some(p)) if read == HEADER && m == MAGIC && (f == ZSTD || f == RAW) => {
            p
        }
        _ => return Err(ArchiveError::NotAnArchive),
    };
    let compressed = header.get(MAGIC.len()) == Some(&ZSTD);
    hash.update(header);
    let mut bytes = HEADER as u64;
    let aead = XChaCha20Poly1305::new(key.expose().into());
    let mut dec = DecryptorBE32::from_aead(aead, prefix.into());
    let mut counting = Hashing {
        inner: out,
        hash: Sha256::new(),
        bytes: 0,
    };
    let mut z = if compressed {
        Plain::Zstd(
            zstd::stream::write::Decoder::new(&mut counting).map_err(ArchiveError::Decompress)?,
        )
    } else {
        Plain::Raw(&mut counting)
    };
    let mut cur = vec![0u8; CHUNK + TAG];
    let mut next = vec![0u8; CHUNK + TAG];
    let mut cur_len = fill(&mut archive, &mut cur)?;
    let mut index = 0u64;
    loop {
        let next_len = if cur_len == CHUNK + TAG {
            fill(&mut archive, &mut next)?
        } else {
            0
        };
        let chunk = cur.get(..cur_len).ok_or(ArchiveError::Tampered(index))?;
        hash.update(chunk);
        bytes += cur_len as u64;
        let payload = Payload {
            msg: chunk,
            aad: &header,
        };
        if next_len == 0 {
            let plain = dec
                .decrypt_last(payload)
                .map_err(|_| ArchiveError::Tampered(index))?;
            z.put(&plain)?;
            break;
        }
        let plain = dec
            .decrypt_next(payload)
            .map_err(|_| ArchiveError::Tampered(index))?;
        z.put(&plain)?;
        std::mem::swap(&mut cur, &mut next);
        cur_len = next_len;
        index += 1;
    }
    z.finish()?;
    Ok(Opened {
        content_bytes: counting.bytes,
        bytes,
        sha256: hash.finalize().into(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn key() -> Key {
        Key::generate()
    }

    fn sealed(k: &Key, data: &[u8]) -> Vec<u8> {
        seal(k, data, Vec::new()).unwrap().0
    }

    #[test]
    fn what_is_sealed_opens_to_the_same_bytes_at_every_size() {
        let k = key();
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7] {
            // Incompressible, so the sealed stream spans several chunks for the larger sizes.
            let data: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
            let archive = sealed(&k, &data);
            let mut out = Vec::new();
            let o = open(&k, archive.as_slice(), &mut out).unwrap();
            assert_eq!(out, data, "len {len}");
            assert_eq!(o.content_bytes, len as u64);
            assert_eq!(o.bytes, archive.len() as u64);
        }
    }

    #[test]
    fn an_archive_sealed_without_compression_opens_too_and_says_so() {
        let k = key();
        let data: Vec<u8> = (0..2 * CHUNK + 3).map(|_| rand::random::<u8>()).collect();
        let (archive, _) = seal_with(&k, data.as_slice(), Vec::new(), None).unwrap();
        assert_eq!(archive[MAGIC.len()], RAW);
        let mut out = Vec::new();
        open(&k, archive.as_slice(), &mut out).unwrap();
        assert_eq!(out, data);
        // The format byte is sealed into every chunk: changed, nothing opens.
        let mut bad = archive.clone();
        bad[MAGIC.len()] = ZSTD;
        assert!(open(&k, bad.as_slice(), &mut Vec::new()).is_err());
    }

    #[test]
    fn a_flipped_byte_a_cut_another_key_or_junk_fail() {
        let k = key();
        let data: Vec<u8> = (0..3 * CHUNK).map(|_| rand::random::<u8>()).collect();
        let archive = sealed(&k, &data);
        for at in [
            HEADER - 1,
            HEADER,
            HEADER + CHUNK + TAG + 5,
            archive.len() - 1,
        ] {
            let mut bad = archive.clone();
            bad[at] ^= 1;
            let mut out = Vec::new();
            assert!(open(&k, bad.as_slice(), &mut out).is_err(), "flip at {at}");
        }
        // Cut at a chunk boundary, and in the middle of one.
        for cut in [HEADER + CHUNK + TAG, archive.len() - 3] {
            let mut out = Vec::new();
            assert!(matches!(
                open(&k, &archive[..cut], &mut out),
                Err(ArchiveError::Tampered(_))
            ));
        }
        let mut out = Vec::new();
        assert!(matches!(
            open(&key(), archive.as_slice(), &mut out),
            Err(ArchiveError::Tampered(0))
        ));
        assert!(matches!(
            open(&k, &b"not an archive at all"[..], &mut out),
            Err(ArchiveError::NotAnArchive)
        ));
    }
}
