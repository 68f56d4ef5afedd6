//! A small DNS client: just what DNS-01 needs. Encoding of queries (TXT, SOA, NS, A) and of
//! dynamic UPDATE messages (RFC 2136) signed with TSIG (RFC 8945), decoding of answers with name
//! compression, and exchange over UDP with a TCP retry when the answer is truncated.
//! Every parser returns errors on malformed input; nothing here panics on what a server sends.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
const TYPE_TSIG: u16 = 250;
const CLASS_IN: u16 = 1;
const CLASS_NONE: u16 = 254;
const CLASS_ANY: u16 = 255;

/// Response codes worth naming in errors.
pub fn rcode_name(rcode: u16) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        7 => "YXRRSET".into(),
        8 => "NXRRSET".into(),
        9 => "NOTAUTH (TSIG key or signature rejected)".into(),
        10 => "NOTZONE".into(),
        n => format!("RCODE {n}"),
    }
}

/// Appends `name` in wire format (lower-cased, uncompressed; the root is `.` or empty).
fn put_name(out: &mut Vec<u8>, name: &str) -> Result<(), String> {
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        if label.len() > 63 {
            return Err(format!("DNS label too long in {name:?}"));
        }
        out.push(label.len() as u8);
        out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
    }
    out.push(0);
    Ok(())
}

fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        out.extend_from_slice(&c.to_be_bytes());
    }
    out
}

/// A query for `name`/`qtype`; `recursive` sets RD.
pub fn query(id: u16, name: &str, qtype: u16, recursive: bool) -> Result<Vec<u8>, String> {
    let mut out = header(id, if recursive { 0x0100 } else { 0 }, [1, 0, 0, 0]);
    put_name(&mut out, name)?;
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(out)
}

/// TXT RDATA: the value as character-strings of at most 255 bytes.
fn txt_rdata(value: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        out.push(0);
    }
    for chunk in bytes.chunks(255) {
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
    }
    out
}

