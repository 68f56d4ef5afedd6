//! `/api/support-dump`: a `.tar.gz` with `version.json`, `static-config.json` (anonymized) and
//! `runtime-config.json`, the files Traefik's support dump holds.
//!
//! The archive is small, so it is written by hand: a ustar archive inside a gzip member made of
//! stored (uncompressed) deflate blocks, which every gzip reader accepts.

use serde_json::Value;

/// Replaces every string of the static configuration with `xxxx` (addresses, paths, secrets):
/// switches and numbers stay, so the shape of the configuration remains visible.
pub(crate) fn anonymize(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::String(s) => *s = "xxxx".to_owned(),
            Value::Array(a) => a.iter_mut().for_each(walk),
            Value::Object(o) => o.values_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

/// A gzip-compressed tar archive of `files` (name, content), modified at `mtime` (Unix seconds).
pub(crate) fn tar_gz(files: &[(&str, Vec<u8>)], mtime: u64) -> Vec<u8> {
    gzip(&tar(files, mtime))
}

fn tar(files: &[(&str, Vec<u8>)], mtime: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, content) in files {
        let mut header = [0u8; 512];
        let name = name.as_bytes();
        let n = name.len().min(100);
        header[..n].copy_from_slice(&name[..n]);
        let mut field = |at: usize, len: usize, value: u64| {
            let text = format!("{value:0width$o}\0", width = len - 1);
            let bytes = text.as_bytes();
            let start = bytes.len().saturating_sub(len);
            header[at..at + len].copy_from_slice(&bytes[start..]);
        };
        field(100, 8, 0o600);
        field(108, 8, 0);
        field(116, 8, 0);
        field(124, 12, content.len() as u64);
        field(136, 12, mtime);
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        let checksum = format!("{sum:06o}\0 ");
        header[148..156].copy_from_slice(checksum.as_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(content);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_known_input() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn archive_layout() {
        let files = [("a.json", b"{}".to_vec()), ("b.json", vec![b'x'; 70_000])];
        let t = tar(&files, 1);
        assert_eq!(t.len(), 512 + 512 + 512 + 70_144 + 1024);
        assert_eq!(&t[..6], b"a.json");
        assert_eq!(&t[257..262], b"ustar");
        let g = gzip(&t);
        assert_eq!(&g[..3], &[0x1f, 0x8b, 8]);
        // Two stored blocks: the first not final, the second final.
        assert_eq!(g[10], 0);
        assert_eq!(g[10 + 5 + 0xffff], 1);
        let n = g.len();
        assert_eq!(&g[n - 4..], &(t.len() as u32).to_le_bytes());
    }

    #[test]
    fn anonymized_strings() {
        let v = anonymize(serde_json::json!({"a": "secret", "b": [true, 3, "x"]}));
        assert_eq!(v, serde_json::json!({"a": "xxxx", "b": [true, 3, "xxxx"]}));
    }
}
