//! Typed settings of the server, layered: built-in defaults → an optional TOML file
//! (`--config FILE` or `OVERSIGHT_CONFIG`) → `OVERSIGHT_…` environment variables (nested keys
//! joined with `__`, e.g. `OVERSIGHT_LIMITS__MAX_APPEND_EVENTS`) → command-line flags.
//!
//! The environment is passed in explicitly (see [`Settings::load`]) so that tests never race on
//! the process environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The prefix of every environment variable that configures the server.
pub const ENV_PREFIX: &str = "OVERSIGHT_";
/// The environment variable naming the TOML configuration file.
pub const CONFIG_ENV: &str = "OVERSIGHT_CONFIG";
/// The name of the log's file inside the data directory.
pub const LOG_FILE_NAME: &str = "oversight.redb";

/// Environment variables with the prefix that belong to the client commands, not the server.
const CLIENT_ENV: &[&str] = &[
    "CONFIG",
    "SERVER",
    "TOKEN",
    "TOKEN_FILE",
    "TLS_CA",
    "TLS_CLIENT_CERT",
    "TLS_CLIENT_KEY",
];

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format {other:?}; use human or json")),
        }
    }
}

/// Size and rate limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Most events in one append (across all streams of an `AppendMulti`).
    pub max_append_events: usize,
    /// Most payload bytes in one append.
    pub max_append_bytes: usize,
    /// Largest gRPC message the server decodes or encodes.
    pub max_message_bytes: usize,
    /// Events per streamed message of `ReadStream`, `ReadAll` and `Subscribe`.
    pub read_chunk: usize,
    /// Committed batches the live feed buffers before a lagging subscriber is cut off.
    pub live_buffer: usize,
    /// Most events the writer puts into one transaction (group commit).
    pub max_batch_events: usize,
    /// Most calls handled at once across all connections; further calls are refused with
    /// RESOURCE_EXHAUSTED until one finishes (long-lived streams count only until they start).
    pub max_concurrent_calls: usize,
    /// Calls per second each principal (token subject) may make on average; 0 turns the
    /// per-principal rate limit off.
    pub rate_limit_per_sec: u32,
    /// Calls a principal may make in a burst above the average rate.
    pub rate_limit_burst: u32,
    /// Seconds a call may take before the server answers DEADLINE_EXCEEDED (a shorter
    /// `grpc-timeout` sent by the client wins); streams are limited only until they start.
    pub request_timeout_secs: u64,
    /// Seconds between HTTP/2 pings on a connection that has been quiet; a peer that does not
    /// answer within 20 seconds is gone, and its connection is closed.
    pub http2_keepalive_secs: u64,
    /// Seconds a connection may stay silent (no byte either way) before it is closed: a socket
    /// that never spoke, or a peer gone without a word (a live client answers the pings).
    pub idle_timeout_secs: u64,
    /// Most gRPC connections at once; 0: as many as the file limit allows, less 64 kept for the
    /// server's files. A new connection beyond the bound closes the one silent the longest.
    pub max_connections: usize,
    /// Most gRPC connections at once from one address (a hall of tablets behind one NAT shares
    /// one); beyond it a new connection closes that address's one silent the longest.
    pub max_connections_per_address: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_append_events: 1000,
            max_append_bytes: 4 * 1024 * 1024,
            max_message_bytes: 8 * 1024 * 1024,
            read_chunk: 256,
            live_buffer: 4096,
            max_batch_events: 4096,
            max_concurrent_calls: 1024,
            rate_limit_per_sec: 1000,
            rate_limit_burst: 2000,
            request_timeout_secs: 60,
            http2_keepalive_secs: 60,
            idle_timeout_secs: 300,
            max_connections: 0,
            max_connections_per_address: 1024,
        }
    }
}

