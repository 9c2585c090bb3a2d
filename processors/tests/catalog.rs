//! The committed catalog loads and means what the reference suite requires; and
//! broken catalogs are rejected with errors that name the file and the item.

use std::path::PathBuf;

use serde_json::{json, Value};
use tracepipe_processors::catalog::{
    ids, parse_action_tool_map, parse_mcp_server, parse_suite, Catalog, CatalogError,
    CatalogSources, McpServer, ParameterType, SuiteSources, Transform,
};

fn catalog_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../catalog")
}

const GMAIL_ACTIONS: [&str; 18] = [
    "send_email",
    "create_draft",
    "read_email",
    "download_attachment",
    "search_emails",
    "modify_email_labels",
    "delete_email",
    "list_labels",
    "create_label",
    "get_or_create_label",
    "update_label",
    "delete_label",
    "batch_modify_emails",
    "batch_delete_emails",
    "create_filter",
    "delete_filter",
    "get_filter",
    "create_filter_from_template",
];

#[test]
fn the_committed_catalog_loads() {
    let catalog = Catalog::load_dir(catalog_dir()).expect("catalog loads");
    let suite = catalog.suite("gmail").expect("gmail suite");
    assert_eq!(suite.display_name, "Gmail");
    let names: Vec<&str> = suite.actions.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, GMAIL_ACTIONS);
    assert!(catalog.mcp_server("gmail").is_some());
    assert!(catalog.mcp_server("playwright").is_some());
    // Loading is deterministic, ids included.
    assert_eq!(Catalog::load_dir(catalog_dir()).expect("again"), catalog);
    assert_eq!(suite.id, ids::suite("gmail"));
    assert_eq!(
        suite.action("send_email").map(|a| a.id),
        Some(ids::action("gmail", "send_email"))
    );
}

#[test]
fn gmail_action_parameters_are_the_fixed_ones() {
    let catalog = Catalog::load_dir(catalog_dir()).expect("catalog loads");
    let suite = catalog.suite("gmail").expect("gmail suite");
    use ParameterType::*;
    let expected: &[(&str, &[(&str, ParameterType)])] = &[
        (
            "send_email",
            &[
                ("to", String),
                ("cc", String),
                ("bcc", String),
                ("subject", String),
                ("body", String),
            ],
        ),
        (
            "create_draft",
            &[
                ("to", String),
                ("cc", String),
                ("bcc", String),
                ("subject", String),
                ("body", String),
            ],
        ),
        ("read_email", &[("message_id", String)]),
        ("delete_email", &[("message_id", String)]),
        ("search_emails", &[("query", String)]),
        (
            "modify_email_labels",
            &[
                ("message_id", String),
                ("add_label_ids", Array),
                ("remove_label_ids", Array),
            ],
        ),
        (
            "batch_modify_emails",
            &[
                ("message_ids", Array),
                ("add_label_ids", Array),
                ("remove_label_ids", Array),
            ],
        ),
        ("batch_delete_emails", &[("message_ids", Array)]),
        (
            "download_attachment",
            &[("message_id", String), ("attachment_id", String)],
        ),
        ("list_labels", &[]),
        ("create_label", &[("name", String)]),
        ("get_or_create_label", &[("name", String)]),
        ("update_label", &[("label_id", String), ("name", String)]),
        ("delete_label", &[("label_id", String)]),
        (
            "create_filter",
            &[("criteria", Object), ("filter_action", Object)],
        ),
        ("delete_filter", &[("filter_id", String)]),
        ("get_filter", &[("filter_id", String)]),
        (
            "create_filter_from_template",
            &[("template", String), ("parameters", Object)],
        ),
    ];
    for (action, params) in expected {
        let a = suite.action(action).unwrap_or_else(|| panic!("{action}"));
        let got: Vec<(&str, ParameterType)> = a
            .parameters
            .iter()
            .map(|p| (p.name.as_str(), p.param_type))
            .collect();
        assert_eq!(&got, params, "{action}");
    }
}

