//! Who may see what: the [`AccessPolicy`] extension point and the built-in [`Rules`].
//!
//! [`Rules`] is a list of [`Rule`]s, each with a [`Matcher`] (an API key, a subject, JWT claims,
//! or anonymous callers) and allow/deny globs for servers, tools, prompts and resources. Every
//! rule whose matcher fits the caller applies: an item is visible when at least one of them
//! allows it and none of them denies it explicitly. A caller no rule matches gets the default.

use globset::{Glob, GlobSet, GlobSetBuilder};
use toolgate::Identity;

use crate::attr;
use crate::config::ConfigError;

/// What kind of item is being decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// A tool (by its exposed name, `server__tool`).
    Tool,
    /// A prompt (by its exposed name).
    Prompt,
    /// A resource (by URI) or a resource template (by URI template).
    Resource,
}

/// One tool, prompt or resource, and the upstream server it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item<'a> {
    /// The kind.
    pub kind: ItemKind,
    /// The exposed name (tools, prompts) or the URI / URI template (resources).
    pub name: &'a str,
    /// The upstream server's configured name, when known.
    pub server: Option<&'a str>,
}

/// Decides whether `caller` may see and use `item`. Implemented by [`Rules`] and by closures
/// `Fn(Option<&Identity>, &Item<'_>) -> bool`.
pub trait AccessPolicy: Send + Sync + 'static {
    /// Whether the item is visible to (and callable by) `caller`; `None` is an unauthenticated
    /// caller (stdio, or no authentication layer).
    fn allows(&self, caller: Option<&Identity>, item: &Item<'_>) -> bool;
}

impl<F> AccessPolicy for F
where
    F: Fn(Option<&Identity>, &Item<'_>) -> bool + Send + Sync + 'static,
{
    fn allows(&self, caller: Option<&Identity>, item: &Item<'_>) -> bool {
        self(caller, item)
    }
}

/// Which callers a [`Rule`] is about; every criterion given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    key: Option<String>,
    subject: Option<String>,
    claims: Vec<(String, String)>,
    anonymous: bool,
}

impl Matcher {
    /// Callers that presented the API key named `name`.
    pub fn key(name: impl Into<String>) -> Self {
        Matcher {
            key: Some(name.into()),
            ..Default::default()
        }
    }
    /// Callers whose identity's subject is `subject` (JWT `sub`, or an API key's name).
    pub fn subject(subject: impl Into<String>) -> Self {
        Matcher {
            subject: Some(subject.into()),
            ..Default::default()
        }
    }
    /// Callers with the attribute `name` = `value` (a JWT claim copied with
    /// `claims_to_attributes`; list claims match any element).
    pub fn claim(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            claims: vec![(name.into(), value.into())],
            ..Default::default()
        }
    }
    /// Callers without an identity (stdio, or no authentication layer).
    pub fn anonymous() -> Self {
        Matcher {
            anonymous: true,
            ..Default::default()
        }
    }
    /// A matcher from all criteria at once (what a config file's `match:` gives).
    pub fn from_parts(
        key: Option<String>,
        subject: Option<String>,
        claims: Vec<(String, String)>,
        anonymous: bool,
    ) -> Self {
        Matcher {
            key,
            subject,
            claims,
            anonymous,
        }
    }
    /// Also requires the attribute `name` = `value`.
    #[must_use]
    pub fn and_claim(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.claims.push((name.into(), value.into()));
        self
    }

    /// Whether `caller` fits.
    pub fn matches(&self, caller: Option<&Identity>) -> bool {
        let Some(id) = caller else {
            return self.anonymous;
        };
        if self.anonymous {
            return false;
        }
        self.key
            .as_deref()
            .is_none_or(|k| attr::values(id, attr::KEY).any(|v| v == k))
            && self.subject.as_deref().is_none_or(|s| id.subject == s)
            && self
                .claims
                .iter()
                .all(|(name, value)| attr::values(id, name).any(|v| v == value))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let criteria = usize::from(self.key.is_some())
            + usize::from(self.subject.is_some())
            + self.claims.len();
        if self.anonymous && criteria > 0 {
            return Err(ConfigError::new(
                "match: anonymous cannot be combined with key, subject or claim",
            ));
        }
        if !self.anonymous && criteria == 0 {
            return Err(ConfigError::new(
                "match: name at least one of key, subject, claim or anonymous",
            ));
        }
        Ok(())
    }
}

/// Allow and deny globs for one kind of name. No allow list means "all".
#[derive(Debug, Clone, Default)]
struct Globs {
    allow: Option<(GlobSet, bool)>,
    deny: Option<GlobSet>,
}

