//! What needs a process of its own: dying of a signal mid-write, a file size limit, a full disk.
//! The helper runs in a child: this test binary, started again with NATCORR_OUTPUT_HELPER set.

mod common;

use natcorr::output::{install_signal_cleanup, write_output, write_output_with};
use std::ffi::CString;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const HELPER: &str = "NATCORR_OUTPUT_HELPER";

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// In a child only: `slow:PATH` writes PATH slowly; `fsize:PATH` writes it under RLIMIT_FSIZE.
#[test]
fn helper() {
    let Ok(mode) = std::env::var(HELPER) else {
        return;
    };
    let (what, path) = mode.split_once(':').unwrap();
    let path = Path::new(path);
    match what {
        "slow" => {
            install_signal_cleanup();
            let result = write_output_with(path, |w| {
                for i in 0..2000 {
                    w.write_all(&[b'x'; 4096])?;
                    w.flush()?;
                    if i == 0 {
                        // On a line of its own: libtest has written "test helper ... ".
                        println!("\nstarted");
                        std::io::stdout().flush()?;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            });
            println!("finished without a signal: {result:?}");
        }
        "fsize" => {
            unsafe {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let limit = libc::rlimit {
                    rlim_cur: 4096,
                    rlim_max: 4096,
                };
                assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
            }
            let e = write_output(path, &[b'x'; 65536]).unwrap_err();
            println!("\nerror: {e}");
        }
        _ => panic!("unknown helper mode {mode}"),
    }
}

fn child(mode: String) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "helper", "--nocapture", "--test-threads=1"])
        .env(HELPER, mode)
        .stdout(Stdio::piped());
    command
}

fn killed_mid_write_leaves_no_temporary(signal: libc::c_int) {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("report.txt");
    fs::write(&target, "old").unwrap();
    let mut process = child(format!("slow:{}", target.display())).spawn().unwrap();
    let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l == "started")),
        "the helper never started writing"
    );
    let in_flight = names(d.path());
    assert_eq!(in_flight.len(), 2, "{in_flight:?}");
    assert!(in_flight
        .iter()
        .any(|n| n.starts_with(".report.txt.natcorr-")));
    assert_eq!(
        unsafe { libc::kill(process.id() as libc::pid_t, signal) },
        0
    );
    let status = process.wait().unwrap();
    assert_eq!(status.signal(), Some(signal), "{status:?}");
    assert_eq!(names(d.path()), ["report.txt"]);
    assert_eq!(fs::read_to_string(&target).unwrap(), "old");
}

#[test]
fn sigterm_mid_write_removes_the_temporary() {
    killed_mid_write_leaves_no_temporary(libc::SIGTERM);
}

#[test]
fn sigint_mid_write_removes_the_temporary() {
    killed_mid_write_leaves_no_temporary(libc::SIGINT);
}

#[test]
fn file_size_limit_is_an_error_and_leaves_the_target() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("report.txt");
    fs::write(&target, "old").unwrap();
    let out = child(format!("fsize:{}", target.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert!(
        line.starts_with(&format!("error: cannot write {}: ", target.display())),
        "{line}"
    );
    assert!(line.contains("File too large"), "{line}");
    assert_eq!(names(d.path()), ["report.txt"]);
    assert_eq!(fs::read_to_string(&target).unwrap(), "old");
}

/// A 64 KiB tmpfs on a fresh temporary directory, unmounted when dropped (even on a panic).
struct TinyTmpfs {
    dir: tempfile::TempDir,
}

impl TinyTmpfs {
    fn mount() -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let target = CString::new(dir.path().as_os_str().as_bytes()).ok()?;
        let mounted = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                c"size=64k,mode=0700".as_ptr().cast(),
            )
        };
        (mounted == 0).then_some(TinyTmpfs { dir })
    }
}

impl Drop for TinyTmpfs {
    fn drop(&mut self) {
        if let Ok(target) = CString::new(self.dir.path().as_os_str().as_bytes()) {
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

#[test]
fn full_disk_is_an_error_and_leaves_the_target() {
    let Some(fs_) = TinyTmpfs::mount() else {
        common::skip_or_fail(
            "full_disk_is_an_error_and_leaves_the_target",
            "cannot mount a tmpfs here (needs root); the EFBIG test covers the error path",
        );
        return;
    };
    let dir = fs_.dir.path();
    let target = dir.join("report.txt");
    fs::write(&target, "old").unwrap();
    let e = write_output(&target, &vec![b'x'; 1 << 20]).unwrap_err();
    let message = e.to_string();
    assert!(
        message.starts_with(&format!("cannot write {}: ", target.display())),
        "{message}"
    );
    assert!(message.contains("No space left on device"), "{message}");
    assert_eq!(names(dir), ["report.txt"]);
    assert_eq!(fs::read_to_string(&target).unwrap(), "old");
    // A new file: nothing at all is left.
    let new = dir.join("new.html");
    assert!(write_output(&new, &vec![b'x'; 1 << 20]).is_err());
    assert_eq!(names(dir), ["report.txt"]);
    // And what fits is written.
    write_output(&new, b"small").unwrap();
    assert_eq!(fs::read_to_string(&new).unwrap(), "small");
}