/// An UPDATE for `zone` that adds (`add`) or deletes the TXT record `fqdn` = `value`.
pub fn update_txt(
    id: u16,
    zone: &str,
    fqdn: &str,
    value: &str,
    ttl: u32,
    add: bool,
) -> Result<Vec<u8>, String> {
    let mut out = header(id, 5 << 11, [1, 0, 1, 0]);
    put_name(&mut out, zone)?;
    out.extend_from_slice(&TYPE_SOA.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    put_name(&mut out, fqdn)?;
    out.extend_from_slice(&TYPE_TXT.to_be_bytes());
    let (class, ttl) = if add {
        (CLASS_IN, ttl)
    } else {
        (CLASS_NONE, 0)
    };
    out.extend_from_slice(&class.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    let rdata = txt_rdata(value);
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
    Ok(out)
}

/// A TSIG key (RFC 8945): name, algorithm name and secret.
#[derive(Clone)]
pub struct TsigKey {
    pub name: String,
    pub algorithm: String,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl TsigKey {
    /// The canonical algorithm name for a name as users write it (`hmac-sha256.`,
    /// `HMAC-SHA256`, `hmac-md5.sig-alg.reg.int.`).
    pub fn canonical_algorithm(name: &str) -> Option<&'static str> {
        let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
        Some(match n.as_str() {
            "hmac-md5" | "hmac-md5.sig-alg.reg.int" | "hmacmd5" => "hmac-md5.sig-alg.reg.int.",
            "hmac-sha1" | "hmacsha1" => "hmac-sha1.",
            "hmac-sha224" | "hmacsha224" => "hmac-sha224.",
            "hmac-sha256" | "hmacsha256" => "hmac-sha256.",
            "hmac-sha384" | "hmacsha384" => "hmac-sha384.",
            "hmac-sha512" | "hmacsha512" => "hmac-sha512.",
            _ => return None,
        })
    }

    fn mac(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        use aws_lc_rs::hmac;
        let alg = match self.algorithm.as_str() {
            "hmac-md5.sig-alg.reg.int." => return Ok(hmac_md5(&self.secret, data)),
            "hmac-sha1." => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            "hmac-sha224." => hmac::HMAC_SHA224,
            "hmac-sha256." => hmac::HMAC_SHA256,
            "hmac-sha384." => hmac::HMAC_SHA384,
            "hmac-sha512." => hmac::HMAC_SHA512,
            other => return Err(format!("unsupported TSIG algorithm {other:?}")),
        };
        let key = hmac::Key::new(alg, &self.secret);
        Ok(hmac::sign(&key, data).as_ref().to_vec())
    }

    /// Appends a TSIG record signing `msg` (whose ARCOUNT is bumped) at `time` (Unix seconds).
    pub fn sign(&self, msg: &mut Vec<u8>, time: u64) -> Result<(), String> {
        if msg.len() < 12 {
            return Err("message too short to sign".into());
        }
        const FUDGE: u16 = 300;
        let time48 = &time.to_be_bytes()[2..];
        let mut key_name = Vec::new();
        put_name(&mut key_name, &self.name)?;
        let mut alg_name = Vec::new();
        put_name(&mut alg_name, &self.algorithm)?;
        // MAC input: the message as it stands, then the TSIG variables.
        let mut signed = msg.clone();
        signed.extend_from_slice(&key_name);
        signed.extend_from_slice(&CLASS_ANY.to_be_bytes());
        signed.extend_from_slice(&0u32.to_be_bytes());
        signed.extend_from_slice(&alg_name);
        signed.extend_from_slice(time48);
        signed.extend_from_slice(&FUDGE.to_be_bytes());
        signed.extend_from_slice(&0u16.to_be_bytes()); // error
        signed.extend_from_slice(&0u16.to_be_bytes()); // other len
        let mac = self.mac(&signed)?;

        let mut rdata = alg_name;
        rdata.extend_from_slice(time48);
        rdata.extend_from_slice(&FUDGE.to_be_bytes());
        rdata.extend_from_slice(&(mac.len() as u16).to_be_bytes());
        rdata.extend_from_slice(&mac);
        rdata.extend_from_slice(&msg[0..2]); // original id
        rdata.extend_from_slice(&0u16.to_be_bytes());
        rdata.extend_from_slice(&0u16.to_be_bytes());

        msg.extend_from_slice(&key_name);
        msg.extend_from_slice(&TYPE_TSIG.to_be_bytes());
        msg.extend_from_slice(&CLASS_ANY.to_be_bytes());
        msg.extend_from_slice(&0u32.to_be_bytes());
        msg.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        msg.extend_from_slice(&rdata);
        let arcount = u16::from_be_bytes([msg[10], msg[11]]).wrapping_add(1);
        msg[10..12].copy_from_slice(&arcount.to_be_bytes());
        Ok(())
    }
}

/// HMAC-MD5 (RFC 2104), kept for old BIND keys; aws-lc-rs has no MD5 HMAC.
fn hmac_md5(key: &[u8], data: &[u8]) -> Vec<u8> {
    use md5::{Digest, Md5};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..16].copy_from_slice(&Md5::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Md5::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Md5::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// One resource record of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: u16,
    pub data: RecordData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    Txt(String),
    /// NS target or SOA primary name server.
    Name(String),
    Ip(std::net::IpAddr),
    Other,
}

/// A decoded response.
#[derive(Debug, Default)]
pub struct Response {
    pub id: u16,
    pub rcode: u16,
    pub truncated: bool,
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.pos).ok_or("truncated DNS message")?;
        self.pos += 1;
        Ok(b)
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from(self.u8()?) << 8 | u16::from(self.u8()?))
    }
    fn bytes(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos.checked_add(n).ok_or("bad length")?;
        let s = self.buf.get(self.pos..end).ok_or("truncated DNS message")?;
        self.pos = end;
        Ok(s)
    }
    /// A possibly compressed name at the cursor.
    fn name(&mut self) -> Result<String, String> {
        let (name, next) = read_name(self.buf, self.pos)?;
        self.pos = next;
        Ok(name)
    }
}

/// Reads a name at `pos`, following compression pointers (bounded, so loops end).
fn read_name(buf: &[u8], mut pos: usize) -> Result<(String, usize), String> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *buf.get(pos).ok_or("truncated DNS name")?;
        match len {
            0 => {
                let name = if labels.is_empty() {
                    ".".to_owned()
                } else {
                    format!("{}.", labels.join("."))
                };
                return Ok((name.to_ascii_lowercase(), end.unwrap_or(pos + 1)));
            }
            l if l & 0xC0 == 0xC0 => {
                let lo = *buf.get(pos + 1).ok_or("truncated DNS name")?;
                end.get_or_insert(pos + 2);
                pos = usize::from(l & 0x3F) << 8 | usize::from(lo);
            }
            l if l & 0xC0 == 0 => {
                let s = buf
                    .get(pos + 1..pos + 1 + usize::from(l))
                    .ok_or("truncated DNS label")?;
                labels.push(String::from_utf8_lossy(s).into_owned());
                pos += 1 + usize::from(l);
            }
            _ => return Err("unsupported DNS label type".into()),
        }
    }
    Err("DNS name compression loop".into())
}

