//! `probe` and `check_executable_for` against the real host and real files.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use warden_sandbox::{check_executable_for, probe, SandboxUser, Unavailable};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("wdn-probe-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn nobody() -> Option<SandboxUser> {
    match SandboxUser::lookup("nobody") {
        Ok(u) => Some(u),
        Err(e) => {
            println!("skipped: {e}");
            None
        }
    }
}

fn write_exec(path: &Path, body: &str, mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, body).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn locked_directory_is_named_with_the_fix() {
    let Some(user) = nobody() else { return };
    let t = TempDir::new("locked");
    let locked = t.0.join("home");
    let exe = locked.join("bin/python3.11");
    write_exec(&exe, "\x7fELF", 0o755);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();

    let err = check_executable_for(&user, "handler interpreter", &exe).unwrap_err();
    assert!(
        matches!(&err, Unavailable::NotReachable { dir, mode: 0o700, .. } if dir == &locked),
        "{err:?}"
    );
    let msg = err.to_string();
    assert_eq!(
        msg,
        format!(
            "handler interpreter {} is not reachable by user nobody: {} is mode 0700 \
             (grant traverse with chmod o+x {} or install it elsewhere)",
            exe.display(),
            locked.display(),
            locked.display()
        )
    );

    // Through a symlink in an open directory, the target's directory still counts.
    let link = t.0.join("python3");
    symlink(&exe, &link).unwrap();
    let err = check_executable_for(&user, "handler interpreter", &link).unwrap_err();
    assert!(
        matches!(&err, Unavailable::NotReachable { dir, .. } if dir == &locked),
        "{err:?}"
    );

    // A script whose interpreter is behind the locked directory.
    let script = t.0.join("handler.sh");
    write_exec(
        &script,
        &format!("#!{} -u\nprint(1)\n", exe.display()),
        0o755,
    );
    let err = check_executable_for(&user, "handler", &script).unwrap_err();
    assert!(err.to_string().contains("interpreter of"), "{err}");

    // Granting traverse fixes it.
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o701)).unwrap();
    assert_eq!(
        check_executable_for(&user, "handler interpreter", &link).unwrap(),
        exe
    );
    assert_eq!(
        check_executable_for(&user, "handler", &script).unwrap(),
        script
    );
}

#[test]
fn file_modes_and_missing_files_are_reported() {
    let Some(user) = nobody() else { return };
    let t = TempDir::new("modes");
    let exe = t.0.join("tool");
    write_exec(&exe, "#!/bin/sh\n", 0o750);
    let err = check_executable_for(&user, "handler", &exe).unwrap_err();
    assert!(
        matches!(err, Unavailable::NotExecutable { mode: 0o750, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("chmod o+rx"), "{err}");

    let err = check_executable_for(&user, "handler", &t.0.join("absent")).unwrap_err();
    assert!(matches!(err, Unavailable::NotFound { .. }), "{err:?}");

    // Found on PATH and world-executable.
    assert!(check_executable_for(&user, "shell", Path::new("sh")).is_ok());
}

#[test]
fn pyenv_interpreter_reachability_matches_the_home_mode() {
    let Some(user) = nobody() else { return };
    let py = Path::new("/root/.pyenv/versions/3.11.7/bin/python3.11");
    if !py.exists() {
        println!("skipped: {} not present", py.display());
        return;
    }
    let root_mode = fs::metadata("/root").unwrap().permissions().mode();
    match check_executable_for(&user, "handler interpreter", py) {
        Ok(_) => assert!(
            root_mode & 0o001 != 0,
            "reachable although /root is {root_mode:o}"
        ),
        Err(e) => {
            println!("{e}");
            if root_mode & 0o001 == 0 {
                assert!(
                    matches!(&e, Unavailable::NotReachable { dir, .. } if dir == Path::new("/root")),
                    "{e:?}"
                );
            }
        }
    }
}

#[test]
fn probe_reports_root_requirements() {
    match probe("nobody") {
        Ok(caps) => {
            assert!(nix::unistd::geteuid().is_root());
            assert_eq!(caps.user.name, "nobody");
            assert!(caps.nft.ends_with("nft"));
        }
        Err(e) => {
            println!("probe: {e}");
            if !nix::unistd::geteuid().is_root() {
                assert!(matches!(e, Unavailable::NotRoot { .. }), "{e:?}");
            }
        }
    }
    match probe("no-such-user-wdn") {
        Err(Unavailable::UserMissing { user }) => assert_eq!(user, "no-such-user-wdn"),
        Err(Unavailable::NotRoot { .. }) => {}
        other => panic!("expected UserMissing, got {other:?}"),
    }
}
