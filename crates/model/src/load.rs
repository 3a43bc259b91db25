//! Reading manifest files: files and directories, multi-document YAML, every problem reported.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::diagnostic::{Diagnostic, Location, RuleId};
use crate::manifest::{
    AnyDocument, HostDocument, Kind, NetStackDocument, StandardSwitchDocument, TargetDocument, VmkernelAdapterDocument,
};
use crate::source::{self, Source, SpanIndex};

/// A document read from a file, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedDocument {
    /// The file and the positions of its fields.
    pub source: Source,
    /// The document.
    pub document: AnyDocument,
}

/// Everything read from a set of paths.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The documents that were read, in file order.
    pub documents: Vec<LoadedDocument>,
    /// Every problem found while reading, for all files.
    pub diagnostics: Vec<Diagnostic>,
    /// The files that were read.
    pub files: Vec<PathBuf>,
}

/// A manifest file's text, as read: what a saved plan records of its manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestText {
    /// The file, as diagnostics name it.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

/// Manifest files read from disk, not parsed yet ([`read_paths`]).
#[derive(Debug, Clone, Default)]
pub struct ManifestFiles {
    /// Every file found, in file order, read or not.
    pub files: Vec<PathBuf>,
    /// The text of every file that could be read, in file order.
    pub texts: Vec<ManifestText>,
    /// The paths that could not be read or held no manifests.
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads manifests from files and directories (recursively, `*.yaml` and `*.yml`, sorted).
///
/// Never stops at the first problem: every unreadable file and every bad document is reported.
/// Symbolic links are followed to each real file and directory once: a link back to a parent
/// ends there, and a file reached twice (named twice, or through a link) is read once.
pub fn load_paths(paths: &[PathBuf]) -> Loaded {
    load_texts(&read_paths(paths))
}

/// The reading half of [`load_paths`]: finds the files and reads their text.
pub fn read_paths(paths: &[PathBuf]) -> ManifestFiles {
    let mut read = ManifestFiles::default();
    let mut walk = Walk::default();
    for path in paths {
        let named_before = walk.seen(path);
        match collect_files(path, &mut walk) {
            Ok(files) => {
                if files.is_empty() && !named_before {
                    read.diagnostics.push(file_error(
                        path,
                        format!(
                            "no manifests (*.yaml, *.yml) found in {}; name a file or a directory that holds some",
                            path.display()
                        ),
                    ));
                }
                read.files.extend(files);
            }
            Err(error) => read.diagnostics.push(file_error(
                path,
                format!("cannot read {}: {error}; check the path", path.display()),
            )),
        }
    }
    for file in &read.files {
        match std::fs::read_to_string(file) {
            Ok(text) => read.texts.push(ManifestText {
                path: source::display_path(file),
                text,
            }),
            Err(error) => read
                .diagnostics
                .push(file_error(file, format!("cannot read {}: {error}", file.display()))),
        }
    }
    read
}

/// The parsing half of [`load_paths`]: the documents of texts already read, each named by its
/// path (a saved plan's manifests are loaded this way, from the texts it recorded).
pub fn load_texts(read: &ManifestFiles) -> Loaded {
    let mut loaded = Loaded {
        documents: Vec::new(),
        diagnostics: read.diagnostics.clone(),
        files: read.files.clone(),
    };
    for manifest in &read.texts {
        let (documents, diagnostics) = load_str(&manifest.path, &manifest.text);
        loaded.documents.extend(documents);
        loaded.diagnostics.extend(diagnostics);
    }
    loaded
}

/// The real directories and files a load has reached, by canonical path.
#[derive(Default)]
struct Walk {
    reached: std::collections::HashSet<PathBuf>,
}

impl Walk {
    fn real(path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
    }

    /// Whether `path` (a file or directory) was reached already.
    fn seen(&self, path: &Path) -> bool {
        self.reached.contains(&Walk::real(path))
    }

