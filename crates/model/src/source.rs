//! Where each field of a document sits in its file.
//!
//! serde gives positions only for errors; rules that run after a document was read still have to
//! name the line of the field they complain about. A [`SpanIndex`] is built from the YAML parser's
//! events and maps every field path of one document to its position.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

use crate::diagnostic::Location;

/// Positions (1-based line and column) of the field paths of one document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanIndex {
    /// Position of the document's first content.
    pub start: (usize, usize),
    /// Position of every field path, keyed by its rendered path.
    pub fields: BTreeMap<String, (usize, usize)>,
    /// Scalar values by field path.
    pub scalars: BTreeMap<String, String>,
    /// Whether the document has no content (an empty document, such as after a trailing `---`).
    pub empty: bool,
}

/// Appends a mapping key to a field path: `.key` for plain names, `["key"]` otherwise.
pub fn push_key(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || character == '_');
    match (path.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

/// Appends a sequence index to a field path.
pub fn push_index(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// A source file's document, and how to find its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file.
    pub file: PathBuf,
    /// Index of the document in the file, from 0.
    pub document_index: usize,
    spans: Arc<SpanIndex>,
}

impl Source {
    /// A source for one document.
    pub fn new(file: PathBuf, document_index: usize, spans: Arc<SpanIndex>) -> Self {
        Source {
            file,
            document_index,
            spans,
        }
    }

    /// The place of a field path, or of its nearest ancestor present in the file.
    pub fn locate(&self, field: &str) -> Location {
        let mut path = field.to_owned();
        loop {
            if let Some(&(line, column)) = self.spans.fields.get(&path) {
                return self.location(line, column);
            }
            match parent_path(&path) {
                Some(parent) => path = parent,
                None => return self.location(self.spans.start.0, self.spans.start.1),
            }
        }
    }

    /// The place of the document itself.
    pub fn document_location(&self) -> Location {
        self.location(self.spans.start.0, self.spans.start.1)
    }

    fn location(&self, line: usize, column: usize) -> Location {
        Location {
            file: self.file.clone(),
            line,
            column,
        }
    }

    /// The span index of this document.
    pub fn spans(&self) -> &SpanIndex {
        &self.spans
    }
}

/// The path one level up, or `None` at the root.
fn parent_path(path: &str) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    if path.ends_with(']') {
        // `[..]` may hold a quoted key with dots or brackets; find its opening bracket.
        let open = if let Some(unclosed) = path.strip_suffix("\"]") {
            unclosed.rfind("[\"")?
        } else {
            path.rfind('[')?
        };
        return Some(path[..open].to_owned());
    }
    Some(path.rfind('.').map(|dot| path[..dot].to_owned()).unwrap_or_default())
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What the parser said.
    pub message: String,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
    /// The field path where the error is, when it is known (empty otherwise).
    pub field: String,
}

enum Frame {
    Mapping {
        path: String,
        pending_key: Option<String>,
        /// The line of every key given so far, to refuse a key given twice.
        key_lines: std::collections::HashMap<String, usize>,
    },
    Sequence {
        path: String,
        next_index: usize,
    },
}

/// How deep mappings and sequences may nest in a YAML file esxnet reads (manifests, snapshots).
/// Manifests and snapshots nest fewer than ten levels; serde_yaml's parser takes minutes over a
/// few hundred thousand levels of flow nesting, so deeper text is refused before it gets there.
pub const MAX_YAML_DEPTH: usize = 64;

/// Refuses YAML text that nests deeper than [`MAX_YAML_DEPTH`], at the place where it does (one
/// pass of the event parser, which is linear and does not recurse). Syntax errors before that
/// point are reported too.
pub fn check_yaml_depth(text: &str) -> Result<(), SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        let (event, marker) = parser.next_token().map_err(|error| syntax_error(&error))?;
        match event {
            Event::StreamEnd => return Ok(()),
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                depth += 1;
                if depth > MAX_YAML_DEPTH {
                    return Err(too_deep(&marker));
                }
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
}

fn too_deep(marker: &Marker) -> SyntaxError {
    let (line, column) = position(marker);
    SyntaxError {
        message: format!(
            "mappings and lists nest deeper than {MAX_YAML_DEPTH} levels here, which no esxnet file needs"
        ),
        line,
        column,
        field: String::new(),
    }
}

fn syntax_error(error: &yaml_rust2::ScanError) -> SyntaxError {
    let marker = error.marker();
    SyntaxError {
        message: error.info().to_owned(),
        line: marker.line().max(1),
        column: marker.col() + 1,
        field: String::new(),
    }
}

