//! Input schemas: an MCP tool's `inputSchema` → OpenAI function `parameters`.
//!
//! What is done, in order:
//! 1. Local references (`#/$defs/X`, `#/definitions/X`, any `#/…` JSON pointer) are inlined, so
//!    nothing dangles when the definitions are dropped. A reference that leads back into itself
//!    is an [`ErrorKind::SchemaCycle`] naming the chain, remote references and anchors are
//!    [`ErrorKind::UnresolvedRef`], and inlining stops with [`ErrorKind::SchemaTooLarge`] past
//!    [`MAX_NODES`] nodes or [`MAX_DEPTH`] levels (a chain of diamonds would otherwise explode).
//! 2. Keywords OpenAI rejects or cannot use are dropped: `$schema`, `$id`, `$comment`,
//!    `$anchor`, `$dynamicAnchor`, `$dynamicRef`, `$vocabulary`, and the inlined `$defs` /
//!    `definitions`.
//! 3. The root becomes an object schema: `type: "object"` and `properties` are ensured; a root
//!    `allOf` / `anyOf` / `oneOf` of object schemas is merged into one object (OpenAI takes no
//!    combinator at the root); a root of another type is [`ErrorKind::InvalidSchema`].
//! 4. Strict mode (optional) rewrites the result into OpenAI's Structured Outputs subset, see
//!    [`make_strict`].

use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind};

/// A JSON object (rmcp's `JsonObject`).
pub type JsonObject = Map<String, Value>;

/// Most schema nodes produced while inlining references.
pub const MAX_NODES: usize = 20_000;
/// Deepest nesting of schemas while inlining references.
pub const MAX_DEPTH: usize = 64;
/// Deepest object nesting OpenAI accepts in strict mode.
pub const MAX_STRICT_DEPTH: usize = 10;

/// Keywords that carry no meaning for a model, or that OpenAI rejects.
const DROPPED: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "$anchor",
    "$dynamicAnchor",
    "$dynamicRef",
    "$vocabulary",
    "$defs",
    "definitions",
];

/// Keywords whose value is one schema.
const ONE_SCHEMA: &[&str] = &[
    "additionalProperties",
    "additionalItems",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "not",
    "if",
    "then",
    "else",
];

/// Keywords whose value is a map of name → schema.
const SCHEMA_MAPS: &[&str] = &["properties", "patternProperties", "dependentSchemas"];

/// Keywords whose value is a list of schemas.
const SCHEMA_LISTS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];

/// Normalises an MCP input schema into OpenAI function `parameters` (see the module doc);
/// `strict` also applies [`make_strict`]'s rewrite.
pub fn normalize_schema(schema: &JsonObject, strict: bool) -> Result<JsonObject, Error> {
    let root = Value::Object(schema.clone());
    let inlined = Inliner {
        root: &root,
        stack: Vec::new(),
        nodes: 0,
    }
    .schema(&root, 0)?;
    let mut params = object_root(inlined)?;
    if strict {
        make_strict(&mut params)?;
    }
    Ok(params)
}

struct Inliner<'a> {
    root: &'a Value,
    /// The references being expanded, outermost first: a repeat is a cycle.
    stack: Vec<String>,
    nodes: usize,
}