    /// Records `path`; `false` when it was reached already.
    fn first_time(&mut self, path: &Path) -> bool {
        self.reached.insert(Walk::real(path))
    }
}

fn file_error(path: &Path, message: String) -> Diagnostic {
    Diagnostic::error(RuleId::Esx000, message).at(
        Location {
            file: source::display_path(path),
            line: 1,
            column: 1,
        },
        "",
    )
}

fn collect_files(path: &Path, walk: &mut Walk) -> std::io::Result<Vec<PathBuf>> {
    let metadata = std::fs::metadata(path)?;
    if !walk.first_time(path) {
        return Ok(Vec::new());
    }
    if metadata.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            files.extend(collect_files(&entry, walk)?);
        } else if matches!(
            entry.extension().and_then(|extension| extension.to_str()),
            Some("yaml" | "yml")
        ) && walk.first_time(&entry)
        {
            files.push(entry);
        }
    }
    Ok(files)
}

/// Reads the documents of one file's text. `file` is only used to name places.
///
/// A large file is cut at its `---` lines into pieces read on several threads (a 10,000-host
/// manifest was read on one thread, a tenth of `esxnet plan`); a piece is read with blank lines in
/// front of it, so every line number is the file's, and its documents are numbered on from the
/// pieces before it. Should any piece have a problem, the file is read again whole, so what is
/// reported of a bad file never depends on where it was cut.
pub fn load_str(file: &Path, text: &str) -> (Vec<LoadedDocument>, Vec<Diagnostic>) {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    load_in_pieces(file, text, threads)
}

/// [`load_str`] with the text cut into at most `pieces` pieces.
fn load_in_pieces(file: &Path, text: &str, pieces: usize) -> (Vec<LoadedDocument>, Vec<Diagnostic>) {
    if let Some(pieces) = cut(text, pieces) {
        let read: Vec<PieceRead> = std::thread::scope(|scope| {
            let readers: Vec<_> = pieces
                .iter()
                .map(|piece| {
                    scope.spawn(move || {
                        let padded = format!("{}{}", "\n".repeat(piece.lines_before), piece.text);
                        load_whole(file, &padded)
                    })
                })
                .collect();
            readers
                .into_iter()
                .map(|reader| reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        });
        if read.iter().all(|piece| piece.diagnostics.is_empty()) {
            let mut documents = Vec::new();
            let mut documents_before = 0;
            for piece in read {
                documents.extend(piece.documents.into_iter().map(|mut loaded| {
                    loaded.source.document_index += documents_before;
                    loaded
                }));
                documents_before += piece.document_count;
            }
            return (documents, Vec::new());
        }
    }
    let read = load_whole(file, text);
    (read.documents, read.diagnostics)
}

/// Files at least this large are cut into pieces read at once ([`load_str`]).
const SPLIT_PARSE_BYTES: usize = 256 * 1024;

/// A part of a file's text that starts at a document's `---` line (or at the file's start).
struct Piece<'text> {
    lines_before: usize,
    text: &'text str,
}

/// What [`load_whole`] read of a text: its documents, its problems, and how many documents the
/// text holds, empty ones included (the index the next text's documents start from).
struct PieceRead {
    documents: Vec<LoadedDocument>,
    diagnostics: Vec<Diagnostic>,
    document_count: usize,
}

/// A large text cut at `---` lines into at most `threads` pieces of about the same size, or `None`
/// to read it whole. A text with directives (`%YAML`, `%TAG` lines), which belong to the document
/// after them, is read whole.
fn cut(text: &str, threads: usize) -> Option<Vec<Piece<'_>>> {
    if text.len() < SPLIT_PARSE_BYTES || threads < 2 {
        return None;
    }
    // Where each line starts, and whether it is a bare document marker.
    let mut markers = Vec::new();
    let mut line_start = 0;
    for (line_number, line) in text.split_inclusive('\n').enumerate() {
        if line.starts_with('%') {
            return None;
        }
        if line_start > 0 && line.strip_prefix("---").is_some_and(|rest| rest.trim().is_empty()) {
            markers.push((line_start, line_number));
        }
        line_start += line.len();
    }
    let mut pieces = Vec::new();
    let (mut start, mut lines_before) = (0, 0);
    for part in 1..threads {
        let wanted = text.len() * part / threads;
        let Some(&(cut, line_number)) = markers.iter().find(|(cut, _)| *cut >= wanted && *cut > start) else {
            break;
        };
        pieces.push(Piece {
            lines_before,
            text: &text[start..cut],
        });
        (start, lines_before) = (cut, line_number);
    }
    pieces.push(Piece {
        lines_before,
        text: &text[start..],
    });
    (pieces.len() > 1).then_some(pieces)
}

