//! The one module that changes the file system. Every file mesh-render writes goes through here:
//! written to a temporary file beside its target, made durable, then renamed into place, with
//! its mode set when it is created (0644 for output, 0600 for identities and keys). It also
//! reads the files other modules hand it, so that every I/O error carries its path and whether
//! it happened reading (an input) or writing (the output).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The prefix and suffix of every temporary file: the name marks it as mesh-render's.
pub const TEMP_PREFIX: &str = ".mesh-render-";
pub const TEMP_SUFFIX: &str = ".tmp";

/// What an I/O error happened doing: reading an input, or writing the output or state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
}

/// An I/O error with the path it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", .path.display())]
pub struct IoError {
    pub op: Op,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl IoError {
    pub fn read(path: &Path) -> impl FnOnce(io::Error) -> IoError + '_ {
        move |source| IoError {
            op: Op::Read,
            path: path.to_owned(),
            source,
        }
    }

    pub fn write(path: &Path) -> impl FnOnce(io::Error) -> IoError + '_ {
        move |source| IoError {
            op: Op::Write,
            path: path.to_owned(),
            source,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.source.kind() == io::ErrorKind::NotFound
    }
}

/// Who may read a file mesh-render writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 0644 less the umask: rendered output, mesh.yaml, the render record, PKI state (its keys
    /// are encrypted).
    Public,
    /// 0600, in a directory made 0700: identities.
    Private,
}

impl Mode {
    #[cfg(unix)]
    fn bits(self) -> u32 {
        match self {
            Mode::Public => 0o644,
            Mode::Private => 0o600,
        }
    }
}

/// Reads a whole file.
pub fn read(path: &Path) -> Result<Vec<u8>, IoError> {
    fs::read(path).map_err(IoError::read(path))
}

/// Reads a whole file as UTF-8 text.
pub fn read_text(path: &Path) -> Result<String, IoError> {
    fs::read_to_string(path).map_err(IoError::read(path))
}

/// Reads a file, or `None` if there is none.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, IoError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IoError::read(path)(e)),
    }
}

/// The file's bytes, or `None` if nothing, or a directory, is there.
pub fn read_if_file(path: &Path) -> Result<Option<Vec<u8>>, IoError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(_) if path.is_dir() => Ok(None),
        Err(e) => Err(IoError::read(path)(e)),
    }
}

/// Calls `f` with the file's bytes, or `None` if nothing (or a directory) is there. The bytes
/// are read into a buffer each thread keeps: a no-op render reads every file of the tree, and
/// neither a size query nor an allocation per file is needed to compare them.
pub fn with_file_bytes<R>(path: &Path, f: impl FnOnce(Option<&[u8]>) -> R) -> Result<R, IoError> {
    use std::cell::RefCell;
    thread_local! {
        static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(f(None)),
        Err(_) if path.is_dir() => return Ok(f(None)),
        Err(e) => return Err(IoError::read(path)(e)),
    };
    BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        let mut len = 0;
        loop {
            if len == buffer.len() {
                let grown = (buffer.len() * 2).max(64 * 1024);
                buffer.resize(grown, 0);
            }
            match file.read(&mut buffer[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::IsADirectory => return Ok(f(None)),
                Err(e) => return Err(IoError::read(path)(e)),
            }
        }
        Ok(f(Some(&buffer[..len])))
    })
}

/// The entries of a directory (none if it does not exist), in no particular order.
pub fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, IoError> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(entries.flatten().map(|e| e.path()).collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(IoError::read(dir)(e)),
    }
}

/// Makes `dir` and its parents; a `Private` directory is then made 0700.
pub fn create_dir_all(dir: &Path, mode: Mode) -> Result<(), IoError> {
    fs::create_dir_all(dir).map_err(IoError::write(dir))?;
    #[cfg(unix)]
    if mode == Mode::Private {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(IoError::write(dir))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(())
}

/// A new temporary file in `dir` (which exists) holding `bytes`, created with `mode`, not synced.
fn temp_in(dir: &Path, bytes: &[u8], mode: Mode) -> io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(mode.bits()));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    Ok(tmp)
}