#[test]
fn every_gmail_action_is_mapped_onto_an_existing_gmail_tool() {
    let catalog = Catalog::load_dir(catalog_dir()).expect("catalog loads");
    let suite = catalog.suite("gmail").expect("suite");
    let server = catalog.mcp_server("gmail").expect("server");
    let map = catalog.action_tool_map("gmail", "gmail").expect("map");
    assert_eq!(map.suite_id, suite.id);
    assert_eq!(map.mcp_server_id, server.id);
    let mut pairs = Vec::new();
    for action in &suite.actions {
        let m = map
            .mapping_for_action(action.id)
            .unwrap_or_else(|| panic!("{} unmapped", action.name));
        let tool = server
            .tool_by_id(m.tool_id)
            .expect("mapped tool exists in the imported server");
        pairs.push((action.name.as_str(), tool.name.as_str()));
        for pm in &m.parameter_mappings {
            let ap = action
                .parameter_by_id(pm.action_parameter_id)
                .expect("action parameter");
            let tp = tool
                .parameter_by_id(pm.tool_parameter_id)
                .expect("tool parameter");
            let split = matches!(ap.name.as_str(), "to" | "cc" | "bcc");
            assert_eq!(
                pm.transform == Some(Transform::SplitComma),
                split,
                "{}.{}",
                action.name,
                ap.name
            );
            if ap.name == "message_id" {
                assert_eq!(tp.name, "messageId");
            }
            if ap.name == "label_id" {
                assert_eq!(tp.name, "id");
            }
            if ap.name == "filter_action" {
                assert_eq!(tp.name, "action");
            }
        }
    }
    for (action, tool) in [
        ("create_draft", "draft_email"),
        ("modify_email_labels", "modify_email"),
        ("list_labels", "list_email_labels"),
        ("send_email", "send_email"),
        ("create_filter_from_template", "create_filter_from_template"),
    ] {
        assert!(pairs.contains(&(action, tool)), "{action} → {tool}");
    }
}

// ---- broken catalogs -------------------------------------------------------

fn small_server() -> McpServer {
    let tools = vec![
        json!({"name": "send", "description": "Send mail", "inputSchema": {
            "type": "object",
            "properties": {"to": {"type": "array", "items": {"type": "string"}}, "subject": {"type": "string"}},
            "required": ["to"], "additionalProperties": false}}),
        json!({"name": "open", "inputSchema": {"type": "object",
            "properties": {"messageId": {"type": "string"}}, "required": ["messageId"]}}),
    ];
    McpServer::from_tools_list("mail.json", "mail", None, None, &tools).expect("server")
}

fn small_suite() -> Value {
    json!({
        "name": "mailer",
        "display_name": "Mailer",
        "actions": [
            {"name": "send_email", "template": "Send to {to}[ about {subject}]", "parameters": [
                {"name": "to", "type": "STRING", "required": true},
                {"name": "subject", "type": "STRING"}]},
            {"name": "read_email", "template": "Open {message_id}", "parameters": [
                {"name": "message_id", "type": "STRING", "required": true}]}
        ]
    })
}

fn small_map() -> Value {
    json!({
        "mcp_server": "mail",
        "tool_mappings": [
            {"action": "send_email", "tool": "send", "parameters": [
                {"action_parameter": "to", "tool_parameter": "to", "transform": "split_comma"},
                {"action_parameter": "subject", "tool_parameter": "subject"}]},
            {"action": "read_email", "tool": "open", "parameters": [
                {"action_parameter": "message_id", "tool_parameter": "messageId"}]}
        ]
    })
}

fn resolve_map(map: Value) -> Result<(), CatalogError> {
    let suite = parse_suite("suites/mailer/suite.json", &small_suite().to_string()).expect("suite");
    parse_action_tool_map(
        "suites/mailer/maps/mail.json",
        &map.to_string(),
        &suite,
        &small_server(),
    )
    .map(|_| ())
}

fn expect_error(result: Result<(), CatalogError>, needles: &[&str]) {
    let err = result.expect_err("must be rejected").to_string();
    for n in needles {
        assert!(err.contains(n), "error {err:?} should mention {n:?}");
    }
}

#[test]
fn the_small_catalog_resolves() {
    resolve_map(small_map()).expect("resolves");
}

#[test]
fn a_map_naming_an_unknown_action_is_rejected() {
    let mut map = small_map();
    map["tool_mappings"][0]["action"] = json!("send_fax");
    expect_error(
        resolve_map(map),
        &[
            "suites/mailer/maps/mail.json",
            "unknown action `send_fax`",
            "mailer",
        ],
    );
}

