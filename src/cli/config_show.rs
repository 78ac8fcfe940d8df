//! `oversight config show`: prints the settings `oversight serve` would run with, as TOML, each
//! line followed by the layer its value came from; secret values are redacted.

use anyhow::Context;
use clap::{Args, Subcommand};
use oversight::config::Settings;

use super::serve::ServeArgs;

/// `oversight config …`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (defaults < TOML file < OVERSIGHT_* environment <
    /// flags) as TOML, with where each value came from; secret values are redacted.
    ///
    /// Takes the same flags as `oversight serve`.
    Show(ServeArgs),
}

/// What replaces a secret value.
const REDACTED: &str = "<redacted>";

/// Runs `oversight config …`.
pub fn run(args: ConfigArgs) -> anyhow::Result<()> {
    match args.command {
        ConfigCommand::Show(serve) => {
            let (settings, origins) = Settings::load_with_origins(
                serve.config_file(),
                std::env::vars(),
                &serve.overrides(),
            )?;
            print!("{}", render(&settings, &origins)?);
            Ok(())
        }
    }
}

/// The settings as TOML, one `key = value  # origin` line per setting, secrets redacted.
fn render(settings: &Settings, origins: &[(String, String)]) -> anyhow::Result<String> {
    let tree = toml::Value::try_from(settings).context("cannot render the settings as TOML")?;
    let toml::Value::Table(table) = tree else {
        anyhow::bail!("the settings did not render as a TOML table");
    };
    let origin_of = |key: &str| {
        origins
            .iter()
            .find(|(k, _)| k == key)
            .map_or("default", |(_, origin)| origin.as_str())
    };
    let mut out = String::new();
    if settings.metrics_listen.is_none() {
        out.push_str("# metrics_listen is not set: no /metrics endpoint (e.g. --metrics-listen 127.0.0.1:9464)\n");
    }
    let mut tables = Vec::new();
    for (key, value) in &table {
        match value {
            toml::Value::Table(inner) => tables.push((key, inner)),
            _ => line(&mut out, key, key, value, origin_of(key)),
        }
    }
    for (name, inner) in tables {
        out.push_str(&format!("\n[{name}]\n"));
        for (key, value) in inner {
            let dotted = format!("{name}.{key}");
            line(&mut out, key, &dotted, value, origin_of(&dotted));
        }
    }
    Ok(out)
}

fn line(out: &mut String, key: &str, dotted: &str, value: &toml::Value, origin: &str) {
    let shown = if is_secret(dotted) {
        toml::Value::String(REDACTED.to_string())
    } else {
        value.clone()
    };
    let text = format!("{key} = {shown}");
    out.push_str(&format!("{text:<40} # {origin}\n"));
}

/// Whether a setting holds secret material whose value must not be printed. Paths of files
/// that hold secrets (`…_file`, `…_path`, `…_dir`) are not secret themselves.
fn is_secret(dotted: &str) -> bool {
    let key = dotted
        .rsplit('.')
        .next()
        .unwrap_or(dotted)
        .to_ascii_lowercase();
    if ["_file", "_path", "_dir"].iter().any(|s| key.ends_with(s)) {
        return false;
    }
    [
        "secret",
        "password",
        "token",
        "private_key",
        "key_pem",
        "jwt_key",
    ]
    .iter()
    .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_recognised_and_paths_are_not() {
        for secret in [
            "jwt_secret",
            "tls.private_key",
            "admin_token",
            "db_password",
        ] {
            assert!(is_secret(secret), "{secret}");
        }
        for plain in [
            "token_file",
            "tls.private_key_path",
            "data_dir",
            "limits.read_chunk",
        ] {
            assert!(!is_secret(plain), "{plain}");
        }
    }

    #[test]
    fn rendering_is_toml_with_origins() {
        let settings = Settings::default();
        let origins = vec![(
            "limits.read_chunk".to_string(),
            "flag --read-chunk".to_string(),
        )];
        let text = render(&settings, &origins).unwrap();
        assert!(text.contains("# flag --read-chunk"), "{text}");
        let parsed: Settings = toml::from_str(&text).unwrap();
        assert_eq!(parsed, settings);
        let mut out = String::new();
        line(
            &mut out,
            "jwt_secret",
            "auth.jwt_secret",
            &toml::Value::String("hunter2".into()),
            "default",
        );
        assert!(!out.contains("hunter2") && out.contains(REDACTED), "{out}");
    }
}