/// [`load_str`] of a text read whole, on this thread (and a helper for a large one).
fn load_whole(file: &Path, text: &str) -> PieceRead {
    let (documents, diagnostics, document_count) = load_text(file, text);
    PieceRead {
        documents,
        diagnostics,
        document_count,
    }
}

fn load_text(file: &Path, text: &str) -> (Vec<LoadedDocument>, Vec<Diagnostic>, usize) {
    let file = source::display_path(file);
    let mut documents = Vec::new();
    let mut diagnostics = Vec::new();
    let (spans, deserializers) = parse_twice(text);
    let spans = match spans {
        Ok(spans) => spans,
        Err(error) => {
            diagnostics.push(
                Diagnostic::error(RuleId::Esx000, format!("invalid YAML: {}", error.message)).at(
                    Location {
                        file,
                        line: error.line,
                        column: error.column,
                    },
                    error.field,
                ),
            );
            return (documents, diagnostics, 0);
        }
    };
    // An empty file, or one of comments only, holds no documents: nothing to read, as kubectl
    // takes it (serde_yaml would still yield one empty document from it).
    if spans.iter().all(|span| span.empty) {
        return (documents, diagnostics, spans.len());
    }
    if deserializers.len() != spans.len() {
        // serde_yaml read the text otherwise than the span parser: its own error, where it has
        // one, says what and where better than a sentence at the top of the file.
        if let Some(error) = first_yaml_error(text, spans.len().saturating_add(1)) {
            let (line, column) = error.location().map_or((1, 1), |place| (place.line(), place.column()));
            let full = error.to_string();
            let message = full.rfind(" at line ").map_or(full.as_str(), |index| &full[..index]);
            diagnostics.push(
                Diagnostic::error(RuleId::Esx000, format!("invalid YAML: {message}"))
                    .at(Location { file, line, column }, ""),
            );
            return (documents, diagnostics, 0);
        }
        diagnostics.push(
            Diagnostic::error(
                RuleId::Esx000,
                "the YAML documents of this file could not be told apart; separate them with `---` lines",
            )
            .at(
                Location {
                    file,
                    line: 1,
                    column: 1,
                },
                "",
            ),
        );
        return (documents, diagnostics, 0);
    }
    let document_count = spans.len();
    for (document_index, (deserializer, span_index)) in deserializers.into_iter().zip(spans).enumerate() {
        if span_index.empty {
            continue;
        }
        let source = Source::new(file.clone(), document_index, Arc::new(span_index));
        match read_document(&source, deserializer) {
            Ok(document) => documents.push(LoadedDocument { source, document }),
            Err(diagnostic) => diagnostics.push(*diagnostic),
        }
    }
    (documents, diagnostics, document_count)
}

/// The first error serde_yaml meets reading the first `limit` documents of a text, if any.
fn first_yaml_error(text: &str, limit: usize) -> Option<serde_yaml::Error> {
    serde_yaml::Deserializer::from_str(text)
        .take(limit)
        .find_map(|document| serde::de::IgnoredAny::deserialize(document).err())
}

/// Files at least this large are read by both parsers at once, on two threads.
const PARALLEL_PARSE_BYTES: usize = 64 * 1024;

/// The span parser's documents and serde_yaml's, read at the same time for a large file (each
/// was about half of the load of a 10,000-host manifest).
///
/// serde_yaml keeps yielding documents after some syntax errors it does not share with the span
/// parser (such as a tab before a flow indicator), so it is asked for at most one more document
/// than the text can hold: enough to notice a mismatch, never an endless loop. A document other
/// than the first starts with a `---` line or follows a `...` line, so the text holds at most one
/// more document than it has such lines.
fn parse_twice(
    text: &str,
) -> (
    Result<Vec<SpanIndex>, source::SyntaxError>,
    Vec<serde_yaml::Deserializer<'_>>,
) {
    let markers = text
        .lines()
        .map(|line| line.trim_start_matches('\u{feff}'))
        .filter(|line| line.starts_with("---") || line.starts_with("..."))
        .count();
    let most_documents = markers.saturating_add(1);
    let deserializers = || -> Vec<serde_yaml::Deserializer<'_>> {
        serde_yaml::Deserializer::from_str(text)
            .take(most_documents.saturating_add(1))
            .collect()
    };
    if text.len() < PARALLEL_PARSE_BYTES {
        return (source::index_documents(text), deserializers());
    }
    std::thread::scope(|scope| {
        let spans = scope.spawn(|| source::index_documents(text));
        let deserializers = deserializers();
        let spans = spans.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (spans, deserializers)
    })
}

