//! The example configuration shipped in `deploy/` parses with the server's own loader and says
//! what the deployment files rely on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use oversight::config::{LogFormat, Overrides, Settings};

#[test]
fn example_config_parses_and_matches_the_deployment_files() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/oversight.toml");
    let settings = Settings::load(Some(&path), Vec::new(), &Overrides::default()).unwrap();
    settings.validate().unwrap();
    // The Dockerfile, the systemd unit and the StatefulSet mount the data volume here.
    assert_eq!(settings.data_dir, Path::new("/var/lib/oversight"));
    assert_eq!(settings.listen.port(), 50051);
    assert_eq!(settings.log_format, LogFormat::Json);
    // Every limit in the example equals the built-in default, so the comments stay true.
    assert_eq!(settings.limits, Settings::default().limits);
    // It listens beyond loopback, so it must serve TLS (the server refuses plaintext there).
    assert!(settings.tls.enabled() && !settings.tls.allow_plaintext);
    let tls_dir = Path::new("/etc/oversight/tls");
    assert!(settings.tls.cert.as_deref().unwrap().starts_with(tls_dir));
    assert!(settings.tls.key.as_deref().unwrap().starts_with(tls_dir));
}

#[test]
fn deployment_files_name_the_binary_its_config_and_its_data_directory() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let read = |name: &str| std::fs::read_to_string(root.join(name)).unwrap();
    let unit = read("oversight.service");
    for line in [
        "ExecStart=/usr/local/bin/oversight serve",
        "Environment=OVERSIGHT_CONFIG=/etc/oversight/oversight.toml",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/oversight",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "systemd unit lacks {line:?}"
        );
    }
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains("USER oversight"));
    assert!(dockerfile.contains("VOLUME [\"/var/lib/oversight\"]"));
    assert!(dockerfile.contains("\"oversight\", \"health\""));
    // The health check speaks TLS like the configuration it ships.
    assert!(dockerfile.contains("\"https://127.0.0.1:50051\", \"--tls-ca\""));
    assert!(read("compose.yaml").contains(":/etc/oversight/tls:ro"));
    let kube = read("kubernetes/oversight.yaml");
    assert!(kube.contains("kind: StatefulSet"));
    assert!(kube.contains("grpc:\n              port: 50051"));
    // Its plaintext listener (for the kubelet's gRPC probes) is explicitly allowed.
    assert!(kube.contains("    allow_plaintext = true\n"));
}

/// `systemd-analyze verify` accepts the unit (with `ExecStart` pointed at the built binary, since
/// the unit names its installed path). Where systemd-analyze is missing, the test says so.
#[test]
fn systemd_analyze_verifies_the_unit() {
    let analyze = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output();
    if !analyze.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: systemd-analyze is not installed here; the unit was not verified");
        return;
    }
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/oversight.service"),
    )
    .unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/oversight serve"),
        "{unit}"
    );
    let unit = unit.replace("/usr/local/bin/oversight", env!("CARGO_BIN_EXE_oversight"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oversight.service");
    std::fs::write(&path, unit).unwrap();
    let verified = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "systemd-analyze verify failed: {}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
}

/// The `oversight.toml: |` block embedded in the Kubernetes ConfigMap, its indentation removed.
fn kubernetes_config() -> String {
    let kube = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/oversight.yaml"),
    )
    .unwrap();
    let mut lines = kube.lines().skip_while(|l| l.trim() != "oversight.toml: |");
    let key = lines
        .next()
        .expect("the ConfigMap has an oversight.toml: | block");
    let key_indent = key.len() - key.trim_start().len();
    let mut block = String::new();
    let mut indent = None;
    for line in lines {
        let this = line.len() - line.trim_start().len();
        if !line.trim().is_empty() && this <= key_indent {
            break;
        }
        let indent = *indent.get_or_insert(this);
        block.push_str(line.get(indent..).unwrap_or(""));
        block.push('\n');
    }
    block
}

#[test]
fn kubernetes_config_map_parses_and_matches_the_stateful_set() {
    let block = kubernetes_config();
    assert!(
        block.lines().any(|l| l.starts_with("data_dir = ")),
        "{block}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oversight.toml");
    std::fs::write(&path, &block).unwrap();
    let settings = Settings::load(Some(&path), Vec::new(), &Overrides::default()).unwrap();
    settings.validate().unwrap();
    // The StatefulSet mounts its volume claim at /var/lib/oversight and the ConfigMap at
    // /etc/oversight, where OVERSIGHT_CONFIG points, and probes the listening port. The
    // volume's root belongs to root (fsGroup changes only its group), so the server could not
    // hold it to 0770: the data lives in a directory of the server's own under the mount,
    // shared with the volume's group.
    assert_eq!(settings.data_dir, Path::new("/var/lib/oversight/data"));
    assert!(
        settings.data_dir_group,
        "fsGroup shares the volume through its group"
    );
    assert_eq!(settings.listen.port(), 50051);
    assert_eq!(settings.log_format, LogFormat::Json);
    assert!(settings.tls.allow_plaintext && !settings.tls.enabled());
    let kube = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/oversight.yaml"),
    )
    .unwrap();
    assert!(kube.contains("mountPath: /var/lib/oversight\n"));
    assert!(kube.contains("fsGroup: 10001"));
    assert!(kube.contains("value: /etc/oversight/oversight.toml"));
}
