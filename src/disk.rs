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

/// An I/O error with the path it concerns, and the fix where the cause says what it is.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}{}", .path.display(), self.fix().map(|f| format!("\n  fix: {f}")).unwrap_or_default())]
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

    /// What to do about it, for the causes that say (a read-only file system, a full one, a
    /// permission).
    fn fix(&self) -> Option<&'static str> {
        const EROFS: i32 = 30;
        const ENOSPC: i32 = 28;
        match (self.op, self.source.raw_os_error(), self.source.kind()) {
            (_, Some(EROFS), _) => Some(
                "the file system is read-only: render into a writable directory, or remount it read-write",
            ),
            (Op::Write, Some(ENOSPC), _) => Some(
                "free space or inodes (`df -h`, `df -i`) on that file system and run again: nothing was replaced",
            ),
            (Op::Write, _, io::ErrorKind::PermissionDenied) => {
                Some("make the directory writable for this user, or render into another directory")
            }
            (Op::Read, _, io::ErrorKind::PermissionDenied) => {
                Some("make the file readable for this user")
            }
            _ => None,
        }
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

/// The most mesh-render reads of a file a mesh description names (a token, a kubeconfig, a CA,
/// an identity): far above any real one, far below what would exhaust memory.
pub const MAX_INPUT_BYTES: u64 = 1 << 20;

/// What kind of file an input may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A regular file only: a FIFO would hang, a device never end.
    Regular,
    /// Anything that can be read, such as `<(…)` on a command line, given up after this long.
    Stream(std::time::Duration),
}

/// Reads an input of at most `limit` bytes: a larger one, or one that is not a regular file
/// when `kind` says it must be, is an error saying so (never read to the end).
pub fn read_input(path: &Path, limit: u64, kind: Input) -> io::Result<Vec<u8>> {
    let too_large = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes, more than mesh-render reads of such a file"),
        )
    };
    match kind {
        Input::Regular => {
            let Some(file) = open_regular_following(path)? else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a regular file (a FIFO, a device or a directory): mesh-render reads only regular files here",
                ));
            };
            let mut bytes = Vec::new();
            file.take(limit + 1).read_to_end(&mut bytes)?;
            if bytes.len() as u64 > limit {
                return Err(too_large());
            }
            Ok(bytes)
        }
        Input::Stream(timeout) => {
            let (send, receive) = std::sync::mpsc::channel();
            let owned = path.to_owned();
            std::thread::spawn(move || {
                let read = fs::File::open(&owned).and_then(|file| {
                    let mut bytes = Vec::new();
                    file.take(limit + 1).read_to_end(&mut bytes)?;
                    Ok(bytes)
                });
                let _ = send.send(read);
            });
            match receive.recv_timeout(timeout) {
                Ok(Ok(bytes)) if bytes.len() as u64 > limit => Err(too_large()),
                Ok(read) => read,
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("nothing to read after {} s", timeout.as_secs()),
                )),
            }
        }
    }
}

/// A regular file of at most [`MAX_INPUT_BYTES`] named by the user (an identity, a token), or
/// `None` if there is none.
pub fn read_small(path: &Path) -> Result<Option<Vec<u8>>, IoError> {
    match read_input(path, MAX_INPUT_BYTES, Input::Regular) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IoError::read(path)(e)),
    }
}

/// Opens a file following symlinks (an input may be one) but without blocking on a FIFO;
/// `None` for anything but a regular file.
fn open_regular_following(path: &Path) -> io::Result<Option<fs::File>> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = options.open(path)?;
    Ok(file.metadata()?.is_file().then_some(file))
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

/// What is at a path inside a confined tree.
#[derive(Debug, Clone, Copy)]
pub enum Content<'a> {
    Absent,
    /// A directory, a FIFO, a device: anything but a regular file.
    NotAFile,
    /// A symbolic link, at the path or at a directory on the way to it (never followed).
    Symlink,
    File(&'a [u8]),
}

