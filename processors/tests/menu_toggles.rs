//! Menu toggles in real recordings: both reference mail clients label an open
//! message through a menu of `menuitemcheckbox` entries, which fire no
//! `change`. Recorded by real Chromium with each client's capture script,
//! read by the real reader, classified by the gmail suite's rules and made
//! into tool calls as `tracepipe eval` makes them, adding a label must come
//! out as adding it and unticking one as removing it: exactly the calls of
//! the scenario's `.expected.json`.

use std::fs::File;
use tracepipe_ingest::{read_session, DiscardScreenshots, Limits};
use tracepipe_processors::catalog::Catalog;
use tracepipe_processors::classify::{Model, RulesModel, RulesOptions};
use tracepipe_processors::model::ClassifiedAction;
use tracepipe_processors::synth::Synthesizer;
use tracepipe_schemas::{EventKind, Session};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn model() -> RulesModel {
    let catalog = Catalog::load_dir(format!("{ROOT}/catalog")).unwrap();
    let rules = std::fs::read_to_string(format!("{ROOT}/catalog/suites/gmail/rules.json")).unwrap();
    RulesModel::from_json(
        "rules.json",
        &rules,
        catalog.suite("gmail").unwrap(),
        RulesOptions::default(),
    )
    .unwrap()
}

/// The scenario's tool calls, from its recording, as `eval` scores them, and
/// those its `.expected.json` lists.
fn tool_calls(dir: &str, scenario: &str) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let catalog = Catalog::load_dir(format!("{ROOT}/catalog")).unwrap();
    let suite = catalog.suite("gmail").unwrap();
    let synthesizer = Synthesizer::new(
        suite,
        catalog.action_tool_map("gmail", "gmail").unwrap(),
        catalog.mcp_server("gmail").unwrap(),
    )
    .unwrap();
    let model = model();
    let session = recording(&format!("{dir}/{scenario}.trace.json.gz"));
    let synthesis = synthesizer.synthesize(
        model.model_ref(),
        &serde_json::json!({}),
        &model.classify(&session),
        Some(&session),
    );
    assert!(synthesis.rejections.is_empty());
    let got = synthesis
        .records
        .iter()
        .map(|r| serde_json::json!({"name": r.tool, "arguments": r.arguments}))
        .collect();
    let sidecar: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{ROOT}/{dir}/{scenario}.expected.json")).unwrap(),
    )
    .unwrap();
    let expected = sidecar["tool_calls"].as_array().unwrap().clone();
    (got, expected)
}

fn recording(path: &str) -> Session {
    let file = File::open(format!("{ROOT}/{path}")).unwrap();
    read_session(
        file,
        path.to_string(),
        &Limits::default(),
        &mut DiscardScreenshots,
    )
    .unwrap()
}

/// The label changes the session's actions make, in order: (added, removed).
fn label_changes(actions: &[ClassifiedAction]) -> Vec<(serde_json::Value, serde_json::Value)> {
    actions
        .iter()
        .filter(|a| a.action == "modify_email_labels")
        .map(|a| {
            let ids = |name: &str| {
                a.parameters
                    .get(name)
                    .cloned()
                    .unwrap_or(serde_json::json!([]))
            };
            (ids("add_label_ids"), ids("remove_label_ids"))
        })
        .collect()
}

/// Every click on a menu entry carries the state the click left.
fn assert_entry_clicks_carry_state(session: &Session) {
    let entries: Vec<_> = session
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Click)
        .filter(|e| e.target.as_ref().and_then(|t| t.role.as_deref()) == Some("menuitemcheckbox"))
        .collect();
    assert_eq!(entries.len(), 2, "one entry ticked, one unticked");
    let states: Vec<_> = entries
        .iter()
        .map(|e| e.state.get("aria-checked").map(String::as_str))
        .collect();
    assert_eq!(states, vec![Some("true"), Some("false")]);
    assert!(
        !session.events.iter().any(|e| e.kind == EventKind::Change),
        "the menu fires no change"
    );
}

#[test]
fn demo_app_labels_menu_adds_then_removes() {
    let session = recording("tests/fixtures/recordings/label_menu_toggle.trace.json.gz");
    assert_entry_clicks_carry_state(&session);
    let actions = model().classify(&session);
    let names: Vec<_> = actions.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        names,
        vec!["read_email", "modify_email_labels", "modify_email_labels"]
    );
    assert_eq!(
        label_changes(&actions),
        vec![
            (serde_json::json!(["IMPORTANT"]), serde_json::json!([])),
            (serde_json::json!([]), serde_json::json!(["Label_1"])),
        ]
    );
}

#[test]
fn alt_app_label_as_menu_adds_then_removes() {
    let session = recording("tests/fixtures/recordings-alt/label_add_remove.trace.json.gz");
    assert_entry_clicks_carry_state(&session);
    let actions = model().classify(&session);
    let names: Vec<_> = actions.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        names,
        vec!["read_email", "modify_email_labels", "modify_email_labels"]
    );
    assert_eq!(
        label_changes(&actions),
        vec![
            (serde_json::json!(["Label_8"]), serde_json::json!([])),
            (serde_json::json!([]), serde_json::json!(["Label_3"])),
        ]
    );
}

#[test]
fn both_clients_menu_toggles_give_the_expected_tool_calls() {
    for (dir, scenario) in [
        ("tests/fixtures/recordings", "label_menu_toggle"),
        ("tests/fixtures/recordings-alt", "label_add_remove"),
    ] {
        let (got, expected) = tool_calls(dir, scenario);
        assert_eq!(got, expected, "{dir}/{scenario}");
    }
}
