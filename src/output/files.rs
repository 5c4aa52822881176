//! Writing the report files (`-o`, `--html`, `--junit`). natcorr runs as root on paths other
//! users may control, so this module never replaces a capture, a device or a FIFO by a report,
//! never follows a symlink planted at a temporary name, and never leaves half a report behind.
//!
//! - [`check_outputs`] runs before any input is read: an output that is an input, two outputs
//!   that are one file, a missing directory, a directory or socket as output, and an existing
//!   packet capture as output (`--html *.pcap`: the shell put a capture after `--html`) are
//!   errors at once, not after the analysis.
//! - [`write_output`] writes one output according to what the path is when it is written:
//!   - a symlink: its final target is written (the link stays a link);
//!   - `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`: the already-open
//!     descriptor is written (a duplicate of it, so the shell's redirection, offset and append
//!     mode are kept);
//!   - a FIFO or a character device: opened for writing without `O_CREAT`/`O_TRUNC` and written
//!     in place, never renamed over;
//!   - a regular file, or nothing yet: atomic replace through a temporary beside the target,
//!     created with `O_CREAT|O_EXCL` (a planted file or symlink is never opened), mode 0600,
//!     named with 64 random bits; written, fsynced, given its final mode (the old file's, or
//!     0644 minus the umask), renamed over the target, and the directory fsynced;
//!   - anything else (directory, socket, block device): an error.
//! - [`install_signal_cleanup`] removes the temporaries still being written on SIGINT, SIGTERM
//!   or SIGHUP, then lets the signal kill the process as it would have.
//!
//! Trade-offs, on purpose:
//! - Replacing a file gives it a new inode: other hard links keep the old report, and the new
//!   file is owned by the old file's owner only where `fchown` is allowed (it is for root).
//! - A FIFO is opened blocking: like `echo > fifo`, the write waits for a reader.
//! - A write to a FIFO, a device or a descriptor that fails halfway has already delivered part of
//!   the report; only regular files are all-or-nothing.
//! - The checks of [`check_outputs`] are advice for the user, made early; the safety does not
//!   rest on them: [`write_output`] looks at the path again and opens nothing it did not expect
//!   (`O_EXCL` for temporaries; `O_NOFOLLOW` plus a check of the opened file for FIFOs/devices).
//! - The signal handler can clean up at most [`MAX_TEMPORARIES`] temporaries written at once
//!   (natcorr writes one at a time; more are still written, without cleanup on a signal). A
//!   temporary is registered just after it is created: a signal in between leaves it behind. A
//!   path's C string is freed when its write ends unless a handler has started, so the handler
//!   never reads freed memory.

use std::collections::hash_map::RandomState;
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, Metadata, OpenOptions, Permissions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering::SeqCst};
use std::sync::Once;

/// Why an output cannot be written; every message names the file and says why.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(
        "output {} is the input {}: refusing to overwrite a capture",
        output.display(),
        input.display()
    )]
    IsInput { output: PathBuf, input: PathBuf },

    #[error("outputs {} and {} are the same file", first.display(), second.display())]
    SameOutput { first: PathBuf, second: PathBuf },

    #[error(
        "refusing to overwrite {}: it is a packet capture (was a capture taken as the file \
         name of -o, --html or --junit?)",
        path.display()
    )]
    IsCapture { path: PathBuf },

    #[error("cannot write {}: directory {} does not exist", path.display(), dir.display())]
    NoDirectory { path: PathBuf, dir: PathBuf },

    #[error("cannot write {}: {} is not a directory", path.display(), dir.display())]
    NotDirectory { path: PathBuf, dir: PathBuf },

    #[error(
        "cannot write {}: {} {kind}; write to a regular file, a FIFO or a character device",
        path.display(),
        subject(path, target)
    )]
    Unsupported {
        path: PathBuf,
        /// The file the path leads to, after symlinks.
        target: PathBuf,
        /// "is a directory", "is a socket", ...
        kind: &'static str,
    },

    /// The system refused a step; `doing` says which (and on which file).
    #[error("cannot write {}: {doing}: {error}", path.display())]
    Io {
        path: PathBuf,
        doing: String,
        error: io::Error,
    },
}

fn subject(path: &Path, target: &Path) -> String {
    if path == target {
        "it".to_string()
    } else {
        format!("its target {}", target.display())
    }
}

fn io_error(path: &Path, doing: impl Into<String>, error: io::Error) -> OutputError {
    OutputError::Io {
        path: path.to_path_buf(),
        doing: doing.into(),
        error,
    }
}

