//! Runs `tracepipe catalog import-mcp` against the real, pinned MCP servers that
//! `scripts/setup-mcp.sh` installs, and checks the result against the committed
//! `catalog/mcp-servers/*.json` and the reference suite's map.
//!
//! Without the npm packages (or without `node`) the tests skip with a printed
//! reason, unless `CI` is set, where that is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use tracepipe_processors::catalog::{
    parse_mcp_server, Catalog, CatalogSources, McpServer, SuiteSources,
};

const GMAIL_PACKAGE: &str = "@gongrzhe/server-gmail-autoauth-mcp";
const PLAYWRIGHT_PACKAGE: &str = "@playwright/mcp";
const GITHUB_PACKAGE: &str = "@modelcontextprotocol/server-github";
const CALENDAR_PACKAGE: &str = "@cocal/google-calendar-mcp";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where `scripts/setup-mcp.sh` installs the servers.
fn mcp_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TRACEPIPE_MCP_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache/tracepipe/mcp")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The package's folder, or `None` after printing why the test is skipped
/// (panicking under CI).
fn package(name: &str, entry: &str) -> Option<PathBuf> {
    let dir = mcp_dir().join("node_modules").join(name);
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let problem = if !node_ok {
        Some("`node` is not on PATH".to_owned())
    } else if !dir.join(entry).is_file() {
        Some(format!(
            "{} is missing; run scripts/setup-mcp.sh",
            dir.join(entry).display()
        ))
    } else {
        None
    };
    match problem {
        None => Some(dir),
        Some(p) if in_ci() => panic!("CI is set and the MCP server {name} cannot run: {p}"),
        Some(p) => {
            eprintln!("SKIPPED: the MCP server {name} cannot run: {p}");
            None
        }
    }
}

