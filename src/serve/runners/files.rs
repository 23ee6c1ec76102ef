//! Artifact archives between runners and the server's store: an uploaded zip unpacked with
//! `run::artifacts::restore`'s path checks, a stored job's files packed for a dependent job.

use std::io::{Cursor, Write};
use std::path::Path;

/// Why an archive could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not a valid zip archive.
    #[error("not a valid zip archive: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// Reading or writing files failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Unpacks the zip `data` into `staging`, then into `workspace` (nothing written through a
/// symlink out of it); returns the number of files.
pub fn unzip(data: &[u8], staging: &Path, workspace: &Path) -> Result<usize, ArchiveError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(data))?;
    std::fs::create_dir_all(staging)?;
    // `extract` refuses entries whose names leave the directory.
    archive.extract(staging)?;
    Ok(crate::run::artifacts::restore(staging, workspace)?)
}

/// The files under `dir` as a zip archive; `None` when there are none.
pub fn zip(dir: &Path) -> Result<Option<Vec<u8>>, ArchiveError> {
    let files = crate::run::artifacts::list(dir);
    if files.is_empty() {
        return Ok(None);
    }
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for rel in files {
        zip.start_file(rel.to_string_lossy(), options)?;
        zip.write_all(&std::fs::read(dir.join(&rel))?)?;
    }
    Ok(Some(zip.finish()?.into_inner()))
}
