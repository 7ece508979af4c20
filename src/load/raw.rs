//! The collection file exactly as serde reads it. Field names here are the
//! keys users write; `deny_unknown_fields` turns a typo such as `expcet` into
//! an error that lists the keys allowed at that place.
//!
//! Free-form parts (variables, bodies, assertions) are read as JSON values so
//! that nothing past the load stage depends on the YAML library.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value as Json;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCollection {
    pub name: Option<String>,
    pub default_env: Option<String>,
    #[serde(default)]
    pub environments: IndexMap<String, IndexMap<String, Json>>,
    #[serde(default)]
    pub vars: IndexMap<String, Json>,
    #[serde(default)]
    pub defaults: RawDefaults,
    pub requests: Vec<RawRequest>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub base_url: Option<String>,
    #[serde(default)]
    pub headers: IndexMap<String, Json>,
    #[serde(default)]
    pub query: IndexMap<String, Json>,
    pub timeout: Option<Json>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    pub name: String,
    pub method: Option<String>,
    pub url: String,
    #[serde(default)]
    pub query: IndexMap<String, Json>,
    #[serde(default)]
    pub headers: IndexMap<String, Json>,
    pub json: Option<Json>,
    pub form: Option<IndexMap<String, Json>>,
    pub multipart: Option<IndexMap<String, Json>>,
    pub body: Option<String>,
    pub timeout: Option<Json>,
    pub ignore: Option<Json>,
    #[serde(default)]
    pub expect: RawExpect,
    #[serde(default)]
    pub capture: IndexMap<String, Json>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub status: Option<Json>,
    #[serde(default)]
    pub headers: IndexMap<String, Json>,
    pub max_duration: Option<Json>,
    #[serde(default)]
    pub json: IndexMap<String, Json>,
    pub body: Option<RawBodyExpect>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBodyExpect {
    pub json: Option<Json>,
    #[serde(default)]
    pub ignore: Vec<String>,
    pub equals: Option<String>,
    pub contains: Option<OneOrMany>,
    pub matches: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}