impl Globs {
    fn compile(patterns: &[String], field: &str) -> Result<GlobSet, ConfigError> {
        let mut b = GlobSetBuilder::new();
        for (i, p) in patterns.iter().enumerate() {
            let glob = Glob::new(p).map_err(|e| {
                ConfigError::new(format!("{field}[{i}]: '{p}' is not a valid glob: {e}"))
            })?;
            b.add(glob);
        }
        b.build()
            .map_err(|e| ConfigError::new(format!("{field}: {e}")))
    }

    /// Whether this name is allowed (not considering deny). `None`: the name is unknown, which
    /// only an allow-everything list admits.
    fn admits(&self, name: Option<&str>) -> bool {
        match (&self.allow, name) {
            (None, _) => true,
            (Some((_, all)), None) => *all,
            (Some((set, all)), Some(n)) => *all || set.is_match(n),
        }
    }

    fn denies(&self, name: Option<&str>) -> bool {
        match (&self.deny, name) {
            (Some(set), Some(n)) => set.is_match(n),
            _ => false,
        }
    }

    fn permits(&self, name: Option<&str>) -> bool {
        self.admits(name) && !self.denies(name) && (name.is_some() || self.deny.is_none())
    }
}

/// One rule: which callers it is about and what it allows or denies them.
#[derive(Debug, Clone)]
pub struct Rule {
    matcher: Matcher,
    servers: Globs,
    tools: Globs,
    prompts: Globs,
    resources: Globs,
}