impl<'a> Inliner<'a> {
    fn schema(&mut self, value: &'a Value, depth: usize) -> Result<Value, Error> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(Error::new(
                ErrorKind::SchemaTooLarge,
                format!("the schema grows past {MAX_NODES} nodes once its $refs are inlined"),
            ));
        }
        if depth > MAX_DEPTH {
            return Err(Error::new(
                ErrorKind::SchemaTooLarge,
                format!("the schema nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        let Value::Object(map) = value else {
            // `true` / `false` schemas and anything odd are kept as they are.
            return Ok(value.clone());
        };
        if let Some(Value::String(reference)) = map.get("$ref") {
            return self.reference(reference, map, depth);
        }
        self.keywords(map, depth)
    }

    fn reference(
        &mut self,
        reference: &str,
        map: &'a JsonObject,
        depth: usize,
    ) -> Result<Value, Error> {
        if let Some(start) = self.stack.iter().position(|r| r == reference) {
            let mut chain: Vec<&str> = self.stack[start..].iter().map(String::as_str).collect();
            chain.push(reference);
            return Err(Error::new(
                ErrorKind::SchemaCycle,
                format!(
                    "the schema is recursive ($ref cycle {}); OpenAI parameters cannot express recursion — give the tool a non-recursive schema",
                    chain.join(" → ")
                ),
            ));
        }
        let target = self.resolve(reference)?;
        self.stack.push(reference.to_string());
        let resolved = self.schema(target, depth + 1);
        self.stack.pop();
        let resolved = resolved?;
        // Keywords beside `$ref` (a description, a default) refine the referenced schema.
        let siblings = match self.keywords(map, depth)? {
            Value::Object(s) => s,
            _ => JsonObject::new(),
        };
        Ok(match resolved {
            Value::Object(mut target) => {
                target.extend(siblings);
                Value::Object(target)
            }
            other if siblings.is_empty() => other,
            _ => Value::Object(siblings),
        })
    }

    fn resolve(&self, reference: &str) -> Result<&'a Value, Error> {
        let unresolved = |why: String| Error::new(ErrorKind::UnresolvedRef, why);
        let Some(fragment) = reference.strip_prefix('#') else {
            return Err(unresolved(format!(
                "$ref '{reference}' points outside the schema; only local references (#/…) can be inlined"
            )));
        };
        if !fragment.is_empty() && !fragment.starts_with('/') {
            return Err(unresolved(format!(
                "$ref '{reference}' names an anchor; only JSON-pointer references (#/…) can be inlined"
            )));
        }
        let pointer = percent_decode(fragment);
        self.root.pointer(&pointer).ok_or_else(|| {
            unresolved(format!(
                "$ref '{reference}' points at nothing in the schema (is the definition missing from $defs?)"
            ))
        })
    }

    fn keywords(&mut self, map: &'a JsonObject, depth: usize) -> Result<Value, Error> {
        let mut out = JsonObject::with_capacity(map.len());
        for (key, value) in map {
            let key_str = key.as_str();
            if key_str == "$ref" || DROPPED.contains(&key_str) {
                continue;
            }
            let new = if SCHEMA_MAPS.contains(&key_str) {
                match value {
                    Value::Object(schemas) => {
                        let mut m = JsonObject::with_capacity(schemas.len());
                        for (name, s) in schemas {
                            m.insert(name.clone(), self.schema(s, depth + 1)?);
                        }
                        Value::Object(m)
                    }
                    other => other.clone(),
                }
            } else if SCHEMA_LISTS.contains(&key_str) || key_str == "items" {
                match value {
                    Value::Array(list) => Value::Array(
                        list.iter()
                            .map(|s| self.schema(s, depth + 1))
                            .collect::<Result<_, _>>()?,
                    ),
                    single if key_str == "items" => self.schema(single, depth + 1)?,
                    other => other.clone(),
                }
            } else if ONE_SCHEMA.contains(&key_str) {
                self.schema(value, depth + 1)?
            } else {
                // Data, not schemas: `enum`, `const`, `default`, `examples`, `required`, …
                value.clone()
            };
            out.insert(key.clone(), new);
        }
        Ok(Value::Object(out))
    }
}

/// Decodes `%XX` escapes of a URI fragment (JSON pointers in `$ref` are URI-encoded).
fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = (hex(h), hex(l))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The root as an object schema with `type: "object"` and `properties`.
fn object_root(value: Value) -> Result<JsonObject, Error> {
    let mut root = match value {
        Value::Object(m) => m,
        Value::Bool(true) | Value::Null => JsonObject::new(),
        other => {
            return Err(Error::new(
                ErrorKind::InvalidSchema,
                format!(
                    "the input schema is {other}; OpenAI function parameters must be an object schema"
                ),
            ));
        }
    };
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = root.remove(key) {
            merge_branches(&mut root, key, branches)?;
        }
    }
    match root.get("type") {
        None => {}
        Some(Value::String(t)) if t == "object" => {}
        Some(Value::Array(types)) if types.iter().any(|t| t == "object") => {}
        Some(other) => {
            return Err(Error::new(
                ErrorKind::InvalidSchema,
                format!(
                    "the input schema has type {other}; OpenAI function parameters must be of type object"
                ),
            ));
        }
    }
    root.insert("type".into(), Value::String("object".into()));
    match root.get("properties") {
        None => {
            root.insert("properties".into(), Value::Object(JsonObject::new()));
        }
        Some(Value::Object(_)) => {}
        Some(other) => {
            return Err(Error::new(
                ErrorKind::InvalidSchema,
                format!("'properties' must be a map of property schemas, found {other}"),
            ));
        }
    }
    match root.get("required") {
        None => {}
        Some(Value::Array(names)) if names.iter().all(Value::is_string) => {}
        Some(other) => {
            return Err(Error::new(
                ErrorKind::InvalidSchema,
                format!("'required' must be a list of property names, found {other}"),
            ));
        }
    }
    Ok(root)
}