/// Decodes a response message.
pub fn parse(buf: &[u8]) -> Result<Response, String> {
    let mut r = Reader { buf, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    let qd = r.u16()?;
    let an = r.u16()?;
    let ns = r.u16()?;
    let _ar = r.u16()?;
    for _ in 0..qd {
        r.name()?;
        r.bytes(4)?;
    }
    let mut read_rrs = |count: u16| -> Result<Vec<Record>, String> {
        let mut out = Vec::new();
        for _ in 0..count {
            let name = r.name()?;
            let rtype = r.u16()?;
            let _class = r.u16()?;
            r.bytes(4)?;
            let len = usize::from(r.u16()?);
            let start = r.pos;
            let rdata = r.bytes(len)?;
            let data = match rtype {
                TYPE_TXT => {
                    let mut s = Vec::new();
                    let mut i = 0;
                    while i < rdata.len() {
                        let l = usize::from(rdata[i]);
                        s.extend_from_slice(rdata.get(i + 1..i + 1 + l).ok_or("bad TXT")?);
                        i += 1 + l;
                    }
                    RecordData::Txt(String::from_utf8_lossy(&s).into_owned())
                }
                TYPE_NS | TYPE_SOA => RecordData::Name(read_name(buf, start)?.0),
                TYPE_A if len == 4 => RecordData::Ip(std::net::IpAddr::from([
                    rdata[0], rdata[1], rdata[2], rdata[3],
                ])),
                TYPE_AAAA if len == 16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(rdata);
                    RecordData::Ip(std::net::IpAddr::from(a))
                }
                _ => RecordData::Other,
            };
            out.push(Record { name, rtype, data });
        }
        Ok(out)
    };
    let answers = read_rrs(an)?;
    let authority = read_rrs(ns)?;
    Ok(Response {
        id,
        rcode: flags & 0x000F,
        truncated: flags & 0x0200 != 0,
        authoritative: flags & 0x0400 != 0,
        answers,
        authority,
    })
}

fn random_id() -> u16 {
    let mut b = [0u8; 2];
    let _ = aws_lc_rs::rand::fill(&mut b);
    u16::from_be_bytes(b)
}

/// Sends `msg` (its ID is replaced by a random one, unless `keep_id`) to `server` and decodes
/// the answer; UDP first, TCP when the answer is truncated or `tcp` is set.
pub async fn exchange(
    server: SocketAddr,
    mut msg: Vec<u8>,
    timeout: Duration,
    tcp: bool,
) -> Result<Response, String> {
    if msg.len() < 12 {
        return Err("message too short".into());
    }
    let id = u16::from_be_bytes([msg[0], msg[1]]);
    if !tcp {
        let sock = tokio::net::UdpSocket::bind(if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        })
        .await
        .map_err(|e| e.to_string())?;
        sock.connect(server)
            .await
            .map_err(|e| format!("{server}: {e}"))?;
        sock.send(&msg)
            .await
            .map_err(|e| format!("{server}: {e}"))?;
        let mut buf = vec![0u8; 4096];
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let n = tokio::time::timeout_at(deadline, sock.recv(&mut buf))
                .await
                .map_err(|_| format!("{server}: no answer within {timeout:?}"))?
                .map_err(|e| format!("{server}: {e}"))?;
            let resp = match parse(&buf[..n]) {
                Ok(r) if r.id == id => r,
                _ => continue, // stray or garbled datagram: keep waiting
            };
            if !resp.truncated {
                return Ok(resp);
            }
            break;
        }
    }
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(server)
            .await
            .map_err(|e| format!("{server}: {e}"))?;
        let len = u16::try_from(msg.len()).map_err(|_| "message too long")?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.append(&mut msg);
        s.write_all(&framed).await.map_err(|e| e.to_string())?;
        let mut l = [0u8; 2];
        s.read_exact(&mut l).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(l))];
        s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        parse(&buf)
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| format!("{server}: no answer within {timeout:?}"))?
}

/// A query with a fresh random ID.
pub async fn lookup(
    server: SocketAddr,
    name: &str,
    qtype: u16,
    recursive: bool,
    timeout: Duration,
) -> Result<Response, String> {
    exchange(
        server,
        query(random_id(), name, qtype, recursive)?,
        timeout,
        false,
    )
    .await
}

/// One TXT change for [`send_update`].
#[derive(Debug, Clone)]
pub struct TxtUpdate<'a> {
    pub zone: &'a str,
    pub fqdn: &'a str,
    pub value: &'a str,
    pub ttl: u32,
    /// Add the record (else delete exactly this record).
    pub add: bool,
}