/// Checks the outputs against the inputs and each other before anything is read.
///
/// Errors: an output that is an input (same device and inode after symlinks, or same canonical
/// path; `-` is standard input and never conflicts); two outputs that are one file; an output
/// whose directory does not exist; an output that is a directory, socket or block device; an
/// existing output that is a packet capture. A character device (`/dev/null`) may be shared.
pub fn check_outputs(outputs: &[&Path], inputs: &[&Path]) -> Result<(), OutputError> {
    let outs = outputs
        .iter()
        .map(|p| output_identity(p))
        .collect::<Result<Vec<_>, _>>()?;
    let ins: Vec<(&Path, Identity)> = inputs
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .map(|p| (*p, input_identity(p)))
        .collect();
    for (i, (out, id)) in outputs.iter().zip(&outs).enumerate() {
        if id.stream {
            continue;
        }
        if let Some((input, _)) = ins.iter().find(|(_, other)| id.same_as(other)) {
            return Err(OutputError::IsInput {
                output: out.to_path_buf(),
                input: input.to_path_buf(),
            });
        }
        if let Some(j) = outs[..i].iter().position(|other| id.same_as(other)) {
            return Err(OutputError::SameOutput {
                first: outputs[j].to_path_buf(),
                second: out.to_path_buf(),
            });
        }
        // After the input check, whose message (naming both) is the more useful one.
        if id.capture {
            return Err(OutputError::IsCapture {
                path: out.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Writes `bytes` to the output `path` (see the module documentation for what each kind of
/// path gets).
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    write_output_with(path, |w| w.write_all(bytes))
}

/// Like [`write_output`], for a report rendered piece by piece: `render` writes into a buffered
/// writer; an error from it (or a panic) leaves a replaced file untouched and no temporary.
pub fn write_output_with<F>(path: &Path, render: F) -> Result<(), OutputError>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    match resolve(path)? {
        Target::Descriptor(fd) => write_descriptor(path, fd, render),
        Target::Existing(target, meta) => {
            let kind = meta.file_type();
            if kind.is_fifo() || kind.is_char_device() {
                write_in_place(path, &target, &meta, render)
            } else if kind.is_file() {
                replace(path, &target, Some(&meta), render)
            } else {
                Err(unsupported(path, &target, &meta))
            }
        }
        Target::Missing(target) => replace(path, &target, None, render),
    }
}

// ---------------------------------------------------------------------------------------------
// What a path leads to

/// Linux's limit on symlinks followed in one lookup.
const MAX_SYMLINKS: usize = 40;

enum Target {
    /// `/dev/stdout`, `/dev/fd/N`, ...: a descriptor this process already has open.
    Descriptor(RawFd),
    /// An existing file that is not a symlink.
    Existing(PathBuf, Metadata),
    /// Nothing there yet: a new file is made under this name.
    Missing(PathBuf),
}

/// Follows symlinks one at a time, so the final name (the one to create, rename over or open)
/// is known, and a descriptor path is caught before the kernel's magic link to it.
fn resolve(path: &Path) -> Result<Target, OutputError> {
    let mut current = path.to_path_buf();
    for _ in 0..=MAX_SYMLINKS {
        if let Some(fd) = descriptor(&current) {
            return Ok(Target::Descriptor(fd));
        }
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current).map_err(|e| {
                    io_error(path, format!("reading symlink {}", current.display()), e)
                })?;
                current = match current.parent() {
                    Some(dir) => dir.join(link),
                    None => link,
                };
            }
            Ok(meta) => return Ok(Target::Existing(current, meta)),
            // ENOTDIR: a file where a directory should be; `directory_of` says so.
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                return Ok(Target::Missing(current))
            }
            Err(e) => {
                return Err(io_error(
                    path,
                    format!("examining {}", current.display()),
                    e,
                ))
            }
        }
    }
    Err(io_error(
        path,
        format!("following more than {MAX_SYMLINKS} symlinks"),
        io::Error::from_raw_os_error(libc::ELOOP),
    ))
}

/// The descriptor a path names, for the paths that name this process's own descriptors.
fn descriptor(path: &Path) -> Option<RawFd> {
    let bytes = path.as_os_str().as_bytes();
    match bytes {
        b"/dev/stdin" => return Some(0),
        b"/dev/stdout" => return Some(1),
        b"/dev/stderr" => return Some(2),
        _ => {}
    }
    let prefixes: [&[u8]; 3] = [b"/dev/fd/", b"/proc/self/fd/", b"/proc/thread-self/fd/"];
    let number = prefixes.iter().find_map(|p| bytes.strip_prefix(*p))?;
    if number.is_empty() || !number.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(number).ok()?.parse().ok()
}

fn unsupported(path: &Path, target: &Path, meta: &Metadata) -> OutputError {
    let kind = meta.file_type();
    let kind = if kind.is_dir() {
        "is a directory"
    } else if kind.is_socket() {
        "is a socket"
    } else if kind.is_block_device() {
        "is a block device"
    } else {
        "is not a file natcorr writes to"
    };
    OutputError::Unsupported {
        path: path.to_path_buf(),
        target: target.to_path_buf(),
        kind,
    }
}