/// Opens a file without following a symlink at its last component and without blocking on a
/// FIFO; `Ok(None)` for anything but a regular file, `Err` with `ELOOP` for a symlink.
fn open_regular(path: &Path) -> io::Result<Option<fs::File>> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    let file = {
        use rustix::fs::OFlags;
        use std::os::unix::fs::OpenOptionsExt;
        let flags = OFlags::NOFOLLOW | OFlags::NONBLOCK;
        // Reading a tree to compare it is no access worth recording: without O_NOATIME a
        // no-op render would write every inode's atime. Only a file's owner may ask for it.
        options.custom_flags((flags | OFlags::NOATIME).bits() as i32);
        match options.open(path) {
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()) => {
                options.custom_flags(flags.bits() as i32);
                options.open(path)?
            }
            opened => opened?,
        }
    };
    #[cfg(not(target_os = "linux"))]
    let file = {
        if fs::symlink_metadata(path)?.file_type().is_symlink() {
            return Err(io::Error::from_raw_os_error(40));
        }
        options.open(path)?
    };
    Ok(file.metadata()?.is_file().then_some(file))
}

fn is_loop(e: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
    }
    #[cfg(not(target_os = "linux"))]
    {
        e.raw_os_error() == Some(40)
    }
}

/// A directory tree mesh-render owns (the output directory, `pki/`): the path up to and including
/// its root may hold symlinks (a symlinked home or mount is common); nothing below the root is
/// ever followed when mesh-render reads, writes, renames or removes. Directories found safe are
/// remembered, so a tree of tens of thousands of files costs one `lstat` per directory.
#[derive(Debug)]
pub struct Confined {
    root: PathBuf,
    /// Directories found safe, relative to the root ('/'-separated); one is remembered only once
    /// every directory above it was.
    safe: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The directories `make_dirs` created, in the order it created them.
    created: std::sync::Mutex<Vec<PathBuf>>,
}

/// Why a path inside a confined tree cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// A symlink is at this path (the file itself, or a directory on the way).
    Symlink(PathBuf),
    /// Something that is not a directory is where a directory must be.
    NotADirectory(PathBuf),
}

impl Confined {
    pub fn new(root: &Path) -> Self {
        Confined {
            root: root.to_owned(),
            safe: Default::default(),
            created: Default::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Checks every directory between the root and `rel` (relative, '/'-separated, without
    /// `.` or `..`): `Ok(true)` if all exist and none is a symlink, `Ok(false)` if one is missing.
    fn dirs_of(&self, rel: &str) -> Result<Result<bool, Blocked>, IoError> {
        let Some((parent, _)) = rel.rsplit_once('/') else {
            return Ok(Ok(true));
        };
        let safe = || {
            self.safe
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        // The file's own directory found safe means every one above it was: one lookup per file.
        if safe().contains(parent) {
            return Ok(Ok(true));
        }
        let ends = parent
            .match_indices('/')
            .map(|(i, _)| i)
            .chain(std::iter::once(parent.len()));
        for end in ends {
            let prefix = &parent[..end];
            if prefix.is_empty() || safe().contains(prefix) {
                continue;
            }
            let dir = self.root.join(prefix);
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() => return Ok(Err(Blocked::Symlink(dir))),
                Ok(m) if !m.is_dir() => return Ok(Err(Blocked::NotADirectory(dir))),
                Ok(_) => {
                    safe().insert(prefix.to_owned());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Ok(false)),
                Err(e) => return Err(IoError::read(&dir)(e)),
            }
        }
        Ok(Ok(true))
    }

    /// Calls `f` with what is at `rel`. A file's bytes are read into a buffer each thread keeps:
    /// a no-op render reads every file of the tree, and neither a size query nor an allocation
    /// per file is needed to compare them.
    pub fn look<R>(&self, rel: &str, f: impl FnOnce(Content<'_>) -> R) -> Result<R, IoError> {
        use std::cell::RefCell;
        thread_local! {
            static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        match self.dirs_of(rel)? {
            Err(Blocked::Symlink(_)) => return Ok(f(Content::Symlink)),
            Err(Blocked::NotADirectory(_)) | Ok(false) => return Ok(f(Content::Absent)),
            Ok(true) => {}
        }
        let path = self.root.join(rel);
        let mut file = match open_regular(&path) {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(f(Content::NotAFile)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(f(Content::Absent)),
            Err(e) if is_loop(&e) => return Ok(f(Content::Symlink)),
            Err(e) => return Err(IoError::read(&path)(e)),
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
                    Err(e) => return Err(IoError::read(&path)(e)),
                }
            }
            Ok(f(Content::File(&buffer[..len])))
        })
    }

    /// The bytes of the regular file at `rel`, `None` if there is none; a symlink is refused.
    pub fn read(&self, rel: &str) -> Result<Result<Option<Vec<u8>>, Blocked>, IoError> {
        self.look(rel, |content| match content {
            Content::File(bytes) => Ok(Some(bytes.to_vec())),
            Content::Absent | Content::NotAFile => Ok(None),
            Content::Symlink => Err(Blocked::Symlink(self.root.join(rel))),
        })
    }

    /// Makes the directory `rel` and the ones above it, refusing to go through a symlink.
    pub fn make_dirs(&self, rel: &str) -> Result<Result<(), Blocked>, IoError> {
        let mut dir = self.root.clone();
        let mut prefix = String::new();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            dir.push(part);
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() => return Ok(Err(Blocked::Symlink(dir))),
                Ok(m) if !m.is_dir() => return Ok(Err(Blocked::NotADirectory(dir))),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&dir) {
                    Ok(()) => self
                        .created
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(dir.clone()),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(IoError::write(&dir)(e)),
                },
                Err(e) => return Err(IoError::read(&dir)(e)),
            }
            self.safe
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(prefix.clone());
        }
        Ok(Ok(()))
    }

