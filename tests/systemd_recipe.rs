//! The systemd recipe in `deploy/`, run the way an operator runs it, without a container: its
//! install script staged under a temporary root (DESTDIR) for a user of the test's own, then the
//! unit's command started as that user with the unit's environment. It creates a user and
//! changes file ownership, so it needs root: where it cannot, it says that it was skipped and
//! passes, unless `OVERSIGHT_REQUIRE_ROOT` is set (`.ci/run` sets it when it runs as root), when
//! it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, KeyPair};

/// Runs `program args`, returning its standard output; panics with its error output on failure.
fn sh(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Why the recipe cannot run here, if it cannot.
fn cannot_run() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("creating a user and installing files for it needs root".into());
    }
    for tool in ["useradd", "userdel", "install", "getent", "setpriv"] {
        if which(tool).is_none() {
            return Some(format!("{tool} is missing"));
        }
    }
    None
}

/// Where the shell finds `tool`.
fn which(tool: &str) -> Option<String> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .ok()?;
    found
        .status
        .success()
        .then(|| String::from_utf8_lossy(&found.stdout).trim().to_string())
}

/// Removes the test's user (and its group) when dropped.
struct User(String);

impl Drop for User {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).status();
        let _ = Command::new("groupdel")
            .arg(&self.0)
            .stderr(Stdio::null())
            .status();
    }
}

/// The value of `Key=` in the unit's `[Service]` lines (the last one).
fn unit_value(unit: &str, key: &str) -> String {
    unit.lines()
        .filter_map(|line| line.strip_prefix(&format!("{key}=")))
        .next_back()
        .unwrap_or_else(|| panic!("the unit has no {key}="))
        .to_string()
}

#[test]
fn the_install_script_makes_a_service_its_user_can_start() {
    if let Some(why) = cannot_run() {
        assert!(
            std::env::var_os("OVERSIGHT_REQUIRE_ROOT").is_none(),
            "OVERSIGHT_REQUIRE_ROOT is set but the systemd recipe cannot run: {why}"
        );
        eprintln!("skipped: the systemd recipe test cannot run here: {why}");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    // The service user must reach the staged files, as it reaches / on a host.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("root");
    let user = User(format!("ovs-recipe-{}", std::process::id()));

    // A certificate for localhost, as the operator brings one.
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_file, key_file) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();

    let install = Command::new("sh")
        .arg(repo.join("deploy/install.sh"))
        .arg(&cert_file)
        .arg(&key_file)
        .env("DESTDIR", &root)
        .env("OVERSIGHT_USER", &user.0)
        .env("OVERSIGHT_BINARY", env!("CARGO_BIN_EXE_oversight"))
        .output()
        .unwrap();
    assert!(
        install.status.success(),
        "deploy/install.sh failed: {}",
        String::from_utf8_lossy(&install.stderr)
    );
    let uid: u32 = sh("id", &["-u", &user.0]).trim().parse().unwrap();

    // The unit's command, its user and its environment, with the absolute paths of the
    // configuration moved under the staged root.
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/oversight.service")).unwrap();
    assert_eq!(unit_value(&unit, "User"), "oversight");
    let staged = |path: &str| -> PathBuf { root.join(path.trim_start_matches('/')) };
    let exec = unit_value(&unit, "ExecStart");
    let mut words = exec.split_whitespace();
    let program = staged(words.next().unwrap());
    let (name, config) = unit_value(&unit, "Environment")
        .split_once('=')
        .map(|(n, v)| (n.to_string(), staged(v)))
        .unwrap();
    assert_eq!(name, "OVERSIGHT_CONFIG");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.path().join("server.log");
    // As the unit's user, with that user's groups only (not root's), as systemd starts it.
    let mut server = Command::new(which("setpriv").unwrap())
        .arg(format!("--reuid={}", user.0))
        .arg(format!("--regid={}", user.0))
        .arg("--init-groups")
        .arg("--")
        .arg(&program)
        .args(words)
        .env_clear()
        .env(&name, &config)
        .env("OVERSIGHT_DATA_DIR", staged("/var/lib/oversight"))
        .env("OVERSIGHT_TLS__CERT", staged("/etc/oversight/tls/tls.crt"))
        .env("OVERSIGHT_TLS__KEY", staged("/etc/oversight/tls/tls.key"))
        .env("OVERSIGHT_LISTEN", format!("127.0.0.1:{port}"))
        .env("OVERSIGHT_WEB__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    // It serves (over TLS, as the configuration says) once it is up, or it has exited.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            panic!(
                "the service exited ({status}) as its user: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        let health = Command::new(env!("CARGO_BIN_EXE_oversight"))
            .args(["health", "--server", &format!("https://127.0.0.1:{port}")])
            .arg("--tls-ca")
            .arg(&cert_file)
            .args(["--tls-domain", "localhost"])
            .output()
            .unwrap();
        if health.status.success() {
            assert_eq!(String::from_utf8_lossy(&health.stdout).trim(), "SERVING");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the service did not come up: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        // Polling a process that is starting up: there is nothing to wait on but the port.
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill().unwrap();
    server.wait().unwrap();

    // What it wrote is its user's: the admin token, readable by that user only.
    let token = staged("/var/lib/oversight/admin.token");
    let meta = std::fs::metadata(&token).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), uid);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // And the configuration it read is not the world's.
    let config_mode = std::fs::metadata(&config).unwrap().permissions().mode();
    assert_eq!(
        config_mode & 0o007,
        0,
        "the configuration is world-readable"
    );
}