/// The directory a new file `target` goes into and its name there; the directory must exist.
fn directory_of(path: &Path, target: &Path) -> Result<(PathBuf, OsString), OutputError> {
    let name = match target.file_name() {
        Some(name) if !target.as_os_str().as_bytes().ends_with(b"/") => name.to_os_string(),
        _ => {
            return Err(OutputError::Unsupported {
                path: path.to_path_buf(),
                target: target.to_path_buf(),
                kind: "names a directory, not a file",
            })
        }
    };
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match fs::metadata(&dir) {
        Ok(meta) if meta.is_dir() => Ok((dir, name)),
        Ok(_) => Err(OutputError::NotDirectory {
            path: path.to_path_buf(),
            dir,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(OutputError::NoDirectory {
            path: path.to_path_buf(),
            dir,
        }),
        Err(e) => Err(io_error(path, format!("examining {}", dir.display()), e)),
    }
}

// ---------------------------------------------------------------------------------------------
// check_outputs

/// What makes two paths the same file.
struct Identity {
    /// Device and inode, when the file exists.
    file: Option<(u64, u64)>,
    /// The canonical path (for a file not made yet: its directory's, joined with its name).
    canonical: Option<PathBuf>,
    /// A character device: many writers and readers are fine (`/dev/null`).
    stream: bool,
    /// An existing regular file that starts like a packet capture.
    capture: bool,
}

impl Identity {
    fn of(meta: &Metadata, canonical: Option<PathBuf>) -> Self {
        Identity {
            file: Some((meta.dev(), meta.ino())),
            canonical,
            stream: meta.file_type().is_char_device(),
            capture: false,
        }
    }

    fn same_as(&self, other: &Identity) -> bool {
        (self.file.is_some() && self.file == other.file)
            || (self.canonical.is_some() && self.canonical == other.canonical)
    }
}

fn output_identity(path: &Path) -> Result<Identity, OutputError> {
    match resolve(path)? {
        Target::Descriptor(fd) => {
            let file = borrow_descriptor(path, fd)?;
            let meta = file
                .metadata()
                .map_err(|e| io_error(path, format!("examining descriptor {fd}"), e))?;
            if meta.is_dir() {
                return Err(unsupported(path, path, &meta));
            }
            Ok(Identity::of(&meta, None))
        }
        Target::Existing(target, meta) => {
            let kind = meta.file_type();
            if !(kind.is_file() || kind.is_fifo() || kind.is_char_device()) {
                return Err(unsupported(path, &target, &meta));
            }
            let mut id = Identity::of(&meta, fs::canonicalize(&target).ok());
            id.capture = kind.is_file() && is_capture(&target);
            Ok(id)
        }
        Target::Missing(target) => {
            let (dir, name) = directory_of(path, &target)?;
            Ok(Identity {
                file: None,
                canonical: fs::canonicalize(dir).ok().map(|d| d.join(name)),
                stream: false,
                capture: false,
            })
        }
    }
}

fn input_identity(path: &Path) -> Identity {
    match fs::metadata(path) {
        Ok(meta) => Identity::of(&meta, fs::canonicalize(path).ok()),
        // Not there (reading it will fail and say so): still, never write a report under its name.
        Err(_) => Identity {
            file: None,
            canonical: match (path.parent(), path.file_name()) {
                (Some(dir), Some(name)) => {
                    let dir = if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    };
                    fs::canonicalize(dir).ok().map(|d| d.join(name))
                }
                _ => None,
            },
            stream: false,
            capture: false,
        },
    }
}

/// Whether a file starts like something natcorr reads: pcap (both byte orders, µs/ns,
/// "modified"), pcapng, gzip, zstd. No report starts so, since reports are text.
fn is_capture(path: &Path) -> bool {
    let open = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let Ok(mut file) = open else { return false };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    matches!(&head[..n], [0x1f, 0x8b, ..])
        || (n == 4
            && matches!(
                head,
                [0xd4, 0xc3, 0xb2, 0xa1]
                    | [0xa1, 0xb2, 0xc3, 0xd4]
                    | [0x4d, 0x3c, 0xb2, 0xa1]
                    | [0xa1, 0xb2, 0x3c, 0x4d]
                    | [0x34, 0xcd, 0xb2, 0xa1]
                    | [0xa1, 0xb2, 0xcd, 0x34]
                    | [0x0a, 0x0d, 0x0d, 0x0a]
                    | [0x28, 0xb5, 0x2f, 0xfd]
            ))
}

// ---------------------------------------------------------------------------------------------
// Writing in place: descriptors, FIFOs, character devices

/// A duplicate of one of this process's descriptors (close-on-exec), owned by the returned file.
fn borrow_descriptor(path: &Path, fd: RawFd) -> Result<File, OutputError> {
    // SAFETY: F_DUPFD_CLOEXEC only reads `fd`; a new descriptor is returned, owned by the File.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(io_error(
            path,
            format!("using descriptor {fd}"),
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: `dup` is open and owned by nothing else.
    Ok(unsafe { File::from_raw_fd(dup) })
}

fn write_descriptor<F>(path: &Path, fd: RawFd, render: F) -> Result<(), OutputError>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    if fd == 1 {
        // What natcorr already printed goes first.
        io::stdout()
            .flush()
            .map_err(|e| io_error(path, "flushing standard output", e))?;
    }
    let file = borrow_descriptor(path, fd)?;
    let meta = file
        .metadata()
        .map_err(|e| io_error(path, format!("examining descriptor {fd}"), e))?;
    if meta.is_dir() {
        return Err(unsupported(path, path, &meta));
    }
    stream(&file, render).map_err(|e| io_error(path, format!("writing to descriptor {fd}"), e))
}

