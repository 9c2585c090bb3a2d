//! The catalog as the server holds it: the editable files (suites and maps by
//! name, MCP servers as entities) persisted in the database, and the
//! cross-checked [`Catalog`] built from them, swapped whole on every write.
//!
//! Every write goes through [`Catalog::from_sources`], the same check that
//! `tracepipe catalog check` runs on the folder, so the API cannot store a
//! catalog the files could not express.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use tracepipe_processors::catalog::{
    ActionFile, ActionParameterFile, ActionToolMapFile, Catalog, CatalogError, CatalogSources,
    McpServer, ParameterMappingFile, SuiteFile, SuiteSources, ToolMappingFile,
};

use super::error::{ApiError, ServiceError};
use super::models::Models;
use crate::control::{CatalogFile, ControlPlane, ExampleError};
use tracepipe_processors::classify::RulesError;
use tracepipe_processors::results::ResultsFile;

const KIND_SERVER: &str = "mcp_server";
const KIND_SUITE: &str = "suite";
const KIND_MAP: &str = "map";
const KIND_RULES: &str = "rules";
const KIND_RESULTS: &str = "results";

/// The editable form of the whole catalog.
#[derive(Debug, Clone, Default)]
pub struct Files {
    pub mcp_servers: BTreeMap<String, McpServer>,
    pub suites: BTreeMap<String, SuiteFile>,
    /// Keyed by (suite name, MCP server name).
    pub maps: BTreeMap<(String, String), ActionToolMapFile>,
    /// Each suite's `rules.json` (the RULES model), by suite name, verbatim.
    pub rules: BTreeMap<String, String>,
    /// How tool results are built, keyed by (suite name, MCP server name).
    pub results: BTreeMap<(String, String), ResultsFile>,
}

impl Files {
    /// The file forms of a loaded catalog.
    fn from_catalog(catalog: &Catalog) -> Files {
        let mut files = Files::default();
        for server in catalog.mcp_servers() {
            files
                .mcp_servers
                .insert(server.name.clone(), server.clone());
        }
        for suite in catalog.suites() {
            let actions = suite
                .actions
                .iter()
                .map(|a| ActionFile {
                    name: a.name.clone(),
                    description: a.description.clone(),
                    template: a.template.as_str().to_owned(),
                    parameters: a
                        .parameters
                        .iter()
                        .map(|p| ActionParameterFile {
                            name: p.name.clone(),
                            param_type: p.param_type,
                            required: p.required,
                            description: p.description.clone(),
                        })
                        .collect(),
                })
                .collect();
            files.suites.insert(
                suite.name.clone(),
                SuiteFile {
                    name: suite.name.clone(),
                    display_name: suite.display_name.clone(),
                    description: suite.description.clone(),
                    actions,
                },
            );
        }
        for map in catalog.action_tool_maps() {
            // A loaded catalog resolved every id of its maps.
            let (Some(suite), Some(server)) = (
                catalog.suite_by_id(map.suite_id),
                catalog.mcp_server_by_id(map.mcp_server_id),
            ) else {
                continue;
            };
            let tool_mappings = map
                .tool_mappings
                .iter()
                .filter_map(|m| {
                    let action = suite.action_by_id(m.action_id)?;
                    let tool = server.tool_by_id(m.tool_id)?;
                    let parameters = m
                        .parameter_mappings
                        .iter()
                        .filter_map(|pm| {
                            Some(ParameterMappingFile {
                                action_parameter: action
                                    .parameter_by_id(pm.action_parameter_id)?
                                    .name
                                    .clone(),
                                tool_parameter: tool
                                    .parameter_by_id(pm.tool_parameter_id)?
                                    .name
                                    .clone(),
                                transform: pm.transform,
                            })
                        })
                        .collect();
                    Some(ToolMappingFile {
                        action: action.name.clone(),
                        tool: tool.name.clone(),
                        parameters,
                    })
                })
                .collect();
            files.maps.insert(
                (suite.name.clone(), server.name.clone()),
                ActionToolMapFile {
                    mcp_server: server.name.clone(),
                    tool_mappings,
                },
            );
        }
        for ((suite, server), results) in catalog.all_tool_results() {
            files
                .results
                .insert((suite.clone(), server.clone()), results.file().clone());
        }
        files
    }