/// Runs the import into `out`, with `home` as HOME and cwd, and returns the file.
fn import(name: &str, home: &Path, out: &Path, server: &[&str]) -> (String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .args([
            "catalog",
            "import-mcp",
            "--name",
            name,
            "--timeout-secs",
            "120",
            "--out",
        ])
        .arg(out)
        .arg("--")
        .args(server)
        .env("HOME", home)
        .current_dir(home)
        .output()
        .expect("the tracepipe binary runs");
    assert!(
        output.status.success(),
        "import-mcp {name} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let path = out.join(format!("{name}.json"));
    let contents = std::fs::read_to_string(&path).expect("import-mcp wrote its file");
    (path.display().to_string(), contents)
}

fn committed(name: &str) -> McpServer {
    let path = repo_root()
        .join("catalog/mcp-servers")
        .join(format!("{name}.json"));
    let contents = std::fs::read_to_string(&path).expect("the committed server file exists");
    parse_mcp_server(&path.display().to_string(), &contents)
        .expect("the committed server file loads")
}

fn read(path: PathBuf) -> (String, String) {
    let contents = std::fs::read_to_string(&path).expect("catalog file exists");
    (path.display().to_string(), contents)
}

#[test]
fn imports_the_gmail_server_and_the_reference_map_resolves_onto_it() {
    let Some(pkg) = package(GMAIL_PACKAGE, "dist/index.js") else {
        return;
    };
    let home = tempfile::tempdir().expect("temp dir");
    let keys = home.path().join(".gmail-mcp");
    std::fs::create_dir_all(&keys).expect("mkdir");
    std::fs::write(
        keys.join("gcp-oauth.keys.json"),
        r#"{"installed":{"client_id":"x.apps.googleusercontent.com","client_secret":"x","redirect_uris":["http://localhost:3000/oauth2callback"]}}"#,
    )
    .expect("write keys");
    std::fs::write(
        keys.join("credentials.json"),
        r#"{"access_token":"x","refresh_token":"y","scope":"https://www.googleapis.com/auth/gmail.modify","token_type":"Bearer","expiry_date":1}"#,
    )
    .expect("write credentials");
    let out = home.path().join("out");
    let entry = pkg.join("dist/index.js");
    let (file, contents) = import(
        "gmail",
        home.path(),
        &out,
        &["node", &entry.display().to_string()],
    );

    let imported = parse_mcp_server(&file, &contents).expect("the imported file loads back");
    assert_eq!(imported.name, "gmail");
    for tool in [
        "send_email",
        "draft_email",
        "read_email",
        "modify_email",
        "list_email_labels",
        "list_filters",
    ] {
        assert!(imported.tool(tool).is_some(), "gmail server lacks {tool}");
    }
    assert_eq!(
        imported,
        committed("gmail"),
        "catalog/mcp-servers/gmail.json is not what the pinned server lists"
    );

    // The reference suite and its map resolve onto the freshly imported server:
    // every mapped tool and tool parameter exists there.
    let suite_dir = repo_root().join("catalog/suites/gmail");
    let sources = CatalogSources {
        mcp_servers: vec![(file, contents)],
        suites: vec![SuiteSources {
            suite: read(suite_dir.join("suite.json")),
            maps: vec![read(suite_dir.join("maps/gmail.json"))],
            results: vec![read(suite_dir.join("results/gmail.json"))],
        }],
    };
    let catalog =
        Catalog::from_sources(&sources).expect("the gmail suite maps onto the imported server");
    let map = catalog.action_tool_map("gmail", "gmail").expect("map");
    let suite = catalog.suite("gmail").expect("suite");
    assert_eq!(
        map.tool_mappings.len(),
        suite.actions.len(),
        "every gmail action is mapped"
    );
    for m in &map.tool_mappings {
        assert!(imported.tool_by_id(m.tool_id).is_some());
    }
}

#[test]
fn imports_the_playwright_server() {
    let Some(pkg) = package(PLAYWRIGHT_PACKAGE, "cli.js") else {
        return;
    };
    let home = tempfile::tempdir().expect("temp dir");
    let out = home.path().join("out");
    let cli = pkg.join("cli.js").display().to_string();
    let (file, contents) = import(
        "playwright",
        home.path(),
        &out,
        &[
            "node",
            &cli,
            "--headless",
            "--executable-path",
            "/usr/bin/chromium",
        ],
    );
    let imported = parse_mcp_server(&file, &contents).expect("the imported file loads back");
    for tool in [
        "browser_navigate",
        "browser_click",
        "browser_type",
        "browser_press_key",
        "browser_select_option",
    ] {
        assert!(
            imported.tool(tool).is_some(),
            "playwright server lacks {tool}"
        );
    }
    assert_eq!(
        imported,
        committed("playwright"),
        "catalog/mcp-servers/playwright.json is not what the pinned server lists"
    );
}

/// The issue tracker's server lists its tools without a token.
#[test]
fn imports_the_github_server() {
    let Some(pkg) = package(GITHUB_PACKAGE, "dist/index.js") else {
        return;
    };
    let home = tempfile::tempdir().expect("temp dir");
    let out = home.path().join("out");
    let entry = pkg.join("dist/index.js").display().to_string();
    let (file, contents) = import("github", home.path(), &out, &["node", &entry]);
    let imported = parse_mcp_server(&file, &contents).expect("the imported file loads back");
    for tool in [
        "get_issue",
        "create_issue",
        "update_issue",
        "add_issue_comment",
        "list_issues",
        "search_issues",
    ] {
        assert!(imported.tool(tool).is_some(), "github server lacks {tool}");
    }
    assert_eq!(
        imported,
        committed("github"),
        "catalog/mcp-servers/github.json is not what the pinned server lists"
    );
}

/// The calendar's server needs an OAuth client file to start (a dummy one
/// will do: listing tools signs nobody in) and keeps its tokens where told.
#[test]
fn imports_the_google_calendar_server() {
    let Some(pkg) = package(CALENDAR_PACKAGE, "build/index.js") else {
        return;
    };
    let home = tempfile::tempdir().expect("temp dir");
    let keys = home.path().join("gcp-oauth.keys.json");
    std::fs::write(
        &keys,
        r#"{"installed":{"client_id":"x.apps.googleusercontent.com","client_secret":"x","redirect_uris":["http://localhost:3000/oauth2callback"]}}"#,
    )
    .expect("write keys");
    let out = home.path().join("out");
    let entry = pkg.join("build/index.js").display().to_string();
    let credentials = format!("GOOGLE_OAUTH_CREDENTIALS={}", keys.display());
    let tokens = format!(
        "GOOGLE_CALENDAR_MCP_TOKEN_PATH={}",
        home.path().join("tokens.json").display()
    );
    let (file, contents) = import(
        "google_calendar",
        home.path(),
        &out,
        &["env", &credentials, &tokens, "node", &entry],
    );
    let imported = parse_mcp_server(&file, &contents).expect("the imported file loads back");
    for tool in [
        "create-event",
        "update-event",
        "delete-event",
        "search-events",
        "respond-to-event",
    ] {
        assert!(
            imported.tool(tool).is_some(),
            "calendar server lacks {tool}"
        );
    }
    assert_eq!(
        imported,
        committed("google_calendar"),
        "catalog/mcp-servers/google_calendar.json is not what the pinned server lists"
    );
}

#[test]
fn a_failing_server_is_reported_with_its_stderr() {
    let home = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .args([
            "catalog",
            "import-mcp",
            "--name",
            "broken",
            "--timeout-secs",
            "10",
            "--out",
        ])
        .arg(home.path())
        .args([
            "--",
            "sh",
            "-c",
            "echo 'cannot find credentials' >&2; exit 3",
        ])
        .output()
        .expect("the tracepipe binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot find credentials"), "{stderr}");
    assert!(!home.path().join("broken.json").exists());
}