fn is_object_schema(schema: &JsonObject) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
        None => schema.contains_key("properties"),
        _ => false,
    }
}

fn required_of(schema: &JsonObject) -> Vec<String> {
    match schema.get("required") {
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Merges the object branches of a combinator into `into`: properties are united; `required` is
/// united for `allOf` and narrowed to what every branch requires for `anyOf` / `oneOf` (the
/// model may pick any argument set).
fn merge_branches(into: &mut JsonObject, key: &str, branches: Vec<Value>) -> Result<(), Error> {
    let mut properties = match into.remove("properties") {
        Some(Value::Object(p)) => p,
        _ => JsonObject::new(),
    };
    let own_required = required_of(into);
    let mut alternatives: Vec<Vec<String>> = Vec::new();
    let mut required_all: Vec<String> = own_required.clone();
    let mut required_common: Option<Vec<String>> = None;
    for (i, branch) in branches.into_iter().enumerate() {
        let Value::Object(branch) = branch else {
            return Err(Error::new(
                ErrorKind::InvalidSchema,
                format!("{key}[{i}] at the root is not a schema object"),
            ));
        };
        if !is_object_schema(&branch) {
            return Err(Error::new(
                ErrorKind::InvalidSchema,
                format!(
                    "{key}[{i}] at the root is not an object schema; OpenAI function parameters must be one object"
                ),
            ));
        }
        let required = required_of(&branch);
        if let Some(Value::Object(props)) = branch.get("properties") {
            alternatives.push(props.keys().cloned().collect());
            for (name, schema) in props {
                properties
                    .entry(name.clone())
                    .or_insert_with(|| schema.clone());
            }
        }
        for r in &required {
            if !required_all.contains(r) {
                required_all.push(r.clone());
            }
        }
        required_common = Some(match required_common {
            None => required,
            Some(common) => common
                .into_iter()
                .filter(|r| required.contains(r))
                .collect(),
        });
    }
    let required = if key == "allOf" {
        required_all
    } else {
        let mut r = own_required;
        for c in required_common.unwrap_or_default() {
            if !r.contains(&c) {
                r.push(c);
            }
        }
        if alternatives.len() > 1 {
            let sets: Vec<String> = alternatives
                .iter()
                .map(|a| format!("{{{}}}", a.join(", ")))
                .collect();
            let note = format!("Pass one of these argument sets: {}.", sets.join(" or "));
            let description = match into.get("description").and_then(Value::as_str) {
                Some(d) if !d.is_empty() => format!("{d} {note}"),
                _ => note,
            };
            into.insert("description".into(), Value::String(description));
        }
        r
    };
    into.insert("properties".into(), Value::Object(properties));
    if required.is_empty() {
        into.remove("required");
    } else {
        into.insert(
            "required".into(),
            Value::Array(required.into_iter().map(Value::String).collect()),
        );
    }
    Ok(())
}

/// Keywords strict mode keeps (OpenAI Structured Outputs' supported subset).
const STRICT_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "anyOf",
    "description",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
];

/// Strict mode: rewrites an object schema (already normalised) so OpenAI accepts it with
/// `strict: true`.
///
/// - every object gets `additionalProperties: false` and lists all its properties in
///   `required`; a property that was optional becomes nullable (`"type": ["string", "null"]`,
///   or an `anyOf` with `{"type": "null"}`), and the `null` the model then sends is removed
///   again before the call reaches the tool ([`strip_optional_nulls`]);
/// - `oneOf` becomes `anyOf`; `allOf` of objects is merged;
/// - keywords outside the supported subset are dropped, and the constraints they expressed are
///   added to the description (`minLength`, `default`, …);
/// - what strict mode cannot express is [`ErrorKind::NotStrict`] with the path: free-form
///   objects (no properties, or `additionalProperties` as a schema), schemas without a type,
///   tuples, `not`, `if`/`then`/`else`, nesting deeper than [`MAX_STRICT_DEPTH`].
pub fn make_strict(schema: &mut JsonObject) -> Result<(), Error> {
    strict_node(schema, "#", 0)
}

fn not_strict(path: &str, why: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::NotStrict,
        format!("strict mode cannot express the schema at {path}: {why}"),
    )
}

