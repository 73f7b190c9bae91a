//! Reading the small files the daemon is pointed at (the configuration, the API key):
//! regular files only, and only so much of them. Opening never waits (a FIFO would hang
//! start-up, past SIGTERM) and reading never grows without bound (`/dev/zero` filled
//! memory at 1.2 GB/s until the OOM killer came). Also the SQLite queue's file, made
//! writable by the producers' group, whether this user may write it, and the turn
//! processes migrating it take.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file could not be used; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("is {0}, not a regular file; point at a file")]
    NotRegular(&'static str),
    #[error("is larger than {cap} bytes; this file should be a few lines")]
    TooLarge { cap: u64 },
    #[error("is not valid UTF-8 text")]
    NotText,
}

/// The whole of a regular file of at most `cap` bytes, as text.
pub fn read_regular(path: &Path, cap: u64) -> Result<String, FileError> {
    // O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a
    // writer; the type check below then refuses it. It does nothing to a regular file.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(FileError::NotRegular(describe(kind)));
    }
    // The size can change under us (a file being written): read one byte past the cap to
    // know, rather than trusting the metadata.
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(FileError::TooLarge { cap });
    }
    String::from_utf8(bytes).map_err(|_| FileError::NotText)
}

fn describe(kind: std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// The name of the user with this uid, from the system's user database; `None` when it has
/// none (or it cannot be read).
pub fn user_name(uid: u32) -> Option<String> {
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 4096];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to memory owned here and sized as passed; getpwuid_r writes
    // the entry's strings into `buffer` and sets `found` to `&entry` or to null.
    let code = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if code != 0 || found.is_null() || entry.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points at a NUL-terminated string inside `buffer`.
    let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// Creates `path` empty, 0660 less the umask, unless it exists. SQLite would create it
/// 0644 (less the umask): not writable by the group producers belong to; its -wal and
/// -shm files follow, since SQLite gives them the database file's mode. The handle is
/// closed at once: closing a file SQLite has open would drop SQLite's POSIX locks on it,
/// and another process would then think it the last user and delete the -wal file under
/// our feet.
pub fn create_for_group(path: &Path) -> std::io::Result<()> {
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o660)
        .open(path);
    match created {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// An exclusive `flock` on the folder of `path`, held until the returned handle is
/// dropped; `None` when another holder kept it past `wait` (a migration takes less, and
/// shutdown must not wait on it). The folder's, not the file's: closing a descriptor of a
/// database file drops SQLite's POSIX locks on it.
pub async fn lock_folder(
    path: &Path,
    wait: std::time::Duration,
) -> std::io::Result<Option<std::fs::File>> {
    use std::os::fd::AsRawFd;
    let folder = path.parent().filter(|d| !d.as_os_str().is_empty());
    let file = std::fs::File::open(folder.unwrap_or(Path::new(".")))?;
    let until = tokio::time::Instant::now() + wait;
    loop {
        // SAFETY: flock only reads the descriptor, which `file` keeps open.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Some(file));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::WouldBlock {
            return Err(e);
        }
        if tokio::time::Instant::now() >= until {
            return Ok(None);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Whether this process (its effective user and groups) may write `path`, as the system
/// says without opening it: an open would wait on a FIFO, and closing a descriptor of an
/// open database file would drop SQLite's locks. `None` when it does not exist.
pub fn may_write(path: &Path) -> Option<bool> {
    use std::os::unix::ffi::OsStrExt;
    let Ok(name) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return Some(false);
    };
    // SAFETY: `name` is a NUL-terminated path that outlives the call, which only reads it.
    let done =
        unsafe { libc::faccessat(libc::AT_FDCWD, name.as_ptr(), libc::W_OK, libc::AT_EACCESS) };
    match (done, std::io::Error::last_os_error().raw_os_error()) {
        (0, _) => Some(true),
        (_, Some(libc::ENOENT)) => None,
        _ => Some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_without_waiting_or_reading() {
        let err = read_regular(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(err.to_string().contains("a character device"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let err = read_regular(dir.path(), 1024).unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        // Without O_NONBLOCK this open would wait for a writer for ever.
        let err = read_regular(&fifo, 1024).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
    }

    #[test]
    fn a_file_over_the_cap_is_refused_and_one_at_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "x".repeat(1025)).unwrap();
        let err = read_regular(&path, 1024).unwrap_err();
        assert!(err.to_string().contains("larger than 1024 bytes"), "{err}");
        std::fs::write(&path, "x".repeat(1024)).unwrap();
        assert_eq!(read_regular(&path, 1024).unwrap().len(), 1024);
        std::fs::write(&path, b"\xff\xfe").unwrap();
        assert!(matches!(read_regular(&path, 1024), Err(FileError::NotText)));
    }
}
