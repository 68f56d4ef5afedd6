//! Where ACME accounts and certificates are kept between runs. The manager only sees the
//! [`CertStorage`] trait (load and save one resolver's data), so a store shared by several
//! replicas (a KV store, a Kubernetes secret) can replace the file later without touching it.
//!
//! [`FileStorage`] is Traefik's `acme.json`: one JSON object keyed by resolver name, each holding
//! `Account` and `Certificates` (PEM, base64-encoded). As in Traefik the file must not be readable
//! by group or others (mode 0600), and a file that cannot be parsed is reported and left alone:
//! it is never overwritten, so a hand-edit gone wrong does not cost the certificates in it.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// A storage problem; the message names the file (or store) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(pub String);

/// Persistence of one resolver's account and certificates.
pub trait CertStorage: Send + Sync + fmt::Debug {
    /// The stored data of `resolver` (empty when nothing is stored yet).
    fn load(&self, resolver: &str) -> Result<ResolverData, StorageError>;
    /// Replaces the stored data of `resolver`, leaving other resolvers' data as it is.
    fn save(&self, resolver: &str, data: &ResolverData) -> Result<(), StorageError>;
    /// What the storage is, for logs (`/data/acme.json`).
    fn describe(&self) -> String;
}

/// One resolver's entry in `acme.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResolverData {
    #[serde(rename = "Account", default)]
    pub account: Option<StoredAccount>,
    #[serde(rename = "Certificates", default, deserialize_with = "null_as_empty")]
    pub certificates: Vec<StoredCert>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<StoredCert>, D::Error> {
    Ok(Option::<Vec<StoredCert>>::deserialize(d)?.unwrap_or_default())
}

/// The ACME account: Traefik's field names. `PrivateKey` is the DER key, base64-encoded (Traefik
/// writes an RSA PKCS#1 key; Switchyard a P-256 PKCS#8 key, see `docs/acme.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredAccount {
    #[serde(rename = "Email", default)]
    pub email: String,
    #[serde(rename = "Registration", default)]
    pub registration: Option<Registration>,
    #[serde(rename = "PrivateKey", default)]
    pub private_key: String,
    #[serde(rename = "KeyType", default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
}

/// The account as the CA registered it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    #[serde(default)]
    pub body: serde_json::Value,
    #[serde(default)]
    pub uri: String,
}

/// One certificate: its domain, the PEM chain and key (each base64-encoded) and its store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredCert {
    pub domain: StoredDomain,
    pub certificate: String,
    pub key: String,
    #[serde(rename = "Store", default = "default_store")]
    pub store: String,
}

fn default_store() -> String {
    "default".to_owned()
}

/// `domain: {main, sans}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoredDomain {
    #[serde(default)]
    pub main: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sans: Vec<String>,
}

impl StoredDomain {
    /// Every name: `main` then the SANs.
    pub fn names(&self) -> Vec<String> {
        std::iter::once(self.main.clone())
            .chain(self.sans.iter().cloned())
            .filter(|n| !n.is_empty())
            .collect()
    }
}

impl StoredCert {
    /// A stored certificate from PEM text.
    pub fn new(domain: StoredDomain, chain_pem: &str, key_pem: &str) -> Self {
        StoredCert {
            domain,
            certificate: STANDARD.encode(chain_pem),
            key: STANDARD.encode(key_pem),
            store: default_store(),
        }
    }

    /// The PEM chain and key, decoded.
    pub fn pem(&self) -> Result<(String, String), String> {
        let decode = |what: &str, v: &str| {
            STANDARD
                .decode(v.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| format!("{what} is not base64-encoded PEM"))
        };
        Ok((
            decode("certificate", &self.certificate)?,
            decode("key", &self.key)?,
        ))
    }
}

/// `acme.json`, shared by every resolver that names the same file.
#[derive(Debug)]
pub struct FileStorage {
    path: PathBuf,
    /// Serialises read-modify-write cycles of this file within the process.
    lock: Arc<Mutex<()>>,
}

/// One lock per file path, so two resolvers on one `acme.json` never interleave their writes.
fn lock_for(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let locks = LOCKS.get_or_init(Default::default);
    let mut map = locks.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(path.to_path_buf()).or_default().clone()
}

impl FileStorage {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let lock = lock_for(&path);
        FileStorage { path, lock }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and parses the whole file; a missing or empty file is an empty object.
    fn read_all(&self) -> Result<serde_json::Map<String, serde_json::Value>, StorageError> {
        let name = self.path.display();
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
            Err(e) => return Err(StorageError(format!("{name}: cannot read: {e}"))),
        };
        check_mode(&self.path, &meta)?;
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| StorageError(format!("{name}: cannot read: {e}")))?;
        if text.trim().is_empty() {
            return Ok(Default::default());
        }
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            StorageError(format!(
                "{name}: not valid JSON ({e}); the file is left untouched, fix or remove it"
            ))
        })?;
        match value {
            serde_json::Value::Object(map) => Ok(map),
            serde_json::Value::Null => Ok(Default::default()),
            _ => Err(StorageError(format!(
                "{name}: expected a JSON object keyed by resolver name; the file is left untouched"
            ))),
        }
    }
}

