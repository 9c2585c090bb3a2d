//! The RULES model on hand-built sessions: the contract's signals in, actions
//! with typed parameters, confidence and evidence out; abandoned flows and
//! noise yield nothing; bad rules fail at load time with a named place.

use std::collections::BTreeMap;
use tracepipe_processors::catalog::Catalog;
use tracepipe_processors::classify::{Model, RulesError, RulesModel, RulesOptions};
use tracepipe_processors::model::ClassifiedAction;
use tracepipe_schemas::{
    Event, EventKind, Navigation, NetworkRequest, Session, SourceFormat, Target,
};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn catalog() -> Catalog {
    Catalog::load_dir(format!("{ROOT}/catalog")).unwrap()
}

fn rules() -> String {
    std::fs::read_to_string(format!("{ROOT}/catalog/suites/gmail/rules.json")).unwrap()
}

fn model() -> RulesModel {
    let c = catalog();
    RulesModel::from_json(
        "rules.json",
        &rules(),
        c.suite("gmail").unwrap(),
        RulesOptions::default(),
    )
    .unwrap()
}

/// Builds sessions event by event, on a 100 ms clock.
struct S {
    url: String,
    events: Vec<Event>,
}

impl S {
    fn new(route: &str) -> S {
        S {
            url: format!("https://mail.example.test/mail/u/0/{route}"),
            events: Vec::new(),
        }
    }
    fn push(&mut self, mut e: Event) -> &mut S {
        e.t_us = self.events.len() as i64 * 100_000;
        if e.url.is_none() {
            e.url = Some(self.url.clone());
        }
        self.events.push(e);
        self
    }
    fn target(label: &str, data: &[(&str, &str)]) -> Target {
        Target {
            label: Some(label.into()),
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            ..Target::default()
        }
    }
    fn click(&mut self, label: &str, data: &[(&str, &str)]) -> &mut S {
        let mut e = Event::new(EventKind::Click, 0);
        e.target = Some(Self::target(label, data));
        self.push(e)
    }
    /// A click whose target showed `state` once the click's handlers ran.
    fn click_leaving(
        &mut self,
        label: &str,
        data: &[(&str, &str)],
        state: &[(&str, &str)],
    ) -> &mut S {
        let mut e = Event::new(EventKind::Click, 0);
        let mut target = Self::target(label, data);
        target.role = Some("menuitemcheckbox".into());
        e.target = Some(target);
        e.state = state
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.push(e)
    }
    fn change(&mut self, label: &str, value: &str, data: &[(&str, &str)]) -> &mut S {
        let mut e = Event::new(EventKind::Change, 0);
        e.target = Some(Self::target(label, data));
        e.value = Some(value.into());
        self.push(e)
    }
    fn key(&mut self, label: &str, key: &str, modifiers: &[&str]) -> &mut S {
        let mut e = Event::new(EventKind::Key, 0);
        e.target = Some(Self::target(label, &[]));
        e.key = Some(key.into());
        e.modifiers = modifiers.iter().map(|m| m.to_string()).collect();
        self.push(e)
    }
    fn go(&mut self, route: &str) -> &mut S {
        let from = self.url.clone();
        self.url = format!("https://mail.example.test/mail/u/0/{route}");
        let mut e = Event::new(EventKind::Navigation, 0);
        e.navigation = Some(Navigation {
            same_document: true,
            from_url: Some(from),
        });
        self.push(e)
    }
    fn request(&mut self, method: &str) -> &mut S {
        let mut e = Event::new(EventKind::NetworkRequest, 0);
        e.url = Some("https://mail.example.test/anything".into());
        e.network = Some(NetworkRequest {
            request_id: format!("r{}", self.events.len()),
            method: method.into(),
            status: Some(200),
            mime_type: None,
            end_us: None,
            failed: false,
            encoded_bytes: None,
        });
        self.push(e)
    }
    fn session(&self) -> Session {
        Session {
            session_id: "t".into(),
            source: SourceFormat::ChromeTrace,
            suite: None,
            started_at: None,
            duration_us: self.events.last().map_or(0, |e| e.t_us),
            user_agent: None,
            pages: vec![],
            events: self.events.clone(),
            source_name: None,
            source_sha256: None,
        }
    }
}

fn classify(s: &S) -> Vec<ClassifiedAction> {
    model().classify(&s.session())
}

fn names(actions: &[ClassifiedAction]) -> Vec<&str> {
    actions.iter().map(|a| a.action.as_str()).collect()
}