fn read_document(source: &Source, deserializer: serde_yaml::Deserializer<'_>) -> Result<AnyDocument, Box<Diagnostic>> {
    let spans = source.spans();
    if !spans.fields.contains_key("kind") && spans.fields.is_empty() {
        return Err(Box::new(
            Diagnostic::error(
                RuleId::Esx000,
                "a manifest document must be a mapping with apiVersion, kind, metadata and spec",
            )
            .at(source.document_location(), ""),
        ));
    }
    let Some(kind_name) = spans.scalars.get("kind") else {
        return Err(Box::new(
            Diagnostic::error(
                RuleId::Esx000,
                "missing field `kind`: add one of Host, StandardSwitch, NetStack, VmkernelAdapter, Target",
            )
            .at(source.document_location(), "kind"),
        ));
    };
    let Some(kind) = Kind::from_name(kind_name) else {
        return Err(Box::new(
            Diagnostic::error(
                RuleId::Esx000,
                format!("unknown kind `{kind_name}`: expected one of Host, StandardSwitch, NetStack, VmkernelAdapter, Target"),
            )
            .at(source.locate("kind"), "kind"),
        ));
    };
    let result = match kind {
        Kind::Host => HostDocument::deserialize(deserializer).map(AnyDocument::Host),
        Kind::StandardSwitch => StandardSwitchDocument::deserialize(deserializer).map(AnyDocument::StandardSwitch),
        Kind::NetStack => NetStackDocument::deserialize(deserializer).map(AnyDocument::NetStack),
        Kind::VmkernelAdapter => VmkernelAdapterDocument::deserialize(deserializer).map(AnyDocument::VmkernelAdapter),
        Kind::Target => TargetDocument::deserialize(deserializer).map(AnyDocument::Target),
    };
    result.map_err(|error| Box::new(serde_diagnostic(source, spans, &error)))
}

/// Turns a serde error into a diagnostic naming the field and its place.
fn serde_diagnostic(source: &Source, spans: &SpanIndex, error: &serde_yaml::Error) -> Diagnostic {
    let full = error.to_string();
    // serde_yaml appends " at line L column C"; the place is shown separately.
    let without_position = match full.rfind(" at line ") {
        Some(index) => &full[..index],
        None => full.as_str(),
    };
    // serde_yaml prefixes the path of the mapping it was in ("spec.ipv4: unknown field ...").
    let (serde_path, message) = match without_position.split_once(": ") {
        Some((prefix, rest)) if !prefix.contains(char::is_whitespace) => (Some(prefix), rest),
        _ => (None, without_position),
    };
    let serde_path = serde_path.map(|path| path.replace("[\"", ".").replace("\"]", ""));
    if let Some(missing) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        let parent = serde_path.clone().unwrap_or_default();
        let field = source::push_key(&parent, missing);
        return Diagnostic::error(RuleId::Esx000, format!("missing field `{missing}`: add it"))
            .at(source.locate(&parent), field);
    }
    let field = error
        .location()
        .and_then(|location| field_at(spans, location.line(), location.column()))
        .or(serde_path)
        .unwrap_or_default();
    let location = match error.location() {
        Some(location) => Location {
            file: source.file.clone(),
            line: location.line(),
            column: location.column(),
        },
        None => source.locate(&field),
    };
    Diagnostic::error(RuleId::Esx000, message.to_owned()).at(location, field)
}