fn parent_of(target: &Path) -> &Path {
    target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Makes a directory entry change (a rename, a new file) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Writes one file atomically: a reader sees the old bytes or the new ones, never a mix, and
/// after a crash the file holds one or the other. Parent directories are made as needed.
pub fn write_atomic(target: &Path, bytes: &[u8], mode: Mode) -> Result<(), IoError> {
    place(target, bytes, mode, Replace::Yes)
}

/// Writes a new file atomically, failing with `AlreadyExists` if one is there: the file appears
/// whole or not at all, and of two writers exactly one succeeds.
pub fn create_new(target: &Path, bytes: &[u8], mode: Mode) -> Result<(), IoError> {
    place(target, bytes, mode, Replace::No)
}

/// Whether a file already at the target is replaced.
#[derive(PartialEq, Eq)]
enum Replace {
    Yes,
    No,
}

/// A temporary file beside `target`, made durable, then renamed (or linked) into place.
fn place(target: &Path, bytes: &[u8], mode: Mode, replace: Replace) -> Result<(), IoError> {
    let err = IoError::write;
    let dir = parent_of(target);
    create_dir_all(dir, mode)?;
    let tmp = temp_in(dir, bytes, mode).map_err(err(target))?;
    tmp.as_file().sync_all().map_err(err(target))?;
    let placed = match replace {
        Replace::Yes => tmp.persist(target),
        Replace::No => tmp.persist_noclobber(target),
    };
    placed.map_err(|e| err(target)(e.error))?;
    sync_dir(dir).map_err(err(dir))
}

/// Renames `from` to `to` (same file system), durably.
pub fn rename(from: &Path, to: &Path) -> Result<(), IoError> {
    fs::rename(from, to).map_err(IoError::write(from))?;
    sync_dir(parent_of(to)).map_err(IoError::write(to))?;
    if parent_of(from) != parent_of(to) {
        sync_dir(parent_of(from)).map_err(IoError::write(from))?;
    }
    Ok(())
}

/// Removes a file.
pub fn remove_file(path: &Path) -> Result<(), IoError> {
    fs::remove_file(path).map_err(IoError::write(path))
}

/// Removes `dir` if it is empty; anything else leaves it.
pub fn remove_dir_if_empty(dir: &Path) -> bool {
    fs::remove_dir(dir).is_ok()
}

/// Removes the directories a removal emptied, from `file`'s parent up to (not including) `root`.
pub fn remove_empty_parents(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || !remove_dir_if_empty(d) {
            break;
        }
        dir = d.parent();
    }
}

/// A file written under a temporary name beside its target, not yet in place. Dropped, the
/// temporary file is deleted.
pub struct Staged {
    temp: tempfile::TempPath,
    target: PathBuf,
}

impl Staged {
    /// Writes `bytes` (mode 0644 less the umask) beside `target`, whose directory exists. Not
    /// synced: [`sync_staged`] makes a whole batch durable at once.
    pub fn new(target: &Path, bytes: &[u8]) -> Result<Staged, IoError> {
        let tmp =
            temp_in(parent_of(target), bytes, Mode::Public).map_err(IoError::write(target))?;
        Ok(Staged {
            temp: tmp.into_temp_path(),
            target: target.to_owned(),
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the staged file into place.
    pub fn commit(self) -> Result<(), IoError> {
        let target = self.target;
        self.temp
            .persist(&target)
            .map_err(|e| IoError::write(&target)(e.error))
    }
}

/// Makes every staged file durable before any is renamed into place: one `syncfs` of the file
/// system holding `root` on Linux, an `fsync` per file elsewhere.
pub fn sync_staged(root: &Path, staged: &[Staged]) -> Result<(), IoError> {
    #[cfg(target_os = "linux")]
    {
        let _ = staged;
        let dir = fs::File::open(root).map_err(IoError::write(root))?;
        rustix::fs::syncfs(&dir).map_err(|e| IoError::write(root)(e.into()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = root;
        for s in staged {
            fs::File::open(&s.temp)
                .and_then(|f| f.sync_all())
                .map_err(IoError::write(&s.target))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a/b.txt");
        write_atomic(&target, b"one", Mode::Public).unwrap();
        write_atomic(&target, b"two", Mode::Public).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(target.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["b.txt"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_private_file_is_0600_from_the_start() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("keys/id.agekey");
        create_new(&target, b"secret", Mode::Private).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&target), 0o600);
        assert_eq!(mode(target.parent().unwrap()), 0o700);
    }

    #[test]
    fn a_new_file_never_replaces_one_that_exists() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("id");
        create_new(&target, b"first", Mode::Private).unwrap();
        let err = create_new(&target, b"second", Mode::Private).unwrap_err();
        assert_eq!(err.source.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&target).unwrap(), b"first");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_staged_file_dropped_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let staged = Staged::new(&dir.path().join("x"), b"x").unwrap();
        drop(staged);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