/// Traefik refuses a storage file that group or others may read or write.
#[cfg(unix)]
fn check_mode(path: &Path, meta: &std::fs::Metadata) -> Result<(), StorageError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StorageError(format!(
            "{}: permissions {mode:o} are too open, please use 600",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_: &Path, _: &std::fs::Metadata) -> Result<(), StorageError> {
    Ok(())
}

impl CertStorage for FileStorage {
    fn load(&self, resolver: &str) -> Result<ResolverData, StorageError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut all = self.read_all()?;
        match all.remove(resolver) {
            None | Some(serde_json::Value::Null) => Ok(ResolverData::default()),
            Some(v) => serde_json::from_value(v).map_err(|e| {
                StorageError(format!(
                    "{}: resolver {resolver:?}: unexpected content ({e}); the file is left untouched",
                    self.path.display()
                ))
            }),
        }
    }

    fn save(&self, resolver: &str, data: &ResolverData) -> Result<(), StorageError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let name = self.path.display();
        // Re-read so other resolvers' entries (and anything written meanwhile) are kept; a
        // corrupt file stops the write here.
        let mut all = self.read_all()?;
        let value = serde_json::to_value(data)
            .map_err(|e| StorageError(format!("{name}: cannot encode: {e}")))?;
        all.insert(resolver.to_owned(), value);
        let text = serde_json::to_string_pretty(&serde_json::Value::Object(all))
            .map_err(|e| StorageError(format!("{name}: cannot encode: {e}")))?;
        write_private(&self.path, text.as_bytes())
            .map_err(|e| StorageError(format!("{name}: cannot write: {e}")))
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// Writes `bytes` to a temporary file with mode 0600 in the same directory, then renames it over
/// `path`, so a crash never leaves a half-written `acme.json`.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates an empty storage file with mode 0600 when none exists (Traefik does so at start, so a
/// wrong directory shows up at once rather than at the first certificate).
pub fn ensure_file(path: &Path) -> Result<(), StorageError> {
    if path.exists() {
        return Ok(());
    }
    write_private(path, b"")
        .map_err(|e| StorageError(format!("{}: cannot create: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sy-acme-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("acme.json")
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn round_trip_keeps_other_resolvers() {
        let path = temp("rt");
        let s = FileStorage::new(&path);
        assert_eq!(s.load("le").unwrap(), ResolverData::default());
        let data = ResolverData {
            account: Some(StoredAccount {
                email: "a@b.c".into(),
                registration: Some(Registration {
                    body: serde_json::json!({"status": "valid"}),
                    uri: "https://ca/acct/1".into(),
                }),
                private_key: "AAAA".into(),
                key_type: None,
            }),
            certificates: vec![StoredCert::new(
                StoredDomain {
                    main: "a.test".into(),
                    sans: vec!["b.test".into()],
                },
                "CERT",
                "KEY",
            )],
        };
        s.save("le", &data).unwrap();
        s.save("other", &ResolverData::default()).unwrap();
        assert_eq!(s.load("le").unwrap(), data);
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let cert = &raw["le"]["Certificates"][0];
        assert_eq!(cert["domain"]["main"], "a.test");
        assert_eq!(cert["Store"], "default");
        assert_eq!(raw["le"]["Account"]["Email"], "a@b.c");
        assert_eq!(
            data.certificates[0].pem().unwrap(),
            ("CERT".into(), "KEY".into())
        );
    }

    #[test]
    fn reads_traefiks_shape_with_null_certificates() {
        let path = temp("null");
        write_private(
            &path,
            br#"{"le":{"Account":{"Email":"x@y.z","Registration":null,"PrivateKey":"QQ=="},"Certificates":null}}"#,
        )
        .unwrap();
        let data = FileStorage::new(&path).load("le").unwrap();
        assert!(data.certificates.is_empty());
        assert_eq!(data.account.unwrap().email, "x@y.z");
    }

    #[cfg(unix)]
    #[test]
    fn too_open_is_refused_naming_the_file() {
        use std::os::unix::fs::PermissionsExt;
        let path = temp("mode");
        std::fs::write(&path, "{}").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = FileStorage::new(&path).load("le").unwrap_err().0;
        assert!(
            e.contains("acme.json") && e.contains("644") && e.contains("600"),
            "{e}"
        );
    }

    #[test]
    fn corrupt_file_is_never_overwritten() {
        let path = temp("corrupt");
        write_private(&path, b"{\"le\": {").unwrap();
        let s = FileStorage::new(&path);
        let e = s.load("le").unwrap_err().0;
        assert!(
            e.contains("not valid JSON") && e.contains("acme.json"),
            "{e}"
        );
        assert!(s.save("le", &ResolverData::default()).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"le\": {");
    }

    #[test]
    fn ensure_creates_private_empty_file() {
        let path = temp("ensure");
        ensure_file(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            FileStorage::new(&path).load("x").unwrap(),
            ResolverData::default()
        );
    }
}