/// Builds the span index of every document in a file's text.
///
/// Refuses, at the place of the second one, what serde would take silently or report without a
/// useful place (and nesting deeper than [`MAX_YAML_DEPTH`], where it starts): a key given twice in one mapping, and an alias to an anchor of another document
/// (anchors do not reach across `---`). Aliases within a document are read; the fields of an
/// aliased value are found at the alias.
pub fn index_documents(text: &str) -> Result<Vec<SpanIndex>, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut documents = Vec::new();
    let mut current: Option<SpanIndex> = None;
    let mut frames: Vec<Frame> = Vec::new();
    let mut anchors: std::collections::HashSet<usize> = std::collections::HashSet::new();
    loop {
        let (event, marker) = parser.next_token().map_err(|error| syntax_error(&error))?;
        match &event {
            Event::Scalar(_, _, anchor, _) | Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _)
                if *anchor != 0 =>
            {
                anchors.insert(*anchor);
            }
            Event::Alias(anchor) if !anchors.contains(anchor) => {
                let (line, column) = position(&marker);
                return Err(SyntaxError {
                    message: "this alias names an anchor of another document: anchors do not reach across `---`; write the value out here".to_owned(),
                    line,
                    column,
                    field: String::new(),
                });
            }
            _ => {}
        }
        match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing => {}
            Event::DocumentStart => {
                current = Some(SpanIndex {
                    start: position(&marker),
                    empty: true,
                    ..SpanIndex::default()
                });
                frames.clear();
                anchors.clear();
            }
            Event::DocumentEnd => {
                if let Some(document) = current.take() {
                    documents.push(document);
                }
            }
            Event::Scalar(value, ..) => {
                let Some(document) = current.as_mut() else { continue };
                if let Some(path) = value_path(&mut frames, document, &marker, Some(&value))? {
                    document.empty &= value.is_empty() || value == "~" || value == "null";
                    document.scalars.insert(path, value);
                }
            }
            Event::Alias(_) => {
                if let Some(document) = current.as_mut() {
                    document.empty = false;
                    value_path(&mut frames, document, &marker, None)?;
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let Some(document) = current.as_mut() else { continue };
                if frames.len() >= MAX_YAML_DEPTH {
                    return Err(too_deep(&marker));
                }
                if frames.is_empty() {
                    document.start = position(&marker);
                }
                document.empty = false;
                let path = value_path(&mut frames, document, &marker, None)?.unwrap_or_else(|| "?".to_owned());
                if matches!(event, Event::MappingStart(..)) {
                    frames.push(Frame::Mapping {
                        path,
                        pending_key: None,
                        key_lines: std::collections::HashMap::new(),
                    });
                } else {
                    frames.push(Frame::Sequence { path, next_index: 0 });
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                frames.pop();
            }
        }
    }
    Ok(documents)
}

/// Records a value (or, in a mapping waiting for a key, a key) and returns the value's field path.
/// Returns `None` for a mapping key, whose value comes next; an error for a key given twice.
fn value_path(
    frames: &mut [Frame],
    document: &mut SpanIndex,
    marker: &Marker,
    scalar: Option<&str>,
) -> Result<Option<String>, SyntaxError> {
    match frames.last_mut() {
        None => Ok(Some(String::new())),
        Some(Frame::Sequence { path, next_index }) => {
            let item = push_index(path, *next_index);
            *next_index += 1;
            document.fields.entry(item.clone()).or_insert(position(marker));
            Ok(Some(item))
        }
        Some(Frame::Mapping {
            path,
            pending_key,
            key_lines,
        }) => match pending_key.take() {
            Some(key) => Ok(Some(key)),
            None => {
                // A key. Complex (non-scalar) keys get a placeholder path.
                let key = push_key(path, scalar.unwrap_or("?"));
                let (line, column) = position(marker);
                if let Some(scalar) = scalar {
                    if let Some(first_line) = key_lines.insert(scalar.to_owned(), line) {
                        return Err(SyntaxError {
                            message: format!(
                                "duplicate key `{scalar}`: it is given on line {first_line} already; keep one"
                            ),
                            line,
                            column,
                            field: key,
                        });
                    }
                }
                document.fields.entry(key.clone()).or_insert((line, column));
                *pending_key = Some(key);
                Ok(None)
            }
        },
    }
}

fn position(marker: &Marker) -> (usize, usize) {
    (marker.line().max(1), marker.col() + 1)
}

/// The file as shown in diagnostics.
pub fn display_path(path: &Path) -> PathBuf {
    path.strip_prefix("./")
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_indexed_with_their_lines() {
        let text = "a: 1\nb:\n  c: [x, y]\n  \"d.e\": {f: 2}\n---\ng: 3\n";
        let documents = index_documents(text).unwrap();
        assert_eq!(documents.len(), 2);
        let first = &documents[0];
        assert_eq!(first.fields["a"], (1, 1));
        assert_eq!(first.fields["b.c"], (3, 3));
        assert_eq!(first.fields["b.c[1]"], (3, 10));
        assert_eq!(first.fields["b[\"d.e\"].f"], (4, 11));
        assert_eq!(documents[1].fields["g"], (6, 1));
        assert_eq!(documents[1].scalars["g"], "3");
    }

    #[test]
    fn locate_falls_back_to_the_nearest_ancestor() {
        let documents = index_documents("spec:\n  ipv4:\n    mode: static\n").unwrap();
        let source = Source::new(PathBuf::from("x.yaml"), 0, Arc::new(documents[0].clone()));
        assert_eq!(source.locate("spec.ipv4.addresses[\"esx-01.lab\"]").line, 2);
        assert_eq!(source.locate("spec.ipv4.mode").line, 3);
        assert_eq!(source.locate("nothing").line, 1);
    }

    #[test]
    fn empty_documents_are_marked() {
        let documents = index_documents("a: 1\n---\n").unwrap();
        assert_eq!(documents.len(), 2);
        assert!(!documents[0].empty);
        assert!(documents[1].empty);
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let error = index_documents("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(error.line >= 1);
    }
}