#[test]
fn a_map_naming_an_unknown_tool_is_rejected() {
    let mut map = small_map();
    map["tool_mappings"][1]["tool"] = json!("read");
    expect_error(
        resolve_map(map),
        &["maps/mail.json", "unknown tool `read`", "MCP server `mail`"],
    );
}

#[test]
fn a_map_naming_unknown_parameters_is_rejected() {
    let mut map = small_map();
    map["tool_mappings"][0]["parameters"][1]["action_parameter"] = json!("title");
    expect_error(
        resolve_map(map),
        &[
            "maps/mail.json",
            "unknown action parameter `title`",
            "send_email",
        ],
    );
    let mut map = small_map();
    map["tool_mappings"][0]["parameters"][1]["tool_parameter"] = json!("subj");
    expect_error(
        resolve_map(map),
        &[
            "maps/mail.json",
            "unknown tool parameter `subj`",
            "tool `send`",
        ],
    );
}

#[test]
fn incompatible_types_duplicates_and_unfed_required_parameters_are_rejected() {
    let mut map = small_map();
    map["tool_mappings"][0]["parameters"][0]
        .as_object_mut()
        .expect("object")
        .remove("transform");
    expect_error(resolve_map(map), &["STRING `to` cannot feed ARRAY `to`"]);

    let mut map = small_map();
    let first = map["tool_mappings"][0].clone();
    map["tool_mappings"]
        .as_array_mut()
        .expect("array")
        .push(first);
    expect_error(
        resolve_map(map),
        &["duplicate mapping of action `send_email`"],
    );

    let mut map = small_map();
    map["tool_mappings"][1]["parameters"] = json!([]);
    expect_error(resolve_map(map), &["required tool parameter `messageId`"]);
}

#[test]
fn unknown_keys_are_rejected_everywhere() {
    let mut suite = small_suite();
    suite["actions"][0]["parameters"][0]["optional"] = json!(true);
    expect_error(
        parse_suite("suite.json", &suite.to_string()).map(|_| ()),
        &["suite.json", "unknown field `optional`"],
    );

    let mut map = small_map();
    map["tool_mappings"][0]["parameters"][0]["transfrom"] = json!("split_comma");
    expect_error(resolve_map(map), &["unknown field `transfrom`"]);

    let mut server = serde_json::to_value(small_server()).expect("json");
    server["version"] = json!("1");
    expect_error(
        parse_mcp_server("mail.json", &server.to_string()).map(|_| ()),
        &["mail.json", "unknown field `version`"],
    );

    let mut map = small_map();
    map["tool_mappings"][0]["parameters"][0]["transform"] = json!("split_semicolon");
    expect_error(resolve_map(map), &["unknown variant `split_semicolon`"]);
}

#[test]
fn bad_templates_are_rejected_naming_the_action() {
    let cases = [
        ("Send to {recipient}", "names no parameter"),
        ("Send to {to} about {subject}", "is outside [ … ]"),
        ("Send to {to}", "does not mention the parameter `subject`"),
        ("Send to {to", "unterminated"),
        ("Send to {to.address}[ {subject}]", "not an OBJECT"),
    ];
    for (template, message) in cases {
        let mut suite = small_suite();
        suite["actions"][0]["template"] = json!(template);
        expect_error(
            parse_suite("suites/mailer/suite.json", &suite.to_string()).map(|_| ()),
            &["suites/mailer/suite.json", "action `send_email`", message],
        );
    }
}

#[test]
fn bad_names_and_duplicates_in_a_suite_are_rejected() {
    let mut suite = small_suite();
    suite["actions"][1]["name"] = json!("send_email");
    expect_error(
        parse_suite("s.json", &suite.to_string()).map(|_| ()),
        &["duplicate action `send_email`"],
    );
    let mut suite = small_suite();
    suite["actions"][1]["name"] = json!("Read Email");
    expect_error(
        parse_suite("s.json", &suite.to_string()).map(|_| ()),
        &["not a snake_case name"],
    );
}

