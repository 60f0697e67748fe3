//! gzip, zlib/deflate and brotli bodies, decompressed with hard limits so a bomb is a clear
//! error.

use std::io::Read;

use super::DecodeError;

/// The compression of a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// gzip (RFC 1952).
    Gzip,
    /// zlib-wrapped deflate (RFC 1950), what HTTP calls `deflate`.
    Zlib,
    /// Raw deflate (RFC 1951), sent by some servers as `deflate`.
    RawDeflate,
    /// Brotli (RFC 7932), HTTP's `br`. It has no magic bytes: known only from a header.
    Brotli,
}

/// Limits on decompression.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest decompressed size accepted.
    pub max_output: usize,
    /// Largest accepted ratio of decompressed to compressed size (checked past 1 MiB output).
    pub max_ratio: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output: 64 << 20,
            max_ratio: 200,
        }
    }
}

/// Recognizes gzip and zlib streams by their headers.
pub fn sniff(input: &[u8]) -> Option<Compression> {
    match input {
        [0x1f, 0x8b, 0x08, ..] => Some(Compression::Gzip),
        [cmf, flg, ..]
            if cmf & 0x0f == 8
                && cmf >> 4 <= 7
                && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0 =>
        {
            Some(Compression::Zlib)
        }
        _ => None,
    }
}

/// Decompresses `input` within `limits`.
pub fn decompress(input: &[u8], kind: Compression, limits: Limits) -> Result<Vec<u8>, DecodeError> {
    let reader: Box<dyn Read + '_> = match kind {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Compression::Zlib => Box::new(flate2::read::ZlibDecoder::new(input)),
        Compression::RawDeflate => Box::new(flate2::read::DeflateDecoder::new(input)),
        Compression::Brotli => Box::new(brotli_decompressor::Decompressor::new(input, 32 * 1024)),
    };
    let mut out = Vec::new();
    let mut limited = reader.take(limits.max_output as u64 + 1);
    let mut buf = [0u8; 32 * 1024];
    loop {
        let n = limited
            .read(&mut buf)
            .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > limits.max_output {
            return Err(DecodeError::TooLarge {
                limit: limits.max_output,
            });
        }
        if out.len() > (1 << 20) && out.len() / input.len().max(1) > limits.max_ratio {
            return Err(DecodeError::Ratio {
                ratio: limits.max_ratio,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn round_trip() {
        let z = gzip(b"hello ssn 536-90-4399");
        assert_eq!(sniff(&z), Some(Compression::Gzip));
        assert_eq!(
            decompress(&z, Compression::Gzip, Limits::default()).unwrap(),
            b"hello ssn 536-90-4399"
        );
    }

    #[test]
    fn bomb_is_an_error() {
        let z = gzip(&vec![0u8; 50 << 20]);
        let err = decompress(&z, Compression::Gzip, Limits::default()).unwrap_err();
        assert!(matches!(err, DecodeError::Ratio { .. }), "{err}");
        let err = decompress(
            &z,
            Compression::Gzip,
            Limits {
                max_output: 1 << 20,
                max_ratio: 100_000,
            },
        )
        .unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn brotli_round_trips_and_rejects_garbage() {
        // "hello ssn 536-90-4399" compressed with brotli (quality 11)
        let br = [
            0x0b, 0x0a, 0x80, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x73, 0x73, 0x6e, 0x20, 0x35,
            0x33, 0x36, 0x2d, 0x39, 0x30, 0x2d, 0x34, 0x33, 0x39, 0x39, 0x03,
        ];
        assert_eq!(
            decompress(&br, Compression::Brotli, Limits::default()).unwrap(),
            b"hello ssn 536-90-4399"
        );
        assert!(
            decompress(
                b"\xff\xff\xff garbage",
                Compression::Brotli,
                Limits::default()
            )
            .is_err()
        );
    }

    #[test]
    fn corrupt_is_an_error() {
        let mut z = gzip(b"hello world hello world");
        let n = z.len();
        z.truncate(n - 10);
        assert!(matches!(
            decompress(&z, Compression::Gzip, Limits::default()),
            Err(DecodeError::Corrupt(_))
        ));
    }
}