macro_rules! glob_setter {
    ($(#[$doc:meta])* $name:ident, $field:ident, allow) => {
        $(#[$doc])*
        pub fn $name<I, S>(mut self, globs: I) -> Result<Self, ConfigError>
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            let patterns: Vec<String> = globs.into_iter().map(Into::into).collect();
            let all = patterns.iter().any(|p| p == "*" || p == "**");
            self.$field.allow = Some((Globs::compile(&patterns, stringify!($name))?, all));
            Ok(self)
        }
    };
    ($(#[$doc:meta])* $name:ident, $field:ident, deny) => {
        $(#[$doc])*
        pub fn $name<I, S>(mut self, globs: I) -> Result<Self, ConfigError>
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            let patterns: Vec<String> = globs.into_iter().map(Into::into).collect();
            self.$field.deny = Some(Globs::compile(&patterns, stringify!($name))?);
            Ok(self)
        }
    };
}

impl Rule {
    /// A rule for the callers `matcher` selects that allows everything until restricted.
    pub fn new(matcher: Matcher) -> Result<Self, ConfigError> {
        matcher.validate()?;
        Ok(Rule {
            matcher,
            servers: Globs::default(),
            tools: Globs::default(),
            prompts: Globs::default(),
            resources: Globs::default(),
        })
    }
    /// A rule for the API key `name`.
    pub fn for_key(name: impl Into<String>) -> Self {
        Rule {
            matcher: Matcher::key(name),
            servers: Globs::default(),
            tools: Globs::default(),
            prompts: Globs::default(),
            resources: Globs::default(),
        }
    }

    glob_setter!(
        /// Only servers matching these globs (configured server names).
        allow_servers, servers, allow);
    glob_setter!(
        /// Never servers matching these globs.
        deny_servers, servers, deny);
    glob_setter!(
        /// Only tools whose exposed name (`server__tool`) matches these globs.
        allow_tools, tools, allow);
    glob_setter!(
        /// Never tools whose exposed name matches these globs.
        deny_tools, tools, deny);
    glob_setter!(
        /// Only prompts whose exposed name matches these globs.
        allow_prompts, prompts, allow);
    glob_setter!(
        /// Never prompts whose exposed name matches these globs.
        deny_prompts, prompts, deny);
    glob_setter!(
        /// Only resources whose URI (or template) matches these globs.
        allow_resources, resources, allow);
    glob_setter!(
        /// Never resources whose URI (or template) matches these globs.
        deny_resources, resources, deny);

    /// The matcher.
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    fn names(&self, kind: ItemKind) -> &Globs {
        match kind {
            ItemKind::Tool => &self.tools,
            ItemKind::Prompt => &self.prompts,
            ItemKind::Resource => &self.resources,
        }
    }

    fn permits(&self, item: &Item<'_>) -> bool {
        self.servers.permits(item.server) && self.names(item.kind).permits(Some(item.name))
    }

    fn forbids(&self, item: &Item<'_>) -> bool {
        self.servers.denies(item.server) || self.names(item.kind).denies(Some(item.name))
    }
}

/// Rules plus a default for callers no rule matches. See [`authz`](crate::authz).
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
    default_allow: bool,
}

impl Rules {
    /// No rules; callers no rule matches see nothing.
    pub fn deny_by_default() -> Self {
        Rules {
            rules: Vec::new(),
            default_allow: false,
        }
    }
    /// No rules; callers no rule matches see everything.
    pub fn allow_by_default() -> Self {
        Rules {
            rules: Vec::new(),
            default_allow: true,
        }
    }
    /// Adds a rule.
    #[must_use]
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }
    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

impl AccessPolicy for Rules {
    fn allows(&self, caller: Option<&Identity>, item: &Item<'_>) -> bool {
        let mut matched = false;
        let mut allowed = false;
        for rule in self.rules.iter().filter(|r| r.matcher.matches(caller)) {
            matched = true;
            if rule.forbids(item) {
                return false;
            }
            allowed |= rule.permits(item);
        }
        if matched { allowed } else { self.default_allow }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::ApiKeys;

    fn tool<'a>(name: &'a str, server: &'a str) -> Item<'a> {
        Item {
            kind: ItemKind::Tool,
            name,
            server: Some(server),
        }
    }

    fn jwt_user(groups: &[&str]) -> Identity {
        let mut attributes = vec![(attr::METHOD.to_string(), attr::METHOD_JWT.to_string())];
        attributes.extend(groups.iter().map(|g| ("groups".to_string(), g.to_string())));
        Identity {
            subject: "alice".into(),
            attributes,
        }
    }

    #[test]
    fn a_key_limited_to_one_server_sees_only_that_server() -> Result<(), ConfigError> {
        let rules = Rules::deny_by_default()
            .rule(Rule::for_key("team-a").allow_servers(["demo"])?)
            .rule(
                Rule::for_key("admin")
                    .allow_tools(["*"])?
                    .deny_tools(["*__crash"])?,
            );
        let a = ApiKeys::identity("team-a");
        assert!(rules.allows(Some(&a), &tool("demo__echo", "demo")));
        assert!(!rules.allows(Some(&a), &tool("other__echo", "other")));
        let admin = ApiKeys::identity("admin");
        assert!(rules.allows(Some(&admin), &tool("other__echo", "other")));
        assert!(!rules.allows(Some(&admin), &tool("demo__crash", "demo")));
        let stranger = ApiKeys::identity("stranger");
        assert!(!rules.allows(Some(&stranger), &tool("demo__echo", "demo")));
        assert!(!rules.allows(None, &tool("demo__echo", "demo")));
        Ok(())
    }

    #[test]
    fn an_explicit_deny_wins_over_another_rules_allow() -> Result<(), ConfigError> {
        let rules = Rules::deny_by_default()
            .rule(Rule::new(Matcher::claim("groups", "dev"))?.allow_servers(["*"])?)
            .rule(Rule::new(Matcher::claim("groups", "contractors"))?.deny_servers(["billing"])?);
        let dev = jwt_user(&["dev"]);
        let both = jwt_user(&["dev", "contractors"]);
        assert!(rules.allows(Some(&dev), &tool("billing__pay", "billing")));
        assert!(!rules.allows(Some(&both), &tool("billing__pay", "billing")));
        assert!(rules.allows(Some(&both), &tool("demo__echo", "demo")));
        Ok(())
    }

    #[test]
    fn items_of_unknown_servers_need_an_unrestricted_server_list() -> Result<(), ConfigError> {
        let unknown = Item {
            kind: ItemKind::Resource,
            name: "x://y",
            server: None,
        };
        let limited = Rules::deny_by_default().rule(Rule::for_key("k").allow_servers(["demo"])?);
        let open = Rules::deny_by_default().rule(Rule::for_key("k").allow_servers(["*"])?);
        let k = ApiKeys::identity("k");
        assert!(!limited.allows(Some(&k), &unknown));
        assert!(open.allows(Some(&k), &unknown));
        Ok(())
    }

    #[test]
    fn matchers_need_a_criterion_and_anonymous_stands_alone() {
        assert!(Rule::new(Matcher::default()).is_err());
        assert!(Rule::new(Matcher::anonymous().and_claim("a", "b")).is_err());
        assert!(Matcher::anonymous().matches(None));
        assert!(!Matcher::anonymous().matches(Some(&ApiKeys::identity("k"))));
        assert!(Matcher::subject("alice").matches(Some(&jwt_user(&[]))));
    }

    #[test]
    fn bad_globs_name_the_field_and_position() {
        let e = Rule::for_key("k")
            .allow_tools(["ok", "bad["])
            .expect_err("invalid glob");
        assert!(e.to_string().contains("allow_tools[1]"), "{e}");
    }
}
