//! The matcher operators shared by header, JSON and condition matchers, as one closed enum.

use schemars::JsonSchema;
use serde::Deserialize;

/// JSON types a value can be asked to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum JsonType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
    Null,
}

impl JsonType {
    pub fn as_str(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Number => "number",
            JsonType::Integer => "integer",
            JsonType::Boolean => "boolean",
            JsonType::Array => "array",
            JsonType::Object => "object",
            JsonType::Null => "null",
        }
    }

    pub fn of(value: &serde_json::Value) -> &'static str {
        match value {
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "boolean",
            serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            serde_json::Value::Number(_) => "number",
            serde_json::Value::String(_) => "string",
            serde_json::Value::Array(_) => "array",
            serde_json::Value::Object(_) => "object",
        }
    }

    pub fn matches(self, value: &serde_json::Value) -> bool {
        match self {
            JsonType::String => value.is_string(),
            JsonType::Number => value.is_number(),
            JsonType::Integer => value.is_i64() || value.is_u64(),
            JsonType::Boolean => value.is_boolean(),
            JsonType::Array => value.is_array(),
            JsonType::Object => value.is_object(),
            JsonType::Null => value.is_null(),
        }
    }
}

/// One matcher operator. Values may hold templates, rendered against the case context.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Present,
    Absent,
    Type(JsonType),
    Equals(serde_json::Value),
    OneOf(Vec<serde_json::Value>),
    Contains(serde_json::Value),
    ContainsAny(Vec<serde_json::Value>),
    Excludes(serde_json::Value),
    StartsWith(String),
    AbsoluteUrl,
    Matches(String),
    SubsetOf(String),
    EqualsAsSet(String),
    ItemsType(JsonType),
    NotEmpty,
    JwkSet,
    AtMost(f64),
    AtLeast(f64),
    InTheFuture,
    /// A time between this many and that many seconds from now.
    SecondsFromNow(f64, f64),
}

impl Op {
    /// The operator's name as written in suite files.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Present => "present",
            Op::Absent => "absent",
            Op::Type(_) => "type",
            Op::Equals(_) => "equals",
            Op::OneOf(_) => "one-of",
            Op::Contains(_) => "contains",
            Op::ContainsAny(_) => "contains-any",
            Op::Excludes(_) => "excludes",
            Op::StartsWith(_) => "starts-with",
            Op::AbsoluteUrl => "absolute-url",
            Op::Matches(_) => "matches",
            Op::SubsetOf(_) => "subset-of",
            Op::EqualsAsSet(_) => "equals-as-set",
            Op::ItemsType(_) => "items-type",
            Op::NotEmpty => "not-empty",
            Op::JwkSet => "jwk-set",
            Op::AtMost(_) => "at-most",
            Op::AtLeast(_) => "at-least",
            Op::InTheFuture => "in-the-future",
            Op::SecondsFromNow(..) => "seconds-from-now",
        }
    }

    /// Operators that make sense on a header value (a string).
    pub fn applies_to_header(&self) -> bool {
        matches!(
            self,
            Op::Present
                | Op::Absent
                | Op::Equals(_)
                | Op::OneOf(_)
                | Op::Contains(_)
                | Op::Excludes(_)
                | Op::StartsWith(_)
                | Op::AbsoluteUrl
                | Op::Matches(_)
                | Op::SubsetOf(_)
                | Op::EqualsAsSet(_)
                | Op::NotEmpty
        )
    }
}
