//! The rules file as the RULES model reads it (`catalog/suites/<suite>/rules.json`),
//! written rather than read: the same keys a person writes by hand.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct RulesDocument {
    pub suite: String,
    pub model: ModelName,
    pub routes: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<SelectionRule>,
    pub flows: Vec<FlowRule>,
    pub triggers: Vec<TriggerRule>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelName {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct MatcherRule {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kind: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub label: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_prefix: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tag: Vec<String>,
    /// A regular expression the committed value must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_pattern: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modifiers_any: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<usize>,
}

impl MatcherRule {
    /// How many things it checks: the more, the earlier it is tried.
    pub fn specificity(&self) -> usize {
        usize::from(!self.label.is_empty())
            + usize::from(self.label_prefix.is_some())
            + usize::from(!self.key.is_empty())
            + usize::from(!self.modifiers_any.is_empty())
            + usize::from(self.has_data.is_some())
            + usize::from(self.value_pattern.is_some())
            + usize::from(self.route.is_some())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceRule {
    Value,
    Data(String),
    Route {
        route: String,
        group: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        decode: Option<&'static str>,
    },
    Selection,
    Const(Value),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaptureRule {
    pub set: String,
    pub from: Vec<SourceRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToggleRule {
    pub id: SourceRule,
    pub add: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldRule {
    pub on: MatcherRule,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    /// Where `set` reads from; the step's committed value when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<SourceRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toggle: Option<ToggleRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<FlagRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choose: Option<ChooseRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChooseRule {
    pub id: SourceRule,
    pub add: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlagRule {
    pub param: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConditionRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeRule {
    pub on: Vec<MatcherRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<ConditionRule>,
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capture: Vec<CaptureRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowRule {
    pub name: String,
    pub start: Vec<MatcherRule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capture: Vec<CaptureRule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldRule>,
    pub outcomes: Vec<OutcomeRule>,
    pub confidence: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TriggerRule {
    pub action: String,
    pub on: MatcherRule,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<ConditionRule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capture: Vec<CaptureRule>,
    pub confidence: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SelectionRule {
    pub toggle: MatcherRule,
    pub id: SourceRule,
}
