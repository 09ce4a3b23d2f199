//! The iden3 "binfile" container shared by `.zkey`, `.wtns`, `.r1cs` and `.ptau`:
//! a 4-byte magic, a u32 version, a u32 section count, then sections of
//! (u32 id, u64 size, payload) in any order.

use std::collections::HashMap;

use crate::ProverError;

/// A parsed container: section payloads by id, borrowed from the file's bytes.
pub struct BinFile<'a> {
    file: String,
    /// The format version.
    pub version: u32,
    sections: HashMap<u32, &'a [u8]>,
}

impl<'a> BinFile<'a> {
    /// Parses the container, checking the magic and that every section lies within the file.
    pub fn parse(
        file: &str,
        bytes: &'a [u8],
        magic: &[u8; 4],
        max_version: u32,
    ) -> Result<Self, ProverError> {
        let err = |p: String| ProverError::format(file, p);
        let kind = String::from_utf8_lossy(magic).to_string();
        if bytes.len() < 12 {
            return Err(err(format!(
                "too short to be a .{kind} file ({} bytes)",
                bytes.len()
            )));
        }
        if &bytes[0..4] != magic {
            return Err(err(format!(
                "not a .{kind} file (magic {:?})",
                String::from_utf8_lossy(&bytes[0..4])
            )));
        }
        let version = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
        if version == 0 || version > max_version {
            return Err(err(format!(
                ".{kind} version {version} is not supported (at most {max_version})"
            )));
        }
        let count = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        let mut pos = 12usize;
        let mut sections = HashMap::new();
        for k in 0..count {
            if bytes.len() < pos + 12 {
                return Err(err(format!(
                    "truncated: header of section #{k} (of {count}) is missing at byte {pos}"
                )));
            }
            let id = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes"));
            let size = u64::from_le_bytes(bytes[pos + 4..pos + 12].try_into().expect("8 bytes"));
            pos += 12;
            let end = (pos as u64).checked_add(size).filter(|&e| e <= bytes.len() as u64).ok_or_else(|| {
                err(format!(
                    "truncated: section {id} declares {size} bytes at byte {pos} but the file has {} bytes",
                    bytes.len()
                ))
            })? as usize;
            if sections.insert(id, &bytes[pos..end]).is_some() {
                return Err(err(format!("section {id} appears twice")));
            }
            pos = end;
        }
        if pos != bytes.len() {
            // Bytes no section accounts for would let two different files mean one key.
            return Err(err(format!(
                "{} bytes after the last section",
                bytes.len() - pos
            )));
        }
        Ok(BinFile {
            file: file.to_string(),
            version,
            sections,
        })
    }

    /// The payload of section `id`, or an error naming it.
    pub fn section(&self, id: u32, name: &str) -> Result<&'a [u8], ProverError> {
        self.sections.get(&id).copied().ok_or_else(|| {
            ProverError::format(&self.file, format!("section {id} ({name}) is missing"))
        })
    }

    /// The file name, for error messages.
    pub fn file(&self) -> &str {
        &self.file
    }
}

/// A bounds-checked little-endian reader over one section.
pub struct Reader<'a> {
    file: &'a str,
    section: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads section `section` of `file`.
    pub fn new(file: &'a str, section: &'a str, bytes: &'a [u8]) -> Self {
        Reader {
            file,
            section,
            bytes,
            pos: 0,
        }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ProverError> {
        if self.bytes.len() - self.pos < n {
            return Err(ProverError::format(
                self.file,
                format!(
                    "section {} is too short: needs {} more bytes at offset {}, has {}",
                    self.section,
                    n,
                    self.pos,
                    self.bytes.len() - self.pos
                ),
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> Result<u32, ProverError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> Result<u64, ProverError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// An error about this section.
    pub fn error(&self, problem: impl std::fmt::Display) -> ProverError {
        ProverError::format(self.file, format!("section {}: {problem}", self.section))
    }
}

/// Writes a container with the given sections (in the order given).
pub fn write(magic: &[u8; 4], version: u32, sections: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let total: usize = sections.iter().map(|(_, s)| s.len() + 12).sum();
    let mut out = Vec::with_capacity(12 + total);
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    for (id, payload) in sections {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(payload);
    }
    out
}

/// Reads a whole file, with the error naming it.
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>, ProverError> {
    std::fs::read(path).map_err(|source| ProverError::Io {
        file: path.display().to_string(),
        source,
    })
}
