//! README's configuration table names every setting of the server and every environment
//! variable of the command line: a test compares them, so neither can drift.

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::CommandFactory;

    use crate::cli::Cli;

    /// README's `## Configuration` section.
    fn configuration_section() -> String {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let start = readme
            .find("\n## Configuration\n")
            .expect("README has a Configuration section");
        let section = &readme[start + 1..];
        let end = section[3..]
            .find("\n## ")
            .map_or(section.len(), |at| at + 3);
        section[..end].to_string()
    }

    /// Dotted paths of every leaf of a settings document (`limits.read_chunk`).
    fn leaves(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) if !prefix.is_empty() && map.is_empty() => {
                out.push(prefix.to_string())
            }
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    leaves(value, &path, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    #[test]
    fn every_server_setting_is_in_the_readme_table() {
        let section = configuration_section();
        // With every optional setting given, so that each appears in the document.
        let mut settings = oversight::config::Settings::default();
        settings.metrics_listen = Some(settings.listen);
        settings.web.public_url = Some("https://oversight.example".to_string());
        let document = serde_json::to_value(&settings).unwrap();
        let mut paths = Vec::new();
        leaves(&document, "", &mut paths);
        assert!(paths.len() > 25, "only {paths:?}");
        for path in paths {
            assert!(
                section.contains(&format!("| `{path}`"))
                    || section.contains(&format!(", `{path}`"))
                    || section.contains(&format!("`[{path}]`")),
                "README's configuration table has no row for the setting {path}"
            );
        }
    }

    /// Every environment variable a flag of the command line reads.
    fn flag_environment(command: &clap::Command, out: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(name) = arg.get_env() {
                out.insert(name.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            flag_environment(sub, out);
        }
    }

    #[test]
    fn every_environment_variable_of_the_command_line_is_in_the_readme_table() {
        let section = configuration_section();
        let mut names = BTreeSet::new();
        flag_environment(&Cli::command(), &mut names);
        names.insert(oversight::config::CONFIG_ENV.to_string());
        for name in [
            "OVERSIGHT_SERVER",
            "OVERSIGHT_TOKEN",
            "OVERSIGHT_TOKEN_FILE",
            "OVERSIGHT_TLS_CA",
        ] {
            assert!(
                names.contains(name),
                "{name} is not read by any flag: {names:?}"
            );
        }
        for name in names {
            assert!(
                section.contains(&format!("`{name}`")),
                "README's configuration table lacks {name}"
            );
        }
    }
}
