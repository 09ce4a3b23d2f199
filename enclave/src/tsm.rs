//! A small client for Linux's configfs-tsm report interface
//! (`/sys/kernel/config/tsm/report`, Documentation/ABI/testing/configfs-tsm): one
//! directory per request; write the 64-byte `inblob`, read `provider`, `outblob` (the quote
//! or report) and `auxblob` (SEV-SNP's certificate table), and compare `generation` before
//! and after so that a concurrent writer cannot hand us a quote over someone else's data.
//!
//! The file operations go through [`ConfigFs`], so the client is tested against a fake
//! tree that behaves like the kernel's.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the kernel mounts the interface.
pub const DEFAULT_ROOT: &str = "/sys/kernel/config/tsm/report";

/// Which TEE answered (`provider`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provider {
    /// Intel TDX (`tdx_guest`): `outblob` is a DCAP quote.
    Tdx,
    /// AMD SEV-SNP (`sev_guest`): `outblob` is the 1184-byte attestation report and
    /// `auxblob` the certificate table (with the VCEK when the host provides it).
    SevSnp,
}

/// What one request returned.
#[derive(Clone, Debug)]
pub struct TsmReport {
    /// The TEE that produced it.
    pub provider: Provider,
    /// The quote (TDX) or attestation report (SEV-SNP).
    pub outblob: Vec<u8>,
    /// Auxiliary data (SEV-SNP certificate table); empty when there is none.
    pub auxblob: Vec<u8>,
}

/// Why no report came back.
#[derive(Debug, thiserror::Error)]
pub enum TsmError {
    /// There is no configfs-tsm on this machine (not a TEE guest, or configfs not mounted).
    #[error("configfs-tsm is not available at {root}: {source} (not a TDX/SEV-SNP guest, or configfs not mounted at /sys/kernel/config)")]
    Unavailable {
        /// The root looked at.
        root: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The provider is one we do not know how to verify.
    #[error("configfs-tsm provider {0:?} is not supported (tdx_guest and sev_guest are)")]
    UnknownProvider(String),
    /// Another process kept writing to our request.
    #[error("configfs-tsm request {0} was modified concurrently on every try")]
    Contended(PathBuf),
    /// The kernel returned an empty quote.
    #[error("configfs-tsm returned an empty outblob")]
    Empty,
    /// Any other file error.
    #[error("configfs-tsm {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// The file operations the client needs.
pub trait ConfigFs {
    /// Creates a request directory (the kernel fills it with its attributes).
    fn make_dir(&self, path: &Path) -> io::Result<()>;
    /// Writes an attribute.
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Reads an attribute.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Removes a request directory.
    fn remove_dir(&self, path: &Path) -> io::Result<()>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

impl ConfigFs for RealFs {
    fn make_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir(path)
    }
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        std::fs::write(path, data)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path)
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
}

/// A configfs-tsm client.
#[derive(Debug)]
pub struct TsmClient<F: ConfigFs = RealFs> {
    fs: F,
    root: PathBuf,
}

impl TsmClient<RealFs> {
    /// The client of this machine's `/sys/kernel/config/tsm/report`.
    pub fn system() -> Self {
        TsmClient {
            fs: RealFs,
            root: PathBuf::from(DEFAULT_ROOT),
        }
    }
}

impl<F: ConfigFs> TsmClient<F> {
    /// A client over `fs` rooted at `root` (tests use a fake tree).
    pub fn new(fs: F, root: impl Into<PathBuf>) -> Self {
        TsmClient {
            fs,
            root: root.into(),
        }
    }

    /// Whether the interface is there.
    pub fn available(&self) -> Result<(), TsmError> {
        if self.fs.is_dir(&self.root) {
            Ok(())
        } else {
            Err(TsmError::Unavailable {
                root: self.root.clone(),
                source: io::Error::new(io::ErrorKind::NotFound, "no such directory"),
            })
        }
    }

    /// Asks the TEE for a quote over `report_data`.
    pub fn report(&self, report_data: &[u8; 64]) -> Result<TsmReport, TsmError> {
        self.available()?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "fornax-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.root.join(name);
        self.fs.make_dir(&dir).map_err(|source| TsmError::Io {
            what: "creating",
            path: dir.clone(),
            source,
        })?;
        let result = self.request(&dir, report_data);
        // The request directory is ours: always remove it, but report the request's error.
        let removed = self.fs.remove_dir(&dir);
        let report = result?;
        removed.map_err(|source| TsmError::Io {
            what: "removing",
            path: dir,
            source,
        })?;
        Ok(report)
    }

