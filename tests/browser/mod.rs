//! A real headless Chromium driven through chromedriver (WebDriver, with fantoccini), for the
//! pages' end-to-end tests. One [`Driver`] (a chromedriver process) per test; each person of a
//! scenario gets a [`Context`] of their own: a browser with a fresh profile directory, so no
//! cookie or storage is shared between them.
//!
//! Where Chromium is not installed the tests print that they were skipped and pass, unless
//! `OVERSIGHT_REQUIRE_BROWSER=1` (set by `.ci/run`, which installs it) makes them fail instead.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub mod day;

/// Debian's Chromium and its driver.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Set to 1 where the browser tests must run (CI).
pub const REQUIRE: &str = "OVERSIGHT_REQUIRE_BROWSER";
/// A directory to write screenshots of the pages into (`docs/web`), when set.
pub const SCREENSHOTS: &str = "OVERSIGHT_SCREENSHOTS";

/// axe-core 4.14.1 (npm package `axe-core`, MPL-2.0), vendored as one file.
const AXE: &str = include_str!("axe.min.js");

/// Whether Chromium and chromedriver are here; `false` (after saying so) when the test should
/// be skipped; panics when they are missing but required.
pub fn available(test: &str) -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if present {
        return true;
    }
    if std::env::var(REQUIRE).is_ok_and(|v| v == "1") {
        panic!(
            "{REQUIRE}=1 but {CHROMIUM} or {CHROMEDRIVER} is missing: apt-get install chromium chromium-driver fonts-noto-cjk"
        );
    }
    println!(
        "skipped {test}: {CHROMIUM} and {CHROMEDRIVER} are not installed \
         (apt-get install chromium chromium-driver fonts-noto-cjk; .ci/run does)"
    );
    false
}

/// A chromedriver process on a free loopback port; killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver and waits until it says it listens.
    pub fn start() -> Self {
        let mut child = Command::new(CHROMEDRIVER)
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("chromedriver ended before it listened")
                .unwrap();
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                break rest.trim_end_matches('.').parse::<u16>().unwrap();
            }
        };
        // Keep reading (and dropping) its output so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A new browser with a fresh profile: one person of a scenario.
    pub async fn context(&self, name: &str) -> Context {
        let profile = tempfile::Builder::new()
            .prefix(&format!("chromium-{name}-"))
            .tempdir()
            .unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session");
        Context {
            client,
            name: name.to_string(),
            _profile: profile,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One person's browser.
pub struct Context {
    pub client: Client,
    pub name: String,
    _profile: tempfile::TempDir,
}

/// A rule axe-core found broken, as much as a failure message needs.
#[derive(Debug, serde::Deserialize)]
pub struct Violation {
    pub id: String,
    pub impact: Option<String>,
    pub help: String,
    pub nodes: usize,
}

impl Context {
    /// Opens `url` and waits for the page.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Clicks the element with `id` (a navigation it starts is waited for).
    pub async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("{}: no #{id}: {e}", self.name))
            .click()
            .await
            .unwrap();
    }

    /// Clicks the element with `id` and waits (bounded by [`WAIT`]) for the page named `page`
    /// (its `<main data-page>`): for buttons that submit a form, whose navigation a click does
    /// not wait for.
    pub async fn submit(&self, id: &str, page: &str) {
        self.click(id).await;
        let selector = format!("main[data-page='{page}']");
        if let Err(error) = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(&selector))
            .await
        {
            panic!(
                "{}: after #{id}, no page {page} but {} (refusal {:?}): {error}",
                self.name,
                self.path().await,
                self.refusal().await
            );
        }
    }

    /// Clicks the link whose text is `text`.
    pub async fn click_link(&self, text: &str) {
        self.client
            .find(Locator::LinkText(text))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// The text of the element with `id`.
    pub async fn text(&self, id: &str) -> String {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("{}: no #{id}: {e}", self.name))
            .text()
            .await
            .unwrap()
    }

    /// The current path.
    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_string()
    }

    /// Runs `script` in the page and returns its value.
    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// The `data-refusal` of the page's message, if it is a refusal.
    pub async fn refusal(&self) -> Option<String> {
        self.eval(
            "const m = document.querySelector('[data-refusal]'); \
             return m ? m.getAttribute('data-refusal') : null;",
        )
        .await
        .as_str()
        .map(str::to_string)
    }

    /// The `data-state` of the page's notice (voted, not-present, receipt, …).
    pub async fn state(&self) -> Option<String> {
        self.eval(
            "const m = document.querySelector('[data-state]'); \
             return m ? m.getAttribute('data-state') : null;",
        )
        .await
        .as_str()
        .map(str::to_string)
    }

    /// The `lang` attribute of the page.
    pub async fn lang(&self) -> String {
        self.eval("return document.documentElement.lang;")
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Runs axe-core in the page; the violations of impact serious or critical.
    pub async fn serious_accessibility_violations(&self) -> Vec<Violation> {
        self.client
            .execute(&format!("{AXE}\n;return true;"), vec![])
            .await
            .unwrap();
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(JSON.stringify(r.violations.map(v => ({
                       id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length })))))
                   .catch(e => done(JSON.stringify({ error: String(e) })));",
                vec![],
            )
            .await
            .unwrap();
        let text = found.as_str().unwrap();
        let violations: Vec<Violation> = serde_json::from_str(text)
            .unwrap_or_else(|_| panic!("axe-core failed in the page: {text}"));
        violations
            .into_iter()
            .filter(|v| matches!(v.impact.as_deref(), Some("serious" | "critical")))
            .collect()
    }

    /// Fails on serious or critical accessibility violations of the page.
    pub async fn assert_accessible(&self, what: &str) {
        let violations = self.serious_accessibility_violations().await;
        assert!(violations.is_empty(), "{what}: {violations:#?}");
    }

    /// Whether the page's Content-Security-Policy stops a script added inline.
    pub async fn inline_script_is_blocked(&self) -> bool {
        let ran = self
            .eval(
                "window.__inlineRan = false;
                 const s = document.createElement('script');
                 s.textContent = 'window.__inlineRan = true;';
                 document.head.appendChild(s);
                 return window.__inlineRan;",
            )
            .await;
        ran == json!(false)
    }

    /// Writes a screenshot of the page to `<OVERSIGHT_SCREENSHOTS>/<name>.png` at the given
    /// window size, when that variable is set.
    pub async fn screenshot(&self, name: &str, width: u32, height: u32) {
        let Some(dir) = std::env::var_os(SCREENSHOTS).map(PathBuf::from) else {
            return;
        };
        self.client.set_window_size(width, height).await.unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        self.client.set_window_size(1280, 900).await.unwrap();
    }

    /// Ends the browser.
    pub async fn close(self) {
        self.client.close().await.unwrap();
    }
}

/// A bound for waits on the browser, never an assertion on time.
pub const WAIT: Duration = Duration::from_secs(30);
