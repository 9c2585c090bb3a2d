//! Tool results built from hand-made Sessions' views, with the committed
//! gmail results description, and the checks a results file must pass.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Map, Value};
use tracepipe_processors::catalog::{Catalog, CatalogError};
use tracepipe_processors::model::{ClassifiedAction, ModelProvider, ModelRef};
use tracepipe_processors::results::{ToolResults, UNGROUNDED_RESULT};
use tracepipe_processors::synth::{Message, Synthesizer};
use tracepipe_schemas::{Event, EventKind, Session, SourceFormat, ViewItem, ViewSnapshot};

fn catalog() -> Catalog {
    Catalog::load_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../catalog"))
        .expect("catalog loads")
}

fn session(events: Vec<Event>) -> Session {
    Session {
        session_id: "s".into(),
        source: SourceFormat::InputEventsJsonl,
        suite: Some("gmail".into()),
        started_at: None,
        duration_us: 0,
        user_agent: None,
        source_name: None,
        source_sha256: None,
        pages: Vec::new(),
        events,
    }
}

fn click(t: i64) -> Event {
    Event::new(EventKind::Click, t)
}

fn view(t: i64, items: Vec<ViewItem>, open: Option<ViewItem>, truncated: bool) -> Event {
    let mut e = Event::new(EventKind::View, t);
    e.view = Some(ViewSnapshot {
        items,
        open,
        truncated,
    });
    e
}

fn item(name: Option<&str>, data: &[(&str, &str)], fields: &[(&str, &str)]) -> ViewItem {
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    ViewItem {
        role: None,
        name: name.map(str::to_owned),
        data: map(data),
        fields: map(fields),
    }
}

fn row(mut item: ViewItem) -> ViewItem {
    item.role = Some("row".into());
    item
}

fn message_row(id: &str, from: &str, subject: &str, date: &str) -> ViewItem {
    row(item(
        None,
        &[("data-message-id", id)],
        &[("from", from), ("subject", subject), ("date", date)],
    ))
}

fn render(s: &Session, tool: &str, arguments: Value, evidence: &[usize]) -> (String, bool) {
    let c = catalog();
    let results = c.tool_results("gmail", "gmail").expect("gmail results");
    let r = results.render(s, tool, &arguments, evidence, None);
    (r.content, r.grounded)
}

#[test]
fn a_search_lists_what_the_page_listed_in_the_servers_shape() {
    let s = session(vec![
        click(1),
        click(2),
        view(
            3,
            vec![
                message_row("18f0a1", "Alice", "Invoice", "Mar 3"),
                message_row("18f0a2", "Bob", "Invoice 2", "Mar 4"),
            ],
            None,
            false,
        ),
    ]);
    let (text, grounded) = render(&s, "search_emails", json!({"query": "invoice"}), &[0, 1]);
    assert!(grounded);
    assert_eq!(
        text,
        "ID: 18f0a1\nSubject: Invoice\nFrom: Alice\nDate: Mar 3\n\nID: 18f0a2\nSubject: Invoice 2\nFrom: Bob\nDate: Mar 4\n"
    );
}

#[test]
fn without_a_view_after_the_action_the_result_says_so() {
    // A view before the action, and one only after the next action began.
    let s = session(vec![
        view(0, vec![message_row("a", "A", "S", "D")], None, false),
        click(1),
        click(2),
        view(3, vec![message_row("b", "B", "T", "D")], None, false),
    ]);
    let c = catalog();
    let results = c.tool_results("gmail", "gmail").expect("results");
    let r = results.render(&s, "search_emails", &json!({"query": "x"}), &[1], Some(2));
    assert_eq!((r.content.as_str(), r.grounded), (UNGROUNDED_RESULT, false));
    // The same view read as this action's when no other action comes first.
    let r = results.render(&s, "search_emails", &json!({"query": "x"}), &[1], None);
    assert!(r.grounded);
    assert!(r.content.starts_with("ID: b\n"));
    // A recording made before views were captured.
    let old = session(vec![click(1), click(2)]);
    assert_eq!(
        render(&old, "read_email", json!({"messageId": "a"}), &[0]),
        (UNGROUNDED_RESULT.to_owned(), false)
    );
}