/// Every setting of the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Directory holding the log (`oversight.redb`) and the token files.
    pub data_dir: PathBuf,
    /// Let the data directory's group read and write it (0770 and 0660 instead of 0700 and
    /// 0600), for a volume shared through a group such as Kubernetes' `fsGroup`.
    pub data_dir_group: bool,
    /// Address the gRPC server listens on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `human` or `json`.
    pub log_format: LogFormat,
    /// Which log lines to keep, in `EnvFilter` syntax (e.g. `info,oversight=debug`).
    pub log_level: String,
    /// Seconds that in-flight calls get to finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// Address of the Prometheus `/metrics` endpoint; `None` (the default) serves no metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// Size and rate limits.
    pub limits: Limits,
    /// When the views count as healthy (TOML `[health]`).
    pub health: HealthSettings,
    /// Transport security: TLS certificate and key, client certificates, plaintext.
    pub tls: TlsSettings,
    /// What is recorded in the `audit` stream.
    pub audit: AuditSettings,
    /// Bearer tokens that are JWTs of an OpenID Connect provider.
    pub oidc: OidcSettings,
    /// The pages: their listener, the base of printed links, sign-in link and session lifetimes.
    pub web: WebSettings,
    /// The log's name, signing key and signed checkpoints (TOML `[checkpoints]`).
    pub checkpoints: CheckpointSettings,
}

/// The pages (`crate::web`), served on a listener of their own with the same TLS settings as
/// gRPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebSettings {
    /// Address the pages are served on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The address people open, the base of every link the server prints (sign-in links):
    /// e.g. `https://oversight.example.gov.cn` behind a proxy. `None`: `http(s)://` and the
    /// listen address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Hours a sign-in link stays usable after it is issued.
    pub link_ttl_hours: u64,
    /// Hours a signed-in session lasts (never beyond its token's expiry).
    pub session_hours: u64,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            link_ttl_hours: 24,
            session_hours: 12,
        }
    }
}

impl Settings {
    /// The base of the pages' links, without a trailing slash: `web.public_url`, else the
    /// scheme the listener speaks and `bound` (the address the pages' listener got).
    pub fn web_base_url(&self, bound: SocketAddr) -> String {
        match &self.web.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let scheme = if self.tls.enabled() { "https" } else { "http" };
                format!("{scheme}://{bound}")
            }
        }
    }
}

/// The log's signed checkpoints (C2SP tlog-checkpoint, see `docs/STORAGE.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointSettings {
    /// The log's name: every checkpoint's first line and its signing key's name, what
    /// verifiers and witnesses know the log by (one log holds many committees). A schema-less
    /// URL such as `npc.harbin.example/oversight`, without spaces or `+`.
    pub log_name: String,
    /// Seconds between two checkpoints while the log grows (none is signed while it is idle).
    pub interval_secs: u64,
    /// The Ed25519 signing key file; `None`: `log.key` in the data directory, created on first
    /// start (mode 0600). Every server of one PostgreSQL deployment names the same file.
    pub key_file: Option<PathBuf>,
}

impl Default for CheckpointSettings {
    fn default() -> Self {
        Self {
            log_name: "oversight.invalid/log".to_string(),
            interval_secs: 5,
            key_file: None,
        }
    }
}

/// Verification of JWTs issued by an OpenID Connect provider, next to the server's own tokens.
/// On when `jwks_file` is set; a JWT must then be signed by a key of that set (asymmetric keys
/// only), carry `iss` = `issuer`, `aud` containing `audience`, an `exp` in the future and a
/// role claim that maps to a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OidcSettings {
    /// The provider's issuer URL, compared with the `iss` claim.
    pub issuer: Option<String>,
    /// The audience this server accepts, looked for in the `aud` claim.
    pub audience: Option<String>,
    /// A JSON Web Key Set file with the provider's public signing keys; read again when it
    /// changes (a file that cannot be used keeps the keys read before).
    pub jwks_file: Option<PathBuf>,
    /// The claim naming the subject.
    pub subject_claim: String,
    /// The claim naming the role (a string, or a list whose first mapped value is used).
    pub role_claim: String,
    /// The claim naming the committee.
    pub committee_claim: String,
    /// The claim naming the deputy group.
    pub deputy_group_claim: String,
    /// Role claim values → Oversight roles (e.g. `"npc-clerk" = "clerk"`); empty: the claim
    /// holds Oversight role names.
    pub roles: std::collections::BTreeMap<String, String>,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            jwks_file: None,
            subject_claim: "sub".to_string(),
            role_claim: "oversight_role".to_string(),
            committee_claim: "oversight_committee".to_string(),
            deputy_group_claim: "oversight_deputy_group".to_string(),
            roles: std::collections::BTreeMap::new(),
        }
    }
}

