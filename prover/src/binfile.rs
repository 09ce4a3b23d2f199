//! The iden3 "binfile" container shared by `.zkey`, `.wtns`, `.r1cs` and `.ptau`:
//! a 4-byte magic, a u32 version, a u32 section count, then sections of
//! (u32 id, u64 size, payload) in any order.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::ProverError;

/// Where a container's bytes are: in memory, or in a file read section by section (so that
/// a large `.zkey` is never held whole: its point sections are parsed in chunks).
#[derive(Clone, Copy)]
enum Source<'a> {
    Memory(&'a [u8]),
    File(&'a File),
}

/// A parsed container: where each section's payload lies.
pub struct BinFile<'a> {
    file: String,
    /// The format version.
    pub version: u32,
    source: Source<'a>,
    /// Section id → (offset, length) in the container.
    sections: HashMap<u32, (u64, u64)>,
}

impl<'a> BinFile<'a> {
    /// Parses a container held in memory, checking the magic and that every section lies
    /// within the bytes.
    pub fn parse(
        file: &str,
        bytes: &'a [u8],
        magic: &[u8; 4],
        max_version: u32,
    ) -> Result<Self, ProverError> {
        Self::index(file, Source::Memory(bytes), magic, max_version)
    }

    /// As [`parse`](Self::parse), for a container in an open file: only the section
    /// headers are read now; payloads are read when asked for.
    pub fn open(
        file: &str,
        handle: &'a File,
        magic: &[u8; 4],
        max_version: u32,
    ) -> Result<Self, ProverError> {
        Self::index(file, Source::File(handle), magic, max_version)
    }

    fn index(
        file: &str,
        source: Source<'a>,
        magic: &[u8; 4],
        max_version: u32,
    ) -> Result<Self, ProverError> {
        let err = |p: String| ProverError::format(file, p);
        let io = |source: std::io::Error| ProverError::Io {
            file: file.to_string(),
            source,
        };
        let total = match source {
            Source::Memory(b) => b.len() as u64,
            Source::File(f) => f.metadata().map_err(io)?.len(),
        };
        let read = |at: u64, out: &mut [u8]| -> Result<(), ProverError> {
            match source {
                Source::Memory(b) => out.copy_from_slice(&b[at as usize..at as usize + out.len()]),
                Source::File(f) => f.read_exact_at(out, at).map_err(io)?,
            }
            Ok(())
        };
        let kind = String::from_utf8_lossy(magic).to_string();
        if total < 12 {
            return Err(err(format!(
                "too short to be a .{kind} file ({total} bytes)"
            )));
        }
        let mut head = [0u8; 12];
        read(0, &mut head)?;
        if &head[0..4] != magic {
            return Err(err(format!(
                "not a .{kind} file (magic {:?})",
                String::from_utf8_lossy(&head[0..4])
            )));
        }
        let version = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
        if version == 0 || version > max_version {
            return Err(err(format!(
                ".{kind} version {version} is not supported (at most {max_version})"
            )));
        }
        let count = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
        let mut pos = 12u64;
        let mut sections = HashMap::new();
        for k in 0..count {
            if total < pos + 12 {
                return Err(err(format!(
                    "truncated: header of section #{k} (of {count}) is missing at byte {pos}"
                )));
            }
            read(pos, &mut head)?;
            let id = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes"));
            let size = u64::from_le_bytes(head[4..12].try_into().expect("8 bytes"));
            pos += 12;
            let end = pos.checked_add(size).filter(|&e| e <= total).ok_or_else(|| {
                err(format!(
                    "truncated: section {id} declares {size} bytes at byte {pos} but the file has {total} bytes"
                ))
            })?;
            if sections.insert(id, (pos, size)).is_some() {
                return Err(err(format!("section {id} appears twice")));
            }
            pos = end;
        }
        if pos != total {
            // Bytes no section accounts for would let two different files mean one key.
            return Err(err(format!("{} bytes after the last section", total - pos)));
        }
        Ok(BinFile {
            file: file.to_string(),
            version,
            source,
            sections,
        })
    }

    fn locate(&self, id: u32, name: &str) -> Result<(u64, u64), ProverError> {
        self.sections.get(&id).copied().ok_or_else(|| {
            ProverError::format(&self.file, format!("section {id} ({name}) is missing"))
        })
    }

    /// The payload of section `id`, or an error naming it: borrowed from memory, or read
    /// from the file.
    pub fn section(&self, id: u32, name: &str) -> Result<Cow<'a, [u8]>, ProverError> {
        let len = self.section_len(id, name)?;
        self.section_range(id, name, 0, len)
    }

    /// Bytes `from..from + len` of section `id`'s payload (the caller keeps within
    /// [`section_len`](Self::section_len)).
    pub fn section_range(
        &self,
        id: u32,
        name: &str,
        from: usize,
        len: usize,
    ) -> Result<Cow<'a, [u8]>, ProverError> {
        let (at, size) = self.locate(id, name)?;
        assert!(from + len <= size as usize, "range within the section");
        let mut out = Vec::new();
        Ok(match self.read(at + from as u64, len, &mut out)? {
            Some(bytes) => Cow::Borrowed(bytes),
            None => Cow::Owned(out),
        })
    }

    /// The length of section `id`'s payload.
    pub fn section_len(&self, id: u32, name: &str) -> Result<usize, ProverError> {
        Ok(self.locate(id, name)?.1 as usize)
    }

    /// Calls `f(first, bytes)` on section `id`'s payload from byte `from` on, in
    /// consecutive pieces of `chunk` bytes (the last may be shorter; `first` is the piece's
    /// offset in the section). A file is read one piece at a time into one buffer, so
    /// memory holds one piece, not the section.
    pub fn for_each_chunk(
        &self,
        id: u32,
        name: &str,
        from: usize,
        chunk: usize,
        mut f: impl FnMut(usize, &[u8]) -> Result<(), ProverError>,
    ) -> Result<(), ProverError> {
        let (at, len) = self.locate(id, name)?;
        let mut buf = Vec::new();
        let mut first = from;
        while first < len as usize {
            let n = chunk.min(len as usize - first);
            match self.read(at + first as u64, n, &mut buf)? {
                Some(bytes) => f(first, bytes)?,
                None => f(first, &buf)?,
            }
            first += n;
        }
        Ok(())
    }

    /// `len` bytes at `at`: borrowed (`Some`) from memory, or read into `buf` (`None`).
    fn read(
        &self,
        at: u64,
        len: usize,
        buf: &mut Vec<u8>,
    ) -> Result<Option<&'a [u8]>, ProverError> {
        match self.source {
            Source::Memory(b) => Ok(Some(&b[at as usize..at as usize + len])),
            Source::File(f) => {
                buf.clear();
                buf.resize(len, 0);
                f.read_exact_at(buf, at).map_err(|source| ProverError::Io {
                    file: self.file.clone(),
                    source,
                })?;
                Ok(None)
            }
        }
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
