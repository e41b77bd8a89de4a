//! From the file as written ([`File`]) to a [`Config`]: `${VAR}` expanded, every value checked,
//! and the rules that span keys (a server has `command` or `url`, not both; server names and
//! the separator; …) enforced. Every problem names its key path; the line is found from it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::document::{Document, KeyPath, from_value};
use super::env::{EnvLookup, expand};
use super::error::{ConfigErrorKind, Issue, Problem};
use super::extensions::{LayerSource, LayerSpec, ModelEntry, Origin};
use super::file::{self, AuthType, DylibLayer, File, Layer, Scalar, Transport, UseLayer};
use super::values::{
    any_string, check_env_name, check_header_name, check_server_name, header_value, non_empty,
    parse_host_entry, parse_listen, parse_mcp_path, parse_origin_entry, parse_separator, parse_url,
    url_looks_like_sse,
};
use super::{Config, ServerConfig, ServerSettings, SessionMode, UpstreamTransport};

/// Validates `file`, read from `doc`, looking variables up in `env`.
pub(crate) fn config(
    file: File,
    doc: &Arc<Document>,
    env: EnvLookup<'_>,
) -> Result<Config, Problem> {
    let mut reader = Reader {
        env,
        doc,
        warnings: Vec::new(),
    };
    let config = reader.file(file)?;
    for warning in reader.warnings {
        tracing::warn!("{warning}");
    }
    Ok(config)
}

pub(super) struct Reader<'a> {
    env: EnvLookup<'a>,
    doc: &'a Arc<Document>,
    pub(super) warnings: Vec<String>,
}

const STDIO_ONLY: &str = "it applies only to stdio servers (with `command`)";
const REMOTE_ONLY: &str = "it applies only to remote servers (with `url`)";