/// The field whose key or item starts last at or before a position.
fn field_at(spans: &SpanIndex, line: usize, column: usize) -> Option<String> {
    spans
        .fields
        .iter()
        .filter(|(_, &(field_line, field_column))| (field_line, field_column) <= (line, column))
        .max_by_key(|(path, &position)| (position, path.len()))
        .map(|(path, _)| path.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (Vec<LoadedDocument>, Vec<Diagnostic>) {
        load_str(Path::new("test.yaml"), text)
    }

    /// A file large enough for both parsers to run at once reads like a small one: every document,
    /// and a problem in a late document at its own line.
    #[test]
    fn a_large_file_read_by_two_parsers_at_once_gives_every_document_and_the_right_line() {
        let mut text = String::new();
        for number in 0..2_000 {
            text.push_str(&format!(
                "apiVersion: esxnet/v1\nkind: Host\nmetadata: {{name: esx-{number:04}}}\n---\n"
            ));
        }
        assert!(
            text.len() >= PARALLEL_PARSE_BYTES,
            "the test must take the parallel path"
        );
        let (documents, diagnostics) = load(&text);
        assert_eq!(documents.len(), 2_000);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");

        let lines_before = text.lines().count();
        text.push_str("apiVersion: esxnet/v1\nkind: Host\nmetadata: {name: late, colour: blue}\n");
        let (documents, diagnostics) = load(&text);
        assert_eq!(documents.len(), 2_000);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        let location = diagnostics[0].location.as_ref().expect("a place");
        assert_eq!(location.line, lines_before + 3, "{:?}", diagnostics[0]);
    }

    /// A large file cut into pieces reads exactly as read whole: the same documents with the same
    /// numbers and places, and for a bad file the same problems.
    #[test]
    fn a_large_file_read_in_pieces_reads_as_the_whole_file() {
        let mut text = String::from("# a fleet\n");
        for number in 0..4_000 {
            match number % 500 {
                // A document without a leading marker, an empty document, a marker with a trailing
                // blank, a comment before a marker, a block scalar.
                0 if number == 0 => {}
                7 => text.push_str("---\n# nothing here\n---   \n"),
                11 => text.push_str("# the next host\n---\n"),
                _ => text.push_str("---\n"),
            }
            text.push_str(&format!(
                "apiVersion: esxnet/v1\nkind: Host\nmetadata:\n  name: esx-{number:04}\n  labels: {{rack: \"{}\"}}\n",
                number % 7
            ));
            if number % 300 == 5 {
                text.push_str("# notes:\n#   |\n#   --- not a marker\n");
            }
        }
        assert!(text.len() >= SPLIT_PARSE_BYTES, "the test must cut the text");
        assert!(cut(&text, 3).is_some_and(|pieces| pieces.len() == 3));
        let whole = load_whole(Path::new("fleet.yaml"), &text);
        assert!(whole.diagnostics.is_empty(), "{:?}", whole.diagnostics);
        assert_eq!(whole.documents.len(), 4_000);
        for pieces in [2, 3, 8] {
            let (documents, diagnostics) = load_in_pieces(Path::new("fleet.yaml"), &text, pieces);
            assert!(diagnostics.is_empty(), "{pieces} pieces: {diagnostics:?}");
            assert!(documents == whole.documents, "{pieces} pieces read otherwise");
        }

        // A problem late in the file, and one in a piece of its own.
        let broken = text.replacen("name: esx-3900", "name: esx-3900\n  colour: blue", 1);
        let broken = broken.replacen("name: esx-0100", "name: [esx-0100", 1);
        let whole = load_whole(Path::new("fleet.yaml"), &broken);
        assert!(!whole.diagnostics.is_empty());
        for pieces in [2, 3] {
            let read = load_in_pieces(Path::new("fleet.yaml"), &broken, pieces);
            assert!(read.0 == whole.documents, "{pieces} pieces read otherwise");
            assert_eq!(read.1, whole.diagnostics, "{pieces} pieces");
        }
    }

    #[test]
    fn reads_every_kind() {
        let text = "apiVersion: esxnet/v1\nkind: Host\nmetadata: {name: esx-01}\n---\n\
apiVersion: esxnet/v1\nkind: NetStack\nmetadata: {name: prov}\nspec:\n  hosts: {names: [esx-01]}\n  stack: provisioning\n  ipv4Gateway: 10.0.0.1\n---\n";
        let (documents, diagnostics) = load(text);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[1].document.kind(), Kind::NetStack);
        assert_eq!(documents[1].source.locate("spec.ipv4Gateway").line, 11);
    }

    #[test]
    fn unknown_fields_name_line_and_path() {
        let text = "apiVersion: esxnet/v1\nkind: NetStack\nmetadata: {name: prov}\nspec:\n  hosts: {names: [esx-01]}\n  stack: provisioning\n  gateway: 10.0.0.1\n";
        let (_, diagnostics) = load(text);
        assert_eq!(diagnostics.len(), 1);
        let diagnostic = &diagnostics[0];
        assert_eq!(diagnostic.location.as_ref().unwrap().line, 7);
        assert_eq!(diagnostic.field.as_deref(), Some("spec.gateway"));
        assert!(
            diagnostic.message.contains("unknown field `gateway`"),
            "{}",
            diagnostic.message
        );
    }

    #[test]
    fn bad_addresses_name_the_field() {
        let text = "apiVersion: esxnet/v1\nkind: NetStack\nmetadata: {name: prov}\nspec:\n  hosts: {names: [esx-01]}\n  stack: provisioning\n  ipv4Gateway: 10.0.0.300\n";
        let (_, diagnostics) = load(text);
        assert_eq!(diagnostics[0].field.as_deref(), Some("spec.ipv4Gateway"));
        assert_eq!(diagnostics[0].location.as_ref().unwrap().line, 7);
    }

    #[test]
    fn missing_fields_name_their_parent() {
        let text = "apiVersion: esxnet/v1\nkind: NetStack\nmetadata: {name: prov}\nspec:\n  hosts: {names: [esx-01]}\n";
        let (_, diagnostics) = load(text);
        assert_eq!(diagnostics[0].field.as_deref(), Some("spec.stack"));
        assert_eq!(diagnostics[0].location.as_ref().unwrap().line, 4);
    }

    #[test]
    fn every_bad_document_is_reported() {
        let text = "kind: Nope\n---\napiVersion: esxnet/v2\nkind: Host\nmetadata: {name: a}\n---\n[1, 2]\n";
        let (documents, diagnostics) = load(text);
        assert!(documents.is_empty());
        assert_eq!(diagnostics.len(), 3, "{diagnostics:#?}");
        assert!(diagnostics[0].message.contains("unknown kind `Nope`"));
        assert_eq!(diagnostics[1].field.as_deref(), Some("apiVersion"));
    }

    #[test]
    fn a_key_given_twice_is_an_error_at_the_second_one() {
        let text = "apiVersion: esxnet/v1\nkind: Host\nmetadata:\n  name: a\n  labels: {x: '1'}\n  name: b\n";
        let (documents, diagnostics) = load(text);
        assert!(documents.is_empty());
        let [diagnostic] = diagnostics.as_slice() else {
            panic!("{diagnostics:#?}")
        };
        assert!(diagnostic.message.contains("duplicate key `name`"), "{diagnostic:?}");
        assert!(diagnostic.message.contains("line 4"), "{diagnostic:?}");
        let location = diagnostic.location.as_ref().unwrap();
        assert_eq!((location.line, location.column), (6, 3));
        assert_eq!(diagnostic.field.as_deref(), Some("metadata.name"));
        // The same key in two mappings is no duplicate.
        let (documents, diagnostics) =
            load("apiVersion: esxnet/v1\nkind: Host\nmetadata: {name: a, labels: {name: x}}\n");
        assert_eq!((documents.len(), diagnostics.len()), (1, 0), "{diagnostics:#?}");
    }

    #[test]
    fn an_alias_to_another_documents_anchor_is_an_error_at_the_alias() {
        let text = "apiVersion: esxnet/v1\nkind: Host\nmetadata: &m {name: a}\n---\napiVersion: esxnet/v1\nkind: Host\nmetadata: *m\n";
        let (_, diagnostics) = load(text);
        let [diagnostic] = diagnostics.as_slice() else {
            panic!("{diagnostics:#?}")
        };
        assert!(
            diagnostic.message.contains("anchors do not reach across `---`"),
            "{diagnostic:?}"
        );
        let location = diagnostic.location.as_ref().unwrap();
        assert_eq!((location.line, location.column), (7, 11));
        // Within one document an alias is read as YAML says.
        let text = "apiVersion: esxnet/v1\nkind: Host\nmetadata: {name: &n a, labels: {x: *n}}\n";
        let (documents, diagnostics) = load(text);
        assert_eq!((documents.len(), diagnostics.len()), (1, 0), "{diagnostics:#?}");
    }

    #[test]
    fn empty_and_comment_only_files_hold_no_documents_and_no_errors() {
        for text in ["", "\n", "# nothing yet\n", "---\n", "# a\n---\n# b\n", "...\n"] {
            let (documents, diagnostics) = load(text);
            assert!(
                documents.is_empty() && diagnostics.is_empty(),
                "{text:?}: {diagnostics:#?}"
            );
        }
    }
}
