//! Browser-level Examples on a small hand-built Session and the committed
//! Playwright server.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};
use tracepipe_processors::browser::{
    browser_example, BrowserOptions, BrowserSynthesizer, BROWSER_TOOLS,
};
use tracepipe_processors::catalog::{parse_mcp_server, McpServer};
use tracepipe_processors::synth::RejectionReason;
use tracepipe_schemas::{
    Event, EventKind, Navigation, NetworkRequest, Session, SourceFormat, Target,
};

fn playwright() -> McpServer {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../catalog/mcp-servers/playwright.json");
    let contents = std::fs::read_to_string(&path).expect("playwright.json");
    parse_mcp_server("playwright.json", &contents).expect("loads")
}

const INBOX: &str = "https://mail.example/mail/u/0/#inbox";

fn target(tag: &str, label: &str, selector: Option<&str>) -> Target {
    Target {
        tag: Some(tag.into()),
        label: Some(label.into()),
        selector: selector.map(Into::into),
        data: BTreeMap::new(),
        ..Target::default()
    }
}

fn at(kind: EventKind, ms: i64) -> Event {
    let mut e = Event::new(kind, ms * 1000);
    e.url = Some(INBOX.into());
    e
}

fn nav(ms: i64, url: &str, same_document: bool) -> Event {
    let mut e = at(EventKind::Navigation, ms);
    e.url = Some(url.into());
    e.navigation = Some(Navigation {
        same_document,
        from_url: None,
    });
    e
}

fn click(ms: i64, t: Target) -> Event {
    let mut e = at(EventKind::Click, ms);
    e.target = Some(t);
    e
}

fn change(ms: i64, t: Target, value: Option<&str>) -> Event {
    let mut e = at(EventKind::Change, ms);
    e.target = Some(t);
    e.value = value.map(Into::into);
    e
}

fn key(ms: i64, t: Target, k: &str, modifiers: &[&str]) -> Event {
    let mut e = at(EventKind::Key, ms);
    e.target = Some(t);
    e.key = Some(k.into());
    e.modifiers = modifiers.iter().map(|m| m.to_string()).collect();
    e
}

fn session() -> Session {
    let to = Target {
        input_type: Some("email".into()),
        ..target("input", "To recipients", Some("#to"))
    };
    let body = target("textarea", "Message Body", Some("#body"));
    let search = Target {
        role: Some("searchbox".into()),
        ..target("input", "Search mail", Some("form > input.q"))
    };
    let password = Target {
        input_type: Some("password".into()),
        ..target("input", "Password", Some("#pw"))
    };
    let mut request = at(EventKind::NetworkRequest, 120);
    request.network = Some(NetworkRequest {
        request_id: "1".into(),
        method: "GET".into(),
        status: Some(200),
        mime_type: None,
        end_us: None,
        failed: false,
        encoded_bytes: None,
    });
    let mut masked = change(6_000, password, None);
    masked.masked = true;
    let events = vec![
        nav(0, INBOX, false),                                       // 0
        request,                                                    // 1
        click(1_000, target("button", "Compose", Some("div.T-I"))), // 2
        nav(
            1_010,
            "https://mail.example/mail/u/0/#inbox?compose=new",
            true,
        ), // 3
        click(1_500, to.clone()),                                   // 4 focus only
        change(2_000, to, Some("bob@example.com")),                 // 5
        change(
            2_500,
            target("input", "Subject", Some("#subject")),
            Some("Lunch"),
        ), // 6
        key(
            2_600,
            target("input", "Subject", Some("#subject")),
            "Tab",
            &[],
        ), // 7 skipped
        key(2_700, body.clone(), "v", &["ctrl"]),                   // 8 paste: skipped
        change(3_000, body.clone(), Some("Thursday works!")),       // 9
        key(3_001, body, "Enter", &["ctrl"]),                       // 10
        change(4_000, search.clone(), Some("from:bob has:attachment")), // 11
        key(4_001, search, "Enter", &[]),                           // 12 → submit
        change(
            5_000,
            target("select", "Density", Some("#density")),
            Some("compact"),
        ), // 13
        masked,                                                     // 14
        click(
            7_000,
            Target {
                href: Some("https://help.example/".into()),
                ..target("a", "Help", None)
            },
        ), // 15
        nav(7_400, "https://help.example/", false),                 // 16 caused by 15
        nav(20_000, "https://mail.example/settings", false),        // 17 typed by the user
        click(
            21_000,
            Target {
                role: Some("checkbox".into()),
                ..target("div", "Select", Some("tr:nth-child(2) [role=checkbox]"))
            },
        ), // 18
        click(
            21_500,
            Target {
                id: Some("delete-btn".into()),
                ..target("div", "Delete", None)
            },
        ), // 19
    ];
    Session {
        session_id: "s1".into(),
        source: SourceFormat::InputEventsJsonl,
        suite: Some("gmail".into()),
        started_at: None,
        duration_us: 22_000_000,
        user_agent: None,
        pages: vec![INBOX.into()],
        events,
        source_name: None,
        source_sha256: None,
    }
}

