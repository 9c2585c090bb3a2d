//! The classifier models the server offers: one RULES model per suite that has
//! a `rules.json`, compiled against that suite whenever the catalog changes.
//!
//! A Model's id is a UUID v5 of its provider and name, so it stays the same
//! across restarts and rules versions; the version is reported beside it and
//! recorded with every Example in the analyst tables.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

use tracepipe_processors::catalog::{ids, Catalog};
use tracepipe_processors::classify::{Model, RulesError, RulesModel, RulesOptions};
use tracepipe_processors::model::{ModelProvider, ModelRef};

/// A Model as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Model)]
pub struct ModelView {
    pub id: Uuid,
    pub provider: ModelProvider,
    pub name: String,
    pub version: String,
    /// The suites this model can classify.
    pub suite_ids: Vec<Uuid>,
}

impl ModelView {
    /// The provider as the API spells it (`RULES`).
    pub fn provider_name(&self) -> String {
        provider_name(self.provider)
    }
}

fn provider_name(provider: ModelProvider) -> String {
    serde_json::to_value(provider)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub fn model_id(model: &ModelRef) -> Uuid {
    let provider = provider_name(model.provider);
    let name = serde_json::json!(["model", provider, model.name]).to_string();
    Uuid::new_v5(&ids::namespace(), name.as_bytes())
}

/// The compiled models of one catalog snapshot.
#[derive(Default)]
pub struct Models {
    /// (model id, suite id) → the model compiled for that suite.
    compiled: BTreeMap<(Uuid, Uuid), Arc<dyn Model>>,
    /// Each suite's default model.
    defaults: BTreeMap<Uuid, Uuid>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models")
            .field("compiled", &self.compiled.keys())
            .finish()
    }
}

impl Models {
    /// Compiles every suite's rules (`rules` maps suite name → file contents).
    pub fn build(
        catalog: &Catalog,
        rules: &BTreeMap<String, String>,
    ) -> Result<Models, RulesError> {
        let mut models = Models::default();
        for (suite_name, contents) in rules {
            let Some(suite) = catalog.suite(suite_name) else {
                return Err(RulesError::Invalid {
                    file: format!("suites/{suite_name}/rules.json"),
                    place: "suite".into(),
                    message: format!("there is no suite `{suite_name}`"),
                });
            };
            let file = format!("suites/{suite_name}/rules.json");
            let model = RulesModel::from_json(&file, contents, suite, RulesOptions::default())?;
            let id = model_id(model.model_ref());
            models.defaults.insert(suite.id, id);
            models.compiled.insert((id, suite.id), Arc::new(model));
        }
        Ok(models)
    }

    pub fn default_for(&self, suite_id: Uuid) -> Option<Uuid> {
        self.defaults.get(&suite_id).copied()
    }

    pub fn get(&self, model_id: Uuid, suite_id: Uuid) -> Option<Arc<dyn Model>> {
        self.compiled.get(&(model_id, suite_id)).cloned()
    }

    pub fn exists(&self, model_id: Uuid) -> bool {
        self.compiled.keys().any(|(m, _)| *m == model_id)
    }

    /// Every model, with the suites it serves, by name.
    pub fn views(&self) -> Vec<ModelView> {
        let mut by_id: BTreeMap<Uuid, ModelView> = BTreeMap::new();
        for ((id, suite), model) in &self.compiled {
            let r = model.model_ref();
            by_id
                .entry(*id)
                .or_insert_with(|| ModelView {
                    id: *id,
                    provider: r.provider,
                    name: r.name.clone(),
                    version: r.version.clone(),
                    suite_ids: Vec::new(),
                })
                .suite_ids
                .push(*suite);
        }
        let mut views: Vec<ModelView> = by_id.into_values().collect();
        views.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        views
    }
}