fn write_in_place<F>(
    path: &Path,
    target: &Path,
    seen: &Metadata,
    render: F,
) -> Result<(), OutputError>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let what = if seen.file_type().is_fifo() {
        "FIFO"
    } else {
        "device"
    };
    // No O_CREAT, no O_TRUNC; O_NOFOLLOW: a symlink swapped in since `resolve` is not followed.
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(target)
        .map_err(|e| io_error(path, format!("opening {what} {}", target.display()), e))?;
    let meta = file
        .metadata()
        .map_err(|e| io_error(path, format!("examining {}", target.display()), e))?;
    // Opening a regular file for writing changes nothing; only writing would. So check first.
    if (meta.dev(), meta.ino()) != (seen.dev(), seen.ino())
        || !(meta.file_type().is_fifo() || meta.file_type().is_char_device())
    {
        return Err(io_error(
            path,
            format!("{} changed while it was opened", target.display()),
            io::Error::from_raw_os_error(libc::EAGAIN),
        ));
    }
    stream(&file, render)
        .map_err(|e| io_error(path, format!("writing to {what} {}", target.display()), e))
}

/// Runs `render` into a buffer over `file` and flushes it; on error nothing more is written.
fn stream<F>(file: &File, render: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let mut w = BufWriter::with_capacity(1 << 16, file);
    let result = render(&mut w).and_then(|()| w.flush());
    if result.is_err() {
        // Drop the rest of the buffer rather than let BufWriter's drop write it.
        let _ = w.into_parts();
    }
    result
}

// ---------------------------------------------------------------------------------------------
// Atomic replace: regular files and new files

fn replace<F>(
    path: &Path,
    target: &Path,
    old: Option<&Metadata>,
    render: F,
) -> Result<(), OutputError>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let (dir, name) = directory_of(path, target)?;
    let mut temporary = Temporary::create(&dir, &name, random_u64).map_err(|e| {
        io_error(
            path,
            format!("creating a temporary file in {}", dir.display()),
            e,
        )
    })?;
    let tmp = temporary.path.clone();
    let doing = |what: &str| format!("{what} temporary file {}", tmp.display());
    stream(&temporary.file, render).map_err(|e| io_error(path, doing("writing"), e))?;
    let moded = match old {
        Some(old) => {
            // Best effort: only root may give a file away; the old file's mode still applies.
            let ours = temporary.file.metadata().ok();
            if ours.is_some_and(|m| (m.uid(), m.gid()) != (old.uid(), old.gid())) {
                let _ =
                    std::os::unix::fs::fchown(&temporary.file, Some(old.uid()), Some(old.gid()));
            }
            // Without set-user-ID and set-group-ID: those were for the old file's contents.
            let mode = old.mode() & 0o1777;
            set_mode(&temporary.file, mode)
        }
        None => set_mode(&temporary.file, 0o644 & !umask()),
    };
    moded.map_err(|e| io_error(path, doing("setting the mode of"), e))?;
    temporary
        .file
        .sync_all()
        .map_err(|e| io_error(path, doing("flushing to disk"), e))?;
    fs::rename(&tmp, target).map_err(|e| {
        io_error(
            path,
            format!("renaming {} to {}", tmp.display(), target.display()),
            e,
        )
    })?;
    temporary.renamed = true;
    drop(temporary);
    // The rename itself must reach the disk too.
    match File::open(&dir).and_then(|d| d.sync_all()) {
        Err(e) if e.raw_os_error() != Some(libc::EINVAL) => Err(io_error(
            path,
            format!(
                "syncing directory {} (the report is written)",
                dir.display()
            ),
            e,
        )),
        _ => Ok(()),
    }
}

fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    file.set_permissions(Permissions::from_mode(mode))
}