fn strict_node(node: &mut JsonObject, path: &str, depth: usize) -> Result<(), Error> {
    if depth > MAX_STRICT_DEPTH {
        return Err(not_strict(
            path,
            format!("objects nest deeper than {MAX_STRICT_DEPTH} levels"),
        ));
    }
    if let Some(one_of) = node.remove("oneOf") {
        node.insert("anyOf".into(), one_of);
    }
    if let Some(Value::Array(branches)) = node.remove("allOf") {
        merge_branches(node, "allOf", branches).map_err(|e| not_strict(path, e.message()))?;
        node.entry("type")
            .or_insert_with(|| Value::String("object".into()));
    }
    for key in [
        "not",
        "if",
        "then",
        "else",
        "patternProperties",
        "prefixItems",
    ] {
        if node.contains_key(key) {
            return Err(not_strict(path, format!("'{key}' is not supported")));
        }
    }
    let dropped: Vec<(String, Value)> = node
        .iter()
        .filter(|(k, _)| !STRICT_KEYWORDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !dropped.is_empty() {
        let notes: Vec<String> = dropped
            .iter()
            .filter(|(k, _)| k != "title" && k != "examples" && k != "$comment")
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        for (k, _) in &dropped {
            node.remove(k);
        }
        if !notes.is_empty() {
            let note = format!("(also: {})", notes.join("; "));
            let description = match node.get("description").and_then(Value::as_str) {
                Some(d) if !d.is_empty() => format!("{d} {note}"),
                _ => note,
            };
            node.insert("description".into(), Value::String(description));
        }
    }
    if let Some(Value::Array(branches)) = node.get_mut("anyOf") {
        for (i, branch) in branches.iter_mut().enumerate() {
            let Value::Object(b) = branch else {
                return Err(not_strict(path, "an anyOf branch is not a schema object"));
            };
            strict_node(b, &format!("{path}/anyOf/{i}"), depth)?;
        }
        return Ok(());
    }
    let Some(types) = types_of(node) else {
        if node.contains_key("enum") || node.contains_key("const") {
            return Ok(());
        }
        return Err(not_strict(
            path,
            "a schema without a type (any value) has no strict form",
        ));
    };
    if types.iter().any(|t| t == "object") {
        strict_object(node, path, depth)?;
    }
    if types.iter().any(|t| t == "array") {
        match node.get_mut("items") {
            Some(Value::Object(items)) => strict_node(items, &format!("{path}/items"), depth + 1)?,
            Some(_) => return Err(not_strict(path, "tuple 'items' are not supported")),
            None => return Err(not_strict(path, "an array needs 'items'")),
        }
    }
    Ok(())
}

fn types_of(node: &JsonObject) -> Option<Vec<String>> {
    match node.get("type")? {
        Value::String(t) => Some(vec![t.clone()]),
        Value::Array(ts) => Some(
            ts.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
        ),
        _ => None,
    }
}

fn strict_object(node: &mut JsonObject, path: &str, depth: usize) -> Result<(), Error> {
    let required = required_of(node);
    let mut properties = match node.remove("properties") {
        Some(Value::Object(p)) => p,
        None => JsonObject::new(),
        Some(_) => return Err(not_strict(path, "'properties' is not a map")),
    };
    match node.get("additionalProperties") {
        Some(Value::Bool(false)) => {}
        // A tool without parameters: its root is an empty object.
        None if depth == 0 => {}
        _ if properties.is_empty() => {
            return Err(not_strict(
                path,
                "a free-form object (no properties, any keys) has no strict form",
            ));
        }
        // Declared properties stay usable; extra keys are given up.
        _ => {}
    }
    for (name, schema) in properties.iter_mut() {
        let Value::Object(prop) = schema else {
            return Err(not_strict(
                &format!("{path}/properties/{name}"),
                "a boolean schema has no strict form",
            ));
        };
        strict_node(prop, &format!("{path}/properties/{name}"), depth + 1)?;
        if !required.contains(name) {
            make_nullable(prop);
        }
    }
    let all: Vec<Value> = properties.keys().cloned().map(Value::String).collect();
    node.insert("properties".into(), Value::Object(properties));
    node.insert("required".into(), Value::Array(all));
    node.insert("additionalProperties".into(), Value::Bool(false));
    Ok(())
}

fn make_nullable(prop: &mut JsonObject) {
    let null = Value::String("null".into());
    match prop.get_mut("type") {
        Some(Value::String(t)) if t != "null" => {
            let t = Value::String(std::mem::take(t));
            prop.insert("type".into(), Value::Array(vec![t, null.clone()]));
        }
        Some(Value::Array(ts)) if !ts.contains(&null) => ts.push(null.clone()),
        Some(_) => {}
        None => {
            let null_schema = serde_json::json!({"type": "null"});
            if let Some(Value::Array(branches)) = prop.get_mut("anyOf") {
                if !branches.contains(&null_schema) {
                    branches.push(null_schema);
                }
            } else {
                let inner = std::mem::take(prop);
                prop.insert(
                    "anyOf".into(),
                    Value::Array(vec![Value::Object(inner), null_schema]),
                );
            }
            return;
        }
    }
    if let Some(Value::Array(values)) = prop.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
}

/// Undoes strict mode's nullable optionals on a model's arguments: removes a `null` member
/// where the non-strict `schema` makes the property optional and does not allow `null`, at
/// every level of nested objects and arrays of objects.
pub fn strip_optional_nulls(arguments: &mut JsonObject, schema: &JsonObject) {
    let required = required_of(schema);
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return;
    };
    arguments.retain(|name, value| {
        !(value.is_null()
            && !required.contains(name)
            && !properties
                .get(name)
                .and_then(Value::as_object)
                .is_some_and(allows_null))
    });
    for (name, value) in arguments.iter_mut() {
        let Some(Value::Object(prop)) = properties.get(name) else {
            continue;
        };
        match value {
            Value::Object(inner) => strip_optional_nulls(inner, prop),
            Value::Array(items) => {
                if let Some(Value::Object(item_schema)) = prop.get("items") {
                    for item in items {
                        if let Value::Object(inner) = item {
                            strip_optional_nulls(inner, item_schema);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether `schema` accepts `null` (an unconstrained schema accepts anything).
fn allows_null(schema: &JsonObject) -> bool {
    if let Some(t) = schema.get("type") {
        return match t {
            Value::String(t) => t == "null",
            Value::Array(ts) => ts.iter().any(|t| t == "null"),
            _ => false,
        };
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            return branches
                .iter()
                .any(|b| b.as_object().is_some_and(allows_null));
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.contains(&Value::Null);
    }
    if let Some(value) = schema.get("const") {
        return value.is_null();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> JsonObject {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn normalize(v: Value) -> Result<Value, Error> {
        normalize_schema(&obj(v), false).map(Value::Object)
    }

    fn strict(v: Value) -> Result<Value, Error> {
        normalize_schema(&obj(v), true).map(Value::Object)
    }

    #[test]
    fn missing_type_becomes_object_with_properties() {
        assert_eq!(
            normalize(json!({})).expect("ok"),
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(
            normalize(json!({"properties": {"a": {"type": "string"}}})).expect("ok"),
            json!({"type": "object", "properties": {"a": {"type": "string"}}})
        );
    }

    #[test]
    fn object_without_properties_gets_properties() {
        assert_eq!(
            normalize(json!({"type": "object"})).expect("ok"),
            json!({"type": "object", "properties": {}})
        );
    }

    #[test]
    fn defs_refs_are_inlined_and_defs_dropped() {
        let out = normalize(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "home": {"$ref": "#/$defs/Address", "description": "where you live"},
                "work": {"$ref": "#/$defs/Address"}
            },
            "$defs": {
                "Address": {
                    "type": "object",
                    "properties": {"city": {"$ref": "#/$defs/City"}},
                    "required": ["city"]
                },
                "City": {"type": "string", "minLength": 1}
            }
        }))
        .expect("ok");
        assert_eq!(
            out,
            json!({
                "type": "object",
                "properties": {
                    "home": {
                        "type": "object",
                        "properties": {"city": {"type": "string", "minLength": 1}},
                        "required": ["city"],
                        "description": "where you live"
                    },
                    "work": {
                        "type": "object",
                        "properties": {"city": {"type": "string", "minLength": 1}},
                        "required": ["city"]
                    }
                }
            })
        );
    }

    #[test]
    fn definitions_refs_and_escaped_pointers_are_inlined() {
        let out = normalize(json!({
            "properties": {
                "a": {"$ref": "#/definitions/My%20Type"},
                "b": {"$ref": "#/definitions/slash~1name"},
                "c": {"$ref": "#/properties/a"}
            },
            "definitions": {"My Type": {"type": "integer"}, "slash/name": {"type": "boolean"}}
        }))
        .expect("ok");
        assert_eq!(out["properties"]["a"], json!({"type": "integer"}));
        assert_eq!(out["properties"]["b"], json!({"type": "boolean"}));
        assert_eq!(out["properties"]["c"], json!({"type": "integer"}));
        assert!(out.get("definitions").is_none());
    }

    #[test]
    fn ref_cycles_are_a_clear_error() {
        let e = normalize(json!({
            "type": "object",
            "properties": {"root": {"$ref": "#/$defs/Node"}},
            "$defs": {
                "Node": {
                    "type": "object",
                    "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}
                }
            }
        }))
        .expect_err("cycle");
        assert_eq!(e.kind(), ErrorKind::SchemaCycle);
        assert!(
            e.message().contains("#/$defs/Node → #/$defs/Node"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn indirect_cycles_name_the_whole_chain() {
        let e = normalize(json!({
            "properties": {"a": {"$ref": "#/$defs/A"}},
            "$defs": {
                "A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}},
                "B": {"anyOf": [{"$ref": "#/$defs/A"}, {"type": "null"}]}
            }
        }))
        .expect_err("cycle");
        assert_eq!(e.kind(), ErrorKind::SchemaCycle);
        assert!(
            e.message().contains("#/$defs/A → #/$defs/B → #/$defs/A"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn root_self_reference_is_a_cycle() {
        let e = normalize(json!({"properties": {"self": {"$ref": "#"}}})).expect_err("cycle");
        assert_eq!(e.kind(), ErrorKind::SchemaCycle);
    }

    #[test]
    fn dangling_remote_and_anchor_refs_are_errors() {
        for (schema, needle) in [
            (
                json!({"properties": {"a": {"$ref": "#/$defs/Missing"}}}),
                "points at nothing",
            ),
            (
                json!({"properties": {"a": {"$ref": "https://example.com/s.json"}}}),
                "outside the schema",
            ),
            (json!({"properties": {"a": {"$ref": "#anchor"}}}), "anchor"),
        ] {
            let e = normalize(schema).expect_err("unresolved");
            assert_eq!(e.kind(), ErrorKind::UnresolvedRef);
            assert!(e.message().contains(needle), "{}", e.message());
        }
    }

    #[test]
    fn exponential_ref_fanout_is_bounded() {
        // Each level references the next twice: 2^30 nodes if inlined naively.
        let mut defs = JsonObject::new();
        for i in 0..30 {
            defs.insert(
                format!("L{i}"),
                json!({"type": "object", "properties": {
                    "x": {"$ref": format!("#/$defs/L{}", i + 1)},
                    "y": {"$ref": format!("#/$defs/L{}", i + 1)}
                }}),
            );
        }
        defs.insert("L30".into(), json!({"type": "string"}));
        let e = normalize(json!({"properties": {"a": {"$ref": "#/$defs/L0"}}, "$defs": defs}))
            .expect_err("too large");
        assert_eq!(e.kind(), ErrorKind::SchemaTooLarge);
    }

    #[test]
    fn enum_and_default_values_are_data_not_schemas() {
        let out = normalize(json!({
            "properties": {"a": {"enum": [{"$ref": "#/nope"}], "default": {"$ref": "#/nope"}}}
        }))
        .expect("data is not resolved");
        assert_eq!(out["properties"]["a"]["enum"][0]["$ref"], "#/nope");
    }

    #[test]
    fn any_of_in_properties_is_kept_and_inlined() {
        let out = normalize(json!({
            "properties": {"v": {"anyOf": [{"$ref": "#/$defs/S"}, {"type": "integer"}]}},
            "$defs": {"S": {"type": "string"}}
        }))
        .expect("ok");
        assert_eq!(
            out["properties"]["v"],
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})
        );
    }

    #[test]
    fn root_any_of_objects_is_merged() {
        let out = normalize(json!({
            "anyOf": [
                {"type": "object", "properties": {"id": {"type": "string"}, "x": {"type": "integer"}}, "required": ["id", "x"]},
                {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}, "required": ["id"]}
            ]
        }))
        .expect("ok");
        assert_eq!(out["type"], "object");
        assert!(out.get("anyOf").is_none());
        assert_eq!(
            out["properties"],
            json!({"id": {"type": "string"}, "x": {"type": "integer"}, "name": {"type": "string"}})
        );
        assert_eq!(out["required"], json!(["id"]));
        let d = out["description"].as_str().expect("description");
        assert!(d.contains("{id, x} or {id, name}"), "{d}");
    }

    #[test]
    fn root_all_of_objects_is_merged_with_all_required() {
        let out = normalize(json!({
            "allOf": [
                {"properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"b": {"type": "string"}}, "required": ["b"]}
            ]
        }))
        .expect("ok");
        assert_eq!(out["required"], json!(["a", "b"]));
        assert_eq!(out["properties"]["b"], json!({"type": "string"}));
    }

    #[test]
    fn root_of_another_type_is_an_error() {
        let e = normalize(json!({"type": "string"})).expect_err("not an object");
        assert_eq!(e.kind(), ErrorKind::InvalidSchema);
        let e = normalize(json!({"anyOf": [{"type": "string"}]})).expect_err("not objects");
        assert_eq!(e.kind(), ErrorKind::InvalidSchema);
    }

    #[test]
    fn meta_keywords_are_dropped_everywhere() {
        let out = normalize(json!({
            "$schema": "x", "$id": "y", "$comment": "z",
            "properties": {"a": {"type": "string", "$comment": "c", "$id": "i"}}
        }))
        .expect("ok");
        assert_eq!(
            out,
            json!({"type": "object", "properties": {"a": {"type": "string"}}})
        );
    }

    #[test]
    fn strict_mode_requires_everything_and_closes_objects() {
        let out = strict(json!({
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 2},
                "units": {"enum": ["c", "f"], "type": "string", "default": "c"},
                "when": {"type": "object", "properties": {"day": {"type": "integer"}}}
            },
            "required": ["city"]
        }))
        .expect("ok");
        assert_eq!(out["additionalProperties"], false);
        assert_eq!(out["required"], json!(["city", "units", "when"]));
        assert_eq!(out["properties"]["city"]["type"], "string");
        assert_eq!(
            out["properties"]["city"]["description"],
            "(also: minLength 2)"
        );
        assert_eq!(
            out["properties"]["units"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(out["properties"]["units"]["enum"], json!(["c", "f", null]));
        assert_eq!(out["properties"]["when"]["type"], json!(["object", "null"]));
        assert_eq!(out["properties"]["when"]["additionalProperties"], false);
        assert_eq!(out["properties"]["when"]["required"], json!(["day"]));
        assert_eq!(
            out["properties"]["when"]["properties"]["day"]["type"],
            json!(["integer", "null"])
        );
    }

    #[test]
    fn strict_mode_turns_one_of_into_any_of() {
        let out = strict(json!({
            "properties": {"v": {"oneOf": [{"type": "string"}, {"type": "integer"}]}},
            "required": ["v"]
        }))
        .expect("ok");
        assert_eq!(
            out["properties"]["v"],
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})
        );
    }

    #[test]
    fn strict_mode_rejects_free_form_objects_and_untyped_schemas() {
        let e = strict(json!({"properties": {"meta": {"type": "object"}}})).expect_err("free form");
        assert_eq!(e.kind(), ErrorKind::NotStrict);
        assert!(e.message().contains("#/properties/meta"), "{}", e.message());
        let e = strict(json!({"properties": {"any": {}}})).expect_err("untyped");
        assert_eq!(e.kind(), ErrorKind::NotStrict);
    }

    #[test]
    fn strict_optional_nulls_are_stripped_before_the_call() {
        let schema = normalize(json!({
            "properties": {
                "city": {"type": "string"},
                "units": {"type": "string"},
                "note": {"type": ["string", "null"]},
                "when": {"type": "object", "properties": {"day": {"type": "integer"}}}
            },
            "required": ["city"]
        }))
        .expect("ok");
        let mut args = obj(json!({
            "city": "Paris", "units": null, "note": null, "when": {"day": null}
        }));
        strip_optional_nulls(&mut args, &obj(schema));
        assert_eq!(
            Value::Object(args),
            json!({"city": "Paris", "note": null, "when": {}})
        );
    }
}
