//! The models of `model_list` (LiteLLM's form) as chat endpoints to forward to.
//!
//! ```yaml
//! model_list:
//!   - model_name: gpt-4o                  # what clients ask for
//!     litellm_params:
//!       model: openai/gpt-4o              # provider/name: `gpt-4o` is sent upstream
//!       api_base: https://api.openai.com/v1   # optional for openai/: this is the default
//!       api_key: os.environ/OPENAI_API_KEY    # sent as Authorization: Bearer …
//!       temperature: 0.2                  # request defaults, used when the request has none
//!       timeout: 120                      # seconds for the upstream answer (default 600)
//! ```
//!
//! The provider prefix of `model` is removed for OpenAI-compatible providers (`openai/`,
//! `hosted_vllm/`, `litellm_proxy/`, …); a model without a known prefix is sent as written.
//! Every provider but `openai/` needs an `api_base`. Requests go to
//! `{api_base}/chat/completions` (an `api_base` that already ends in `/chat/completions` is
//! used as it is).

use std::time::Duration;

use indexmap::IndexMap;
use serde_json::{Map, Value};
use toolgate::config::ModelEntry;

use crate::error::{Error, ErrorKind};

/// Where an `openai/` model goes without an `api_base`.
pub const OPENAI_API_BASE: &str = "https://api.openai.com/v1";

/// How long an upstream model may take to answer (or, streaming, between two chunks) unless
/// `litellm_params.timeout` says otherwise.
pub const DEFAULT_MODEL_TIMEOUT: Duration = Duration::from_secs(600);

/// Provider prefixes whose models speak OpenAI's chat completions API.
const OPENAI_COMPATIBLE: &[&str] = &[
    "openai",
    "custom_openai",
    "openai_like",
    "hosted_vllm",
    "litellm_proxy",
    "lm_studio",
    "ollama_chat",
    "openrouter",
    "groq",
    "together_ai",
    "deepseek",
    "mistral",
    "xai",
    "fireworks_ai",
    "deepinfra",
    "perplexity",
];

/// Request parameters `litellm_params` may give defaults for (others are LiteLLM's own
/// settings and are not sent upstream).
const REQUEST_DEFAULTS: &[&str] = &[
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "stop",
    "n",
    "logit_bias",
    "user",
    "response_format",
    "reasoning_effort",
    "parallel_tool_calls",
    "service_tier",
];

/// One model clients can ask for.
#[derive(Clone)]
pub struct Model {
    /// The name clients use (`model_name`).
    pub name: String,
    /// The name sent upstream (`litellm_params.model` without its provider prefix).
    pub upstream_model: String,
    /// `{api_base}/chat/completions`.
    pub url: http::Uri,
    /// Sent as `Authorization: Bearer …`.
    pub api_key: Option<String>,
    /// Request defaults from `litellm_params`.
    pub defaults: Map<String, Value>,
    /// How long the upstream may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .field("upstream_model", &self.upstream_model)
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("defaults", &self.defaults)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Model {
    /// The model a `model_list` entry describes.
    pub fn from_entry(entry: &ModelEntry) -> Result<Model, Error> {
        let fail = |why: String| {
            Error::new(
                ErrorKind::Model,
                format!("model_list: model '{}': {why}", entry.model_name),
            )
        };
        let (provider, name) = match entry.model.split_once('/') {
            Some((p, n)) if OPENAI_COMPATIBLE.contains(&p) => (Some(p), n),
            _ => (None, entry.model.as_str()),
        };
        if name.is_empty() {
            return Err(fail(format!(
                "litellm_params.model '{}' names no model",
                entry.model
            )));
        }
        let base = match (&entry.api_base, provider) {
            (Some(b), _) if !b.trim().is_empty() => b.trim().to_string(),
            (_, Some("openai")) => OPENAI_API_BASE.to_string(),
            _ => {
                return Err(fail(format!(
                    "litellm_params.api_base is needed for '{}' (only openai/ models have a default)",
                    entry.model
                )));
            }
        };
        let base = base.trim_end_matches('/');
        let url = if base.ends_with("/chat/completions") {
            base.to_string()
        } else {
            format!("{base}/chat/completions")
        };
        let url: http::Uri = url.parse().map_err(|e| {
            fail(format!(
                "litellm_params.api_base '{base}' is not a URL: {e}"
            ))
        })?;
        match url.scheme_str() {
            Some("http") | Some("https") if url.host().is_some() => {}
            _ => {
                return Err(fail(format!(
                    "litellm_params.api_base '{base}' must be an http:// or https:// URL"
                )));
            }
        }
        let mut defaults = Map::new();
        let mut timeout = DEFAULT_MODEL_TIMEOUT;
        for (key, value) in &entry.extra {
            if REQUEST_DEFAULTS.contains(&key.as_str()) {
                defaults.insert(key.clone(), value.clone());
            } else if key == "timeout" {
                timeout = seconds(value).ok_or_else(|| {
                    fail(format!(
                        "litellm_params.timeout must be a number of seconds, found {value}"
                    ))
                })?;
            } else {
                tracing::debug!(model = %entry.model_name, key, "litellm_params key not used by toolgate");
            }
        }
        Ok(Model {
            name: entry.model_name.clone(),
            upstream_model: name.to_string(),
            url,
            api_key: entry.api_key.clone().filter(|k| !k.is_empty()),
            defaults,
            timeout,
        })
    }
}

fn seconds(value: &Value) -> Option<Duration> {
    let s = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (s.is_finite() && s > 0.0).then(|| Duration::from_secs_f64(s))
}

/// The models by name, in config order, plus the entries that could not be used.
#[derive(Debug, Clone, Default)]
pub struct Models {
    models: IndexMap<String, Model>,
    broken: IndexMap<String, String>,
}

impl Models {
    /// Every entry, or the first that cannot be served.
    pub fn from_config(entries: &[ModelEntry]) -> Result<Models, Error> {
        let mut out = Models::default();
        for entry in entries {
            let model = Model::from_entry(entry)?;
            out.models.insert(model.name.clone(), model);
        }
        Ok(out)
    }