#[test]
fn a_session_becomes_playwright_calls() {
    let server = playwright();
    let example = browser_example(&server, &session()).expect("synthesizer");
    let calls: Vec<(&str, &Value)> = example
        .steps
        .iter()
        .map(|s| (s.tool.as_str(), &s.arguments))
        .collect();
    let expected = vec![
        ("browser_navigate", json!({"url": INBOX})),
        (
            "browser_click",
            json!({"element": "button \"Compose\"", "target": "div.T-I"}),
        ),
        (
            "browser_type",
            json!({"element": "textbox \"To recipients\"", "target": "#to", "text": "bob@example.com"}),
        ),
        (
            "browser_type",
            json!({"element": "textbox \"Subject\"", "target": "#subject", "text": "Lunch"}),
        ),
        (
            "browser_type",
            json!({"element": "textbox \"Message Body\"", "target": "#body", "text": "Thursday works!"}),
        ),
        ("browser_press_key", json!({"key": "Control+Enter"})),
        (
            "browser_type",
            json!({"element": "searchbox \"Search mail\"", "target": "form > input.q", "text": "from:bob has:attachment", "submit": true}),
        ),
        (
            "browser_select_option",
            json!({"element": "combobox \"Density\"", "target": "#density", "values": ["compact"]}),
        ),
        (
            "browser_click",
            json!({"element": "link \"Help\"", "target": "role=link[name=\"Help\"]"}),
        ),
        (
            "browser_navigate",
            json!({"url": "https://mail.example/settings"}),
        ),
        (
            "browser_click",
            json!({"element": "checkbox \"Select\"", "target": "tr:nth-child(2) [role=checkbox]"}),
        ),
        (
            "browser_click",
            json!({"element": "div \"Delete\"", "target": "#delete-btn"}),
        ),
    ];
    let got: Vec<(&str, Value)> = calls.iter().map(|(t, a)| (*t, (*a).clone())).collect();
    assert_eq!(got, expected);

    assert_eq!(example.steps[0].evidence, [0]);
    assert_eq!(example.steps[6].evidence, [11, 12]);
    assert_eq!(
        example.steps[6].instruction,
        "Type \"from:bob has:attachment\" into the searchbox \"Search mail\" and press Enter"
    );
    assert_eq!(example.steps[1].instruction, "Click the button \"Compose\"");
    assert_eq!(example.steps[5].instruction, "Press Control+Enter");

    // The masked field is reported, never written.
    assert_eq!(example.rejections.len(), 1);
    assert_eq!(example.rejections[0].index, 14);
    assert!(matches!(
        example.rejections[0].reason,
        RejectionReason::Inexpressible { .. }
    ));
    assert!(!example.messages_jsonl().contains("#pw"));

    // Layout: system, then user/assistant/tool per call, call ids in order.
    assert_eq!(example.messages.len(), 1 + 3 * example.steps.len());
    let lines: Vec<Value> = example
        .messages_jsonl()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines[0]["role"], "system");
    assert!(lines[0]["content"]
        .as_str()
        .expect("text")
        .contains("\"gmail\""));
    assert_eq!(lines[2]["role"], "assistant");
    assert_eq!(lines[2]["content"], Value::Null);
    assert_eq!(
        lines[2]["tool_calls"][0]["function"]["name"],
        "browser_navigate"
    );
    let args: Value = serde_json::from_str(
        lines[2]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .expect("string"),
    )
    .expect("arguments are a JSON string");
    assert_eq!(args, json!({"url": INBOX}));
    assert_eq!(
        lines[3],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "The recording does not show this call's result."})
    );
    assert_eq!(
        example.steps.last().map(|s| s.call_id.as_str()),
        Some("call_12")
    );
}

#[test]
fn the_training_line_offers_the_browser_tools_and_is_deterministic() {
    let server = playwright();
    let a = browser_example(&server, &session()).expect("a");
    let b = BrowserSynthesizer::new(&server, BrowserOptions::default())
        .expect("b")
        .synthesize(&session());
    assert_eq!(a.training_line(), b.training_line());
    assert_eq!(a.messages_jsonl(), b.messages_jsonl());
    let line: Value = serde_json::from_str(&a.training_line()).expect("json");
    let names: Vec<&str> = line["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["function"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, BROWSER_TOOLS);
    assert_eq!(
        line["tools"][1]["function"]["parameters"],
        server.tool("browser_click").expect("click").input_schema
    );
}

#[test]
fn a_call_that_breaks_the_schema_is_rejected() {
    // A server whose browser_click wants a `ref`: the planned click breaks it.
    let server = playwright();
    let mut tools: Vec<Value> = server
        .tools
        .iter()
        .map(|t| json!({"name": t.name, "description": t.description, "inputSchema": t.input_schema}))
        .collect();
    for t in &mut tools {
        if t["name"] == "browser_click" {
            t["inputSchema"]["required"] = json!(["element", "ref"]);
            t["inputSchema"]["properties"]["ref"] = json!({"type": "string"});
        }
    }
    let strict =
        McpServer::from_tools_list("strict.json", "strict", None, None, &tools).expect("server");
    let example = browser_example(&strict, &session()).expect("synthesizer");
    assert!(example.steps.iter().all(|s| s.tool != "browser_click"));
    let schema: Vec<_> = example
        .rejections
        .iter()
        .filter(|r| matches!(&r.reason, RejectionReason::Schema { violations } if violations[0].message.contains("ref")))
        .collect();
    assert_eq!(schema.len(), 4, "{:#?}", example.rejections);
    assert_eq!(schema[0].index, 2);
    assert_eq!(schema[0].tool.as_deref(), Some("browser_click"));
}

#[test]
fn a_server_without_the_browser_tools_is_refused() {
    let tools = vec![json!({"name": "browser_navigate", "inputSchema": {"type": "object"}})];
    let server = McpServer::from_tools_list("x.json", "x", None, None, &tools).expect("server");
    let err = browser_example(&server, &session())
        .expect_err("missing tools")
        .to_string();
    assert!(err.contains("browser_click"), "{err}");
}

#[test]
fn a_session_without_interactions_is_its_first_page() {
    let mut s = session();
    s.events.clear();
    let example = browser_example(&playwright(), &s).expect("synthesizer");
    assert_eq!(example.steps.len(), 1);
    assert_eq!(example.steps[0].arguments, json!({"url": INBOX}));
    assert!(example.steps[0].evidence.is_empty());
}