#[test]
fn a_missing_required_value_grounds_nothing_and_optional_ones_are_written_empty() {
    let s = session(vec![
        click(1),
        view(
            2,
            vec![row(item(
                None,
                &[("data-message-id", "m1")],
                &[("from", "A")],
            ))],
            None,
            false,
        ),
    ]);
    // The fields a row does not show are written empty, never made up.
    assert_eq!(
        render(&s, "search_emails", json!({"query": "x"}), &[0]),
        ("ID: m1\nSubject: \nFrom: A\nDate: \n".to_owned(), true)
    );
    // An open message without its heading grounds nothing.
    let headless = item(None, &[("data-message-id", "m1")], &[("from", "A")]);
    let s = session(vec![click(1), view(2, Vec::new(), Some(headless), false)]);
    assert!(!render(&s, "read_email", json!({"messageId": "m1"}), &[0]).1);
    let open = item(
        None,
        &[("data-message-id", "m1")],
        &[("from", "Alice <alice@example.com>"), ("heading", "Hello")],
    );
    let s = session(vec![click(1), view(2, Vec::new(), Some(open), false)]);
    assert_eq!(
        render(&s, "read_email", json!({"messageId": "m1"}), &[0]),
        (
            "Thread ID: \nSubject: Hello\nFrom: Alice <alice@example.com>\nTo: \nDate: \n\n"
                .to_owned(),
            true
        )
    );
}

#[test]
fn a_truncated_list_grounds_no_list_result() {
    let s = session(vec![
        click(1),
        view(2, vec![message_row("a", "A", "S", "D")], None, true),
    ]);
    assert!(!render(&s, "search_emails", json!({"query": "x"}), &[0]).1);
}

#[test]
fn masked_values_passwords_and_card_numbers_never_reach_a_result() {
    let mut secret = Event::new(EventKind::Change, 1);
    secret.masked = true;
    secret.value = Some("hunter2-secret".into());
    let s = session(vec![
        secret,
        click(2),
        view(
            3,
            Vec::new(),
            Some(item(None, &[], &[("heading", "hunter2-secret")])),
            false,
        ),
    ]);
    let (text, grounded) = render(&s, "read_email", json!({"messageId": "a"}), &[1]);
    assert!(!grounded);
    assert!(!text.contains("hunter2"));

    let s = session(vec![
        click(1),
        view(
            2,
            vec![message_row("a", "A", "Card 4111 1111 1111 1111", "D")],
            None,
            false,
        ),
    ]);
    // An optional field that holds a card number is left out, not written.
    let (text, _) = render(&s, "search_emails", json!({"query": "x"}), &[0]);
    assert!(!text.contains("4111"));
    assert!(text.contains("Subject: \n"));

    // The capture's own mask is not content either.
    let s = session(vec![
        click(1),
        view(
            2,
            Vec::new(),
            Some(item(None, &[], &[("heading", "[masked]")])),
            false,
        ),
    ]);
    assert!(!render(&s, "read_email", json!({"messageId": "a"}), &[0]).1);
}

#[test]
fn labels_are_listed_by_kind_and_a_created_label_is_found_by_its_name() {
    let label = |id: &str, name: &str| row(item(Some(name), &[("data-label-id", id)], &[]));
    let s = session(vec![
        click(1),
        view(
            2,
            vec![
                label("INBOX", "Inbox"),
                label("SENT", "Sent"),
                label("Label_1", "Receipts"),
            ],
            None,
            false,
        ),
    ]);
    assert_eq!(
        render(&s, "list_email_labels", json!({}), &[0]),
        (
            "Found 3 labels (2 system, 1 user):\n\nSystem Labels:\nID: INBOX\nName: Inbox\n\nID: SENT\nName: Sent\n\nUser Labels:\nID: Label_1\nName: Receipts\n".to_owned(),
            true
        )
    );
    assert_eq!(
        render(&s, "create_label", json!({"name": "Receipts"}), &[0]),
        (
            "Label created successfully:\nID: Label_1\nName: Receipts\nType: user".to_owned(),
            true
        )
    );
    // A name the page does not show: no invented id.
    assert!(!render(&s, "create_label", json!({"name": "Travel"}), &[0]).1);
}