/// The process's umask, read without changing it where the kernel allows (Linux ≥ 4.7).
fn umask() -> u32 {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        let value = status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .and_then(|v| u32::from_str_radix(v.trim(), 8).ok());
        if let Some(mask) = value {
            return mask;
        }
    }
    // Elsewhere umask(2) reads it only by setting it: set and restore at once.
    // SAFETY: umask cannot fail.
    let mask = unsafe {
        let mask = libc::umask(0o022);
        libc::umask(mask);
        mask
    };
    #[allow(clippy::unnecessary_cast)]
    let mask = mask as u32;
    mask
}

/// 64 bits no other user can predict: /dev/urandom, else std's randomly keyed SipHash.
fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok()
    {
        return u64::from_ne_bytes(bytes);
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, SeqCst));
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

/// How many random names are tried before giving up (each taken one is someone else's file).
const TEMPORARY_ATTEMPTS: usize = 16;

/// A temporary file being written: removed (and forgotten by the signal handler) when dropped,
/// unless it was renamed over its target.
struct Temporary {
    path: PathBuf,
    file: File,
    slot: Option<usize>,
    renamed: bool,
}

impl Temporary {
    /// Creates `.NAME.natcorr-RANDOM.tmp` in `dir` with O_CREAT|O_EXCL, mode 0600: whatever is
    /// already at that name (a file, a symlink to a victim) is neither opened nor followed.
    fn create(dir: &Path, name: &OsStr, mut random: impl FnMut() -> u64) -> io::Result<Self> {
        // Room for the affixes within NAME_MAX (255).
        let name = &name.as_bytes()[..name.len().min(200)];
        let mut last = io::Error::from_raw_os_error(libc::EEXIST);
        for _ in 0..TEMPORARY_ATTEMPTS {
            let mut file_name = b".".to_vec();
            file_name.extend_from_slice(name);
            file_name.extend_from_slice(format!(".natcorr-{:016x}.tmp", random()).as_bytes());
            let path = dir.join(OsString::from_vec(file_name));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
            {
                Ok(file) => {
                    let slot = register(&path);
                    return Ok(Temporary {
                        path,
                        file,
                        slot,
                        renamed: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = fs::remove_file(&self.path);
        }
        if let Some(slot) = self.slot {
            unregister(slot);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Removing temporaries on SIGINT, SIGTERM, SIGHUP

/// How many temporaries being written at once the signal handler knows of.
pub const MAX_TEMPORARIES: usize = 16;

/// The temporaries being written, as NUL-terminated absolute paths (null: a free slot). The
/// handler only loads these atomics and calls unlink(2): both async-signal-safe.
static TEMPORARIES: [AtomicPtr<libc::c_char>; MAX_TEMPORARIES] =
    [const { AtomicPtr::new(ptr::null_mut()) }; MAX_TEMPORARIES];

/// Set by the handler before it reads a slot; from then on no path is freed (see `unregister`).
static IN_HANDLER: AtomicBool = AtomicBool::new(false);

const CLEANUP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

fn register(path: &Path) -> Option<usize> {
    let absolute = match std::env::current_dir() {
        Ok(cwd) if path.is_relative() => cwd.join(path),
        _ => path.to_path_buf(),
    };
    let raw = CString::new(absolute.into_os_string().into_vec())
        .ok()?
        .into_raw();
    for (i, slot) in TEMPORARIES.iter().enumerate() {
        if slot
            .compare_exchange(ptr::null_mut(), raw, SeqCst, SeqCst)
            .is_ok()
        {
            return Some(i);
        }
    }
    // SAFETY: `raw` came from into_raw above and was published nowhere.
    drop(unsafe { CString::from_raw(raw) });
    None
}

fn unregister(slot: usize) {
    let raw = TEMPORARIES[slot].swap(ptr::null_mut(), SeqCst);
    // Sequentially consistent: if no handler had started when IN_HANDLER is read here, any
    // handler that starts later reads the slot after the swap above and sees null.
    if !raw.is_null() && !IN_HANDLER.load(SeqCst) {
        // SAFETY: `raw` came from into_raw in `register`, and no handler can still read it.
        drop(unsafe { CString::from_raw(raw) });
    }
}

extern "C" fn remove_temporaries(signal: libc::c_int) {
    IN_HANDLER.store(true, SeqCst);
    for slot in &TEMPORARIES {
        let path = slot.load(SeqCst);
        if !path.is_null() {
            // SAFETY: a registered path is a valid C string that is never freed once IN_HANDLER is set.
            unsafe { libc::unlink(path) };
        }
    }
    // SAFETY: sigaction and raise are async-signal-safe. The signal is blocked while this handler
    // runs, so it is delivered with the default action (termination) as the handler returns.
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(signal, &default, ptr::null_mut());
        libc::raise(signal);
    }
}

/// Installs handlers for SIGINT, SIGTERM and SIGHUP that remove the temporaries being written,
/// then die of the signal (the exit status tells the caller so). Call once, early in `main`;
/// calling again does nothing. A signal ignored at start (`nohup`) stays ignored; a handler
/// installed before is replaced (natcorr has none).
pub fn install_signal_cleanup() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        for signal in CLEANUP_SIGNALS {
            // SAFETY: plain sigaction calls on valid signals with initialised structures; they
            // can only fail for invalid signal numbers, which these are not.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, ptr::null(), &mut old) == 0
                    && old.sa_sigaction == libc::SIG_IGN
                {
                    continue;
                }
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = remove_temporaries as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut action.sa_mask);
                for other in CLEANUP_SIGNALS {
                    libc::sigaddset(&mut action.sa_mask, other);
                }
                libc::sigaction(signal, &action, ptr::null_mut());
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::sync::mpsc;
    use std::time::Duration;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    fn mkfifo(path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn replaces_regular_file_atomically_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("report.json");
        fs::write(&p, "old").unwrap();
        let old_inode = fs::metadata(&p).unwrap().ino();
        write_output(&p, b"new report").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new report");
        // A new inode: the old file was renamed over, not rewritten in place.
        assert_ne!(fs::metadata(&p).unwrap().ino(), old_inode);
        assert_eq!(names(d.path()), ["report.json"]);
    }

    #[test]
    fn new_file_gets_0644_minus_umask_and_relative_paths_work() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("new.csv");
        write_output(&p, b"a,b\n").unwrap();
        assert_eq!(mode(&p), 0o644 & !umask());
        assert_eq!(fs::read(&p).unwrap(), b"a,b\n");
        assert_eq!(names(d.path()), ["new.csv"]);
    }

    #[test]
    fn existing_file_keeps_its_mode_but_not_setuid() {
        let d = tempfile::tempdir().unwrap();
        for (before, after) in [(0o600, 0o600), (0o640, 0o640), (0o4755, 0o755)] {
            let p = d.path().join(format!("r{before:o}.html"));
            fs::write(&p, "old").unwrap();
            fs::set_permissions(&p, Permissions::from_mode(before)).unwrap();
            write_output(&p, b"<html>").unwrap();
            assert_eq!(mode(&p), after, "mode {before:o}");
        }
    }

    #[test]
    fn symlink_target_is_written_and_link_stays_a_link() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("real")).unwrap();
        let target = d.path().join("real/report.txt");
        fs::write(&target, "old").unwrap();
        fs::set_permissions(&target, Permissions::from_mode(0o600)).unwrap();
        // A relative link to a link: both stay links, the final file is written.
        symlink("real/report.txt", d.path().join("first")).unwrap();
        symlink("first", d.path().join("second")).unwrap();
        write_output(&d.path().join("second"), b"new").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(mode(&target), 0o600);
        for link in ["first", "second"] {
            let meta = fs::symlink_metadata(d.path().join(link)).unwrap();
            assert!(meta.file_type().is_symlink(), "{link}");
        }
        assert_eq!(names(&d.path().join("real")), ["report.txt"]);
    }

    #[test]
    fn dangling_symlink_creates_its_target() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("made.txt");
        let link = d.path().join("link");
        symlink(&target, &link).unwrap();
        write_output(&link, b"made").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "made");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(names(d.path()), ["link", "made.txt"]);
    }