#[test]
fn a_hand_edited_server_file_is_stale() {
    let server = small_server();
    let mut v = serde_json::to_value(&server).expect("json");
    v["tools"][0]["parameters"][1]["required"] = json!(false);
    expect_error(
        parse_mcp_server("mail.json", &v.to_string()).map(|_| ()),
        &["mail.json", "tool `send`", "import-mcp"],
    );
    let mut v = serde_json::to_value(&server).expect("json");
    v["name"] = json!("post");
    expect_error(
        parse_mcp_server("mail.json", &v.to_string()).map(|_| ()),
        &["server id"],
    );
    // The file as written loads back as it was.
    assert_eq!(
        parse_mcp_server("mail.json", &server.to_file_contents()).expect("loads"),
        server
    );
}

#[test]
fn tool_parameters_are_derived_from_the_input_schema() {
    let server = small_server();
    let send = server.tool("send").expect("send");
    let params: Vec<(&str, ParameterType, bool)> = send
        .parameters
        .iter()
        .map(|p| (p.name.as_str(), p.param_type, p.required))
        .collect();
    assert_eq!(
        params,
        [
            ("subject", ParameterType::String, false),
            ("to", ParameterType::Array, true)
        ]
    );
    assert_eq!(send.parameters[0].tool_id, send.id);
    assert_eq!(send.mcp_server_id, server.id);
    assert_eq!(
        ParameterType::from_schema(&json!({"anyOf": [{"type": "null"}, {"type": "integer"}]})),
        ParameterType::Integer
    );
    assert_eq!(
        ParameterType::from_schema(&json!({"enum": ["a", "b"]})),
        ParameterType::String
    );
    assert_eq!(ParameterType::from_schema(&json!({})), ParameterType::Any);
}

fn sources() -> CatalogSources {
    CatalogSources {
        mcp_servers: vec![(
            "mcp-servers/mail.json".into(),
            small_server().to_file_contents(),
        )],
        suites: vec![SuiteSources {
            suite: ("suites/mailer/suite.json".into(), small_suite().to_string()),
            maps: vec![(
                "suites/mailer/maps/mail.json".into(),
                small_map().to_string(),
            )],
            results: Vec::new(),
        }],
    }
}

#[test]
fn sources_assemble_and_names_must_match_paths() {
    let catalog = Catalog::from_sources(&sources()).expect("assembles");
    assert!(catalog.action_tool_map("mailer", "mail").is_some());

    let mut s = sources();
    s.mcp_servers[0].0 = "mcp-servers/post.json".into();
    let err = Catalog::from_sources(&s).expect_err("misnamed").to_string();
    assert!(
        err.contains("mcp-servers/post.json") && err.contains("`mail`"),
        "{err}"
    );

    let mut s = sources();
    s.suites[0].suite.0 = "suites/gmail/suite.json".into();
    assert!(Catalog::from_sources(&s).is_err());

    let mut s = sources();
    s.suites[0].maps[0].0 = "suites/mailer/maps/post.json".into();
    assert!(Catalog::from_sources(&s).is_err());

    let mut s = sources();
    s.mcp_servers.clear();
    let err = Catalog::from_sources(&s)
        .expect_err("no server")
        .to_string();
    assert!(
        err.contains("maps/mail.json") && err.contains("unknown MCP server `mail`"),
        "{err}"
    );
}

#[test]
fn the_directory_loader_reads_the_layout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = sources();
    for (rel, contents) in s
        .mcp_servers
        .iter()
        .chain([&s.suites[0].suite])
        .chain(&s.suites[0].maps)
    {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, contents).expect("write");
    }
    let catalog = Catalog::load_dir(dir.path()).expect("loads");
    assert_eq!(catalog, Catalog::from_sources(&sources()).expect("same"));
    assert!(Catalog::load_dir(dir.path().join("nothing"))
        .expect("empty")
        .suites()
        .next()
        .is_none());

    std::fs::write(dir.path().join("suites/mailer/maps/mail.json"), "{").expect("write");
    let err = Catalog::load_dir(dir.path())
        .expect_err("bad json")
        .to_string();
    assert!(err.contains("maps/mail.json"), "{err}");
}

#[test]
fn every_imported_tool_schema_compiles() {
    let catalog = Catalog::load_dir(catalog_dir()).expect("catalog loads");
    for server in catalog.mcp_servers() {
        tracepipe_processors::validate::ToolValidator::for_server(server)
            .unwrap_or_else(|e| panic!("{}: {e}", server.name));
    }
}