#[test]
fn a_created_filter_is_the_one_the_page_did_not_list_before() {
    let filter = |id: &str| item(Some("Matches: from:a"), &[("data-filter-id", id)], &[]);
    let args = json!({"criteria": {"from": "a@example.com"}, "action": {"addLabelIds": ["Label_1"], "removeLabelIds": ["INBOX", "UNREAD"]}});
    let s = session(vec![
        view(0, vec![filter("F1")], None, false),
        click(1),
        view(2, vec![filter("F1"), filter("F2")], None, false),
    ]);
    assert_eq!(
        render(&s, "create_filter", args.clone(), &[1]),
        (
            "Filter created successfully:\nID: F2\nCriteria: from: a@example.com\nActions: addLabelIds: Label_1, removeLabelIds: INBOX, UNREAD".to_owned(),
            true
        )
    );
    // Without the list before the action, what is new is unknown.
    let s = session(vec![
        click(1),
        view(2, vec![filter("F1"), filter("F2")], None, false),
    ]);
    assert!(!render(&s, "create_filter", args, &[0]).1);
}

#[test]
fn a_tool_without_a_description_keeps_an_honest_result() {
    let s = session(vec![click(1), view(2, Vec::new(), None, false)]);
    assert_eq!(
        render(&s, "send_email", json!({"to": ["a@example.com"]}), &[0]),
        (UNGROUNDED_RESULT.to_owned(), false)
    );
}

fn check(tools: Value) -> Result<ToolResults, CatalogError> {
    let c = catalog();
    let server = c.mcp_server("gmail").expect("server");
    let file = json!({"suite": "gmail", "mcp_server": "gmail", "tools": tools});
    ToolResults::parse("results/gmail.json", &file.to_string(), server)
}

#[test]
fn a_results_file_is_checked_on_load_with_clear_errors() {
    let message = |tools: Value| check(tools).expect_err("rejected").to_string();
    assert!(
        message(json!({"send_mail": {"part": {"view": {}}, "text": "x"}}))
            .contains("unknown tool `send_mail`")
    );
    assert!(
        message(json!({"delete_email": {"part": {"view": {}}, "text": "Email {id}"}}))
            .contains("unknown placeholder {id}")
    );
    assert!(message(json!({"delete_email": {"part": {"view": {}}, "values": {"id": {"argument": "message"}}, "text": "{id}"}}))
        .contains("no parameter `message`"));
    assert!(message(json!({"read_email": {"part": {"open": {}}, "values": {"id": {"data": "data-message-id", "field": "id"}}, "text": "{id}"}}))
        .contains("exactly one of"));
    assert!(message(json!({"search_emails": {"part": {"items": {}}, "values": {"id": {"data": "data-message-id"}}, "text": "{items}"}}))
        .contains("needs the text of one item"));
    assert!(message(json!({"search_emails": {"part": {"items": {}}, "values": {"id": {"data": "data-message-id"}}, "item": "{id}", "text": "{id}"}}))
        .contains("unknown placeholder {id}"));
    assert!(
        message(json!({"read_email": {"part": {"open": {}}, "text": "{a"}}))
            .contains("placeholder")
    );
    assert!(
        message(json!({"read_email": {"part": {"opened": {}}, "text": "x"}}))
            .contains("unknown variant")
    );
    // The committed file is accepted, and round-trips as plain data.
    let c = catalog();
    let results = c.tool_results("gmail", "gmail").expect("results");
    let again = serde_json::to_string(results.file()).expect("serialises");
    let reparsed = ToolResults::parse("again", &again, c.mcp_server("gmail").expect("server"))
        .expect("parses");
    assert_eq!(&reparsed, results);
}

