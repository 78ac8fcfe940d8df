//! THE authorization table of the pages, as `api::rules` is for gRPC: every route (method and
//! path pattern as the router knows it), who may open it, and which CSRF token its form must
//! carry. The pages' middleware looks every request up here: a route missing from the table is
//! refused, whatever its handler. Finer checks (which committee, whose records) belong to the
//! application layer the pages call, as they do for gRPC.

use crate::auth::Role;

/// Who may open a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (sign-in, language switch, static files).
    Public,
    /// A signed-in principal in one of these roles.
    SignedIn(&'static [Role]),
}

/// The CSRF token a route's form must carry. Every route that is not a GET needs one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Csrf {
    /// No form (GET).
    None,
    /// The token bound to the pre-session cookie: forms sent before signing in (signing in,
    /// so that another site cannot sign a browser in as someone else).
    PreSession,
    /// The token bound to the session.
    Session,
}

/// One route of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path pattern, as given to the router.
    pub path: &'static str,
    /// Who may open it.
    pub access: Access,
    /// The CSRF token its form carries.
    pub csrf: Csrf,
    /// What it is, for the documentation.
    pub what: &'static str,
}

impl Route {
    /// Whether a principal in `role` may open it (`None`: not signed in).
    pub fn admits(&self, role: Option<Role>) -> bool {
        match self.access {
            Access::Public => true,
            Access::SignedIn(roles) => role.is_some_and(|role| roles.contains(&role)),
        }
    }
}

/// Every role, for the pages every signed-in principal may open.
pub const EVERY_ROLE: &[Role] = &[
    Role::Admin,
    Role::Clerk,
    Role::Chair,
    Role::CommitteeMember,
    Role::Deputy,
    Role::Appointee,
    Role::Reporter,
    Role::Auditor,
];

/// THE table: every route of the pages.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/",
        access: Access::SignedIn(EVERY_ROLE),
        csrf: Csrf::None,
        what: "home: who is signed in, in which role",
    },
    Route {
        method: "GET",
        path: "/signin/{link}",
        access: Access::Public,
        csrf: Csrf::None,
        what: "a sign-in link: whom it signs in as, and the button that spends it",
    },
    Route {
        method: "POST",
        path: "/signin/{link}",
        access: Access::Public,
        csrf: Csrf::PreSession,
        what: "spends a sign-in link and starts a session",
    },
    Route {
        method: "POST",
        path: "/signout",
        access: Access::SignedIn(EVERY_ROLE),
        csrf: Csrf::Session,
        what: "ends the session",
    },
    Route {
        method: "GET",
        path: "/signed-out",
        access: Access::Public,
        csrf: Csrf::None,
        what: "after signing out",
    },
    Route {
        method: "GET",
        path: "/lang/{code}",
        access: Access::Public,
        csrf: Csrf::None,
        what: "switches the language (a cookie) and returns to the page",
    },
    Route {
        method: "GET",
        path: "/static/{file}",
        access: Access::Public,
        csrf: Csrf::None,
        what: "the style sheet and scripts embedded in the binary",
    },
    Route {
        method: "GET",
        path: "/sessions",
        access: Access::SignedIn(EVERY_ROLE),
        csrf: Csrf::None,
        what: "the evaluation sessions of the committee, with the pages of each",
    },
    Route {
        method: "GET",
        path: "/sessions/{session}/ballot",
        access: Access::SignedIn(VOTERS),
        csrf: Csrf::None,
        what: "the member's ballot, or why they cannot vote",
    },
    Route {
        method: "POST",
        path: "/sessions/{session}/ballot",
        access: Access::SignedIn(VOTERS),
        csrf: Csrf::Session,
        what: "casts the ballot (its command id makes a resubmission record once)",
    },
    Route {
        method: "GET",
        path: "/sessions/{session}/receipt",
        access: Access::SignedIn(VOTERS),
        csrf: Csrf::None,
        what: "the receipt, shown once after casting",
    },
];

/// Those who vote (and the administrator, who opens every signed-in page; the application
/// refuses an administrator's ballot).
pub const VOTERS: &[Role] = &[Role::CommitteeMember, Role::Deputy, Role::Admin];

/// Those who run a session (the clerk; the chair and the administrator watch the console).
pub const RUNS_SESSIONS: &[Role] = &[Role::Clerk, Role::Chair, Role::Admin];

/// The table's entry for `method` and the router's `path` pattern.
pub fn route(method: &str, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|route| route.method == method && route.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_carries_a_csrf_token_and_only_forms_do() {
        for route in ROUTES {
            assert_eq!(
                route.method == "GET",
                route.csrf == Csrf::None,
                "{} {}",
                route.method,
                route.path
            );
            if route.csrf == Csrf::Session {
                assert!(
                    matches!(route.access, Access::SignedIn(_)),
                    "{} {}: a session token needs a session",
                    route.method,
                    route.path
                );
            }
            assert_eq!(
                ROUTES
                    .iter()
                    .filter(|r| r.method == route.method && r.path == route.path)
                    .count(),
                1,
                "{} {} is in the table once",
                route.method,
                route.path
            );
        }
    }

    #[test]
    fn docs_web_lists_every_route() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/WEB.md")).unwrap();
        let rows = doc
            .lines()
            .filter(|line| line.starts_with("| `GET ") || line.starts_with("| `POST "))
            .count();
        assert_eq!(rows, ROUTES.len(), "docs/WEB.md's route table");
        for route in ROUTES {
            let who = match route.access {
                Access::Public => "anyone".to_string(),
                Access::SignedIn(EVERY_ROLE) => "every signed-in role".to_string(),
                Access::SignedIn(roles) => roles
                    .iter()
                    .map(|role| role.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let row = format!("| `{} {}` | {who}", route.method, route.path);
            assert!(doc.contains(&row), "docs/WEB.md lacks {row}");
        }
    }

    #[test]
    fn admits_follows_the_table() {
        let home = route("GET", "/").unwrap();
        assert!(!home.admits(None), "signed-in pages refuse the signed out");
        assert!(home.admits(Some(Role::Reporter)));
        assert!(route("GET", "/signed-out").unwrap().admits(None));
        assert!(route("DELETE", "/").is_none());
    }
}
