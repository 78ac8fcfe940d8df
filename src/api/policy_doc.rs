//! The policy table as documentation: [`policy_table_markdown`] renders [`rule`] for every RPC
//! of the descriptor set, and a test keeps the copy in `docs/SECURITY.md` equal to it.

use prost::Message;

use crate::api::rules::rule;
use crate::auth::Role;

/// The roles, in the order of the table's columns.
const COLUMNS: [Role; 8] = [
    Role::Admin,
    Role::Clerk,
    Role::Chair,
    Role::CommitteeMember,
    Role::Deputy,
    Role::Appointee,
    Role::Reporter,
    Role::Auditor,
];

/// The policy table as a Markdown table: one row per RPC of the descriptor set, one column per
/// role, `✓` where [`rule`] admits the role (`—` for an RPC without an entry, which is refused).
pub fn policy_table_markdown() -> String {
    let mut out = String::from("| RPC |");
    for role in COLUMNS {
        out.push_str(&format!(" {} |", role.as_str()));
    }
    out.push_str("\n|---|");
    for _ in COLUMNS {
        out.push_str(":-:|");
    }
    out.push('\n');
    let Ok(set) = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET) else {
        return out;
    };
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                out.push_str(&format!("| `{}/{}` |", service.name(), method.name()));
                for role in COLUMNS {
                    let mark = match rule(&path) {
                        Some(rule) if rule.admits(role) => "✓",
                        Some(_) => " ",
                        None => "—",
                    };
                    out.push_str(&format!(" {mark} |"));
                }
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = "<!-- policy-table:start -->\n";
    const END: &str = "<!-- policy-table:end -->";

    /// `docs/SECURITY.md` shows the table `rule()` implements. After changing the table, run
    /// this test with `OVERSIGHT_BLESS_DOCS=1` to rewrite the copy in the document.
    #[test]
    fn security_doc_shows_the_policy_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/SECURITY.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let start = doc.find(START).expect("the start marker") + START.len();
        let end = doc.find(END).expect("the end marker");
        let table = policy_table_markdown();
        if std::env::var_os("OVERSIGHT_BLESS_DOCS").is_some() {
            let blessed = format!("{}{table}{}", &doc[..start], &doc[end..]);
            std::fs::write(&path, blessed).unwrap();
            return;
        }
        assert_eq!(
            &doc[start..end],
            table,
            "docs/SECURITY.md is out of date; rerun with OVERSIGHT_BLESS_DOCS=1"
        );
        assert!(table.lines().count() > 50);
    }
}