impl Reader<'_> {
    fn file(&mut self, file: File) -> Result<Config, Problem> {
        let top = KeyPath::default();
        let (form, servers) = match (file.mcp_servers, file.mcp_servers_claude) {
            (Some(_), Some(_)) => {
                return Err(self.conflict(
                    &top,
                    "mcp_servers",
                    "mcpServers",
                    "use one of the two forms (LiteLLM's mcp_servers or Claude Desktop's \
                     mcpServers), not both",
                ));
            }
            (Some(servers), None) => ("mcp_servers", servers),
            (None, Some(servers)) => ("mcpServers", servers),
            (None, None) => ("mcp_servers", IndexMap::new()),
        };
        let server = match file.server {
            Some(settings) => self.settings(settings, &top.key("server"))?,
            None => ServerSettings::default(),
        };
        let servers = self.servers(servers, &top.key(form), &server.separator)?;
        let layers = self.layers(file.layers, &top.key("layers"))?;
        let model_list = self.models(file.model_list, &top.key("model_list"))?;
        let plugin_dirs = self
            .list(file.plugin_dirs, &top.key("plugin_dirs"), any_string)?
            .unwrap_or_default()
            .into_iter()
            .map(PathBuf::from)
            .collect();
        let redis = self.redis(file.redis, &top.key("redis"))?;
        Ok(Config {
            servers,
            server,
            layers,
            model_list,
            plugin_dirs,
            redis,
        })
    }

    fn redis(
        &self,
        r: Option<file::Redis>,
        at: &KeyPath,
    ) -> Result<Option<super::RedisSettings>, Problem> {
        let Some(r) = r else {
            return Ok(None);
        };
        let url = self.string(&r.url, &at.key("url"), |url| {
            let (scheme, rest) = url.split_once("://").unwrap_or(("", ""));
            let authority = rest.split('/').next().unwrap_or_default();
            let host = authority.rsplit('@').next().unwrap_or_default();
            match scheme {
                "redis" | "rediss" if !host.is_empty() && !host.starts_with(':') => Ok(url),
                _ => Err(Issue::invalid(
                    "expected redis://[user:password@]HOST:PORT[/DB] (rediss:// for TLS)",
                )),
            }
        })?;
        let mut settings = super::RedisSettings::new(url);
        if let Some(prefix) = r.key_prefix {
            settings.key_prefix = self.string(&prefix, &at.key("key_prefix"), any_string)?;
        }
        if let Some(timeout) = r.timeout {
            let path = at.key("timeout");
            settings.timeout = (self.scalar(timeout, &path)?.positive())
                .map_err(|e| Problem::at(&path, Issue::invalid(e.to_string())))?;
        }
        if let Some(tls) = r.tls {
            let at = at.key("tls");
            if !settings.url.starts_with("rediss://") {
                return Err(Problem::at(
                    &at,
                    Issue::new(
                        ConfigErrorKind::Conflict,
                        "`tls` applies to a `rediss://` URL; write rediss:// or remove `tls`",
                    ),
                ));
            }
            let file = |v: Option<String>, key: &str| {
                self.optional(v, &at.key(key), non_empty)
                    .map(|p| p.map(PathBuf::from))
            };
            settings.ca_file = file(tls.ca_file, "ca_file")?;
            settings.client_cert = match (
                file(tls.cert_file, "cert_file")?,
                file(tls.key_file, "key_file")?,
            ) {
                (Some(cert), Some(key)) => Some((cert, key)),
                (None, None) => None,
                (Some(_), None) | (None, Some(_)) => {
                    return Err(Problem::at(
                        &at,
                        Issue::new(
                            ConfigErrorKind::MissingKey,
                            "a client certificate needs both `cert_file` and `key_file`",
                        ),
                    ));
                }
            };
        }
        Ok(Some(settings))
    }

    // -----------------------------------------------------------------------------------------
    // Values.

    /// A string: expanded, then checked by `check`.
    pub(super) fn string<T>(
        &self,
        value: &str,
        path: &KeyPath,
        check: fn(String) -> Result<T, Issue>,
    ) -> Result<T, Problem> {
        let at = |issue| Problem::at(path, issue);
        check(expand(value, self.env).map_err(at)?).map_err(at)
    }

    pub(super) fn optional<T>(
        &self,
        value: Option<String>,
        path: &KeyPath,
        check: fn(String) -> Result<T, Issue>,
    ) -> Result<Option<T>, Problem> {
        value.map(|v| self.string(&v, path, check)).transpose()
    }

    pub(super) fn list<T>(
        &self,
        values: Option<Vec<String>>,
        path: &KeyPath,
        check: fn(String) -> Result<T, Issue>,
    ) -> Result<Option<Vec<T>>, Problem> {
        values
            .map(|values| {
                (values.iter().enumerate())
                    .map(|(i, v)| self.string(v, &path.index(i), check))
                    .collect()
            })
            .transpose()
    }

    /// A [`Scalar`]: expanded, then read as `T`.
    pub(super) fn scalar<T: DeserializeOwned>(
        &self,
        value: Scalar<T>,
        path: &KeyPath,
    ) -> Result<T, Problem> {
        let mut raw = value.raw;
        self.expand_tree(&mut raw, path)?;
        from_value(raw).map_err(|p| p.under(path))
    }

    /// A choice such as `transport: http`: a [`Scalar`] matched ignoring case. Returns it
    /// with its spelling, for messages.
    pub(super) fn choice<T: DeserializeOwned>(
        &self,
        value: Option<Scalar<T>>,
        path: &KeyPath,
    ) -> Result<Option<(T, String)>, Problem> {
        let Some(mut value) = value else {
            return Ok(None);
        };
        self.expand_tree(&mut value.raw, path)?;
        let spelled = match &value.raw {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let Value::String(s) = &mut value.raw {
            s.make_ascii_lowercase();
        }
        let choice = from_value(value.raw).map_err(|p| p.under(path))?;
        Ok(Some((choice, spelled)))
    }

    /// Expands `${VAR}` in every string inside `value`.
    fn expand_tree(&self, value: &mut Value, path: &KeyPath) -> Result<(), Problem> {
        match value {
            Value::String(s) => {
                *s = expand(s, self.env).map_err(|issue| Problem::at(path, issue))?;
                Ok(())
            }
            Value::Array(items) => (items.iter_mut().enumerate())
                .try_for_each(|(i, v)| self.expand_tree(v, &path.index(i))),
            Value::Object(map) => self.expand_map(map, path),
            _ => Ok(()),
        }
    }

    fn expand_map(&self, map: &mut Map<String, Value>, path: &KeyPath) -> Result<(), Problem> {
        map.iter_mut()
            .try_for_each(|(k, v)| self.expand_tree(v, &path.key(k)))
    }

    /// `a` and `b` of the map at `map` may not both be given: the error is at the later one.
    pub(super) fn conflict(&self, map: &KeyPath, a: &str, b: &str, why: &str) -> Problem {
        let (at_a, at_b) = (
            self.doc.position(&map.key(a)),
            self.doc.position(&map.key(b)),
        );
        let (later, earlier, position) = if at_b >= at_a {
            (b, a, at_b)
        } else {
            (a, b, at_a)
        };
        let message = format!("`{later}` cannot be combined with `{earlier}`: {why}");
        Problem::at(
            &map.key(later),
            Issue::new(ConfigErrorKind::Conflict, message),
        )
        .found_at(position)
    }

    // -----------------------------------------------------------------------------------------
    // `server:`.

    fn settings(&self, s: file::Settings, at: &KeyPath) -> Result<ServerSettings, Problem> {
        let defaults = ServerSettings::default();
        let duration = |value: Option<Scalar<super::Duration>>, key: &str, default| {
            let path = at.key(key);
            match value {
                Some(value) => (self.scalar(value, &path)?.positive())
                    .map_err(|e| Problem::at(&path, Issue::invalid(e.to_string()))),
                None => Ok(default),
            }
        };
        let allowed_hosts =
            self.list(s.allowed_hosts, &at.key("allowed_hosts"), parse_host_entry)?;
        if allowed_hosts.as_ref().is_some_and(Vec::is_empty) {
            return Err(Problem::at(
                &at.key("allowed_hosts"),
                Issue::invalid(
                    "the list is empty, so every request would be rejected; list the host names \
                     clients use, or \"*\" to allow any host",
                ),
            ));
        }
        let max_body_bytes = match s.max_body_bytes {
            Some(size) => {
                let path = at.key("max_body_bytes");
                (self.scalar(size, &path)?.positive())
                    .map_err(|e| Problem::at(&path, Issue::invalid(e.to_string())))?
            }
            None => defaults.max_body_bytes,
        };
        Ok(ServerSettings {
            listen: (self.optional(s.listen, &at.key("listen"), parse_listen)?)
                .unwrap_or(defaults.listen),
            mcp_path: (self.optional(s.mcp_path, &at.key("mcp_path"), parse_mcp_path)?)
                .unwrap_or(defaults.mcp_path),
            separator: (self.optional(s.separator, &at.key("separator"), parse_separator)?)
                .unwrap_or(defaults.separator),
            allowed_hosts: allowed_hosts.unwrap_or(defaults.allowed_hosts),
            allowed_origins: (self.list(
                s.allowed_origins,
                &at.key("allowed_origins"),
                parse_origin_entry,
            )?)
            .unwrap_or(defaults.allowed_origins),
            max_body_bytes,
            session_idle_timeout: duration(
                s.session_idle_timeout,
                "session_idle_timeout",
                defaults.session_idle_timeout,
            )?,
            request_timeout: duration(
                s.request_timeout,
                "request_timeout",
                defaults.request_timeout,
            )?,
            keep_alive: duration(s.keep_alive, "keep_alive", defaults.keep_alive)?,
            startup_grace: duration(s.startup_grace, "startup_grace", defaults.startup_grace)?,
            allow_unauthenticated: s
                .allow_unauthenticated
                .unwrap_or(defaults.allow_unauthenticated),
            session_seal: self.optional(s.session_secret, &at.key("session_secret"), |secret| {
                crate::server::SessionSeal::new(&secret).map_err(|e| Issue::invalid(e.to_string()))
            })?,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Servers.

    fn servers(
        &mut self,
        servers: file::Servers,
        at: &KeyPath,
        separator: &str,
    ) -> Result<IndexMap<String, ServerConfig>, Problem> {
        let mut out = IndexMap::new();
        // Non-empty prefixes in use, and by which server.
        let mut prefixes: HashMap<String, String> = HashMap::new();
        for (name, entry) in servers {
            let path = at.key(&name);
            check_server_name(&name).map_err(|issue| Problem::in_map(path.clone(), issue))?;
            let server = match entry {
                Some(server) => self.server(server, &path)?,
                None => return Err(Problem::at(&path, neither_command_nor_url())),
            };
            // The server's name is its prefix unless `prefix:` says otherwise.
            let (prefix, prefix_path, what) = match &server.prefix {
                Some(p) => (p.clone(), path.key("prefix"), "prefix"),
                None => (name.clone(), path.clone(), "server name"),
            };
            if !prefix.is_empty() {
                if server.prefix.is_some() {
                    check_server_name(&prefix).map_err(|issue| Problem::at(&prefix_path, issue))?;
                }
                if format!("{prefix}{separator}").find(separator) != Some(prefix.len()) {
                    return Err(Problem::at(
                        &prefix_path,
                        Issue::new(
                            ConfigErrorKind::Conflict,
                            format!(
                                "the {what} '{prefix}' contains or runs into the tool-name \
                                 separator '{separator}' (server.separator), so its tool names \
                                 would be ambiguous; choose another {what} or separator"
                            ),
                        ),
                    ));
                }
                if let Some(other) = prefixes.insert(prefix.clone(), name.clone()) {
                    return Err(Problem::at(
                        &prefix_path,
                        Issue::new(
                            ConfigErrorKind::Conflict,
                            format!(
                                "the prefix '{prefix}' is already that of server '{other}': their \
                                 tool names would collide; give one a `prefix:` of its own"
                            ),
                        ),
                    ));
                }
            }
            out.insert(name, server);
        }
        Ok(out)
    }

    fn server(&mut self, s: file::Server, at: &KeyPath) -> Result<ServerConfig, Problem> {
        use ConfigErrorKind::{Conflict, MissingKey};
        let conflicts = [
            (
                ("command", s.command.is_some()),
                ("url", s.url.is_some()),
                "a server either runs a local `command` (stdio) or connects to a remote `url`",
            ),
            (
                ("transport", s.transport.is_some()),
                ("type", s.kind.is_some()),
                "both name the transport; keep one",
            ),
            (
                ("url", s.url.is_some()),
                ("args", s.args.is_some()),
                STDIO_ONLY,
            ),
            (
                ("url", s.url.is_some()),
                ("env", s.env.is_some()),
                STDIO_ONLY,
            ),
            (
                ("url", s.url.is_some()),
                ("cwd", s.cwd.is_some()),
                STDIO_ONLY,
            ),
            (
                ("command", s.command.is_some()),
                ("headers", s.headers.is_some()),
                REMOTE_ONLY,
            ),
            (
                ("command", s.command.is_some()),
                ("static_headers", s.static_headers.is_some()),
                REMOTE_ONLY,
            ),
            (
                ("command", s.command.is_some()),
                ("authentication_token", s.authentication_token.is_some()),
                REMOTE_ONLY,
            ),
            (
                ("command", s.command.is_some()),
                ("tls", s.tls.is_some()),
                REMOTE_ONLY,
            ),
            (
                ("command", s.command.is_some()),
                ("oauth", s.oauth.is_some()),
                REMOTE_ONLY,
            ),
            (
                ("command", s.command.is_some()),
                ("forward_authorization", s.forward_authorization.is_some()),
                REMOTE_ONLY,
            ),
        ];
        if let Some(((a, _), (b, _), why)) = conflicts.iter().find(|(a, b, _)| a.1 && b.1) {
            return Err(self.conflict(at, a, b, why));
        }
        let key = |k: &str| at.key(k);
        let command = self.optional(s.command, &key("command"), non_empty)?;
        let args = self.list(s.args, &key("args"), any_string)?;
        let env = match s.env {
            Some(env) => Some(self.env_vars(env, &key("env"))?),
            None => None,
        };
        let cwd = self.optional(s.cwd, &key("cwd"), non_empty)?;
        let (url, more_urls) = match s.url {
            None => (None, Vec::new()),
            Some(file::Urls::One(url)) => {
                (Some(self.string(&url, &key("url"), parse_url)?), Vec::new())
            }
            Some(file::Urls::Many(urls)) => {
                let mut urls = (self.list(Some(urls), &key("url"), parse_url)?).unwrap_or_default();
                if urls.is_empty() {
                    return Err(Problem::at(
                        &key("url"),
                        Issue::invalid("the list of URLs is empty; give at least one"),
                    ));
                }
                if urls.len() > crate::upstream::MAX_REPLICAS {
                    return Err(Problem::at(
                        &key("url"),
                        Issue::invalid(format!(
                            "{} URLs; a server has at most {} replicas",
                            urls.len(),
                            crate::upstream::MAX_REPLICAS
                        )),
                    ));
                }
                let first = urls.remove(0);
                (Some(first), urls)
            }
        };
        let transport = match (s.transport, s.kind) {
            (Some(t), _) => self
                .choice(Some(t), &key("transport"))?
                .map(|t| (t, "transport")),
            (None, kind) => self.choice(kind, &key("type"))?.map(|t| (t, "type")),
        };
        let transport = transport.map(|((kind, spelled), key)| Declared { kind, spelled, key });
        let headers = self.headers(s.headers, &key("headers"))?;
        let static_headers = self.headers(s.static_headers, &key("static_headers"))?;
        if (self.list(s.extra_headers, &key("extra_headers"), any_string)?).is_some() {
            self.warnings.push(format!(
                "{at}.extra_headers is ignored: toolgate does not forward client headers to \
                 upstream servers"
            ));
        }
        let auth_type = self
            .choice::<AuthType>(s.auth_type, &key("auth_type"))?
            .map(|(auth, _)| auth)
            .filter(|auth| *auth != AuthType::None);
        let token = self.optional(s.authentication_token, &key("authentication_token"), |t| {
            header_value(non_empty(t)?)
        })?;
        let description = self.optional(s.description, &key("description"), any_string)?;
        let allowed_tools = self.list(s.allowed_tools, &key("allowed_tools"), non_empty)?;
        let disallowed_tools =
            self.list(s.disallowed_tools, &key("disallowed_tools"), non_empty)?;
        let session_mode = match self.choice(s.session_mode, &key("session_mode"))? {
            Some((file::SessionMode::Shared, _)) | None => SessionMode::Shared,
            Some(_) => SessionMode::PerSession,
        };
        let max_sessions = match s.max_sessions {
            None => crate::upstream::DEFAULT_MAX_SESSIONS,
            Some(_) if session_mode == SessionMode::Shared => {
                return Err(Problem::at(
                    &key("max_sessions"),
                    Issue::new(
                        Conflict,
                        "`max_sessions` applies to `session_mode: per_session`; add that, or \
                         remove `max_sessions`",
                    ),
                ));
            }
            Some(n) => match usize::try_from(self.scalar(n, &key("max_sessions"))?) {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(Problem::at(
                        &key("max_sessions"),
                        Issue::invalid("max_sessions must be at least 1"),
                    ));
                }
            },
        };
        let replica_count = self.replica_count(s.replicas, &more_urls, session_mode, at)?;
        let outlier_detection = self.outlier_detection(
            s.outlier_detection,
            replica_count > 1 || !more_urls.is_empty(),
            at,
        )?;
        let layers = self.layers(s.layers, &key("layers"))?;
        let tls = self.tls(s.tls, at)?;
        let prefix = self.optional(s.prefix, &key("prefix"), any_string)?;
        let auth = self.upstream_auth(s.oauth, s.forward_authorization, at)?;

        let fail = |issue: Issue| Problem::at(at, issue);
        let transport = if let Some(command) = command {
            if let Some(declared) = transport.as_ref().filter(|t| t.kind != Transport::Stdio) {
                return Err(fail(
                    Issue::new(
                        Conflict,
                        format!(
                            "`command` starts a local stdio server, but `{key}` is '{spelled}'; \
                             remove `{key}`, or replace `command` with `url` for a remote server",
                            key = declared.key,
                            spelled = declared.spelled
                        ),
                    )
                    .at_key(declared.key),
                ));
            }
            if let Some(auth) = auth_type {
                return Err(fail(
                    Issue::new(
                        Conflict,
                        format!(
                            "`auth_type: {}` applies only to remote servers (with `url`), but \
                             this server runs `command`",
                            auth_name(auth)
                        ),
                    )
                    .at_key("auth_type"),
                ));
            }
            UpstreamTransport::Stdio {
                command,
                args: args.unwrap_or_default(),
                env: env.unwrap_or_default(),
                cwd: cwd.map(PathBuf::from),
            }
        } else if let Some(url) = url {
            let sse = match &transport {
                Some(declared) if declared.kind == Transport::Stdio => {
                    return Err(fail(
                        Issue::new(
                            Conflict,
                            format!(
                                "`{key}: {spelled}` needs `command` (the program to run), but \
                                 this server has a `url`; remove `{key}` or set it to http or sse",
                                key = declared.key,
                                spelled = declared.spelled
                            ),
                        )
                        .at_key(declared.key),
                    ));
                }
                Some(declared) => declared.kind == Transport::Sse,
                None => url_looks_like_sse(&url),
            };
            let headers = merge_headers(
                headers.unwrap_or_default(),
                static_headers.unwrap_or_default(),
                auth_type,
                token,
            )
            .map_err(fail)?;
            if auth.oauth.is_some()
                && headers
                    .keys()
                    .any(|h| h.eq_ignore_ascii_case("authorization"))
            {
                return Err(Problem::at(
                    &key("oauth"),
                    Issue::new(
                        Conflict,
                        "`oauth` sets the Authorization header, and so do `headers`/`auth_type`; \
                         keep one",
                    ),
                ));
            }
            if sse {
                UpstreamTransport::Sse { url, headers }
            } else {
                UpstreamTransport::StreamableHttp { url, headers }
            }
        } else {
            return Err(fail(match &transport {
                Some(declared) if declared.kind == Transport::Stdio => Issue::new(
                    MissingKey,
                    format!(
                        "`{}: {}` needs `command` (the program to run)",
                        declared.key, declared.spelled
                    ),
                ),
                Some(declared) => Issue::new(
                    MissingKey,
                    format!(
                        "`{}: {}` needs `url` (the address of the remote server)",
                        declared.key, declared.spelled
                    ),
                ),
                None => neither_command_nor_url(),
            }));
        };
        let replicas = if more_urls.is_empty() {
            (1..replica_count).map(|_| transport.clone()).collect()
        } else {
            more_urls
                .into_iter()
                .map(|url| transport.at_url(url))
                .collect()
        };
        Ok(ServerConfig {
            transport,
            session_mode,
            description,
            allowed_tools,
            disallowed_tools: disallowed_tools.unwrap_or_default(),
            validate_arguments: s.validate_arguments.unwrap_or(true),
            layers,
            tls,
            auth,
            prefix,
            max_sessions,
            replicas,
            outlier_detection,
        })
    }

    /// `replicas: N`: 1 to [`MAX_REPLICAS`](crate::upstream::MAX_REPLICAS), not beside a list
    /// of URLs nor with `session_mode: per_session`.
    fn replica_count(
        &self,
        replicas: Option<Scalar<u64>>,
        more_urls: &[String],
        session_mode: SessionMode,
        at: &KeyPath,
    ) -> Result<usize, Problem> {
        let several = !more_urls.is_empty();
        let path = at.key("replicas");
        let count = match replicas {
            None => 1,
            Some(_) if several => {
                return Err(Problem::at(
                    &path,
                    Issue::new(
                        ConfigErrorKind::Conflict,
                        "`url` lists the replicas already; remove `replicas`, or give one `url`",
                    ),
                ));
            }
            Some(n) => match usize::try_from(self.scalar(n, &path)?) {
                Ok(n) if (1..=crate::upstream::MAX_REPLICAS).contains(&n) => n,
                _ => {
                    return Err(Problem::at(
                        &path,
                        Issue::invalid(format!(
                            "replicas must be from 1 to {}",
                            crate::upstream::MAX_REPLICAS
                        )),
                    ));
                }
            },
        };
        if (count > 1 || several) && session_mode == SessionMode::PerSession {
            return Err(Problem::at(
                &at.key("session_mode"),
                Issue::new(
                    ConfigErrorKind::Conflict,
                    "`session_mode: per_session` gives each client session a connection of its own, which replicas cannot balance; use `session_mode: shared` with replicas, or one server",
                ),
            ));
        }
        Ok(count)
    }

    fn outlier_detection(
        &self,
        o: Option<file::OutlierDetection>,
        replicated: bool,
        at: &KeyPath,
    ) -> Result<crate::upstream::OutlierDetection, Problem> {
        let defaults = crate::upstream::OutlierDetection::default();
        let Some(o) = o else {
            return Ok(defaults);
        };
        let at = at.key("outlier_detection");
        if !replicated {
            return Err(Problem::at(
                &at,
                Issue::new(
                    ConfigErrorKind::Conflict,
                    "`outlier_detection` applies to a server with replicas (`replicas: N` or a list of URLs in `url`); add those, or remove it",
                ),
            ));
        }
        let duration = |value: Option<Scalar<super::Duration>>, key: &str, default| {
            let path = at.key(key);
            match value {
                Some(value) => (self.scalar(value, &path)?.positive())
                    .map_err(|e| Problem::at(&path, Issue::invalid(e.to_string()))),
                None => Ok(default),
            }
        };
        let base = duration(o.base_ejection, "base_ejection", defaults.base_ejection)?;
        let max = duration(o.max_ejection, "max_ejection", defaults.max_ejection)?;
        if max < base {
            return Err(Problem::at(
                &at.key("max_ejection"),
                Issue::invalid("max_ejection is shorter than base_ejection"),
            ));
        }
        let failures = match o.consecutive_failures {
            None => defaults.consecutive_failures,
            Some(n) => {
                let path = at.key("consecutive_failures");
                match u32::try_from(self.scalar(n, &path)?) {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        return Err(Problem::at(
                            &path,
                            Issue::invalid("consecutive_failures must be at least 1"),
                        ));
                    }
                }
            }
        };
        Ok(defaults.consecutive_failures(failures).ejection(base, max))
    }

    fn env_vars(
        &self,
        env: BTreeMap<String, String>,
        at: &KeyPath,
    ) -> Result<BTreeMap<String, String>, Problem> {
        env.into_iter()
            .map(|(name, value)| {
                let path = at.key(&name);
                check_env_name(&name).map_err(|issue| Problem::in_map(path.clone(), issue))?;
                Ok((name, self.string(&value, &path, any_string)?))
            })
            .collect()
    }

    /// Header names checked, values expanded and checked; names are case-insensitive.
    fn headers(
        &self,
        headers: Option<IndexMap<String, String>>,
        at: &KeyPath,
    ) -> Result<Option<BTreeMap<String, String>>, Problem> {
        let Some(headers) = headers else {
            return Ok(None);
        };
        let mut out = BTreeMap::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        for (name, value) in headers {
            let path = at.key(&name);
            check_header_name(&name).map_err(|issue| Problem::in_map(path.clone(), issue))?;
            if let Some(previous) = seen.insert(name.to_ascii_lowercase(), name.clone()) {
                return Err(Problem::in_map(
                    path,
                    Issue::new(
                        ConfigErrorKind::DuplicateKey,
                        format!(
                            "duplicate header '{name}' ('{previous}' already appears, and names \
                             are case-insensitive)"
                        ),
                    ),
                ));
            }
            let value = self.string(&value, &path, header_value)?;
            out.insert(name, value);
        }
        Ok(Some(out))
    }

    // -----------------------------------------------------------------------------------------
    // `layers:`, `model_list:`.

    /// A `layers:` list (top-level or a server's) at `at`.
    fn layers(&self, layers: Option<Vec<Layer>>, at: &KeyPath) -> Result<Vec<LayerSpec>, Problem> {
        (layers.unwrap_or_default().into_iter().enumerate())
            .map(|(i, Layer(mut entry))| {
                let path = at.index(i);
                self.expand_map(&mut entry, &path)?;
                match (entry.contains_key("use"), entry.contains_key("dylib")) {
                    (true, true) => Err(self.conflict(
                        &path,
                        "use",
                        "dylib",
                        "an entry is either a built-in layer or a native plugin",
                    )),
                    (false, false) => Err(Problem::at(
                        &path,
                        Issue::new(
                            ConfigErrorKind::MissingKey,
                            "needs `use: NAME` (a built-in layer) or `dylib: PATH` (a native \
                             plugin)",
                        ),
                    )),
                    (true, false) => {
                        let entry: UseLayer =
                            from_value(Value::Object(entry)).map_err(|p| p.under(&path))?;
                        let origin = Origin::new(self.doc, path);
                        let source = LayerSource::Builtin(entry.name);
                        Ok(LayerSpec::at(source, Value::Object(entry.settings), origin))
                    }
                    (false, true) => {
                        let entry: DylibLayer =
                            from_value(Value::Object(entry)).map_err(|p| p.under(&path))?;
                        let sha256 = entry.sha256.map(|hex| {
                            if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                                Ok(hex.to_ascii_lowercase())
                            } else {
                                Err(Problem::at(
                                    &path.key("sha256"),
                                    Issue::invalid(format!(
                                        "expected 64 hex digits (the file's SHA-256), found '{hex}'"
                                    )),
                                ))
                            }
                        });
                        let source = LayerSource::Dylib {
                            path: PathBuf::from(entry.dylib),
                            sha256: sha256.transpose()?,
                        };
                        let config = (entry.config)
                            .filter(|c| !c.is_null())
                            .unwrap_or_else(|| Value::Object(Map::new()));
                        Ok(LayerSpec::at(
                            source,
                            config,
                            Origin::new(self.doc, path.key("config")),
                        ))
                    }
                }
            })
            .collect()
    }

    fn models(
        &self,
        models: Option<Vec<file::Model>>,
        at: &KeyPath,
    ) -> Result<Vec<ModelEntry>, Problem> {
        let mut out: Vec<ModelEntry> = Vec::new();
        for (i, model) in models.unwrap_or_default().into_iter().enumerate() {
            let path = at.index(i);
            let params = path.key("litellm_params");
            let model_name = self.string(&model.model_name, &path.key("model_name"), non_empty)?;
            if let Some(j) = out.iter().position(|m| m.model_name == model_name) {
                return Err(Problem::at(
                    &path.key("model_name"),
                    Issue::new(
                        ConfigErrorKind::DuplicateKey,
                        format!("the model name '{model_name}' is already used by {at}[{j}]"),
                    ),
                ));
            }
            let p = model.litellm_params;
            let mut extra = p.extra;
            self.expand_map(&mut extra, &params)?;
            out.push(ModelEntry {
                model_name,
                model: self.string(&p.model, &params.key("model"), non_empty)?,
                api_base: self.optional(p.api_base, &params.key("api_base"), any_string)?,
                api_key: self.optional(p.api_key, &params.key("api_key"), any_string)?,
                extra,
            });
        }
        Ok(out)
    }
}