#[test]
fn compose_and_send_by_click_or_ctrl_enter_with_evidence() {
    let mut s = S::new("#inbox");
    s.click("Compose", &[])
        .change("To recipients", "alice@example.com, bob@example.com", &[])
        .change("Subject", "Zoë — 東京", &[])
        .change("Message Body", "Hi", &[])
        .click("Send \u{202A}(Ctrl-Enter)\u{202C}", &[])
        .request("POST");
    s.click("Compose", &[])
        .change("To recipients", "c@example.org", &[])
        .change("Message Body", "x", &[])
        .key("Message Body", "Enter", &["meta"]);
    let actions = classify(&s);
    assert_eq!(names(&actions), vec!["send_email", "send_email"]);
    let first = &actions[0];
    assert_eq!(first.parameters["to"], "alice@example.com, bob@example.com");
    assert_eq!(first.parameters["subject"], "Zoë — 東京");
    assert_eq!(
        first.evidence,
        vec![0, 1, 2, 3, 4, 5],
        "compose, fields, send, and the request that followed"
    );
    assert!(
        first.confidence > actions[1].confidence,
        "a following POST corroborates"
    );
    assert!(!first.low_confidence);
    assert_eq!(actions[1].evidence, vec![6, 7, 8, 9]);
}

#[test]
fn abandoned_and_drafted_composes() {
    let mut s = S::new("#inbox");
    s.click("Compose", &[])
        .change("To recipients", "a@example.com", &[])
        .click("Discard draft", &[]);
    s.click("Compose", &[])
        .change("To recipients", "b@example.com", &[]);
    // A second Compose abandons the unfinished one.
    s.click("Compose", &[])
        .change("To recipients", "c@example.com", &[])
        .click("Save & close", &[]);
    s.click("Compose", &[])
        .change("Subject", "never finished", &[]);
    let actions = classify(&s);
    assert_eq!(names(&actions), vec!["create_draft"]);
    assert_eq!(actions[0].parameters["to"], "c@example.com");
}

#[test]
fn opening_messages_searching_and_listing_labels_follow_routes() {
    let mut s = S::new("#inbox");
    s.click("Alice, Lunch", &[("data-message-id", "18c2aa")])
        .go("#inbox/18c2aa");
    s.change("Search mail", "from:alice has:attachment", &[])
        .key("Search mail", "Enter", &[])
        .go("#search/from%3Aalice+has%3Aattachment");
    s.go("#search/from%3Aalice+has%3Aattachment/18c2bb");
    s.go("#settings/labels");
    let actions = classify(&s);
    assert_eq!(
        names(&actions),
        vec!["read_email", "search_emails", "read_email", "list_labels"]
    );
    assert_eq!(actions[0].parameters["message_id"], "18c2aa");
    assert_eq!(actions[1].parameters["query"], "from:alice has:attachment");
    assert_eq!(
        actions[1].evidence,
        vec![2, 3, 4],
        "the box, Enter and the route are one search"
    );
    assert_eq!(actions[2].parameters["message_id"], "18c2bb");
}

#[test]
fn labels_on_one_message_and_on_a_selection() {
    let mut s = S::new("#inbox");
    s.go("#inbox/m1").click("Label as", &[]);
    s.click("Work", &[("data-label-id", "Label_1")]).change(
        "Work",
        "false",
        &[("data-label-id", "Label_1")],
    );
    s.click("Important", &[("data-label-id", "IMPORTANT")])
        .change("Important", "true", &[("data-label-id", "IMPORTANT")]);
    s.click("Apply", &[]);
    s.go("#inbox");
    for id in ["m2", "m3", "m4"] {
        s.click("Select", &[("data-message-id", id)]).change(
            "Select",
            "true",
            &[("data-message-id", id)],
        );
    }
    // Unticked again: not part of the batch.
    s.click("Select", &[("data-message-id", "m3")]).change(
        "Select",
        "false",
        &[("data-message-id", "m3")],
    );
    s.click("Label as", &[])
        .click("Receipts", &[("data-label-id", "Label_2")])
        .click("Apply", &[]);
    s.click("Select", &[("data-message-id", "m5")])
        .click("Delete", &[]);
    let actions = classify(&s);
    assert_eq!(
        names(&actions),
        vec![
            "read_email",
            "modify_email_labels",
            "batch_modify_emails",
            "batch_delete_emails"
        ]
    );
    assert_eq!(actions[1].parameters["message_id"], "m1");
    assert_eq!(
        actions[1].parameters["add_label_ids"],
        serde_json::json!(["IMPORTANT"])
    );
    assert_eq!(
        actions[1].parameters["remove_label_ids"],
        serde_json::json!(["Label_1"])
    );
    assert_eq!(
        actions[2].parameters["message_ids"],
        serde_json::json!(["m2", "m4"])
    );
    assert_eq!(
        actions[2].parameters["add_label_ids"],
        serde_json::json!(["Label_2"])
    );
    assert_eq!(
        actions[3].parameters["message_ids"],
        serde_json::json!(["m5"]),
        "a batch action clears the selection"
    );
}