/// What the server records about its callers in the log itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditSettings {
    /// Record every raw read of the log (EventLog ReadStream, ReadAll, Subscribe) as a
    /// `LogRead.v1` event in the `audit` stream before serving it.
    pub log_reads: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self { log_reads: true }
    }
}

/// Transport security of the listener. Without `cert` and `key` the server speaks plaintext,
/// which it does only on a loopback address unless `allow_plaintext` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsSettings {
    /// PEM file with the server's certificate chain; turns TLS on (with `key`).
    pub cert: Option<PathBuf>,
    /// PEM file with the server's private key.
    pub key: Option<PathBuf>,
    /// PEM file with the CA certificates that sign client certificates; when set, every
    /// client must present a certificate signed by one of them (mutual TLS).
    pub client_ca: Option<PathBuf>,
    /// Serve plaintext on a non-loopback address (behind a TLS-terminating proxy or on a
    /// private network only).
    pub allow_plaintext: bool,
}

impl TlsSettings {
    /// Whether the listener speaks TLS.
    pub fn enabled(&self) -> bool {
        self.cert.is_some() || self.key.is_some()
    }
}

/// How far behind the log a view may fall before the health service reports it NOT_SERVING
/// (see [`crate::view_health`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthSettings {
    /// Most positions a view may be behind the log's head.
    pub max_view_lag_positions: u64,
    /// Most seconds a view may have been behind the head.
    pub max_view_lag_secs: u64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            max_view_lag_positions: 10_000,
            max_view_lag_secs: 30,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            data_dir_group: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            log_format: LogFormat::Human,
            log_level: "info".to_string(),
            shutdown_grace_secs: 10,
            metrics_listen: None,
            limits: Limits::default(),
            health: HealthSettings::default(),
            tls: TlsSettings::default(),
            audit: AuditSettings::default(),
            oidc: OidcSettings::default(),
            web: WebSettings::default(),
            checkpoints: CheckpointSettings::default(),
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers in charge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Overrides {
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--log-format`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// `--log-level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// `--shutdown-grace-secs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_secs: Option<u64>,
    /// `--metrics-listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// The `--max-…`, `--read-chunk`, `--live-buffer` flags.
    #[serde(skip_serializing_if = "LimitOverrides::is_empty")]
    pub limits: LimitOverrides,
    /// The `--tls-…` and `--allow-plaintext` flags.
    #[serde(skip_serializing_if = "TlsOverrides::is_empty")]
    pub tls: TlsOverrides,
    /// The `--web-…` flags.
    #[serde(skip_serializing_if = "WebOverrides::is_empty")]
    pub web: WebOverrides,
}

/// The pages' settings given on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WebOverrides {
    /// `--web-listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--web-public-url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

impl WebOverrides {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Transport security given on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsOverrides {
    /// `--tls-cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// `--tls-key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// `--tls-client-ca`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
    /// `--allow-plaintext`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_plaintext: Option<bool>,
}

impl TlsOverrides {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Limits given on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LimitOverrides {
    /// `--max-append-events`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_append_events: Option<usize>,
    /// `--max-append-bytes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_append_bytes: Option<usize>,
    /// `--max-message-bytes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_message_bytes: Option<usize>,
    /// `--read-chunk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_chunk: Option<usize>,
    /// `--live-buffer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_buffer: Option<usize>,
    /// `--max-batch-events`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch_events: Option<usize>,
}

impl LimitOverrides {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Why the settings could not be loaded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file named by `--config` or `OVERSIGHT_CONFIG` cannot be read.
    #[error("cannot read config file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A setting has a value of the wrong shape.
    #[error("invalid setting `{key}` (from {origin}): {detail}")]
    Invalid {
        /// The dotted key, e.g. `limits.read_chunk`.
        key: String,
        /// Where the value came from: a file, an environment variable or a flag.
        origin: String,
        /// What is wrong.
        detail: String,
    },
    /// The configuration file names a setting that does not exist (a misspelt key would
    /// otherwise be ignored and its default used without a word).
    #[error(
        "unknown setting `{key}` in config file {path}: check the spelling against the \
         configuration table in README.md (`oversight config show` prints every setting)"
    )]
    UnknownKey {
        /// The dotted key as written in the file.
        key: String,
        /// The file.
        path: PathBuf,
    },
    /// A setting is out of range.
    #[error("setting `{key}` {rule}")]
    OutOfRange {
        /// The dotted key.
        key: &'static str,
        /// The rule it breaks.
        rule: String,
    },
}