/// A transport as written: which one, its spelling, and the key it was given under.
struct Declared {
    kind: Transport,
    spelled: String,
    key: &'static str,
}

fn neither_command_nor_url() -> Issue {
    Issue::new(
        ConfigErrorKind::MissingKey,
        "the server has neither `command` (to run a local stdio server) nor `url` (to connect \
         to a remote server); set one of them",
    )
}

fn auth_name(auth: AuthType) -> &'static str {
    match auth {
        AuthType::None => "none",
        AuthType::ApiKey => "api_key",
        AuthType::BearerToken => "bearer_token",
        AuthType::Basic => "basic",
        AuthType::Authorization => "authorization",
    }
}

/// The header that carries `token` for `auth`, if any.
fn auth_header(auth: AuthType, token: &str) -> Option<(&'static str, String)> {
    match auth {
        AuthType::None => None,
        AuthType::ApiKey => Some(("X-API-Key", token.to_owned())),
        AuthType::BearerToken => Some(("Authorization", format!("Bearer {token}"))),
        AuthType::Basic => Some(("Authorization", format!("Basic {token}"))),
        AuthType::Authorization => Some(("Authorization", token.to_owned())),
    }
}

/// Merges `headers`, `static_headers` and the authentication header, rejecting a header
/// (case-insensitively) given by more than one of them.
fn merge_headers(
    headers: BTreeMap<String, String>,
    static_headers: BTreeMap<String, String>,
    auth_type: Option<AuthType>,
    token: Option<String>,
) -> Result<BTreeMap<String, String>, Issue> {
    use ConfigErrorKind::{Conflict, MissingKey};
    let auth = match (auth_type, token) {
        (Some(auth), Some(token)) => auth_header(auth, &token).map(|(name, value)| {
            let source = format!("auth_type: {}", auth_name(auth));
            (name.to_owned(), value, source, "auth_type")
        }),
        (Some(auth), None) => {
            let message = format!(
                "`auth_type: {}` needs `authentication_token` (the credential to send)",
                auth_name(auth)
            );
            return Err(Issue::new(MissingKey, message).at_key("auth_type"));
        }
        (None, Some(_)) => {
            let message = "`authentication_token` needs `auth_type` (bearer_token, api_key, \
                           basic or authorization) to say how to send it";
            return Err(Issue::new(MissingKey, message).at_key("authentication_token"));
        }
        (None, None) => None,
    };
    let headers = headers
        .into_iter()
        .map(|(k, v)| (k, v, "headers".to_owned(), "headers"));
    let statics = static_headers
        .into_iter()
        .map(|(k, v)| (k, v, "static_headers".to_owned(), "static_headers"));
    let mut merged = BTreeMap::new();
    let mut sources: HashMap<String, String> = HashMap::new();
    for (name, value, source, key) in headers.chain(statics).chain(auth) {
        let lower = name.to_ascii_lowercase();
        if let Some(previous) = sources.get(&lower) {
            let message = format!(
                "the header '{name}' is set both by `{previous}` and by `{source}`; keep one"
            );
            return Err(Issue::new(Conflict, message).at_key(key));
        }
        sources.insert(lower, source);
        merged.insert(name, value);
    }
    Ok(merged)
}