#[test]
fn a_silent_server_times_out() {
    let home = tempfile::tempdir().expect("temp dir");
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .args([
            "catalog",
            "import-mcp",
            "--name",
            "silent",
            "--timeout-secs",
            "1",
            "--out",
        ])
        .arg(home.path())
        .args(["--", "sleep", "30"])
        .output()
        .expect("the tracepipe binary runs");
    assert!(!output.status.success());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the child was not killed"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no answer to `initialize`"), "{stderr}");
}

/// A stand-in server: pages its tools, sends a notification and a request of
/// its own before answering, and writes to stderr.
const FAKE_SERVER: &str = r#"
const rl = require("node:readline").createInterface({ input: process.stdin });
const send = (m) => process.stdout.write(JSON.stringify(m) + "\n");
const tool = (name) => ({ name, description: name + " it", inputSchema: { type: "object",
  properties: { x: { type: "string" } }, required: ["x"] } });
process.stderr.write("fake server up\n");
rl.on("line", (line) => {
  const m = JSON.parse(line);
  if (m.method === "initialize") {
    if (m.params.protocolVersion !== "2024-11-05") process.exit(7);
    send({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "hi" } });
    send({ jsonrpc: "2.0", id: "srv-1", method: "roots/list" });
    send({ jsonrpc: "2.0", id: m.id, result: { protocolVersion: "2024-11-05", capabilities: { tools: {} },
      serverInfo: { name: "fake", version: "0.1" } } });
  } else if (m.method === "tools/list") {
    const cursor = m.params && m.params.cursor;
    if (!cursor) send({ jsonrpc: "2.0", id: m.id, result: { tools: [tool("a"), tool("b")], nextCursor: "page-2" } });
    else if (cursor === "page-2") send({ jsonrpc: "2.0", id: m.id, result: { tools: [tool("c")] } });
    else send({ jsonrpc: "2.0", id: m.id, error: { code: -32602, message: "bad cursor" } });
  }
});
"#;

#[test]
fn pages_are_followed_and_server_chatter_is_handled() {
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        if in_ci() {
            panic!("CI is set and `node` is not on PATH");
        }
        eprintln!("SKIPPED: `node` is not on PATH");
        return;
    }
    let home = tempfile::tempdir().expect("temp dir");
    let (file, contents) = import(
        "fake",
        home.path(),
        home.path(),
        &["node", "-e", FAKE_SERVER],
    );
    let server = parse_mcp_server(&file, &contents).expect("loads");
    let names: Vec<&str> = server.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(server.protocol_version.as_deref(), Some("2024-11-05"));
    assert_eq!(
        server.server_info.as_ref().map(|i| i.version.as_str()),
        Some("0.1")
    );
    assert!(server
        .tool("c")
        .and_then(|t| t.parameter("x"))
        .is_some_and(|p| p.required));
}