impl Settings {
    /// Loads the settings from the layers, lowest first: defaults, the TOML file (`config_file`,
    /// or the file named by `OVERSIGHT_CONFIG` in `env`), the `OVERSIGHT_…` variables in `env`,
    /// then `overrides`. Production passes `std::env::vars()`.
    pub fn load(
        config_file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        Ok(Self::load_with_origins(config_file, env, overrides)?.0)
    }

    /// Like [`Settings::load`], and also says where each setting's value came from: one
    /// `(dotted key, origin)` per setting, sorted by key, where the
    /// origin is `default`, `config file <path>`, `environment variable OVERSIGHT_…` or
    /// `flag --…`.
    pub fn load_with_origins(
        config_file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<(Self, Vec<(String, String)>), ConfigError> {
        let env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(key, _)| key.starts_with(ENV_PREFIX))
            .collect();
        let file = config_file.map(Path::to_path_buf).or_else(|| {
            env.iter()
                .find(|(key, _)| key == CONFIG_ENV)
                .map(|(_, value)| PathBuf::from(value))
        });

        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = &file {
            // Figment silently skips a missing file; a file the user named must exist.
            std::fs::metadata(path).map_err(|source| ConfigError::File {
                path: path.clone(),
                source,
            })?;
            reject_unknown_keys(path)?;
            figment = figment.merge(Toml::file_exact(path));
        }
        for (name, value) in &env {
            let key = name[ENV_PREFIX.len()..].to_string();
            if CLIENT_ENV.contains(&key.as_str()) || key.is_empty() {
                continue;
            }
            let dotted = key.to_lowercase().replace("__", ".");
            let parsed = figment::value::Value::from_str(value)
                .unwrap_or_else(|_| figment::value::Value::from(value.clone()));
            let parsed = coerce_string_key(&dotted, parsed, value);
            figment = figment.merge(Serialized::default(&dotted, parsed));
        }
        figment = figment.merge(Serialized::defaults(overrides));

        let settings: Settings = figment
            .extract()
            .map_err(|error| invalid(error, file.as_deref()))?;
        settings.validate()?;
        let mut origins = Vec::new();
        if let Ok(tree) = figment::value::Value::serialize(&settings) {
            leaf_keys(&tree, String::new(), &mut origins);
        }
        let origins = origins
            .into_iter()
            .map(|key| {
                let path: Vec<String> = key.split('.').map(str::to_string).collect();
                let origin = match figment.find_metadata(&key) {
                    Some(meta) => origin(meta, &path, file.as_deref()),
                    None => "default".to_string(),
                };
                (key, origin)
            })
            .collect();
        Ok((settings, origins))
    }