    fn request(&self, dir: &Path, report_data: &[u8; 64]) -> Result<TsmReport, TsmError> {
        let read = |attr: &str| {
            let path = dir.join(attr);
            self.fs.read(&path).map_err(|source| TsmError::Io {
                what: "reading",
                path,
                source,
            })
        };
        for _ in 0..3 {
            let inblob = dir.join("inblob");
            self.fs
                .write(&inblob, report_data)
                .map_err(|source| TsmError::Io {
                    what: "writing",
                    path: inblob,
                    source,
                })?;
            let before = read("generation")?;
            let provider = String::from_utf8_lossy(&read("provider")?)
                .trim()
                .to_string();
            let outblob = read("outblob")?;
            let auxblob = match self.fs.read(&dir.join("auxblob")) {
                Ok(blob) => blob,
                Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(source) => {
                    return Err(TsmError::Io {
                        what: "reading",
                        path: dir.join("auxblob"),
                        source,
                    })
                }
            };
            if read("generation")? != before {
                continue; // someone wrote to our request between our reads: ask again
            }
            let provider = match provider.as_str() {
                "tdx_guest" => Provider::Tdx,
                "sev_guest" => Provider::SevSnp,
                other => return Err(TsmError::UnknownProvider(other.to_string())),
            };
            if outblob.is_empty() {
                return Err(TsmError::Empty);
            }
            return Ok(TsmReport {
                provider,
                outblob,
                auxblob,
            });
        }
        Err(TsmError::Contended(dir.to_path_buf()))
    }
}

/// The GUID of the VCEK in SEV-SNP's certificate table (AMD GHCB specification).
const VCEK_GUID: [u8; 16] = guid_bytes(
    0x63da758d,
    0xe664,
    0x4564,
    [0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd],
);

const fn guid_bytes(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    // The table stores GUIDs in their little-endian (Microsoft) byte order.
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}

/// The VCEK certificate (DER) in an SEV-SNP certificate table (`auxblob`): entries of
/// (GUID, offset, length) up to an all-zero entry, offsets from the table's start.
pub fn vcek_from_cert_table(table: &[u8]) -> Option<Vec<u8>> {
    let mut at = 0;
    while at + 24 <= table.len() {
        let entry = &table[at..at + 24];
        if entry.iter().all(|&b| b == 0) {
            return None;
        }
        let offset = u32::from_le_bytes(entry[16..20].try_into().unwrap()) as usize;
        let length = u32::from_le_bytes(entry[20..24].try_into().unwrap()) as usize;
        if entry[..16] == VCEK_GUID {
            return table
                .get(offset..offset.checked_add(length)?)
                .map(<[u8]>::to_vec);
        }
        at += 24;
    }
    None
}

/// Builds an SEV-SNP certificate table holding one VCEK (the inverse of
/// [`vcek_from_cert_table`]; used by tests and by the fake tree).
pub fn cert_table_with_vcek(vcek_der: &[u8]) -> Vec<u8> {
    let header = 2 * 24;
    let mut table = Vec::with_capacity(header + vcek_der.len());
    table.extend_from_slice(&VCEK_GUID);
    table.extend_from_slice(&(header as u32).to_le_bytes());
    table.extend_from_slice(&(vcek_der.len() as u32).to_le_bytes());
    table.extend_from_slice(&[0u8; 24]);
    table.extend_from_slice(vcek_der);
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A fake configfs-tsm tree in a temporary directory, behaving like the kernel: a new
    /// request directory gets `provider` and `generation`; each write to `inblob` bumps
    /// the generation and produces the `outblob` (and `auxblob` for SEV-SNP).
    struct FakeTsm {
        provider: &'static str,
        /// Bump the generation behind the client's back this many more times.
        interfere: Cell<u32>,
    }

    impl ConfigFs for FakeTsm {
        fn make_dir(&self, path: &Path) -> io::Result<()> {
            std::fs::create_dir(path)?;
            std::fs::write(path.join("provider"), format!("{}\n", self.provider))?;
            std::fs::write(path.join("generation"), "0\n")
        }
        fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
            let dir = path.parent().unwrap();
            if path.file_name().unwrap() != "inblob" || data.len() > 64 {
                return Err(io::Error::from(io::ErrorKind::InvalidInput));
            }
            let generation = self.generation(dir)? + 1;
            std::fs::write(dir.join("generation"), format!("{generation}\n"))?;
            let mut quote = b"QUOTE:".to_vec();
            quote.extend_from_slice(data);
            std::fs::write(dir.join("outblob"), quote)?;
            if self.provider == "sev_guest" {
                std::fs::write(dir.join("auxblob"), cert_table_with_vcek(b"VCEK-DER"))?;
            }
            Ok(())
        }
        fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
            let data = std::fs::read(path)?;
            if path.file_name().unwrap() == "outblob" && self.interfere.get() > 0 {
                self.interfere.set(self.interfere.get() - 1);
                let dir = path.parent().unwrap();
                let generation = self.generation(dir)? + 1;
                std::fs::write(dir.join("generation"), format!("{generation}\n"))?;
            }
            Ok(data)
        }
        fn remove_dir(&self, path: &Path) -> io::Result<()> {
            std::fs::remove_dir_all(path)
        }
        fn is_dir(&self, path: &Path) -> bool {
            path.is_dir()
        }
    }

    impl FakeTsm {
        fn generation(&self, dir: &Path) -> io::Result<u64> {
            let text = std::fs::read_to_string(dir.join("generation"))?;
            Ok(text.trim().parse().unwrap())
        }
    }

    fn fake(provider: &'static str, interfere: u32) -> (tempfile::TempDir, TsmClient<FakeTsm>) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("tsm/report");
        std::fs::create_dir_all(&root).unwrap();
        let client = TsmClient::new(
            FakeTsm {
                provider,
                interfere: Cell::new(interfere),
            },
            root,
        );
        (tmp, client)
    }

    fn entries(client: &TsmClient<FakeTsm>) -> usize {
        std::fs::read_dir(&client.root).unwrap().count()
    }

    #[test]
    fn tdx_report_carries_our_report_data_and_cleans_up() {
        let (_tmp, client) = fake("tdx_guest", 0);
        let data = [0x5a; 64];
        let report = client.report(&data).unwrap();
        assert_eq!(report.provider, Provider::Tdx);
        assert_eq!(&report.outblob[6..], &data[..]);
        assert!(report.auxblob.is_empty());
        assert_eq!(entries(&client), 0, "request directory removed");
    }

    #[test]
    fn snp_report_has_the_vcek_in_its_certificate_table() {
        let (_tmp, client) = fake("sev_guest", 0);
        let report = client.report(&[1; 64]).unwrap();
        assert_eq!(report.provider, Provider::SevSnp);
        assert_eq!(vcek_from_cert_table(&report.auxblob).unwrap(), b"VCEK-DER");
        assert_eq!(vcek_from_cert_table(&[0u8; 24]), None);
    }

    #[test]
    fn a_concurrent_writer_makes_the_client_ask_again_then_give_up() {
        let (_tmp, client) = fake("tdx_guest", 1);
        assert!(client.report(&[2; 64]).is_ok(), "one interference: retried");
        let (_tmp, client) = fake("tdx_guest", 10);
        let err = client.report(&[2; 64]).unwrap_err();
        assert!(matches!(err, TsmError::Contended(_)), "{err}");
        assert_eq!(entries(&client), 0, "removed after failing too");
    }

    #[test]
    fn missing_interface_and_unknown_provider_are_clear_errors() {
        let client = TsmClient::new(RealFs, "/nonexistent/tsm/report");
        let err = client.report(&[0; 64]).unwrap_err();
        assert!(matches!(err, TsmError::Unavailable { .. }));
        assert!(err.to_string().contains("not a TDX/SEV-SNP guest"), "{err}");
        let (_tmp, client) = fake("arm_cca_guest", 0);
        let err = client.report(&[0; 64]).unwrap_err();
        assert!(
            matches!(err, TsmError::UnknownProvider(ref p) if p == "arm_cca_guest"),
            "{err}"
        );
    }
}