    /// Every entry that can be served; the others are logged and remembered, so a request for
    /// one of them is told what is wrong with its config.
    pub fn from_config_lenient(entries: &[ModelEntry]) -> Models {
        let mut out = Models::default();
        for entry in entries {
            match Model::from_entry(entry) {
                Ok(m) => {
                    out.models.insert(m.name.clone(), m);
                }
                Err(e) => {
                    tracing::error!(error = %e, "model left out of the chat endpoint");
                    out.broken
                        .insert(entry.model_name.clone(), e.message().to_string());
                }
            }
        }
        out
    }

    /// The model clients call `name`.
    pub fn get(&self, name: &str) -> Option<&Model> {
        self.models.get(name)
    }

    /// Why the entry `name` could not be used, if it could not.
    pub fn broken(&self, name: &str) -> Option<&str> {
        self.broken.get(name).map(String::as_str)
    }

    /// The servable models, in config order.
    pub fn iter(&self) -> impl Iterator<Item = &Model> {
        self.models.values()
    }

    /// The names clients can use.
    pub fn names(&self) -> Vec<&str> {
        self.models.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(model: &str, api_base: Option<&str>, extra: Value) -> ModelEntry {
        ModelEntry {
            model_name: "m".into(),
            model: model.into(),
            api_base: api_base.map(str::to_string),
            api_key: Some("k".into()),
            extra: extra.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn openai_prefix_is_removed_and_the_default_base_used() {
        let m = Model::from_entry(&entry("openai/gpt-4o", None, json!({}))).expect("ok");
        assert_eq!(m.upstream_model, "gpt-4o");
        assert_eq!(m.url, "https://api.openai.com/v1/chat/completions");
        assert_eq!(m.timeout, DEFAULT_MODEL_TIMEOUT);
    }

    #[test]
    fn api_base_and_defaults_are_used() {
        let m = Model::from_entry(&entry(
            "hosted_vllm/meta-llama/Llama-3-8B",
            Some("http://127.0.0.1:8000/v1/"),
            json!({"temperature": 0.1, "rpm": 10, "timeout": 30}),
        ))
        .expect("ok");
        assert_eq!(m.upstream_model, "meta-llama/Llama-3-8B");
        assert_eq!(m.url, "http://127.0.0.1:8000/v1/chat/completions");
        assert_eq!(
            m.defaults,
            json!({"temperature": 0.1})
                .as_object()
                .cloned()
                .unwrap_or_default()
        );
        assert_eq!(m.timeout, Duration::from_secs(30));
    }

    #[test]
    fn unknown_providers_need_an_api_base_and_keep_their_name() {
        let e =
            Model::from_entry(&entry("anthropic/claude", None, json!({}))).expect_err("no base");
        assert_eq!(e.kind(), ErrorKind::Model);
        assert!(
            e.message().contains("api_base is needed"),
            "{}",
            e.message()
        );
        let m = Model::from_entry(&entry("my-model", Some("http://127.0.0.1:1"), json!({})))
            .expect("ok");
        assert_eq!(m.upstream_model, "my-model");
    }

    #[test]
    fn bad_urls_and_timeouts_are_errors() {
        for (base, extra) in [
            ("ftp://x/v1", json!({})),
            ("not a url", json!({})),
            ("http://127.0.0.1:1/v1", json!({"timeout": "soon"})),
        ] {
            let e = Model::from_entry(&entry("openai/x", Some(base), extra)).expect_err("bad");
            assert!(
                e.message().starts_with("model_list: model 'm': "),
                "{}",
                e.message()
            );
        }
    }
}