/// A menu whose entries are `menuitemcheckbox`es fires no `change`: the
/// state the click left settles each entry, so unticking a label the message
/// has removes it, and a mixed entry is neither added nor removed.
#[test]
fn menu_toggles_follow_the_state_after_the_click() {
    let mut s = S::new("#inbox");
    s.go("#inbox/m1").click("Label as", &[]);
    s.click_leaving(
        "Travel",
        &[("data-label-id", "Label_8")],
        &[("aria-checked", "true")],
    )
    .click("Apply", &[]);
    s.click("Label as", &[])
        .click_leaving(
            "Projects",
            &[("data-label-id", "Label_3")],
            &[("aria-checked", "false")],
        )
        .click_leaving(
            "Receipts",
            &[("data-label-id", "Label_2")],
            &[("aria-checked", "mixed")],
        )
        .click("Apply", &[]);
    let actions = classify(&s);
    assert_eq!(
        names(&actions),
        vec!["read_email", "modify_email_labels", "modify_email_labels"]
    );
    assert_eq!(
        actions[1].parameters["add_label_ids"],
        serde_json::json!(["Label_8"])
    );
    assert!(actions[1].parameters.get("remove_label_ids").is_none());
    assert_eq!(
        actions[2].parameters["remove_label_ids"],
        serde_json::json!(["Label_3"])
    );
    assert!(actions[2].parameters.get("add_label_ids").is_none());
}

/// Recordings made before clicks carried a state read a click as a flip,
/// as they always did.
#[test]
fn clicks_without_state_still_flip() {
    let mut s = S::new("#inbox");
    s.go("#inbox/m1").click("Label as", &[]);
    s.click("Projects", &[("data-label-id", "Label_3")])
        .click("Apply", &[]);
    let actions = classify(&s);
    assert_eq!(names(&actions), vec!["read_email", "modify_email_labels"]);
    assert_eq!(
        actions[1].parameters["add_label_ids"],
        serde_json::json!(["Label_3"])
    );
}

#[test]
fn label_dialogs_filters_and_deletes() {
    let mut s = S::new("#settings/labels");
    s.click("Create new label", &[])
        .change("Please enter a new label name:", "Clients", &[])
        .click("Create", &[]);
    s.click("Edit", &[("data-label-id", "Label_3")])
        .change("Label name:", "Invoices", &[])
        .click("Save", &[]);
    s.click("Remove label", &[("data-label-id", "Label_4")])
        .click("Delete", &[]);
    s.click("Remove label", &[("data-label-id", "Label_1")])
        .click("Cancel", &[]);
    s.go("#settings/filters").click("Create a new filter", &[]);
    s.change("From", "deals@shop.example", &[])
        .change("Has the words", "sale", &[])
        .click("Create filter", &[]);
    s.click("Mark as read", &[])
        .change("Mark as read", "true", &[]);
    s.click("Star it", &[]).click("Star it", &[]);
    s.click("Receipts", &[("data-label-id", "Label_2")])
        .click("Create filter", &[]);
    s.click("Delete", &[("data-filter-id", "f1")]);
    let actions = classify(&s);
    assert_eq!(
        names(&actions),
        vec![
            "create_label",
            "update_label",
            "delete_label",
            "create_filter",
            "delete_filter"
        ]
    );
    assert_eq!(actions[0].parameters["name"], "Clients");
    assert_eq!(
        (
            &actions[1].parameters["label_id"],
            &actions[1].parameters["name"]
        ),
        (&"Label_3".into(), &"Invoices".into())
    );
    assert_eq!(actions[2].parameters["label_id"], "Label_4");
    assert_eq!(
        actions[3].parameters["criteria"],
        serde_json::json!({"from": "deals@shop.example", "query": "sale"})
    );
    assert_eq!(
        actions[3].parameters["filter_action"],
        serde_json::json!({"removeLabelIds": ["UNREAD"], "addLabelIds": ["Label_2"]})
    );
    assert_eq!(actions[4].parameters["filter_id"], "f1");
}

#[test]
fn deleting_and_downloading_from_an_open_message() {
    let mut s = S::new("#inbox");
    s.go("#inbox/m9")
        .click(
            "Download attachment report.pdf",
            &[("data-attachment-id", "att7")],
        )
        .click("Delete", &[]);
    let actions = classify(&s);
    assert_eq!(
        names(&actions),
        vec!["read_email", "download_attachment", "delete_email"]
    );
    assert_eq!(
        actions[1].parameters["message_id"], "m9",
        "from the route when the chip does not say"
    );
    assert_eq!(actions[1].parameters["attachment_id"], "att7");
    assert_eq!(actions[2].parameters["message_id"], "m9");
}

