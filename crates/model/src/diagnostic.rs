//! Diagnostics: every problem found in manifests, with severity, rule id, place and field.
//!
//! Validation never stops at the first problem; it returns all of them, and renders them the way
//! a compiler does (`error[ESX003]: …` then `--> file:line:column`).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks planning of the host (or loading of the manifests).
    Error,
    /// Worth knowing; does not block.
    Warning,
}

/// The stable id of a rule.
///
/// `ESX000` covers manifests that are not valid YAML or do not match the schema; `ESX001`–`ESX019`
/// are the domain rules of the design; the planner adds `ESX020` (stack settings declared where no
/// adapter instantiates the stack) and `ESX021` (a host's changes depend on each other in a cycle);
/// `ESX022`–`ESX024` are values a host refuses: names, stack settings, services newer than the host.
/// `ESX025` is the planner's pre-flight check of adapters against what their uplinks see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[allow(missing_docs)]
pub enum RuleId {
    #[serde(rename = "ESX000")]
    Esx000,
    #[serde(rename = "ESX001")]
    Esx001,
    #[serde(rename = "ESX002")]
    Esx002,
    #[serde(rename = "ESX003")]
    Esx003,
    #[serde(rename = "ESX004")]
    Esx004,
    #[serde(rename = "ESX005")]
    Esx005,
    #[serde(rename = "ESX006")]
    Esx006,
    #[serde(rename = "ESX007")]
    Esx007,
    #[serde(rename = "ESX008")]
    Esx008,
    #[serde(rename = "ESX009")]
    Esx009,
    #[serde(rename = "ESX010")]
    Esx010,
    #[serde(rename = "ESX011")]
    Esx011,
    #[serde(rename = "ESX012")]
    Esx012,
    #[serde(rename = "ESX013")]
    Esx013,
    #[serde(rename = "ESX014")]
    Esx014,
    #[serde(rename = "ESX015")]
    Esx015,
    #[serde(rename = "ESX016")]
    Esx016,
    #[serde(rename = "ESX017")]
    Esx017,
    #[serde(rename = "ESX018")]
    Esx018,
    #[serde(rename = "ESX019")]
    Esx019,
    #[serde(rename = "ESX020")]
    Esx020,
    #[serde(rename = "ESX021")]
    Esx021,
    #[serde(rename = "ESX022")]
    Esx022,
    #[serde(rename = "ESX023")]
    Esx023,
    #[serde(rename = "ESX024")]
    Esx024,
    #[serde(rename = "ESX025")]
    Esx025,
}

impl RuleId {
    /// The id as printed, such as `ESX003`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::Esx000 => "ESX000",
            RuleId::Esx001 => "ESX001",
            RuleId::Esx002 => "ESX002",
            RuleId::Esx003 => "ESX003",
            RuleId::Esx004 => "ESX004",
            RuleId::Esx005 => "ESX005",
            RuleId::Esx006 => "ESX006",
            RuleId::Esx007 => "ESX007",
            RuleId::Esx008 => "ESX008",
            RuleId::Esx009 => "ESX009",
            RuleId::Esx010 => "ESX010",
            RuleId::Esx011 => "ESX011",
            RuleId::Esx012 => "ESX012",
            RuleId::Esx013 => "ESX013",
            RuleId::Esx014 => "ESX014",
            RuleId::Esx015 => "ESX015",
            RuleId::Esx016 => "ESX016",
            RuleId::Esx017 => "ESX017",
            RuleId::Esx018 => "ESX018",
            RuleId::Esx019 => "ESX019",
            RuleId::Esx020 => "ESX020",
            RuleId::Esx021 => "ESX021",
            RuleId::Esx022 => "ESX022",
            RuleId::Esx023 => "ESX023",
            RuleId::Esx024 => "ESX024",
            RuleId::Esx025 => "ESX025",
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A place in a manifest file. Lines and columns count from 1.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Location {
    /// The file as the user named it (or as found under a directory they named).
    #[schemars(with = "String")]
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A secondary place a diagnostic points at, such as the other declaration of a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RelatedLocation {
    /// What is there.
    pub message: String,
    /// Where.
    pub location: Location,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The rule that found it.
    pub rule: RuleId,
    /// What is wrong and what to do, lower case, no trailing period.
    pub message: String,
    /// Where, when it comes from a manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The field path inside the document, such as `spec.ipv4.gatewayOverride`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The host it concerns, when it concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Other places involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<RelatedLocation>,
}

impl Diagnostic {
    /// An error of a rule.
    pub fn error(rule: RuleId, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            rule,
            message: message.into(),
            location: None,
            field: None,
            host: None,
            related: Vec::new(),
        }
    }

    /// A warning of a rule.
    pub fn warning(rule: RuleId, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(rule, message)
        }
    }

    /// Sets the place and field.
    pub fn at(mut self, location: Location, field: impl Into<String>) -> Self {
        self.location = Some(location);
        self.field = Some(field.into());
        self
    }

    /// Sets the host.
    pub fn on_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Adds a related place.
    pub fn with_related(mut self, message: impl Into<String>, location: Location) -> Self {
        self.related.push(RelatedLocation {
            message: message.into(),
            location,
        });
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders like a compiler diagnostic; `color` adds ANSI colours.
    pub fn render(&self, color: bool) -> String {
        let (label, paint) = match self.severity {
            Severity::Error => ("error", "\x1b[1;31m"),
            Severity::Warning => ("warning", "\x1b[1;33m"),
        };
        // Messages, fields and places quote names from manifests and hosts: their control
        // characters (ESC, BEL, CR, a newline) are shown escaped, never sent to the terminal.
        let message = escape_control(&self.message);
        let mut out = String::new();
        if color {
            out.push_str(&format!(
                "{paint}{label}[{}]\x1b[0m\x1b[1m: {message}\x1b[0m\n",
                self.rule
            ));
        } else {
            out.push_str(&format!("{label}[{}]: {message}\n", self.rule));
        }
        if let Some(location) = &self.location {
            out.push_str(&format!("  --> {}\n", escape_control(&location.to_string())));
        }
        if let Some(field) = self.field.as_deref().filter(|field| !field.is_empty()) {
            out.push_str(&format!("   = field: {}\n", escape_control(field)));
        }
        if let Some(host) = &self.host {
            out.push_str(&format!("   = host: {}\n", escape_control(host)));
        }
        for related in &self.related {
            out.push_str(&format!(
                "   = note: {} at {}\n",
                escape_control(&related.message),
                escape_control(&related.location.to_string())
            ));
        }
        out
    }
}

/// Text as a terminal or a CI log may show it: every control character (C0, DEL and C1: ESC,
/// BEL, CR, a newline…) written as a Rust escape (`\u{1b}`, `\r`, `\n`), so that a name from a
/// manifest or a host can neither drive the terminal nor start a line of its own. JSON output
/// does not need this: its strings are escaped by JSON.
pub fn escape_control(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for character in text.chars() {
        if character.is_control() {
            escaped.extend(character.escape_default());
        } else {
            escaped.push(character);
        }
    }
    std::borrow::Cow::Owned(escaped)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.render(false))
    }
}

/// Whether any diagnostic is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

/// Sorts diagnostics by file, line, rule and host so output is stable.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|left, right| {
        (&left.location, left.rule, &left.host, &left.field, &left.message).cmp(&(
            &right.location,
            right.rule,
            &right.host,
            &right.field,
            &right.message,
        ))
    });
}