/// Sends a TXT update, signed when `key` is set, with a fresh random ID.
pub async fn send_update(
    server: SocketAddr,
    update: &TxtUpdate<'_>,
    key: Option<&TsigKey>,
    timeout: Duration,
) -> Result<(), String> {
    let TxtUpdate {
        zone,
        fqdn,
        value,
        ttl,
        add,
    } = *update;
    let mut msg = update_txt(random_id(), zone, fqdn, value, ttl, add)?;
    if let Some(key) = key {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        key.sign(&mut msg, now)?;
    }
    let resp = exchange(server, msg, timeout, false).await?;
    if resp.rcode != 0 {
        return Err(format!(
            "{server} refused the update of {fqdn} in zone {zone}: {}",
            rcode_name(resp.rcode)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn query_encoding() {
        let q = query(0x1234, "_acme-challenge.Example.com.", TYPE_TXT, true).unwrap();
        assert_eq!(&q[..12], &[0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..28], b"\x0f_acme-challenge");
        assert!(q.ends_with(b"\x07example\x03com\x00\x00\x10\x00\x01"));
        assert!(query(1, &"a".repeat(64), TYPE_A, true).is_err());
    }

    #[test]
    fn update_encoding() {
        let m = update_txt(
            7,
            "example.com.",
            "_acme-challenge.example.com.",
            "v",
            120,
            true,
        )
        .unwrap();
        // opcode UPDATE, ZOCOUNT 1, UPCOUNT 1
        assert_eq!(&m[2..12], &[0x28, 0, 0, 1, 0, 0, 0, 1, 0, 0]);
        assert!(m.ends_with(&[0, 16, 0, 1, 0, 0, 0, 120, 0, 2, 1, b'v']));
        let d = update_txt(7, "example.com", "x.example.com", "v", 120, false).unwrap();
        assert!(d.ends_with(&[0, 16, 0, 254, 0, 0, 0, 0, 0, 2, 1, b'v']));
    }

    #[test]
    fn long_txt_values_are_split() {
        let r = txt_rdata(&"a".repeat(300));
        assert_eq!(r[0], 255);
        assert_eq!(r[256], 45);
        assert_eq!(r.len(), 302);
    }

    #[test]
    fn tsig_record_shape_and_mac() {
        let key = TsigKey {
            name: "key.example.".into(),
            algorithm: TsigKey::canonical_algorithm("HMAC-SHA256").unwrap().into(),
            secret: b"secret".to_vec(),
        };
        let mut m = update_txt(0xABCD, "example.", "x.example.", "v", 60, true).unwrap();
        let unsigned = m.clone();
        key.sign(&mut m, 1_700_000_000).unwrap();
        assert_eq!(u16::from_be_bytes([m[10], m[11]]), 1, "ARCOUNT");
        let tsig = &m[unsigned.len()..];
        assert!(tsig.starts_with(b"\x03key\x07example\x00\x00\xfa\x00\xff\x00\x00\x00\x00"));
        // Same input, same MAC (deterministic); another secret, another MAC.
        let mut again = unsigned.clone();
        key.sign(&mut again, 1_700_000_000).unwrap();
        assert_eq!(m, again);
        let other = TsigKey {
            secret: b"other".to_vec(),
            ..key.clone()
        };
        let mut third = unsigned;
        other.sign(&mut third, 1_700_000_000).unwrap();
        assert_ne!(m, third);
    }

    #[test]
    fn hmac_md5_rfc2202_vector() {
        let mac = hmac_md5(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "750c783e6ab0b503eaa86e310a5db738");
        assert!(TsigKey::canonical_algorithm("hmac-md5.sig-alg.reg.int.").is_some());
        assert!(TsigKey::canonical_algorithm("gss-tsig").is_none());
    }

    #[test]
    fn parses_answers_with_compression_and_rejects_garbage() {
        // Response to a TXT query for "a.b." with one compressed answer and an SOA authority.
        let mut m = header(9, 0x8400, [1, 1, 1, 0]);
        put_name(&mut m, "a.b.").unwrap();
        m.extend_from_slice(&[0, 16, 0, 1]);
        m.extend_from_slice(&[
            0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, 4, 3, b'x', b'y', b'z',
        ]);
        m.extend_from_slice(&[0xC0, 14, 0, 6, 0, 1, 0, 0, 0, 60, 0, 4, 2, b'n', b's', 0]);
        let r = parse(&m).unwrap();
        assert!(r.authoritative);
        assert_eq!(r.answers[0].name, "a.b.");
        assert_eq!(r.answers[0].data, RecordData::Txt("xyz".into()));
        assert_eq!(r.authority[0].name, "b.");
        assert_eq!(r.authority[0].data, RecordData::Name("ns.".into()));
        for cut in 0..m.len() {
            let _ = parse(&m[..cut]);
        }
        let mut looped = header(1, 0, [1, 0, 0, 0]);
        looped.extend_from_slice(&[0xC0, 12]);
        assert!(parse(&looped).is_err());
    }
}