    /// Removes the directories `make_dirs` created that are empty, deepest first: what a write
    /// that fails before anything is put in place leaves.
    pub fn remove_created_dirs(&self) {
        let created = std::mem::take(
            &mut *self
                .created
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for dir in created.iter().rev() {
            remove_dir_if_empty(dir);
        }
    }

    /// Removes the regular file at `rel`, never through a symlink; `Ok(Err)` if one is in the way.
    pub fn remove_file(&self, rel: &str) -> Result<Result<(), Blocked>, IoError> {
        match self.dirs_of(rel)? {
            Err(blocked) => return Ok(Err(blocked)),
            Ok(false) => return Ok(Ok(())),
            Ok(true) => {}
        }
        let path = self.root.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => Ok(Err(Blocked::Symlink(path))),
            Ok(_) => {
                fs::remove_file(&path).map_err(IoError::write(&path))?;
                remove_empty_parents(&self.root, &path);
                Ok(Ok(()))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Ok(())),
            Err(e) => Err(IoError::read(&path)(e)),
        }
    }
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

/// Test builds only: `MESH_RENDER_FAULT=enospc@<suffix>` makes writing any file whose path ends
/// with `<suffix>` fail as a full disk does, after its temporary file exists. Release builds
/// compile this to nothing.
fn injected_fault(target: &Path) -> io::Result<()> {
    #[cfg(debug_assertions)]
    if let Some(spec) = std::env::var_os("MESH_RENDER_FAULT") {
        let spec = spec.to_string_lossy();
        if let Some(suffix) = spec.strip_prefix("enospc@")
            && target.to_string_lossy().ends_with(suffix)
        {
            return Err(io::Error::from_raw_os_error(28));
        }
    }
    let _ = target;
    Ok(())
}

/// Test builds only: `MESH_RENDER_FAULT=abort@<point>` ends the process at once at that named
/// point, as `kill -9` would (no destructor, no cleanup): the crash tests' way to stop a run
/// exactly mid-commit. Release builds compile this to nothing.
pub fn crash_point(point: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("MESH_RENDER_FAULT")
        .is_some_and(|spec| spec.to_string_lossy().strip_prefix("abort@") == Some(point))
    {
        std::process::abort();
    }
    let _ = point;
}

/// A temporary file beside `target`, made durable, then renamed (or linked) into place.
fn place(target: &Path, bytes: &[u8], mode: Mode, replace: Replace) -> Result<(), IoError> {
    let err = IoError::write;
    let dir = parent_of(target);
    create_dir_all(dir, mode)?;
    let tmp = temp_in(dir, bytes, mode).map_err(err(target))?;
    injected_fault(target).map_err(err(target))?;
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
        injected_fault(target).map_err(IoError::write(target))?;
        Ok(Staged {
            temp: tmp.into_temp_path(),
            target: target.to_owned(),
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Keeps the temporary file (it is no longer deleted when dropped) and returns its path: for
    /// a journal that names it, which a later run completes.
    pub fn keep(self) -> Result<PathBuf, IoError> {
        let target = self.target;
        self.temp
            .keep()
            .map_err(|e| IoError::write(&target)(e.error))
    }

    /// Renames the staged file into place.
    pub fn commit(self) -> Result<(), IoError> {
        let target = self.target;
        self.temp
            .persist(&target)
            .map_err(|e| IoError::write(&target)(e.error))
    }
}

/// Makes everything written to the file system holding `dir` durable.
pub fn sync_fs(dir: &Path) -> Result<(), IoError> {
    let file = fs::File::open(dir).map_err(IoError::write(dir))?;
    #[cfg(target_os = "linux")]
    {
        rustix::fs::syncfs(&file).map_err(|e| IoError::write(dir)(e.into()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        file.sync_all().map_err(IoError::write(dir))
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

/// How a directory is locked: many readers (`check`, `diff`) or one writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

/// A lock held on a directory (`flock` on the directory itself: no lock file is left in the
/// tree, where it would show up as drift and in git). Released when dropped, or when the process
/// dies, however it dies.
#[derive(Debug)]
pub struct DirLock {
    _dir: fs::File,
}

/// A lock that was not acquired.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{} is locked by {}: gave up after {waited} s\n  fix: wait for that run to finish (or end it), or pass --wait SECONDS", .dir.display(), holder_text(*.holder))]
    Busy {
        dir: PathBuf,
        holder: Option<u32>,
        waited: u64,
    },
    #[error(transparent)]
    Io(#[from] IoError),
}

fn holder_text(holder: Option<u32>) -> String {
    match holder {
        Some(pid) => format!("process {pid} (another mesh-render run)"),
        None => "another process (another mesh-render run)".to_owned(),
    }
}

impl LockError {
    /// Who holds the lock, for the message a waiting command prints.
    pub fn holder_text(holder: Option<u32>) -> String {
        holder_text(holder)
    }
}

/// Locks `dir` in `mode`. If another process holds a conflicting lock, `waiting` is told who
/// (once), and the lock is tried again until `wait` has passed.
pub fn lock_dir(
    dir: &Path,
    mode: LockMode,
    wait: std::time::Duration,
    waiting: &dyn Fn(&Path, Option<u32>),
) -> Result<DirLock, LockError> {
    let file = fs::File::open(dir).map_err(IoError::read(dir))?;
    let started = std::time::Instant::now();
    let mut told = false;
    loop {
        match try_lock(&file, mode) {
            Ok(true) => return Ok(DirLock { _dir: file }),
            Ok(false) => {}
            Err(e) => return Err(IoError::read(dir)(e).into()),
        }
        let holder = lock_holder(&file);
        if started.elapsed() >= wait {
            return Err(LockError::Busy {
                dir: dir.to_owned(),
                holder,
                waited: wait.as_secs(),
            });
        }
        if !told {
            waiting(dir, holder);
            told = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[cfg(target_os = "linux")]
fn try_lock(file: &fs::File, mode: LockMode) -> io::Result<bool> {
    use rustix::fs::{FlockOperation, flock};
    let op = match mode {
        LockMode::Shared => FlockOperation::NonBlockingLockShared,
        LockMode::Exclusive => FlockOperation::NonBlockingLockExclusive,
    };
    match flock(file, op) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn try_lock(_: &fs::File, _: LockMode) -> io::Result<bool> {
    // Only Linux is supported as a platform for concurrent runs; elsewhere no lock is taken.
    Ok(true)
}

/// The process holding a `flock` on the file, from `/proc/locks` (Linux), if it can be told.
fn lock_holder(file: &fs::File) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata().ok()?;
        let dev = meta.dev();
        let id = format!(
            "{:02x}:{:02x}:{}",
            rustix::fs::major(dev),
            rustix::fs::minor(dev),
            meta.ino()
        );
        let locks = fs::read_to_string("/proc/locks").ok()?;
        locks.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // "1: FLOCK  ADVISORY  WRITE 16874 fe:00:5578804 0 EOF"; blocked waiters carry "->".
            if fields.get(1) != Some(&"FLOCK") {
                return None;
            }
            (fields.get(5) == Some(&id.as_str())).then(|| fields.get(4)?.parse().ok())?
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        None
    }
}

/// Whether `path` names a temporary file of this module.
pub fn is_temporary(path: &Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy())
        .is_some_and(|n| n.starts_with(TEMP_PREFIX) && n.ends_with(TEMP_SUFFIX))
}

/// Removes the temporary files (`.mesh-render-*.tmp`) a run that died left under `root`, without
/// following symlinks; only a writer holding the exclusive lock may call it. Returns how many.
/// A PKI journal's staged files are temporary files too: complete it first.
pub fn sweep_temporaries(root: &Path) -> Result<usize, IoError> {
    let mut removed = 0;
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(IoError::read(&dir)(e)),
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if kind.is_dir() && name != ".git" {
                dirs.push(entry.path());
            } else if kind.is_file() && name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)
            {
                remove_file(&entry.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
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

    #[cfg(target_os = "linux")]
    #[test]
    fn an_exclusive_lock_excludes_and_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let none = |_: &Path, _: Option<u32>| {};
        let held = lock_dir(dir.path(), LockMode::Exclusive, Default::default(), &none).unwrap();
        let told = std::cell::Cell::new(None);
        let err = lock_dir(
            dir.path(),
            LockMode::Shared,
            std::time::Duration::from_millis(120),
            &|_, holder| told.set(Some(holder)),
        )
        .unwrap_err();
        assert!(
            matches!(err, LockError::Busy { holder: Some(pid), .. } if pid == std::process::id())
        );
        assert_eq!(told.get(), Some(Some(std::process::id())));
        drop(held);
        let a = lock_dir(dir.path(), LockMode::Shared, Default::default(), &none).unwrap();
        let b = lock_dir(dir.path(), LockMode::Shared, Default::default(), &none);
        assert!(b.is_ok(), "readers share");
        drop(a);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_below_a_directory_found_safe_is_still_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("out");
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::create_dir_all(&elsewhere).unwrap();
        fs::write(elsewhere.join("f"), b"not ours").unwrap();
        fs::write(root.join("a/b/f"), b"ours").unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("a/b/c")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("a/d")).unwrap();
        let confined = Confined::new(&root);
        assert_eq!(confined.read("a/b/f").unwrap(), Ok(Some(b"ours".to_vec())));
        // `a` and `a/b` are now known safe; what lies below or beside them is not.
        assert_eq!(
            confined.read("a/b/c/f").unwrap(),
            Err(Blocked::Symlink(root.join("a/b/c/f")))
        );
        assert_eq!(
            confined.read("a/d/f").unwrap(),
            Err(Blocked::Symlink(root.join("a/d/f")))
        );
        assert_eq!(confined.read("a/b/f").unwrap(), Ok(Some(b"ours".to_vec())));
    }

    #[test]
    fn a_sweep_removes_only_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::write(dir.path().join("a/b/.mesh-render-x1.tmp"), "t").unwrap();
        fs::write(dir.path().join("a/keep.yaml"), "k").unwrap();
        assert_eq!(sweep_temporaries(dir.path()).unwrap(), 1);
        assert_eq!(fs::read_dir(dir.path().join("a/b")).unwrap().count(), 0);
        assert!(dir.path().join("a/keep.yaml").is_file());
    }

    #[test]
    fn a_staged_file_dropped_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let staged = Staged::new(&dir.path().join("x"), b"x").unwrap();
        drop(staged);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