    /// The path of the log's redb file.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join(LOG_FILE_NAME)
    }

    /// The path of the log's signing key: `checkpoints.key_file`, or `log.key` in the data
    /// directory.
    pub fn log_key_path(&self) -> PathBuf {
        self.checkpoints
            .key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(crate::checkpoints::LOG_KEY_FILE))
    }

    /// Checks the ranges that serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("limits.max_append_events", self.limits.max_append_events),
            ("limits.max_append_bytes", self.limits.max_append_bytes),
            ("limits.max_message_bytes", self.limits.max_message_bytes),
            ("limits.read_chunk", self.limits.read_chunk),
            ("limits.live_buffer", self.limits.live_buffer),
            ("limits.max_batch_events", self.limits.max_batch_events),
            (
                "limits.max_concurrent_calls",
                self.limits.max_concurrent_calls,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError::OutOfRange {
                    key,
                    rule: "must be at least 1".to_string(),
                });
            }
        }
        if self.limits.max_append_bytes > self.limits.max_message_bytes {
            return Err(ConfigError::OutOfRange {
                key: "limits.max_append_bytes",
                rule: format!(
                    "({}) must not exceed limits.max_message_bytes ({})",
                    self.limits.max_append_bytes, self.limits.max_message_bytes
                ),
            });
        }
        if self.limits.request_timeout_secs == 0 {
            return Err(ConfigError::OutOfRange {
                key: "limits.request_timeout_secs",
                rule: "must be at least 1".to_string(),
            });
        }
        if self.limits.rate_limit_per_sec > 0 && self.limits.rate_limit_burst == 0 {
            return Err(ConfigError::OutOfRange {
                key: "limits.rate_limit_burst",
                rule: "must be at least 1 while limits.rate_limit_per_sec is set".to_string(),
            });
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(ConfigError::OutOfRange {
                key: if self.tls.cert.is_some() {
                    "tls.key"
                } else {
                    "tls.cert"
                },
                rule: "must be set together with the other of tls.cert and tls.key".to_string(),
            });
        }
        if self.oidc.jwks_file.is_some() {
            for (key, value) in [
                ("oidc.issuer", &self.oidc.issuer),
                ("oidc.audience", &self.oidc.audience),
            ] {
                if value.as_deref().is_none_or(str::is_empty) {
                    return Err(ConfigError::OutOfRange {
                        key,
                        rule: "must be set when oidc.jwks_file is: tokens are checked against it"
                            .to_string(),
                    });
                }
            }
        }
        if let Some(url) = &self.web.public_url {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            if rest.is_none_or(|rest| rest.trim_end_matches('/').is_empty()) {
                return Err(ConfigError::OutOfRange {
                    key: "web.public_url",
                    rule: format!(
                        "({url:?}) must be an http:// or https:// URL, e.g. https://oversight.example.gov.cn"
                    ),
                });
            }
        }
        for (key, value) in [
            ("web.link_ttl_hours", self.web.link_ttl_hours),
            ("web.session_hours", self.web.session_hours),
        ] {
            if value == 0 {
                return Err(ConfigError::OutOfRange {
                    key,
                    rule: "must be at least 1".to_string(),
                });
            }
        }
        if self.tls.client_ca.is_some() && !self.tls.enabled() {
            return Err(ConfigError::OutOfRange {
                key: "tls.client_ca",
                rule: "needs tls.cert and tls.key: client certificates are checked only over TLS"
                    .to_string(),
            });
        }
        Ok(())
    }
}

/// Keeps string-typed settings as the literal text of the variable, so that e.g.
/// `OVERSIGHT_LOG_LEVEL=1` or `OVERSIGHT_DATA_DIR=2024` are not read as numbers.
fn coerce_string_key(
    dotted: &str,
    parsed: figment::value::Value,
    raw: &str,
) -> figment::value::Value {
    match dotted {
        "data_dir" | "log_level" | "listen" | "log_format" | "metrics_listen" | "tls.cert"
        | "tls.key" | "tls.client_ca" | "oidc.issuer" | "oidc.audience" | "oidc.jwks_file"
        | "web.listen" | "web.public_url" => figment::value::Value::from(raw.to_string()),
        _ => parsed,
    }
}

/// Refuses a configuration file with a key no setting has. Values of the wrong shape are left
/// to the extraction, which names their origin.
fn reject_unknown_keys(path: &Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
        path: path.to_path_buf(),
        source,
    })?;
    let mut unknown = Vec::new();
    let parsed: Result<Settings, _> =
        serde_ignored::deserialize(toml::Deserializer::new(&text), |key| {
            unknown.push(key.to_string());
        });
    drop(parsed);
    match unknown.into_iter().next() {
        Some(key) => Err(ConfigError::UnknownKey {
            key,
            path: path.to_path_buf(),
        }),
        None => Ok(()),
    }
}

fn invalid(error: figment::Error, file: Option<&Path>) -> ConfigError {
    let key = error.path.join(".");
    let origin = match &error.metadata {
        Some(meta) => origin(meta, &error.path, file),
        None => "configuration".to_string(),
    };
    ConfigError::Invalid {
        key,
        origin,
        detail: error.kind.to_string(),
    }
}

/// Names the layer a value came from, for the setting at `path`.
fn origin(meta: &figment::Metadata, path: &[String], file: Option<&Path>) -> String {
    let key = path.join(".");
    // Figment names a serialized provider after the serialized type: `Value` for the
    // environment variables, `Overrides` for the flags, `Settings` for the defaults.
    if meta.name.contains("TOML") {
        match file {
            Some(path) => format!("config file {}", path.display()),
            None => "config file".to_string(),
        }
    } else if meta.name.ends_with("Value") {
        format!(
            "environment variable {ENV_PREFIX}{}",
            key.to_uppercase().replace('.', "__")
        )
    } else if meta.name.ends_with("Overrides") {
        // The pages' flags carry their table's name (`--web-listen`); the others do not.
        let table = match path.first().map(String::as_str) {
            Some("web") if path.len() > 1 => "web-",
            _ => "",
        };
        format!(
            "flag --{table}{}",
            path.last().map_or(String::new(), |k| k.replace('_', "-"))
        )
    } else if meta.name.ends_with("Settings") {
        "default".to_string()
    } else {
        meta.name.to_string()
    }
}