#[test]
fn the_synthesizer_writes_grounded_results_and_records_which_are() {
    let c = catalog();
    let suite = c.suite("gmail").expect("suite");
    let server = c.mcp_server("gmail").expect("server");
    let map = c.action_tool_map("gmail", "gmail").expect("map");
    let synth = Synthesizer::new(suite, map, server)
        .expect("synthesizer")
        .with_results(c.tool_results("gmail", "gmail"));
    let s = session(vec![
        click(1),
        view(
            2,
            vec![message_row("m7", "Ann", "Plans", "Jun 1")],
            None,
            false,
        ),
        click(3),
        click(4),
    ]);
    let classified = |action: &str, parameters: Value, evidence: Vec<usize>| ClassifiedAction {
        action: action.into(),
        parameters: match parameters {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        confidence: 0.9,
        low_confidence: false,
        evidence,
        start_us: 0,
        end_us: 0,
    };
    let model = ModelRef {
        provider: ModelProvider::Rules,
        name: "gmail-rules".into(),
        version: "1".into(),
    };
    let out = synth.synthesize(
        &model,
        &json!({}),
        &[
            classified("search_emails", json!({"query": "plans"}), vec![0]),
            classified("read_email", json!({"message_id": "m7"}), vec![2, 3]),
        ],
        Some(&s),
    );
    let grounded: Vec<bool> = out.records.iter().map(|r| r.result_grounded).collect();
    assert_eq!(grounded, [true, false]);
    let tool_messages: Vec<&str> = out
        .messages
        .iter()
        .filter_map(|m| match m {
            Message::Tool { content, .. } => Some(content.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        tool_messages,
        [
            "ID: m7\nSubject: Plans\nFrom: Ann\nDate: Jun 1\n",
            UNGROUNDED_RESULT
        ]
    );
}

#[test]
fn a_labels_name_is_its_name_column_when_the_table_names_its_columns() {
    let label = |id: &str, row_name: &str, name: Option<&str>| {
        let fields: Vec<(&str, &str)> = name.map(|n| ("name", n)).into_iter().collect();
        row(item(Some(row_name), &[("data-label-id", id)], &fields))
    };
    let s = session(vec![
        click(1),
        view(
            2,
            vec![
                label("INBOX", "Inbox 12 conversations", Some("Inbox")),
                label("Label_1", "Work 3 conversations", Some("Work")),
                // A table without column headers: the row's name.
                label("Label_2", "Receipts", None),
            ],
            None,
            false,
        ),
    ]);
    assert_eq!(
        render(&s, "list_email_labels", json!({}), &[0]),
        (
            "Found 3 labels (1 system, 2 user):\n\nSystem Labels:\nID: INBOX\nName: Inbox\n\nUser Labels:\nID: Label_1\nName: Work\n\nID: Label_2\nName: Receipts\n".to_owned(),
            true
        )
    );
    assert_eq!(
        render(&s, "create_label", json!({"name": "Work"}), &[0]),
        (
            "Label created successfully:\nID: Label_1\nName: Work\nType: user".to_owned(),
            true
        )
    );
}

#[test]
fn a_list_is_made_of_rows_or_list_items_not_of_other_elements_with_the_id() {
    let mut entry = item(None, &[("data-message-id", "m2")], &[("subject", "Two")]);
    entry.role = Some("listitem".into());
    // An attachment chip carries the message id too, but is not an entry.
    let mut chip = item(
        Some("Download attachment a.pdf"),
        &[("data-message-id", "m1")],
        &[],
    );
    chip.role = Some("link".into());
    let s = session(vec![
        click(1),
        view(
            2,
            vec![message_row("m1", "Ann", "One", "d1"), entry, chip],
            None,
            false,
        ),
    ]);
    assert_eq!(
        render(&s, "search_emails", json!({"query": "x"}), &[0]),
        (
            "ID: m1\nSubject: One\nFrom: Ann\nDate: d1\n\nID: m2\nSubject: Two\nFrom: \nDate: \n"
                .to_owned(),
            true
        )
    );
}

#[test]
fn evidence_the_next_call_shares_does_not_move_this_calls_view_past_it() {
    // A message opened (0), its view (1), then deleted from its toolbar (2):
    // the delete request (3) is evidence of both the read and the delete.
    let open = item(
        None,
        &[("data-message-id", "m1"), ("data-thread-id", "t1")],
        &[("heading", "Hello"), ("from", "Ann <ann@example.com>")],
    );
    let s = session(vec![
        click(0),
        view(1, Vec::new(), Some(open), false),
        click(2),
        click(3),
        view(4, Vec::new(), None, false),
    ]);
    let c = catalog();
    let results = c.tool_results("gmail", "gmail").expect("results");
    let read = results.render(
        &s,
        "read_email",
        &json!({"messageId": "m1"}),
        &[0, 3],
        Some(2),
    );
    assert!(read.grounded, "{}", read.content);
    assert!(
        read.content
            .starts_with("Thread ID: t1\nSubject: Hello\nFrom: Ann <ann@example.com>\n"),
        "{}",
        read.content
    );
}

#[test]
fn a_batch_result_counts_the_messages_the_call_named() {
    let s = session(vec![click(1), view(2, Vec::new(), None, false)]);
    assert_eq!(
        render(
            &s,
            "batch_delete_emails",
            json!({"messageIds": ["a", "b", "c"]}),
            &[0]
        ),
        (
            "Batch delete operation complete.\nSuccessfully deleted: 3 messages\n".to_owned(),
            true
        )
    );
    // Without the page seen after it, not even the count is claimed.
    let s = session(vec![click(1)]);
    assert!(
        !render(
            &s,
            "batch_delete_emails",
            json!({"messageIds": ["a"]}),
            &[0]
        )
        .1
    );
}

#[test]
fn otherwise_and_count_of_are_checked_on_load() {
    let message = |tools: Value| check(tools).expect_err("rejected").to_string();
    assert!(message(json!({"read_email": {"part": {"open": {}}, "values": {"s": {"field": "subject", "otherwise": {"name": true, "optional": true}}}, "text": "{s}"}}))
        .contains("`optional` belongs to the outermost source"));
    assert!(message(json!({"read_email": {"part": {"open": {}}, "values": {"s": {"field": "subject", "otherwise": {"argument": "nope"}}}, "text": "{s}"}}))
        .contains("no parameter `nope`"));
    assert!(message(json!({"batch_delete_emails": {"part": {"view": {}}, "values": {"n": {"count_of": "ids"}}, "text": "{n}"}}))
        .contains("no parameter `ids`"));
    assert!(message(json!({"create_label": {"part": {"item": {"value": {"data": "data-label-id", "otherwise": {"argument": "name"}}, "equals_argument": "name"}}, "text": "x"}}))
        .contains("must come from the item"));
}

#[test]
fn a_deleted_label_is_named_as_the_page_showed_it_before_the_deletion() {
    let label = |id: &str, name: &str| row(item(Some(name), &[("data-label-id", id)], &[]));
    let s = session(vec![
        view(
            0,
            vec![label("Label_1", "Work"), label("Label_4", "Family")],
            None,
            false,
        ),
        click(1),
        view(2, vec![label("Label_1", "Work")], None, false),
    ]);
    assert_eq!(
        render(&s, "delete_label", json!({"id": "Label_4"}), &[1]),
        ("Label \"Family\" deleted successfully.".to_owned(), true)
    );
    // A label the page did not list before: no name is made up.
    assert!(!render(&s, "delete_label", json!({"id": "Label_9"}), &[1]).1);
    // Without the page seen after the action, nothing is claimed.
    let s = session(vec![
        view(0, vec![label("Label_4", "Family")], None, false),
        click(1),
    ]);
    assert!(!render(&s, "delete_label", json!({"id": "Label_4"}), &[1]).1);
}