#[test]
fn reopening_a_message_is_reading_it_again() {
    let mut s = S::new("#inbox");
    s.go("#inbox/m1").go("#inbox").go("#inbox/m1");
    let actions = classify(&s);
    assert_eq!(names(&actions), vec!["read_email", "read_email"]);
}

#[test]
fn noise_alone_yields_nothing() {
    let mut s = S::new("#inbox");
    let mut scroll = Event::new(EventKind::Scroll, 0);
    scroll.target = Some(S::target("Inbox", &[]));
    s.push(scroll)
        .click("Starred", &[])
        .key("Subject", "Tab", &[])
        .request("GET")
        .click("Apply", &[])
        .click("Send", &[]);
    assert!(classify(&s).is_empty());
}

#[test]
fn missing_required_values_lower_confidence_below_the_threshold() {
    let mut s = S::new("#inbox");
    s.click("Compose", &[])
        .change("Subject", "no recipient", &[])
        .click("Send", &[]);
    let actions = classify(&s);
    assert_eq!(names(&actions), vec!["send_email"]);
    assert!(actions[0].confidence < 0.6 && actions[0].low_confidence);
    let c = catalog();
    let strict = RulesModel::from_json(
        "r",
        &rules(),
        c.suite("gmail").unwrap(),
        RulesOptions {
            low_confidence_below: 0.99,
        },
    )
    .unwrap();
    let mut ok = S::new("#inbox");
    ok.go("#inbox/m1");
    assert!(strict.classify(&ok.session())[0].low_confidence);
}

#[test]
fn bad_rules_fail_at_load_time_naming_the_place() {
    let c = catalog();
    let suite = c.suite("gmail").unwrap();
    let load = |text: String| {
        RulesModel::from_json("rules.json", &text, suite, RulesOptions::default())
            .err()
            .unwrap()
    };
    let base = rules();
    let e = load(base.replacen("\"action\": \"read_email\"", "\"action\": \"read_mail\"", 1));
    assert!(
        matches!(e, RulesError::UnknownAction { .. }) && e.to_string().contains("read_mail"),
        "{e}"
    );
    let e = load(base.replacen("\"set\": \"message_id\"", "\"set\": \"msg\"", 1));
    assert!(matches!(e, RulesError::UnknownParameter { .. }), "{e}");
    let e = load(base.replacen("\"route\": \"labels\"", "\"route\": \"nowhere\"", 1));
    assert!(matches!(e, RulesError::UnknownRoute { .. }), "{e}");
    let e = load(base.replacen("^#settings/labels$", "(", 1));
    assert!(matches!(e, RulesError::BadRoute { .. }), "{e}");
    let e = load(base.replacen("\"suite\": \"gmail\"", "\"suite\": \"outlook\"", 1));
    assert!(matches!(e, RulesError::WrongSuite { .. }), "{e}");
    let e = load(base.replacen("\"confidence\": 0.95", "\"confidence\": 1.5", 1));
    assert!(matches!(e, RulesError::Invalid { .. }), "{e}");
    let e = load(base.replacen("\"flows\"", "\"flowz\"", 1));
    assert!(matches!(e, RulesError::Parse { .. }), "{e}");
}

#[test]
fn filter_forms_of_other_clients_are_read_the_same() {
    // First step taken with Enter, a <label> click forwarded to its checkbox,
    // a change value that is the control's `value` ("on") rather than its
    // state, and the label chosen in a <select>.
    let mut s = S::new("#settings/filters");
    s.click("Create a new filter", &[])
        .change("From", "ci@builds.example", &[])
        .key("From", "Enter", &[]);
    let mut label_click = Event::new(EventKind::Click, 0);
    label_click.target = Some(Target {
        tag: Some("label".into()),
        label: Some("Mark as read".into()),
        ..Target::default()
    });
    s.push(label_click)
        .click("Mark as read", &[])
        .change("Mark as read", "on", &[]);
    let mut chooser = Event::new(EventKind::Change, 0);
    chooser.target = Some(Target {
        tag: Some("select".into()),
        label: Some("Choose label".into()),
        ..Target::default()
    });
    chooser.value = Some("Label_4".into());
    s.push(chooser.clone());
    chooser.value = Some("Label_5".into());
    s.push(chooser).click("Create filter", &[]);
    let actions = classify(&s);
    assert_eq!(names(&actions), vec!["create_filter"]);
    assert_eq!(
        actions[0].parameters["criteria"],
        serde_json::json!({"from": "ci@builds.example"})
    );
    assert_eq!(
        actions[0].parameters["filter_action"],
        serde_json::json!({"removeLabelIds": ["UNREAD"], "addLabelIds": ["Label_5"]})
    );
}