    #[test]
    fn symlink_loop_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        symlink("b", d.path().join("a")).unwrap();
        symlink("a", d.path().join("b")).unwrap();
        let e = write_output(&d.path().join("a"), b"x").unwrap_err();
        assert!(e.to_string().contains("symlinks"), "{e}");
    }

    #[test]
    fn fifo_is_written_in_place_and_stays_a_fifo() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("report.fifo");
        mkfifo(&fifo);
        let (tx, rx) = mpsc::channel();
        let reader_path = fifo.clone();
        std::thread::spawn(move || {
            let got = fs::read(&reader_path);
            let _ = tx.send(got.map_err(|e| e.to_string()));
        });
        let written = write_output(&fifo, b"through the pipe");
        let got = rx.recv_timeout(Duration::from_secs(10));
        if got.is_err() {
            // Unblock the reader that never saw a writer, then fail.
            let _ = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo);
        }
        written.unwrap();
        assert_eq!(got.unwrap().unwrap(), b"through the pipe");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(names(d.path()), ["report.fifo"]);
    }

    #[test]
    fn descriptor_path_is_written_through_the_open_descriptor() {
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let (mut read_end, write_end) =
            unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
        let path = PathBuf::from(format!("/proc/self/fd/{}", fds[1]));
        check_outputs(&[&path], &[]).unwrap();
        write_output(&path, b"to the pipe").unwrap();
        drop(write_end);
        let mut got = Vec::new();
        read_end.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"to the pipe");
        // Now closed: an error naming the descriptor, not a file created under /proc.
        let e = write_output(&path, b"x").unwrap_err();
        assert!(e.to_string().contains("descriptor"), "{e}");
    }

    #[test]
    fn descriptor_paths_are_recognised() {
        assert_eq!(descriptor(Path::new("/dev/stdout")), Some(1));
        assert_eq!(descriptor(Path::new("/dev/stderr")), Some(2));
        assert_eq!(descriptor(Path::new("/dev/fd/7")), Some(7));
        assert_eq!(descriptor(Path::new("/proc/self/fd/12")), Some(12));
        assert_eq!(descriptor(Path::new("/proc/self/fd/")), None);
        assert_eq!(descriptor(Path::new("/proc/self/fd/1x")), None);
        assert_eq!(descriptor(Path::new("/dev/stdout2")), None);
    }

    #[test]
    fn directory_and_socket_are_errors() {
        let d = tempfile::tempdir().unwrap();
        let e = write_output(d.path(), b"x").unwrap_err();
        assert!(
            matches!(
                e,
                OutputError::Unsupported {
                    kind: "is a directory",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("is a directory"), "{e}");
        assert!(check_outputs(&[d.path()], &[]).is_err());
        let sock = d.path().join("s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let e = write_output(&sock, b"x").unwrap_err();
        assert!(e.to_string().contains("is a socket"), "{e}");
        assert!(check_outputs(&[&sock], &[]).is_err());
        let e = write_output(&d.path().join("missing-dir/"), b"x").unwrap_err();
        assert!(matches!(e, OutputError::Unsupported { .. }), "{e}");
    }

    #[test]
    fn missing_parent_is_an_error_before_and_when_writing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("no/such/dir/report.json");
        let e = check_outputs(&[&p], &[]).unwrap_err();
        assert!(matches!(e, OutputError::NoDirectory { .. }), "{e}");
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(write_output(&p, b"x").is_err());
        // Through a dangling symlink into a missing directory.
        let link = d.path().join("link");
        symlink(d.path().join("gone/report.json"), &link).unwrap();
        let e = check_outputs(&[&link], &[]).unwrap_err();
        assert!(e.to_string().contains("gone"), "{e}");
        // A file where the directory should be.
        fs::write(d.path().join("file"), "").unwrap();
        let e = check_outputs(&[&d.path().join("file/report")], &[]).unwrap_err();
        assert!(matches!(e, OutputError::NotDirectory { .. }), "{e}");
        assert_eq!(names(d.path()), ["file", "link"]);
    }

    #[test]
    fn output_that_is_an_input_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let input = d.path().join("a.cap");
        fs::write(&input, "not really a capture").unwrap();
        let link = d.path().join("link.cap");
        symlink(&input, &link).unwrap();
        let hard = d.path().join("hard.cap");
        fs::hard_link(&input, &hard).unwrap();
        let dotted = d.path().join(".").join("a.cap");
        let up = d
            .path()
            .join("..")
            .join(d.path().file_name().unwrap())
            .join("a.cap");
        for output in [&input, &link, &hard, &dotted, &up] {
            let e = check_outputs(&[output], &[Path::new("-"), &input]).unwrap_err();
            assert!(
                matches!(e, OutputError::IsInput { .. }),
                "{}",
                output.display()
            );
            let message = e.to_string();
            assert!(message.contains(&*output.to_string_lossy()), "{message}");
            assert!(message.contains(&*input.to_string_lossy()), "{message}");
        }
        // And the other way round: the input named through a link.
        assert!(check_outputs(&[&input], &[&link]).is_err());
        // A missing input still claims its name.
        let missing = d.path().join("missing.cap");
        assert!(check_outputs(&[&missing], &[&missing]).is_err());
        // `-` is standard input, whatever the current directory holds.
        check_outputs(&[&d.path().join("out.txt")], &[Path::new("-"), &input]).unwrap();
    }

    #[test]
    fn two_outputs_that_are_one_file_are_an_error() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("r.html");
        let b = d.path().join(".").join("r.html");
        let e = check_outputs(&[&a, &b], &[]).unwrap_err();
        assert!(matches!(e, OutputError::SameOutput { .. }), "{e}");
        fs::write(&a, "").unwrap();
        let hard = d.path().join("hard.html");
        fs::hard_link(&a, &hard).unwrap();
        assert!(check_outputs(&[&a, &hard], &[]).is_err());
        check_outputs(&[&a, &d.path().join("r.xml")], &[]).unwrap();
    }

    #[test]
    fn existing_capture_as_output_is_an_error() {
        // `natcorr --html *.pcap`: the first capture became the value of --html.
        let d = tempfile::tempdir().unwrap();
        let magics: [&[u8]; 5] = [
            &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0],
            &[0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0],
            &[0x1f, 0x8b, 8],
            &[0x28, 0xb5, 0x2f, 0xfd],
            &[0xa1, 0xb2, 0x3c, 0x4d],
        ];
        for (i, magic) in magics.iter().enumerate() {
            let p = d.path().join(format!("{i}.pcap"));
            fs::write(&p, magic).unwrap();
            let e = check_outputs(&[&p], &[&d.path().join("other.pcap")]).unwrap_err();
            assert!(matches!(e, OutputError::IsCapture { .. }), "{i}: {e}");
            assert_eq!(fs::read(&p).unwrap(), *magic);
        }
        // A capture that is also an input: the message names both.
        let both = d.path().join("0.pcap");
        let e = check_outputs(&[&both], &[&both]).unwrap_err();
        assert!(matches!(e, OutputError::IsInput { .. }), "{e}");
        for text in ["", "<", "{\"journeys\": []}"] {
            let p = d.path().join("report");
            fs::write(&p, text).unwrap();
            check_outputs(&[&p], &[]).unwrap();
        }
    }

    #[test]
    fn old_style_temporary_names_planted_as_symlinks_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let pid = std::process::id();
        for name in ["report.html", "out.json"] {
            symlink(&victim, d.path().join(format!(".{name}.natcorr-{pid}.tmp"))).unwrap();
            write_output(&d.path().join(name), b"report").unwrap();
            assert_eq!(fs::read_to_string(d.path().join(name)).unwrap(), "report");
        }
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        for name in ["report.html", "out.json"] {
            let planted = d.path().join(format!(".{name}.natcorr-{pid}.tmp"));
            assert!(fs::symlink_metadata(&planted)
                .unwrap()
                .file_type()
                .is_symlink());
        }
        assert_eq!(names(d.path()).len(), 5);
    }

    #[test]
    fn temporary_is_never_opened_through_a_planted_name() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        // Even if the random part were guessed: both a symlink and a file at that name are skipped.
        symlink(&victim, d.path().join(".r.natcorr-0000000000000001.tmp")).unwrap();
        fs::write(d.path().join(".r.natcorr-0000000000000002.tmp"), "theirs").unwrap();
        let mut next = 0;
        let mut t = Temporary::create(d.path(), OsStr::new("r"), || {
            next += 1;
            next
        })
        .unwrap();
        assert_eq!(
            t.path.file_name().unwrap(),
            ".r.natcorr-0000000000000003.tmp"
        );
        assert_eq!(mode(&t.path), 0o600);
        t.file.write_all(b"mine").unwrap();
        drop(t);
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(names(d.path()).len(), 3);
        // Every name taken: an error, nothing opened.
        let e = Temporary::create(d.path(), OsStr::new("r"), || 1)
            .err()
            .unwrap();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn long_names_still_fit_a_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("n".repeat(250));
        write_output(&p, b"x").unwrap();
        assert_eq!(names(d.path()).len(), 1);
    }

    #[test]
    fn failed_write_leaves_target_untouched_and_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("report.txt");
        fs::write(&p, "old").unwrap();
        let e = write_output_with(&p, |w| {
            w.write_all(&[b'x'; 100_000])?;
            Err(io::Error::from_raw_os_error(libc::EPIPE))
        })
        .unwrap_err();
        let message = e.to_string();
        assert!(message.starts_with(&format!("cannot write {}: ", p.display())));
        assert!(message.contains("Broken pipe"), "{message}");
        assert_eq!(fs::read_to_string(&p).unwrap(), "old");
        assert_eq!(names(d.path()), ["report.txt"]);
    }

    #[test]
    fn panic_while_rendering_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("report.txt");
        let dir = d.path().to_path_buf();
        let result = std::panic::catch_unwind(|| {
            let _ = write_output_with(&p, |w| {
                w.write_all(b"half")?;
                assert_eq!(names(&dir).len(), 1, "the temporary exists");
                panic!("renderer bug");
            });
        });
        assert!(result.is_err());
        assert!(names(d.path()).is_empty());
    }

    #[test]
    fn temporaries_are_registered_only_while_written() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("report.txt");
        let registered = |path: &Path| {
            TEMPORARIES.iter().any(|slot| {
                let raw = slot.load(SeqCst);
                !raw.is_null()
                    && unsafe { std::ffi::CStr::from_ptr(raw) }.to_bytes()
                        == path.as_os_str().as_bytes()
            })
        };
        let mut seen = None;
        write_output_with(&p, |w| {
            let tmp = fs::read_dir(d.path())
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path();
            seen = Some((registered(&tmp), tmp));
            w.write_all(b"x")
        })
        .unwrap();
        let (was_registered, tmp) = seen.unwrap();
        assert!(was_registered);
        assert!(!registered(&tmp));
        assert!(!tmp.exists());
    }
}