/// Collects the dotted keys of every leaf of a settings tree, in order.
fn leaf_keys(value: &figment::value::Value, prefix: String, out: &mut Vec<String>) {
    match value {
        figment::value::Value::Dict(_, dict) => {
            for (key, child) in dict {
                let dotted = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaf_keys(child, dotted, out);
            }
        }
        _ => out.push(prefix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_without_any_layer() {
        let settings = Settings::load(None, Vec::new(), &Overrides::default()).unwrap();
        assert_eq!(settings, Settings::default());
        assert_eq!(settings.log_path(), PathBuf::from("./data/oversight.redb"));
        assert_eq!(settings.limits.max_append_events, 1000);
        assert_eq!(settings.limits.max_append_bytes, 4 * 1024 * 1024);
        assert_eq!(settings.limits.read_chunk, 256);
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oversight.toml");
        std::fs::write(
            &path,
            r#"
data_dir = "/from/file"
listen = "127.0.0.1:7000"
log_level = "debug"
log_format = "json"

[limits]
max_append_events = 10
read_chunk = 20
live_buffer = 30
"#,
        )
        .unwrap();
        let env = env(&[
            ("OVERSIGHT_LIMITS__READ_CHUNK", "21"),
            ("OVERSIGHT_LIMITS__LIVE_BUFFER", "31"),
            ("OVERSIGHT_LOG_LEVEL", "warn"),
            ("OVERSIGHT_SERVER", "http://ignored"),
            ("UNRELATED", "x"),
        ]);
        let overrides = Overrides {
            limits: LimitOverrides {
                live_buffer: Some(32),
                ..LimitOverrides::default()
            },
            ..Overrides::default()
        };
        let settings = Settings::load(Some(&path), env, &overrides).unwrap();
        assert_eq!(settings.data_dir, PathBuf::from("/from/file"));
        assert_eq!(settings.listen, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(settings.log_format, LogFormat::Json);
        assert_eq!(settings.limits.max_append_events, 10, "file beats default");
        assert_eq!(settings.limits.read_chunk, 21, "env beats file");
        assert_eq!(settings.log_level, "warn", "env beats file");
        assert_eq!(settings.limits.live_buffer, 32, "flag beats env");
        assert_eq!(settings.limits.max_message_bytes, 8 * 1024 * 1024);
    }

    #[test]
    fn a_misspelt_key_in_the_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oversight.toml");
        std::fs::write(
            &path,
            "log_level = \"debug\"\n[limits]\nmax_apend_events = 5\n",
        )
        .unwrap();
        let err = Settings::load(Some(&path), Vec::new(), &Overrides::default()).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(&err, ConfigError::UnknownKey { key, .. } if key == "limits.max_apend_events"),
            "{message}"
        );
        assert!(message.contains("oversight.toml"), "{message}");
        std::fs::write(&path, "listn = \"127.0.0.1:1\"\n").unwrap();
        assert!(matches!(
            Settings::load(Some(&path), Vec::new(), &Overrides::default()),
            Err(ConfigError::UnknownKey { key, .. }) if key == "listn"
        ));
    }

    #[test]
    fn config_file_from_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.toml");
        std::fs::write(&path, "shutdown_grace_secs = 3\n").unwrap();
        let env = env(&[("OVERSIGHT_CONFIG", path.to_str().unwrap())]);
        let settings = Settings::load(None, env, &Overrides::default()).unwrap();
        assert_eq!(settings.shutdown_grace_secs, 3);
    }

    #[test]
    fn missing_file_is_named() {
        let err = Settings::load(
            Some(Path::new("/nonexistent/oversight.toml")),
            Vec::new(),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/oversight.toml"),
            "{err}"
        );
    }

    #[test]
    fn bad_value_names_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[limits]\nread_chunk = \"many\"\n").unwrap();
        let err = Settings::load(Some(&path), Vec::new(), &Overrides::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("limits.read_chunk"), "{text}");
        assert!(text.contains("bad.toml"), "{text}");
    }

    #[test]
    fn bad_env_value_names_key() {
        let env = env(&[("OVERSIGHT_LIMITS__READ_CHUNK", "lots")]);
        let err = Settings::load(None, env, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("limits.read_chunk"), "{err}");
        assert!(
            err.to_string().contains("OVERSIGHT_LIMITS__READ_CHUNK"),
            "{err}"
        );
    }

    #[test]
    fn origins_name_each_layer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.toml");
        std::fs::write(&path, "log_level = \"debug\"\n[limits]\nread_chunk = 7\n").unwrap();
        let env = env(&[("OVERSIGHT_LIMITS__READ_CHUNK", "8")]);
        let overrides = Overrides {
            shutdown_grace_secs: Some(3),
            ..Overrides::default()
        };
        let (settings, origins) =
            Settings::load_with_origins(Some(&path), env, &overrides).unwrap();
        assert_eq!(settings.limits.read_chunk, 8);
        let of = |key: &str| {
            origins
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, o)| o.clone())
                .unwrap()
        };
        assert_eq!(of("listen"), "default");
        assert!(of("log_level").starts_with("config file "), "{origins:?}");
        assert_eq!(
            of("limits.read_chunk"),
            "environment variable OVERSIGHT_LIMITS__READ_CHUNK"
        );
        assert_eq!(of("shutdown_grace_secs"), "flag --shutdown-grace-secs");
    }

    #[test]
    fn pages_settings_from_each_layer() {
        let layered = env(&[
            ("OVERSIGHT_WEB__LISTEN", "127.0.0.1:9090"),
            ("OVERSIGHT_WEB__LINK_TTL_HOURS", "48"),
        ]);
        let overrides = Overrides {
            web: WebOverrides {
                public_url: Some("https://oversight.example/".to_string()),
                ..WebOverrides::default()
            },
            ..Overrides::default()
        };
        let (settings, origins) = Settings::load_with_origins(None, layered, &overrides).unwrap();
        assert_eq!(settings.web.listen, "127.0.0.1:9090".parse().unwrap());
        assert_eq!(settings.web.link_ttl_hours, 48);
        assert_eq!(settings.web.session_hours, 12);
        let bound = "127.0.0.1:1".parse().unwrap();
        assert_eq!(settings.web_base_url(bound), "https://oversight.example");
        assert!(
            origins.contains(&(
                "web.public_url".to_string(),
                "flag --web-public-url".to_string()
            )),
            "{origins:?}"
        );
        assert_eq!(
            Settings::default().web_base_url(bound),
            "http://127.0.0.1:1",
            "without public_url the listener's own address"
        );

        let bad = env(&[("OVERSIGHT_WEB__PUBLIC_URL", "oversight.example")]);
        let err = Settings::load(None, bad, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("web.public_url"), "{err}");
        let zero = env(&[("OVERSIGHT_WEB__SESSION_HOURS", "0")]);
        let err = Settings::load(None, zero, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("web.session_hours"), "{err}");
    }

    #[test]
    fn zero_limit_is_rejected() {
        let env = env(&[("OVERSIGHT_LIMITS__READ_CHUNK", "0")]);
        let err = Settings::load(None, env, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("limits.read_chunk"), "{err}");
    }

    #[test]
    fn tls_and_oidc_settings_come_in_complete_sets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.toml");
        std::fs::write(
            &path,
            "[oidc]\njwks_file = \"/etc/jwks.json\"\nissuer = \"https://id\"\n[oidc.roles]\nnpc-clerk = \"clerk\"\n",
        )
        .unwrap();
        let err = Settings::load(Some(&path), Vec::new(), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("oidc.audience"), "{err}");
        let audience = env(&[("OVERSIGHT_OIDC__AUDIENCE", "oversight")]);
        let settings = Settings::load(Some(&path), audience, &Overrides::default()).unwrap();
        assert_eq!(settings.oidc.roles["npc-clerk"], "clerk");
        assert_eq!(settings.oidc.role_claim, "oversight_role");

        let cert_only = env(&[("OVERSIGHT_TLS__CERT", "/etc/tls.crt")]);
        let err = Settings::load(None, cert_only, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("tls.key"), "{err}");
    }
}