    /// The sources [`Catalog::from_sources`] checks, named as in a catalog folder
    /// so that its messages point at familiar paths.
    fn sources(&self) -> CatalogSources {
        CatalogSources {
            mcp_servers: self
                .mcp_servers
                .iter()
                .map(|(name, s)| (format!("mcp-servers/{name}.json"), s.to_file_contents()))
                .collect(),
            suites: self
                .suites
                .iter()
                .map(|(name, s)| SuiteSources {
                    suite: (format!("suites/{name}/suite.json"), pretty(s)),
                    maps: self
                        .maps
                        .iter()
                        .filter(|((suite, _), _)| suite == name)
                        .map(|((_, server), m)| {
                            (format!("suites/{name}/maps/{server}.json"), pretty(m))
                        })
                        .collect(),
                    results: self
                        .results
                        .iter()
                        .filter(|((suite, _), _)| suite == name)
                        .map(|((_, server), r)| {
                            (format!("suites/{name}/results/{server}.json"), pretty(r))
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn rows(&self) -> Vec<CatalogFile> {
        let mut rows = Vec::new();
        for (name, server) in &self.mcp_servers {
            rows.push(CatalogFile {
                kind: KIND_SERVER.into(),
                suite: String::new(),
                name: name.clone(),
                contents: server.to_file_contents(),
            });
        }
        for (name, suite) in &self.suites {
            rows.push(CatalogFile {
                kind: KIND_SUITE.into(),
                suite: name.clone(),
                name: name.clone(),
                contents: pretty(suite),
            });
        }
        for ((suite, server), map) in &self.maps {
            rows.push(CatalogFile {
                kind: KIND_MAP.into(),
                suite: suite.clone(),
                name: server.clone(),
                contents: pretty(map),
            });
        }
        for ((suite, server), results) in &self.results {
            rows.push(CatalogFile {
                kind: KIND_RESULTS.into(),
                suite: suite.clone(),
                name: server.clone(),
                contents: pretty(results),
            });
        }
        for (suite, contents) in &self.rules {
            rows.push(CatalogFile {
                kind: KIND_RULES.into(),
                suite: suite.clone(),
                name: "rules".into(),
                contents: contents.clone(),
            });
        }
        rows
    }

    fn from_rows(rows: &[CatalogFile]) -> Result<Files, ServiceError> {
        let corrupt = |f: &CatalogFile, e: serde_json::Error| {
            ServiceError::Corrupt(format!("catalog {} `{}`: {e}", f.kind, f.name))
        };
        let mut files = Files::default();
        for f in rows {
            match f.kind.as_str() {
                KIND_SERVER => {
                    files.mcp_servers.insert(
                        f.name.clone(),
                        serde_json::from_str(&f.contents).map_err(|e| corrupt(f, e))?,
                    );
                }
                KIND_SUITE => {
                    files.suites.insert(
                        f.name.clone(),
                        serde_json::from_str(&f.contents).map_err(|e| corrupt(f, e))?,
                    );
                }
                KIND_MAP => {
                    files.maps.insert(
                        (f.suite.clone(), f.name.clone()),
                        serde_json::from_str(&f.contents).map_err(|e| corrupt(f, e))?,
                    );
                }
                KIND_RULES => {
                    files.rules.insert(f.suite.clone(), f.contents.clone());
                }
                KIND_RESULTS => {
                    files.results.insert(
                        (f.suite.clone(), f.name.clone()),
                        serde_json::from_str(&f.contents).map_err(|e| corrupt(f, e))?,
                    );
                }
                other => {
                    return Err(ServiceError::Corrupt(format!(
                        "catalog file of unknown kind `{other}`"
                    )))
                }
            }
        }
        Ok(files)
    }

    fn build(&self) -> Result<(Catalog, Models), WriteError> {
        let catalog = Catalog::from_sources(&self.sources()).map_err(WriteError::Catalog)?;
        let models = Models::build(&catalog, &self.rules).map_err(WriteError::Rules)?;
        Ok((catalog, models))
    }
}

/// `<dir>/suites/<suite>/rules.json` of every suite that has one.
fn read_rules(dir: &Path, catalog: &Catalog) -> Result<BTreeMap<String, String>, ServiceError> {
    let mut rules = BTreeMap::new();
    for suite in catalog.suites() {
        let path = crate::pipeline::rules_path(dir, &suite.name);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                rules.insert(suite.name.clone(), text);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ServiceError::io(format!("reading {}", path.display()), e)),
        }
    }
    Ok(rules)
}

/// Pretty JSON of a file form. They hold only string-keyed maps and plain
/// values, which always serialise.
fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// One consistent view: the files, the catalog built from them, and the
/// stored version they are.
#[derive(Debug)]
pub struct Snapshot {
    pub version: i64,
    pub files: Files,
    pub catalog: Arc<Catalog>,
    pub models: Models,
}

impl Snapshot {
    /// The Recipe an Example of `suite_id` asks for: its model, its map (the
    /// suite's first when none is named) and configuration, with the browser
    /// MCP server when the catalog has it. Also the map's id. What is no
    /// longer in the catalog is the Example's failure, saying so.
    pub fn recipe(
        &self,
        suite_id: uuid::Uuid,
        model_id: uuid::Uuid,
        map_id: Option<uuid::Uuid>,
        configuration: serde_json::Value,
        browser_server: &str,
    ) -> Result<(crate::pipeline::Recipe, uuid::Uuid), ExampleError> {
        let failure = |code: &str, message: String| ExampleError {
            code: code.to_owned(),
            message,
        };
        let catalog = &self.catalog;
        let suite = catalog.suite_by_id(suite_id).ok_or_else(|| {
            failure(
                "catalog",
                format!("suite {suite_id} is no longer in the catalog"),
            )
        })?;
        let map = match map_id {
            Some(id) => catalog.action_tool_map_by_id(id),
            None => catalog.maps_for_suite(&suite.name).next(),
        }
        .ok_or_else(|| {
            failure(
                "catalog",
                "the Example's action tool map is no longer in the catalog; POST /v1/examples again to use the suite's current map".into(),
            )
        })?;
        let server = catalog.mcp_server_by_id(map.mcp_server_id).ok_or_else(|| {
            failure(
                "catalog",
                format!(
                    "MCP server {} is no longer in the catalog",
                    map.mcp_server_id
                ),
            )
        })?;
        let model = self.models.get(model_id, suite_id).ok_or_else(|| {
            failure(
                "model_unavailable",
                format!(
                    "model {model_id} no longer classifies suite `{}`; see GET /v1/models",
                    suite.name
                ),
            )
        })?;
        let browser = Some(browser_server)
            .filter(|name| !name.is_empty() && catalog.mcp_server(name).is_some());
        let recipe = crate::pipeline::Recipe::new(
            catalog.clone(),
            &suite.name,
            Some(&server.name),
            browser,
            model,
            configuration,
        )
        .map_err(|e| pipeline_failure(e.into()))?;
        Ok((recipe, map.id))
    }

    /// A `suite_id` query filter, the suite named by its id or its name;
    /// `422 unknown_suite` for a suite that is not there.
    pub fn suite_filter(&self, named: Option<&str>) -> Result<Option<uuid::Uuid>, ApiError> {
        named
            .map(|named| {
                self.suite_by_name_or_id(named)
                    .map(|s| s.id)
                    .ok_or_else(|| {
                        ApiError::unprocessable("unknown_suite", "there is no such suite")
                            .field("suite_id")
                    })
            })
            .transpose()
    }

    /// A suite named by its id or its name, as clients may name it.
    pub fn suite_by_name_or_id(
        &self,
        named: &str,
    ) -> Option<&tracepipe_processors::catalog::Suite> {
        match uuid::Uuid::parse_str(named) {
            Ok(id) => self.catalog.suite_by_id(id),
            Err(_) => self.catalog.suite(named),
        }
    }
}

/// The live catalog. Readers take a snapshot; writers are serialised, and a
/// write made by another process sharing the control plane (another gateway)
/// is picked up by [`CatalogStore::refresh`].
pub struct CatalogStore {
    current: RwLock<Arc<Snapshot>>,
    /// Held across the database write on purpose: a write reads, edits and
    /// replaces the whole catalog, and two must not interleave. Readers never
    /// take it.
    writer: tokio::sync::Mutex<()>,
}

/// What a write did wrong, by kind, so that the handler answers the right status.
#[derive(Debug)]
pub enum WriteError {
    /// The request itself: 4xx as given.
    Api(ApiError),
    /// The edited catalog does not check out.
    Catalog(CatalogError),
    /// A suite's rules no longer compile against the edited suite.
    Rules(RulesError),
    /// Another process changed the stored catalog since this one read it.
    Changed,
    Internal(ServiceError),
}

impl From<ApiError> for WriteError {
    fn from(e: ApiError) -> Self {
        WriteError::Api(e)
    }
}

impl From<ServiceError> for WriteError {
    fn from(e: ServiceError) -> Self {
        WriteError::Internal(e)
    }
}

impl CatalogStore {
    /// The stored catalog, or, on the first start, the folder's, stored.
    pub async fn open(
        control: &dyn ControlPlane,
        seed_dir: &Path,
    ) -> Result<CatalogStore, ServiceError> {
        let mut stored = control.catalog().await?;
        if stored.files.is_empty() {
            // A missing folder would load as an empty catalog: useless, and
            // most likely a server started from the wrong directory.
            let rows = rows_of_dir(seed_dir)?;
            // Another process seeding at the same moment wins; its catalog is
            // read back below either way.
            control.replace_catalog(stored.version, &rows).await?;
            stored = control.catalog().await?;
        }
        Ok(CatalogStore {
            current: RwLock::new(Arc::new(snapshot_of(stored.version, &stored.files)?)),
            writer: tokio::sync::Mutex::new(()),
        })
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Loads the stored catalog if another process changed it since this
    /// one's snapshot; true when it did.
    pub async fn refresh(&self, control: &dyn ControlPlane) -> Result<bool, ServiceError> {
        let current = self.snapshot().version;
        if control.catalog_version().await? == current {
            return Ok(false);
        }
        let _guard = self.writer.lock().await;
        let stored = control.catalog().await?;
        if stored.version == self.snapshot().version {
            return Ok(false);
        }
        let snapshot = snapshot_of(stored.version, &stored.files)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
        Ok(true)
    }

    /// Applies `edit` to a copy of the files, checks the result, stores it and
    /// makes it current. `edit`'s value is computed against the new catalog by
    /// `answer`.
    pub async fn update<T>(
        &self,
        control: &dyn ControlPlane,
        edit: impl FnOnce(&mut Files) -> Result<(), ApiError>,
        answer: impl FnOnce(&Catalog) -> Option<T>,
    ) -> Result<T, WriteError> {
        let _guard = self.writer.lock().await;
        let base = self.snapshot();
        let mut files = base.files.clone();
        edit(&mut files)?;
        let (catalog, models) = files.build()?;
        let value = answer(&catalog).ok_or_else(|| {
            WriteError::Internal(ServiceError::Corrupt(
                "the written entity is missing from the catalog".into(),
            ))
        })?;
        let rows = files.rows();
        let version = control
            .replace_catalog(base.version, &rows)
            .await
            .map_err(|e| WriteError::Internal(e.into()))?
            .ok_or(WriteError::Changed)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Snapshot {
            version,
            files,
            catalog: Arc::new(catalog),
            models,
        });
        Ok(value)
    }
}

/// An Example's failure for a pipeline error, with what to do about it.
pub fn pipeline_failure(e: crate::pipeline::PipelineError) -> ExampleError {
    use crate::pipeline::PipelineError;
    let code = match &e {
        PipelineError::Setup(_) => "catalog",
        PipelineError::SuiteMismatch { .. } => "suite_mismatch",
        PipelineError::Limit(_) => "too_large",
        e if e.is_input_error() => "input",
        _ => "storage",
    };
    let advice = match code {
        "catalog" => "; an administrator must fix the catalog, then POST /v1/examples again",
        "storage" => "; POST /v1/examples again to retry",
        _ => "",
    };
    ExampleError {
        code: code.to_owned(),
        message: format!("{e}{advice}"),
    }
}

/// The rows of the catalog folder `dir`, rules included, as they are stored.
pub fn rows_of_dir(dir: &Path) -> Result<Vec<CatalogFile>, ServiceError> {
    if !dir.join("suites").is_dir() {
        return Err(ServiceError::NoCatalog(dir.to_owned()));
    }
    let catalog = Catalog::load_dir(dir)?;
    let mut files = Files::from_catalog(&catalog);
    files.rules = read_rules(dir, &catalog)?;
    Ok(files.rows())
}

/// The snapshot of stored catalog rows.
pub fn snapshot_of(version: i64, rows: &[CatalogFile]) -> Result<Snapshot, ServiceError> {
    let files = Files::from_rows(rows)?;
    let (catalog, models) = files.build().map_err(|e| match e {
        WriteError::Catalog(c) => ServiceError::Catalog(c),
        WriteError::Rules(r) => ServiceError::Rules(r),
        WriteError::Internal(i) => i,
        WriteError::Api(a) => ServiceError::Corrupt(a.message),
        WriteError::Changed => ServiceError::Corrupt("the catalog changed while read".into()),
    })?;
    Ok(Snapshot {
        version,
        files,
        catalog: Arc::new(catalog),
        models,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_catalog_survives_a_round_trip_through_rows() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../catalog");
        let catalog = Catalog::load_dir(&root).expect("repository catalog loads");
        let mut files = Files::from_catalog(&catalog);
        files.rules = read_rules(&root, &catalog).expect("rules read");
        assert!(files.rules.contains_key("gmail"));
        let again = Files::from_rows(&files.rows()).expect("rows parse");
        let Ok((rebuilt, models)) = again.build() else {
            panic!("the stored catalog rebuilds")
        };
        assert_eq!(rebuilt, catalog);
        let gmail = catalog.suite("gmail").expect("gmail suite").id;
        assert!(models.default_for(gmail).is_some());
    }
}
